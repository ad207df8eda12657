"""Per-op cost of a model: multiply-accumulates and bytes moved, by op kind and precision.

One reader per format (TFLite flatbuffer, OpenVINO IR, ONNX, Core ML spec, Keras model) turns
the graph into `OpCost` rows with the same rules (`ops.py`), so an estimate of a `.keras` model
before conversion and of its artifacts after rest on the same numbers. BatchNorm and
activations that the converters fold into the preceding convolution are left out of a Keras
model's costs, as they are absent from its artifacts.

Example:
    >>> cost = model_costs("out/shapes_int8.tflite")
    >>> cost.macs, cost.bytes, cost.by_kind()["depthwise"]
"""

from __future__ import annotations

from pathlib import Path

from edgekit import formats
from edgekit.costmodel.keras_costs import keras_costs
from edgekit.costmodel.ops import (
    PRECISION_BYTES,
    PRECISIONS,
    ModelCost,
    OpCost,
    OpKind,
    dominant_precision,
    elementwise_kind,
    matmul_op,
    simple_op,
)
from edgekit.errors import ConfigError, ModelLoadError


def model_costs(model, *, precision: str | None = None) -> ModelCost:
    """Per-op costs of an artifact (`.tflite`, `.xml`, `.onnx`, `.mlpackage`, `.mlmodel`), a
    `.keras`/`.h5` file or an in-memory Keras model.

    Args:
        model: a path or a `keras.Model`.
        precision: the arithmetic precision (fp32, fp16, int8) for a Keras model, where the
            file cannot tell; an artifact's own tensors decide for it unless this is given.

    Returns:
        The model's ModelCost.

    Raises:
        ConfigError: unknown suffix or precision. ModelLoadError: unreadable file.
    """
    if precision is not None and precision not in PRECISION_BYTES:
        raise ConfigError(
            f"unknown precision; got: {precision}; valid: {', '.join(PRECISION_BYTES)}"
        )
    if not isinstance(model, (str, Path)):
        return keras_costs(model, precision=precision or "fp32")
    path = Path(model)
    if not path.exists():
        raise ModelLoadError(f"no such model file; got: {path}; check the path")
    fmt = formats.find(path)
    keras_file = path.suffix.lower() in (".keras", ".h5", ".hdf5")
    if path.is_dir() and not formats.is_artifact(path) and _savedmodel(path):
        return savedmodel_costs(path, precision=precision)
    if keras_file or path.is_dir() and not formats.is_artifact(path):
        return keras_costs(path, precision=precision or "fp32")
    if fmt is None or fmt.costs is None:
        readable = [f.suffix for f in formats.FORMATS.values() if f.costs]
        raise ConfigError(
            f"cannot read costs from this file; got: {path.name}; pass a "
            f"{', '.join(readable)} or .keras file"
        )
    cost = formats.resolve(fmt.costs)(formats.main_file(path))
    if precision:
        cost.precision = precision
    return cost


def _savedmodel(path: Path) -> bool:
    from edgekit.source import detect_kind

    return detect_kind(path) == "savedmodel"


def savedmodel_costs(path: Path, *, precision: str | None = None) -> ModelCost:
    """Costs of a SavedModel folder, read at the graph level: edgekit's loader (signatures
    and variables, no Python objects revived: tf.keras 2 and TF1 SavedModels too) freezes
    it, TensorFlow's TFLite converter lowers it to float TFLite ops in memory, and the TFLite
    reader counts those. Estimated as a source model (format "keras"), like a `.keras` file."""
    import tempfile

    from edgekit._deps import need
    from edgekit.costmodel.readers import tflite_costs
    from edgekit.source import load

    source = load(path)
    tf = need("tensorflow", what="reading a SavedModel's costs")
    try:
        flat = tf.lite.TFLiteConverter.from_concrete_functions([source.frozen]).convert()
    except Exception as e:  # an op TFLite cannot lower: say which model, keep it one line
        first = str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
        raise ModelLoadError(
            f"cannot read costs of this SavedModel; got: {first}; convert it with edgekit "
            "convert and estimate one of its artifacts"
        ) from e
    with tempfile.TemporaryDirectory(prefix="edgekit-costs-") as tmp:
        file = Path(tmp) / f"{path.name or 'model'}.tflite"
        file.write_bytes(flat)
        cost = tflite_costs(file)
    # a source model, like a .keras file: the target's recommended precision and runtime
    cost.source, cost.format, cost.precision = str(path), "keras", precision or "fp32"
    return cost


__all__ = [
    "PRECISION_BYTES",
    "PRECISIONS",
    "ModelCost",
    "OpCost",
    "OpKind",
    "dominant_precision",
    "elementwise_kind",
    "matmul_op",
    "model_costs",
    "savedmodel_costs",
    "simple_op",
]
