"""The TensorFlow side of benchmarks/wild.py, each call in its own child process.

    python benchmarks/_wild_child.py prepare MODEL WORK   # the user's folder: model + data
    python benchmarks/_wild_child.py direct MODEL FORMAT WORK RESULT
    python benchmarks/_wild_child.py xcheck MODEL WORK RESULT ARTIFACT...

`prepare` copies the model into WORK as a user holds it and writes its data: `inputs.npy|npz`
(ready tensors), `reference.npz` (the original's outputs on them), and for image models
`frames/` (demo source) and `calib/`; for classifiers `val/<label>/` and `labels.txt`, whose
labels are the original model's own top-1 (pseudo-labels), and `train.npz` (x, y) for prune.
`direct` converts with the format's own exporter (no edgekit) and compares on `inputs`.
`xcheck` runs artifacts straight in their runtimes on `inputs` against `reference.npz`.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np
from _common import RESULTS  # noqa: F401  (puts the repository root on sys.path)

from tests import wild, wild_check, wild_data

SAMPLES = 16  # inputs for the reference, the direct exporters and the cross-check
CALIB = 64
VAL = 200
FRAMES = 30


def prepare(model_id: str, work: Path) -> None:
    m = wild.model(model_id)
    src = wild.source(m)
    local = work / _local_name(m, src)
    (shutil.copytree if src.is_dir() else shutil.copy)(src, local)
    x = wild_data.tensors(m, SAMPLES)
    if isinstance(x, list):
        x = dict(zip(_input_names(local), x))
    _save_inputs(work, x)
    if m.bench_inputs:  # one sample, as `edgekit bench --inputs` takes it
        np.savez(work / "bench.npz", **wild_data.tensors(m, 1))
    ref = _reference(m, local, x)
    np.savez(work / "reference.npz", *ref)
    if m.data.startswith(("faces", "photos")):
        wild_data.write_images(wild_data.frames(m, FRAMES), work / "frames")
        wild_data.write_images(wild_data.frames(m, CALIB), work / "calib")
    if m.task == "classify" and m.keras:
        _pseudo_labelled(m, local, work)
    (work / "model.txt").write_text(local.name)


def _local_name(m: wild.Model, src: Path) -> str:
    if not m.build:
        return src.name
    return m.id if m.kind == "savedmodel" else f"{m.id}{src.suffix}"


def _input_names(path: Path) -> list[str]:
    import keras

    return [t.name for t in keras.models.load_model(path, compile=False).inputs]


def _save_inputs(work: Path, x) -> None:
    if isinstance(x, dict):
        np.savez(work / "inputs.npz", **x)
    else:
        np.save(work / "inputs.npy", x)


def _reference(m: wild.Model, local: Path, x) -> list[np.ndarray]:
    """The original's outputs. basic-pitch's SavedModel needs tf.keras 2 to load, so its
    reference is the ONNX file Spotify converts from it and ships beside it."""
    if m.kind in ("keras", "h5"):
        return wild_check.keras_outputs(local, x)
    if m.kind == "savedmodel":
        onnx = [r for r in wild.references(m) if r.suffix == ".onnx"]
        if onnx:
            return wild_check.run(onnx[0], x)
        return wild_check.savedmodel_outputs(local, x)
    return wild_check.run(local, x, batch=m.data == "vad")


def _pseudo_labelled(m: wild.Model, local: Path, work: Path) -> None:
    """val/<label>/ images labelled by the original's top-1; train.npz (x, y) likewise."""
    images = wild_data.frames(m, VAL)
    image_model = m.data.startswith(("faces", "photos"))
    x = wild_data.tensors_of(m, images) if image_model else wild_data.tensors(m, VAL)
    probs = wild_check.keras_outputs(local, x)[0]
    y = probs.argmax(1)
    labels = list(m.labels) or [str(k) for k in range(probs.shape[1])]
    if m.labels:
        (work / "labels.txt").write_text("\n".join(m.labels) + "\n")
    np.savez(work / "train.npz", x=x, y=y)
    if image_model:
        for k, label in enumerate(labels):
            picked = [img for img, c in zip(images, y) if c == k]
            if picked:
                wild_data.write_images(picked, work / "val" / label, prefix=f"{label}-")
    counts = {labels[k]: int((y == k).sum()) for k in range(len(labels)) if (y == k).any()}
    (work / "pseudo_labels.json").write_text(json.dumps(counts))


