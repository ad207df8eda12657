"""Sparse weights in the artifacts: write them where the format can store them sparsely, and
read every artifact's weights back to check a sparsity pattern held through conversion.

- TFLite: the converter's `EXPERIMENTAL_SPARSITY` optimization stores sparse tensors.
- Core ML: `prune_weights` with `OpThresholdPrunerConfig` stores zeros as sparse constants.
- OpenVINO and ONNX store dense tensors; zeros compress well (the gzipped size shows it).
"""

from __future__ import annotations

import gzip
import logging
from pathlib import Path

import numpy as np

from edgekit import formats
from edgekit._deps import need
from edgekit.errors import ConfigError
from edgekit.optimize.prune import holds_m_n

log = logging.getLogger(__name__)


def write_tflite(source, precision, dest: Path, *, calib=None) -> Path:
    """A TFLite file with sparse weight tensors (fp32 or int8, per `precision`)."""
    tf = need("tensorflow", what="TFLite conversion")
    from edgekit.converters.base import Precision
    from edgekit.converters.tflite import configure

    conv = tf.lite.TFLiteConverter.from_concrete_functions([source.frozen])
    configure(conv, Precision(precision), calib, tf)
    conv.optimizations = [*conv.optimizations, tf.lite.Optimize.EXPERIMENTAL_SPARSITY]
    Path(dest).write_bytes(conv.convert())
    return Path(dest)


def sparsify_coreml(path: Path, dest: Path, *, min_sparsity: float = 0.3) -> Path:
    """Re-save an .mlpackage with weights that are at least `min_sparsity` zeros stored
    sparse (coremltools' threshold pruner with threshold 0 keeps the values as they are)."""
    ct = need("coremltools", what="Core ML sparse weights")
    opt = ct.optimize.coreml
    model = ct.models.MLModel(str(path), skip_model_load=True)
    op = opt.OpThresholdPrunerConfig(
        threshold=1e-12, minimum_sparsity_percentile=min_sparsity, weight_threshold=1024
    )
    pruned = opt.prune_weights(model, opt.OptimizationConfig(global_config=op))
    pruned.save(str(dest))
    return Path(dest)


def weights(path: str | Path) -> dict[str, np.ndarray]:
    """Every constant weight tensor of an artifact, as float arrays (int8 stays int8)."""
    fmt = formats.of_path(path).name
    readers = {"tflite": _tflite, "openvino": _openvino, "onnx": _onnx, "coreml": _coreml}
    if fmt not in readers:
        raise ConfigError(f"cannot read weights of {fmt} artifacts; got: {Path(path).name}")
    return readers[fmt](formats.main_file(path))


def m_n_layers(path: str | Path, n: int, m: int, *, min_size: int = 1024) -> dict[str, bool]:
    """For every weight tensor of at least `min_size` values with an axis divisible by m:
    does it hold N:M sparsity along some axis? (Layouts differ per format: HWIO, OHWI, OIHW.)"""
    out = {}
    for name, w in weights(path).items():
        if w.size < min_size or w.ndim < 2:
            continue
        axes = [a for a in range(w.ndim) if w.shape[a] % m == 0 and w.shape[a] > 1]
        if axes:
            out[name] = any(holds_m_n(w, n, m, axis=a) for a in axes)
    return out


def gzipped_size(path: str | Path) -> int:
    """Bytes after gzip -9 of the artifact's files (.xml + .bin, or the .mlpackage tree)."""
    total = 0
    for f in formats.files_of(path):
        for part in sorted(f.rglob("*")) if f.is_dir() else [f]:
            if part.is_file():
                total += len(gzip.compress(part.read_bytes(), 9))
    return total


def _tflite(p: Path) -> dict[str, np.ndarray]:
    """Constant tensors straight from the flatbuffer (dense ones; sparse-encoded are skipped)."""
    from edgekit.flatbuffer import schema

    model = schema().ModelT.InitFromPackedBuf(bytearray(p.read_bytes()), 0)
    dtypes = {0: np.float32, 1: np.float16, 9: np.int8}
    out = {}
    for sub in model.subgraphs:
        for t in sub.tensors:
            data = model.buffers[t.buffer].data if t.buffer < len(model.buffers) else None
            if data is None or len(data) == 0 or t.type not in dtypes or t.sparsity:
                continue
            shape = [int(d) for d in t.shape]
            arr = np.frombuffer(bytes(bytearray(data)), dtypes[t.type])
            if len(shape) >= 2 and arr.size == int(np.prod(shape)):
                out[t.name.decode() if isinstance(t.name, bytes) else t.name] = arr.reshape(shape)
    return out


def _openvino(p: Path) -> dict[str, np.ndarray]:
    ov = need("openvino")
    model = ov.Core().read_model(p)
    return {
        op.get_friendly_name(): np.array(op.get_data())
        for op in model.get_ops()
        if op.get_type_name() == "Constant" and len(op.get_output_shape(0)) >= 2
    }


def _onnx(p: Path) -> dict[str, np.ndarray]:
    onnx = need("onnx")
    from onnx import numpy_helper

    model = onnx.load(str(p))
    return {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}


def _coreml(p: Path) -> dict[str, np.ndarray]:
    ct = need("coremltools")
    model = ct.models.MLModel(str(p), skip_model_load=True)
    meta = ct.optimize.coreml.get_weights_metadata(model, weight_threshold=0)
    return {name: np.asarray(m.val) for name, m in meta.items()}
