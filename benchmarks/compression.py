"""Pruning and accuracy-budgeted quantization: size, accuracy, FLOPs and latency per format.

Two models: the bundled `shapes.keras` and a MobileNetV2-style model trained here on the same
generated shapes (`edgekit.example.mobilenet`, a few minutes on 2 cores, cached). Variants:
the trained model, 50% magnitude sparsity, 2:4 sparsity, 30% structured channel pruning
(each fine-tuned on generated training images). Each variant is converted by edgekit to
TFLite fp32/int8, OpenVINO fp32 and ONNX fp32 (+ TFLite with sparse tensors for the sparse
variants) and every artifact is scored on the validation images. Latency: p50 of single-image
inference in this process, baseline and variant alternating round by round on a shared,
noisy machine; the ratio is the median of per-round ratios. Then `--max-drop 1.0` on a
model that plain int8 hurts (`edgekit.example.outliers`), for TFLite and OpenVINO.

    python benchmarks/compression.py [--rounds 7] [--runs 100] [--cache DIR]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import median, save

TARGETS = "tflite:fp32,tflite:int8,openvino:fp32,onnx:fp32"
LATENCY_FORMATS = ("tflite:fp32", "tflite:int8", "openvino:fp32", "onnx:fp32")


def data(tmp: Path):
    from edgekit.example.shapes import arrays, write_folder

    x, y = arrays("train", 3000)
    folders = {s: write_folder(tmp / s, s, n) for s, n in (("calib", 200), ("val", 400))}
    return (x[..., ::-1].astype("float32"), y), folders


def variants(model: Path, train, val_folder: Path, labels: Path, tmp: Path) -> dict[str, dict]:
    import keras

    from edgekit.optimize import PruneConfig, prune, prune_channels
    from edgekit.optimize.structured import flops

    base = keras.models.load_model(model, compile=False)
    out = {"baseline": {"path": model, "flops": flops(base), "sparsity": 0.0}}
    runs = {
        "sparse-50": lambda: prune(model, train, config=PruneConfig(sparsity=0.5, epochs=3),
                                   val=val_folder, labels=labels),
        "sparse-2:4": lambda: prune(model, train, config=PruneConfig(m_n=(2, 4), epochs=3),
                                    val=val_folder, labels=labels),
        "structured-30": lambda: prune_channels(model, train, ratio=0.3, epochs=4,
                                                val=val_folder, labels=labels),
    }  # fmt: skip
    for name, fn in runs.items():
        t = time.perf_counter()
        r = fn()
        path = tmp / f"{model.stem}-{name.replace(':', '')}.keras"
        r.model.save(path)
        d = r.to_dict()
        out[name] = {
            "path": path,
            "flops": flops(r.model),
            "sparsity": d.get("sparsity", 0.0),
            "keras_accuracy_before": d["accuracy_before"],
            "keras_accuracy": d["accuracy_after"],
            "prune_seconds": round(time.perf_counter() - t, 1),
            "pruned_layers": len(d.get("layers", {})),
        }
        print(f"  {name}: keras accuracy {d['accuracy_before']:.4f} -> {d['accuracy_after']:.4f}")
    return out


def artifacts(v: dict, folders, labels: Path, tmp: Path, name: str) -> dict[str, Path]:
    import edgekit
    from edgekit import source
    from edgekit.example.shapes import arrays
    from edgekit.optimize import sparse

    out = tmp / f"conv-{name.replace(':', '')}"
    rep = edgekit.convert(v["path"], to=TARGETS, calib=folders["calib"], val=folders["val"],
                          labels=labels, out=out)  # fmt: skip
    arts = {f"{a.format}:{a.precision}": (out / a.file, a) for a in rep.artifacts}
    if v["sparsity"] > 0:  # the same model with TFLite sparse tensors
        src = source.load(v["path"])
        xc = arrays("calib", 200)[0][..., ::-1].astype("float32")
        for prec in ("fp32", "int8"):
            p = sparse.write_tflite(src, prec, out / f"sparse_{prec}.tflite", calib=xc)
            arts[f"tflite-sparse:{prec}"] = (p, None)
    return arts


def rows_for(model_name, name, v, arts, x_val, y_val, m_n) -> list[dict]:
    from edgekit.errors import ModelLoadError
    from edgekit.optimize import sparse
    from edgekit.optimize.budget import accuracy_of

    rows = []
    for key, (path, art) in arts.items():
        raw = sum(f.stat().st_size for f in _files(path))
        note = ""
        if art and art.parity:
            acc = art.parity.get("accuracy")
        else:
            try:
                acc = accuracy_of(path, x_val, y_val)
            except ModelLoadError as e:  # XNNPACK refuses some sparse int8 kernels
                acc, note = None, f"runtime refused: {e}"[:160]
        row = {
            "model": model_name, "variant": name, "artifact": key,
            "sparsity": round(v["sparsity"], 3), "flops_m": round(v["flops"] / 1e6, 2),
            "size_kb": round(raw / 1024, 1), "gzip_kb": round(sparse.gzipped_size(path) / 1024, 1),
            "accuracy": round(float(acc), 4) if acc is not None else None,
            "keras_accuracy": v.get("keras_accuracy"), "m_n_layers_holding": "", "note": note,
        }  # fmt: skip
        if m_n and "sparse" not in key:
            held = sparse.m_n_layers(path, 2, 4)
            row["m_n_layers_holding"] = f"{sum(held.values())}/{v['pruned_layers']}"
        rows.append(row)
    return rows


def _files(path: Path) -> list[Path]:
    if path.suffix == ".xml":
        return [path, path.with_suffix(".bin")]
    return [f for f in path.rglob("*") if f.is_file()] if path.is_dir() else [path]


def latency(paths: dict[str, Path], rounds: int, runs: int, threads: int) -> dict[str, dict]:
    """p50 ms per variant; variants alternate within each round, order rotated per round."""
    import edgekit

    sessions = {k: edgekit.load(p, threads=threads) for k, p in paths.items()}
    x = {k: np.random.default_rng(0).uniform(0, 255, [1, *s.inputs[0].shape[1:]])
         .astype(np.float32) for k, s in sessions.items()}  # fmt: skip
    for k, s in sessions.items():
        for _ in range(10):
            s.predict(x[k])
    per_round: dict[str, list[float]] = {k: [] for k in sessions}
    keys = list(sessions)
    for r in range(rounds):
        for k in keys[r % len(keys) :] + keys[: r % len(keys)]:
            times = []
            for _ in range(runs):
                t = time.perf_counter()
                sessions[k].predict(x[k])
                times.append(time.perf_counter() - t)
            per_round[k].append(1000 * median(times))
    for s in sessions.values():
        s.close()
    base = per_round[keys[0]]
    return {k: {"p50_ms": round(median(v), 4),
                "ratio": round(median([a / b for a, b in zip(v, base)]), 3)}
            for k, v in per_round.items()}  # fmt: skip


def budget(folders, labels: Path, tmp: Path) -> list[dict]:
    from edgekit import source
    from edgekit.errors import BudgetNotMetError
    from edgekit.example.outliers import outlier_shapes
    from edgekit.example.shapes import arrays
    from edgekit.optimize.budget import quantize_to_budget

    src = source.load(Path(outlier_shapes(tmp / "outlier_shapes.keras")))
    xc = arrays("calib", 200)[0][..., ::-1].astype("float32")
    xv, yv = arrays("val", 200)
    xv = xv[..., ::-1].astype("float32")
    rows = []
    for fmt, suffix in (("tflite", ".tflite"), ("openvino", ".xml")):
        t = time.perf_counter()
        try:
            r = quantize_to_budget(src, fmt, tmp / f"budget{suffix}", calib=xc, val_x=xv,
                                   val_y=yv, max_drop=1.0)  # fmt: skip
        except BudgetNotMetError as e:
            r = e.result
        rows.append({**r.to_dict(), "seconds": round(time.perf_counter() - t, 1)})
        print(f"  budget {fmt}: plain int8 {r.plain_accuracy:.4f} -> {r.accuracy:.4f} "
              f"(float {r.reference_accuracy:.4f}), {len(r.float_layers)} in float")  # fmt: skip
    return rows


def mobilenet(cache: Path) -> Path:
    from edgekit.example.mobilenet import train

    path = cache / "mobilenet_shapes.keras"
    if not path.exists():
        cache.mkdir(parents=True, exist_ok=True)
        print("training the MobileNet-style model (a few minutes)")
        train(str(path), epochs=8)
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--runs", type=int, default=100)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "edgekit-bench")
    ap.add_argument("--models", default="shapes,mobilenet")
    args = ap.parse_args()
    import keras

    from edgekit.example import LABELS, MODEL
    from edgekit.example.shapes import arrays

    keras.utils.set_random_seed(0)
    rows, lat_rows = [], []
    with tempfile.TemporaryDirectory(prefix="edgekit-compression-") as t:
        tmp = Path(t)
        train, folders = data(tmp)
        xv, yv = arrays("val", 400)
        xv = xv[..., ::-1].astype("float32")
        models = {"shapes": MODEL, "mobilenet": mobilenet(args.cache)}
        for mname in args.models.split(","):
            print(f"{mname}: pruning")
            vs = variants(models[mname], train, folders["val"], LABELS, tmp)
            arts = {}
            for vname, v in vs.items():
                arts[vname] = artifacts(v, folders, LABELS, tmp, f"{mname}-{vname}")
                rows += rows_for(mname, vname, v, arts[vname], xv, yv, vname == "sparse-2:4")
            for fmt in LATENCY_FORMATS:
                lat = latency({vn: a[fmt][0] for vn, a in arts.items()}, args.rounds,
                              args.runs, args.threads)  # fmt: skip
                for vname, d in lat.items():
                    lat_rows.append({"model": mname, "artifact": fmt, "variant": vname, **d})
                print(
                    f"  latency {fmt}: " + ", ".join(f"{k} {d['ratio']}x" for k, d in lat.items())
                )
        budget_rows = budget(folders, LABELS, tmp)
    for r in rows:  # latency ratio beside each artifact row
        hit = [x for x in lat_rows if (x["model"], x["artifact"], x["variant"]) ==
               (r["model"], r["artifact"], r["variant"])]  # fmt: skip
        r["p50_ms"] = hit[0]["p50_ms"] if hit else None
        r["latency_ratio"] = hit[0]["ratio"] if hit else None
    path = save("compression", {"rows": rows, "latency": lat_rows, "budget": budget_rows,
                                "settings": vars(args) | {"cache": str(args.cache)}})  # fmt: skip
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