def direct(model_id: str, fmt: str, work: Path, result: Path) -> None:
    """The format's own exporter on the user's file, then the artifact on `inputs`."""
    m = wild.model(model_id)
    local = work / (work / "model.txt").read_text()
    out = work / "direct"
    out.mkdir(exist_ok=True)
    t = time.perf_counter()
    row: dict = {"tool": _direct_tool(m, fmt)}
    try:
        path = _export(m, local, fmt, out)
        row.update(outcome="ok", message=f"wrote {path.name}", artifact=str(path.relative_to(work)))
    except Exception as e:  # any exporter failure is a result, recorded as the exporter said it
        row.update(outcome="error", message=_one_line(e))
    row["seconds"] = round(time.perf_counter() - t, 1)
    if row["outcome"] == "ok" and path.suffix in wild_check.RUNNABLE:
        row["parity"] = _compare(m, path, work)
    result.write_text(json.dumps(row))


def _direct_tool(m: wild.Model, fmt: str) -> str:
    if m.kind == "savedmodel":
        return {
            "tflite": "tf.lite.TFLiteConverter.from_saved_model",
            "openvino": "openvino.convert_model(folder)",
            "onnx": "tf2onnx.convert.from_saved_model... (python -m tf2onnx.convert)",
            "coreml": "coremltools.convert(folder)",
        }[fmt]
    if fmt == "coreml":
        return "coremltools.convert(keras model)"
    return f"keras model.export(format={ {'tflite': 'litert'}.get(fmt, fmt)!r})"


def _export(m: wild.Model, local: Path, fmt: str, out: Path) -> Path:
    suffix = {"tflite": ".tflite", "openvino": ".xml", "onnx": ".onnx", "coreml": ".mlpackage"}
    dest = out / f"{local.stem}{suffix[fmt]}"
    if m.kind == "savedmodel":
        _export_savedmodel(local, fmt, dest)
        return dest
    import keras

    net = keras.models.load_model(local, compile=False)
    x = _load_inputs(local.parent)
    net(
        wild_check.as_list(x)[0][:1]
        if len(net.inputs) == 1
        else [a[:1] for a in wild_check.as_list(x)]
    )
    # called once first: Keras' ONNX export refuses a loaded model that "has never called"
    if fmt == "coreml":
        import coremltools as ct

        ct.convert(net, convert_to="mlprogram").save(str(dest))
    else:
        net.export(str(dest), format={"tflite": "litert"}.get(fmt, fmt), verbose=False)
    return dest


def _export_savedmodel(local: Path, fmt: str, dest: Path) -> None:
    if fmt == "tflite":
        import tensorflow as tf

        dest.write_bytes(tf.lite.TFLiteConverter.from_saved_model(str(local)).convert())
    elif fmt == "openvino":
        import openvino as ov

        ov.save_model(ov.convert_model(str(local)), str(dest))
    elif fmt == "onnx":
        import subprocess

        cmd = [sys.executable, "-m", "tf2onnx.convert", "--saved-model", str(local)]
        proc = subprocess.run([*cmd, "--output", str(dest)], capture_output=True, text=True)
        if proc.returncode != 0 or not dest.exists():
            lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
            raise RuntimeError((lines or ["tf2onnx failed"])[-1])
    else:
        import coremltools as ct

        ct.convert(str(local), source="tensorflow", convert_to="mlprogram").save(str(dest))


def _compare(m: wild.Model, path: Path, work: Path) -> dict:
    """max |artifact - original| on the prepared inputs (and top-1 agreement for classifiers)."""
    x = _load_inputs(work)
    ref = list(np.load(work / "reference.npz").values())
    try:
        got = wild_check.run(path, x, batch=m.data == "vad")
        out = {"max_abs": wild_check.max_abs(ref, got), "samples": SAMPLES}
        if m.task == "classify":
            out["top1_agreement"] = wild_check.top1_agreement(ref[0], got[0])
        return out
    except Exception as e:
        return {"error": _one_line(e)}


def _load_inputs(work: Path):
    if (work / "inputs.npz").exists():
        z = np.load(work / "inputs.npz")
        return {k: z[k] for k in z.files}
    return np.load(work / "inputs.npy")


def xcheck(model_id: str, work: Path, result: Path, artifacts: list[str]) -> None:
    m = wild.model(model_id)
    out = {a: _compare(m, work / a, work) for a in artifacts}
    result.write_text(json.dumps(out))


def _one_line(e: BaseException) -> str:
    text = " ".join(str(e).split()) or type(e).__name__
    return f"{type(e).__name__}: {text}"[:300]


def main(argv: list[str]) -> None:
    cmd, model_id = argv[0], argv[1]
    if cmd == "prepare":
        prepare(model_id, Path(argv[2]))
    elif cmd == "direct":
        direct(model_id, argv[2], Path(argv[3]), Path(argv[4]))
    elif cmd == "xcheck":
        xcheck(model_id, Path(argv[2]), Path(argv[3]), argv[4:])
    else:
        raise SystemExit(f"unknown command {cmd}")


if __name__ == "__main__":
    main(sys.argv[1:])
