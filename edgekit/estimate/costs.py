"""Per-op cost of a model: multiply-accumulates and bytes moved, by op kind and precision.

One reader per format (TFLite flatbuffer, OpenVINO IR, ONNX, Core ML spec, Keras model) turns
the graph into `OpCost` rows with the same rules, so an estimate of a `.keras` model before
conversion and of its artifacts after rest on the same numbers:

- MACs of a convolution or matmul = output elements x (weight elements / output channels),
  which holds for grouped and depthwise convolutions in every layout; elementwise ops, pools
  and resizes count one operation per output element.
- bytes = weights read once (at their stored width) + activations read and written.
- BatchNorm and activations that the converters fold into the preceding convolution are
  left out of a Keras model's costs, as they are absent from its artifacts.

Example:
    >>> cost = model_costs("out/shapes_int8.tflite")
    >>> cost.macs, cost.bytes, cost.by_kind()["depthwise"]
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import Enum
from pathlib import Path

import numpy as np

from edgekit import formats
from edgekit.errors import ConfigError, ModelLoadError

PRECISION_BYTES = {"fp32": 4, "fp16": 2, "int8": 1}
PRECISIONS = tuple(PRECISION_BYTES)


class OpKind(str, Enum):
    """What an op is, as far as speed goes."""

    CONV = "conv"
    DEPTHWISE = "depthwise"
    DENSE = "dense"
    ATTENTION = "attention"
    ELEMENTWISE = "elementwise"
    POOL = "pool"
    RESIZE = "resize"
    OTHER = "other"


@dataclass
class OpCost:
    """One op: its kind, multiply-accumulates and the bytes it reads and writes."""

    name: str
    kind: OpKind
    macs: int
    weight_bytes: int
    act_bytes: int

    @property
    def bytes(self) -> int:
        return self.weight_bytes + self.act_bytes


@dataclass
class ModelCost:
    """The ops of one model with the precision its arithmetic runs in."""

    source: str
    format: str
    precision: str
    ops: list[OpCost] = field(default_factory=list)

    @property
    def macs(self) -> int:
        return int(sum(o.macs for o in self.ops))

    @property
    def bytes(self) -> int:
        return int(sum(o.bytes for o in self.ops))

    @property
    def weight_bytes(self) -> int:
        return int(sum(o.weight_bytes for o in self.ops))

    def by_kind(self) -> dict[str, dict[str, int]]:
        """MACs, bytes and op count per op kind."""
        out: dict[str, dict[str, int]] = {}
        for o in self.ops:
            row = out.setdefault(o.kind.value, {"ops": 0, "macs": 0, "bytes": 0})
            row["ops"] += 1
            row["macs"] += int(o.macs)
            row["bytes"] += int(o.bytes)
        return out

    def to_dict(self, *, ops: bool = False) -> dict:
        d = {
            "source": self.source,
            "format": self.format,
            "precision": self.precision,
            "macs": self.macs,
            "bytes": self.bytes,
            "weight_bytes": self.weight_bytes,
            "ops": len(self.ops),
            "by_kind": self.by_kind(),
        }
        if ops:
            d["op_list"] = [{**asdict(o), "kind": o.kind.value} for o in self.ops]
        return d

    def scaled(self, factor: float, *, source: str) -> ModelCost:
        """The same op mix with every count times `factor` (a sibling architecture)."""
        ops = [
            OpCost(
                o.name,
                o.kind,
                int(o.macs * factor),
                int(o.weight_bytes * factor),
                int(o.act_bytes * factor),
            )
            for o in self.ops
        ]
        return ModelCost(source, self.format, self.precision, ops)


def matmul_op(
    name: str,
    kind: OpKind,
    out_shape,
    weight_shape,
    out_channels: int,
    *,
    weight_bytes: int,
    act_elems: int,
    elem_bytes: int,
) -> OpCost:
    """A convolution or matmul: MACs = output elements x weight elements per output channel."""
    out_elems = _prod(out_shape)
    per_channel = _prod(weight_shape) / max(int(out_channels), 1)
    macs = int(out_elems * per_channel)
    return OpCost(name, kind, macs, int(weight_bytes), int(act_elems * elem_bytes))


def simple_op(name: str, kind: OpKind, out_shape, act_elems: int, elem_bytes: int) -> OpCost:
    """An op that touches each output element about once (add, pool, resize, ...)."""
    return OpCost(name, kind, _prod(out_shape), 0, int(act_elems * elem_bytes))


def elementwise_kind(op_type: str) -> OpKind:
    """The kind of a non-matmul op from its name in any format (case-insensitive)."""
    t = op_type.lower().replace("_", "")
    if "pool" in t or t in ("mean", "reducemean", "reduce"):
        return OpKind.POOL
    if "resize" in t or "upsample" in t or "interpolate" in t:
        return OpKind.RESIZE
    if t in _LAYOUT_OPS:
        return OpKind.OTHER
    return OpKind.ELEMENTWISE


# Ops that move or reinterpret data without arithmetic; they cost bytes only.
_LAYOUT_OPS = {
    "reshape", "transpose", "concatenation", "concat", "squeeze", "unsqueeze", "flatten",
    "pad", "gather", "slice", "stridedslice", "split", "shape", "shapeof", "expanddims",
    "pack", "unpack", "tile", "identity", "quantize", "dequantize", "convert", "cast",
}  # fmt: skip


def model_costs(model, *, precision: str | None = None) -> ModelCost:
    """Per-op costs of an artifact (`.tflite`, `.xml`, `.onnx`, `.mlpackage`, `.mlmodel`), a
    `.keras`/`.h5` file or an in-memory Keras model.

    Args:
        model: a path or a `keras.Model`.
        precision: the arithmetic precision (fp32, fp16, int8) for a Keras model, where the
            file cannot tell; an artifact's own tensors decide for it unless this is given.

    Raises:
        ConfigError: unknown suffix or precision. ModelLoadError: unreadable file.
    """
    if precision is not None and precision not in PRECISION_BYTES:
        raise ConfigError(
            f"unknown precision; got: {precision}; valid: {', '.join(PRECISION_BYTES)}"
        )
    if not isinstance(model, (str, Path)):
        from edgekit.estimate.keras_costs import keras_costs

        return keras_costs(model, precision=precision or "fp32")
    path = Path(model)
    if not path.exists():
        raise ModelLoadError(f"no such model file; got: {path}; check the path")
    fmt = formats.find(path)
    if path.suffix.lower() in (".keras", ".h5") or path.is_dir() and not formats.is_artifact(path):
        from edgekit.estimate.keras_costs import keras_costs

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


def dominant_precision(counts: dict[str, int]) -> str:
    """The precision most MACs run in, from a {precision: macs} tally."""
    counts = {k: v for k, v in counts.items() if v}
    return max(counts, key=counts.get) if counts else "fp32"


def _prod(shape) -> int:
    dims = [1 if d is None or int(d) < 0 else int(d) for d in shape]
    return int(np.prod(dims, dtype=np.int64)) if dims else 1
