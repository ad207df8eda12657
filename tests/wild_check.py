"""Run any artifact in its own runtime, straight (no edgekit), and compare outputs.

The wild corpus checks edgekit's artifacts on real inputs against the original model, or against
the artifacts the package ships itself; neither side goes through `edgekit.load`, so a bug there
cannot hide a wrong artifact. TFLite runs in ai-edge-litert, OpenVINO IR on CPU at f32 (the
plugin would pick bf16 on CPUs that have it), ONNX in ONNX Runtime on CPU.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np

RUNNABLE = (".tflite", ".xml", ".onnx")


def as_list(x) -> list[np.ndarray]:
    """Model inputs as a list: one array, a list, or a dict (kept in its order)."""
    if isinstance(x, dict):
        return list(x.values())
    return list(x) if isinstance(x, (list, tuple)) else [x]


def run(path: Path, inputs, *, batch: bool = False) -> list[np.ndarray]:
    """Outputs of the artifact on `inputs`, one sample at a time (artifacts are batch 1)
    unless `batch` (a model whose state input carries the batch, e.g. Silero VAD)."""
    runner, names = _runner(Path(path))
    xs = as_list(inputs)
    order = _order(names, inputs, len(xs))
    if batch:
        return runner([xs[j] for j in order])
    n = len(xs[0])
    got = [runner([xs[j][i : i + 1] for j in order]) for i in range(n)]
    return [np.concatenate([g[k] for g in got]) for k in range(len(got[0]))]


def _order(names: list[str], inputs, count: int) -> list[int]:
    """Artifact input k takes model input order[k]: by name when the names match."""
    if len(names) != count:
        raise RuntimeError(f"the artifact has {len(names)} inputs; given {count}")
    if isinstance(inputs, dict):
        keys = list(inputs)
        return [keys.index(n) if n in keys else i for i, n in enumerate(names)]
    return list(range(count))


def _runner(path: Path):
    """(run(list of arrays) -> list of arrays, the artifact's input names)."""
    if path.suffix == ".tflite":
        return _tflite(path)
    if path.suffix == ".xml":
        import openvino as ov

        cm = ov.Core().compile_model(str(path), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
        req = cm.create_infer_request()

        def run_ov(arrs):
            res = req.infer(dict(enumerate(arrs)))
            return [np.asarray(res[p]).copy() for p in cm.outputs]

        return run_ov, [p.get_any_name() for p in cm.inputs]
    if path.suffix == ".onnx":
        import onnxruntime as ort

        sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        ins = sess.get_inputs()

        def run_onnx(arrs):
            return sess.run(None, {d.name: a for d, a in zip(ins, arrs)})

        return run_onnx, [d.name for d in ins]
    raise ValueError(f"cannot run {path.name} here; runnable: {', '.join(RUNNABLE)}")


def _tflite(path: Path):
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=str(path), num_threads=1)
    ins, outs = it.get_input_details(), it.get_output_details()

    def run_tflite(arrs):
        for d, a in zip(ins, arrs):
            if list(d["shape"]) != list(a.shape):
                it.resize_tensor_input(d["index"], a.shape)
        it.allocate_tensors()
        for d, a in zip(ins, arrs):
            it.set_tensor(d["index"], _quantized(a, d))
        it.invoke()
        return [_dequantized(it.get_tensor(d["index"]), d) for d in outs]

    return run_tflite, [d["name"] for d in ins]


def _quantized(a: np.ndarray, detail: dict) -> np.ndarray:
    scale, zero = detail["quantization"]
    if detail["dtype"] in (np.int8, np.uint8) and scale:
        info = np.iinfo(detail["dtype"])
        return np.clip(np.round(a / scale + zero), info.min, info.max).astype(detail["dtype"])
    return a.astype(detail["dtype"])


def _dequantized(a: np.ndarray, detail: dict) -> np.ndarray:
    scale, zero = detail["quantization"]
    if a.dtype in (np.int8, np.uint8) and scale:
        return (a.astype(np.float32) - zero) * scale
    return a.copy()


def keras_outputs(path: Path, inputs) -> list[np.ndarray]:
    """The original Keras model's outputs (a .keras or .h5 file)."""
    import keras

    net = keras.models.load_model(path, compile=False)
    out = net.predict(as_list(inputs) if len(net.inputs) > 1 else as_list(inputs)[0], verbose=0)
    return [np.asarray(o) for o in (out if isinstance(out, (list, tuple)) else [out])]


def savedmodel_outputs(path: Path, inputs) -> list[np.ndarray]:
    """A SavedModel's serving signature on `inputs`, outputs in key order."""
    import tensorflow as tf

    fn = tf.saved_model.load(str(path)).signatures["serving_default"]
    out = [
        fn(*[tf.constant(x[i : i + 1]) for x in as_list(inputs)])
        for i in range(len(as_list(inputs)[0]))
    ]
    return [np.concatenate([o[k].numpy() for o in out]) for k in sorted(out[0])]


def max_abs(ref: list[np.ndarray], got: list[np.ndarray]) -> float:
    """Worst difference over outputs, paired by the best size-compatible assignment
    (artifacts may order or name outputs differently from the original)."""
    if len(got) != len(ref):
        raise RuntimeError(f"{len(got)} outputs; the original has {len(ref)}")
    best = None
    for perm in itertools.permutations(range(len(got))):
        pairs = [(r, got[p]) for r, p in zip(ref, perm)]
        if all(r.size == g.size for r, g in pairs):
            err = max(float(np.max(np.abs(r - g.reshape(r.shape)))) for r, g in pairs)
            best = err if best is None else min(best, err)
    if best is None:
        raise RuntimeError(f"output shapes {[g.shape for g in got]} differ from the original's")
    return best


def top1_agreement(ref: np.ndarray, got: np.ndarray) -> float:
    """Share of samples whose arg-max class is the same."""
    a = ref.reshape(len(ref), -1).argmax(1)
    b = got.reshape(len(got), -1).argmax(1)
    return float(np.mean(a == b))
