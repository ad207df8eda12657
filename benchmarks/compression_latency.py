"""Structured pruning's latency effect at 224x224: uniform against latency-aware channel counts.

The in-repo MobileNetV2-style model (`edgekit.example.mobilenet`: inverted residuals with
expansion 4, depthwise 3x3, linear bottlenecks, residual adds; trained here on generated
shapes at 64x64, cached) is pruned three ways at `--ratio` (default 0.3): "uniform" (every
group loses the ratio, counts rounded up to 4: the behaviour before latency-aware pruning),
"grid" (the same, rounded up to this machine's kernel width: the default now) and "latency"
(`criterion="latency"`: counts on the kernel grid, chosen by estimated latency saved per norm
lost, FLOPs matched to the unrounded uniform cut). Each is fine-tuned
for `--epochs` on generated training images and scored on held-out generated images (64x64).
The model is fully convolutional, so the same weights are rebuilt at 224x224, converted by
edgekit (TFLite fp32, OpenVINO fp32) and timed in this process at 1 and 2 threads, the four
variants alternating round by round (median of per-round ratios to the baseline; shared,
noisy machine). Then OpenVINO's own per-layer profile (`PERF_COUNT`) of the four at 224 px,
2 threads, interleaved: real time, kernel and channels per conv layer -> `prune_layers.json`.

    python benchmarks/compression_latency.py [--rounds 11] [--runs 50] [--epochs 3]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import median, save
from compression import data, latency, mobilenet

TARGETS = ("tflite:fp32", "openvino:fp32")
CONV_NODES = ("Convolution", "GroupConvolution", "FullyConnected")


def resized(model, size: int):
    """The same layers and weights with a size x size input."""
    cfg = model.get_config()
    cfg["layers"][0]["config"]["batch_shape"] = [None, size, size, 3]
    out = model.__class__.from_config(cfg)
    out.set_weights(model.get_weights())
    return out


def variants(path: Path, train, val_folder: Path, labels: Path, args) -> dict[str, dict]:
    """Baseline and the three pruned variants, each fine-tuned; accuracy and channels."""
    import keras

    from edgekit.optimize import prune_channels

    base = keras.models.load_model(path, compile=False)
    out = {"baseline": {"model": base}}
    kinds = {"uniform": {"criterion": "l2", "multiple": 4},
             "grid": {"criterion": "l2"},
             "latency": {"criterion": "latency", "input_size": args.size}}  # fmt: skip
    for name, kw in kinds.items():
        t = time.perf_counter()
        r = prune_channels(path, train, ratio=args.ratio, epochs=args.epochs, val=val_folder,
                           labels=labels, **kw)  # fmt: skip
        out["baseline"]["accuracy"] = r.accuracy_before
        out[name] = {"model": r.model, "accuracy": r.accuracy_after, "estimate": r.estimate,
                     "channels": {k: v[1] for k, v in r.channels.items()},
                     "prune_seconds": round(time.perf_counter() - t, 1)}  # fmt: skip
        print(f"  {name}: accuracy {r.accuracy_before:.4f} -> {r.accuracy_after:.4f}")
    return out


def profile_openvino(xmls: dict[str, Path], rounds: int, runs: int, threads: int) -> dict:
    """Median real time (us) and kernel per executed conv node, variants interleaved."""
    import openvino as ov

    core = ov.Core()
    cfg = {"INFERENCE_NUM_THREADS": threads, "PERF_COUNT": True}
    reqs = {
        k: core.compile_model(str(p), "CPU", cfg).create_infer_request() for k, p in xmls.items()
    }
    x = np.random.default_rng(0).uniform(0, 255, (1, 224, 224, 3)).astype(np.float32)
    times: dict[str, dict[int, list[float]]] = {k: {} for k in reqs}
    kernels: dict[str, dict[int, str]] = {k: {} for k in reqs}
    total: dict[str, list[float]] = {k: [] for k in reqs}
    for _ in range(rounds):
        for k, req in reqs.items():
            for _ in range(runs):
                req.infer([x])
                info = [p for p in req.get_profiling_info() if p.status == p.Status.EXECUTED]
                total[k].append(sum(p.real_time.total_seconds() for p in info) * 1e6)
                convs = [p for p in info if p.node_type in CONV_NODES]
                for i, p in enumerate(convs):
                    times[k].setdefault(i, []).append(p.real_time.total_seconds() * 1e6)
                    kernels[k][i] = p.exec_type
    return {k: {"layers": {i: (median(v), kernels[k][i]) for i, v in times[k].items()},
                "total_us": median(total[k])} for k in reqs}  # fmt: skip


def layer_rows(models: dict, prof: dict, estimates: dict) -> list[dict]:
    """One row per conv/depthwise/dense layer: channels, kernel and time per variant."""
    names = [ly.name for ly in models["baseline"].layers
             if type(ly).__name__ in ("Conv2D", "DepthwiseConv2D", "Dense")]  # fmt: skip
    rows = []
    for i, name in enumerate(names):
        row = {"layer": name}
        for k, m in models.items():
            ly = m.get_layer(name)
            row[f"{k}_channels"] = f"{ly.input.shape[-1]}->{ly.output.shape[-1]}"
            us, kernel = prof[k]["layers"].get(i, (None, ""))
            row[f"{k}_us"] = round(us, 1) if us is not None else None
            row[f"{k}_kernel"] = kernel
            row[f"{k}_estimated_us"] = round(estimates[k].get(name, 0) * 1e6, 1)
        rows.append(row)
    return rows


def estimated(models: dict, size: int) -> dict[str, dict[str, float]]:
    """This machine's roofline estimate per layer (`edgekit.optimize.latency`) of each variant."""
    from edgekit.optimize import channels
    from edgekit.optimize.latency import LatencyTable, simd_channels

    out = {}
    for k, m in models.items():
        table = LatencyTable(m, channels.trace(m), input_size=size, threads=2,
                             multiple=simd_channels())  # fmt: skip
        out[k] = table.per_layer({})
    return out


