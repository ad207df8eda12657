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
    "simple_op",
]