def convert_all(models: dict, size: int, tmp: Path) -> dict[str, dict]:
    import edgekit
    from edgekit.optimize.structured import flops

    paths = {}
    for name, m in models.items():
        r = resized(m, size)
        src = tmp / f"{name}-{size}.keras"
        r.save(src)
        rep = edgekit.convert(src, to=",".join(TARGETS), out=tmp / f"{name}-{size}",
                              random_calib=True)  # fmt: skip
        paths[name] = {f"{a.format}:{a.precision}": tmp / f"{name}-{size}" / a.file
                       for a in rep.artifacts}  # fmt: skip
        paths[name]["flops"] = flops(r)
    return paths


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--ratio", type=float, default=0.3)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=11)
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "edgekit-bench")
    args = ap.parse_args()
    import keras

    from edgekit.example import LABELS

    keras.utils.set_random_seed(0)
    rows = []
    with tempfile.TemporaryDirectory(prefix="edgekit-latency-") as t:
        tmp = Path(t)
        train, folders = data(tmp)
        vs = variants(mobilenet(args.cache), train, folders["val"], LABELS, args)
        models = {k: v["model"] for k, v in vs.items()}
        paths = convert_all(models, args.size, tmp)
        for target in TARGETS:
            for threads in (int(x) for x in args.threads.split(",")):
                lat = latency({n: paths[n][target] for n in paths}, args.rounds, args.runs,
                              threads)  # fmt: skip
                for name in paths:
                    rows.append(_row(args, target, threads, name, lat, paths, vs))
                print(f"  {target} x{threads}: " +
                      ", ".join(f"{n} {d['ratio']}x" for n, d in lat.items()))  # fmt: skip
        xmls = {n: paths[n]["openvino:fp32"] for n in paths}
        prof = profile_openvino(xmls, args.rounds, 30, 2)
    layers = layer_rows(models, prof, estimated(models, args.size))
    totals = {k: round(p["total_us"], 1) for k, p in prof.items()}
    settings = vars(args) | {"cache": str(args.cache)}
    extra = {k: {"channels": v.get("channels"), "estimate": v.get("estimate")}
             for k, v in vs.items()}  # fmt: skip
    results = {"rows": rows, "variants": extra, "settings": settings}
    print(f"wrote {save('compression_latency', results)}")
    results = {"rows": layers, "openvino_total_us": totals, "settings": settings}
    print(f"wrote {save('prune_layers', results)}")


def _row(args, target, threads, name, lat, paths, vs) -> dict:
    return {
        "size": args.size, "artifact": target, "threads": threads, "variant": name,
        "p50_ms": lat[name]["p50_ms"], "latency_ratio": lat[name]["ratio"],
        "flops_ratio": round(paths[name]["flops"] / paths["baseline"]["flops"], 3),
        "accuracy": round(vs[name]["accuracy"], 4),
        "accuracy_drop": round(100 * (vs["baseline"]["accuracy"] - vs[name]["accuracy"]), 2),
    }  # fmt: skip


if __name__ == "__main__":
    main()
