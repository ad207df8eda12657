"""The cost records every reader fills: one `OpCost` per op (kind, multiply-accumulates, bytes)
and a `ModelCost` per model, with the counting rules all readers share.

- MACs of a convolution or matmul = output elements x (weight elements / output channels),
  which holds for grouped and depthwise convolutions in every layout; elementwise ops, pools
  and resizes count one operation per output element.
- bytes = weights read once (at their stored width) + activations read and written.

Nothing here reads a file: `costs.model_costs` picks the reader, `readers.py` and
`keras_costs.py` walk the graphs.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import Enum

import numpy as np

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
    """One op: its kind, multiply-accumulates and the bytes it reads and writes. `op` is the
    op type as its format names it (CONV_2D, Convolution, Conv...), "" when unknown: the
    estimate checks it against what an accelerator path takes (`edgekit.device.checks`)."""

    name: str
    kind: OpKind
    macs: int
    weight_bytes: int
    act_bytes: int
    op: str = ""

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
    io_bytes: int = 0  # input + output tensor bytes: what crosses an off-chip accelerator's link

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
            "io_bytes": self.io_bytes,
            "ops": len(self.ops),
            "by_kind": self.by_kind(),
        }
        if ops:
            d["op_list"] = [{**asdict(o), "kind": o.kind.value} for o in self.ops]
        return d

    def scaled(self, factor: float, *, source: str) -> ModelCost:
        """The same op mix with every count times `factor` (a sibling architecture)."""
        ops = [
            OpCost(o.name, o.kind, int(o.macs * factor), int(o.weight_bytes * factor),
                   int(o.act_bytes * factor), o.op)
            for o in self.ops
        ]  # fmt: skip
        return ModelCost(source, self.format, self.precision, ops, int(self.io_bytes * factor))

    def at(self, precision: str) -> ModelCost:
        """These fp32 costs stored at another precision (weights and activations)."""
        s = PRECISION_BYTES[precision] / PRECISION_BYTES.get(self.precision, 4)
        ops = [OpCost(o.name, o.kind, o.macs, int(o.weight_bytes * s), int(o.act_bytes * s), o.op)
               for o in self.ops]  # fmt: skip
        return ModelCost(self.source, self.format, precision, ops, int(self.io_bytes * s))


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
    op: str = "",
) -> OpCost:
    """A convolution or matmul: MACs = output elements x weight elements per output channel."""
    out_elems = prod(out_shape)
    per_channel = prod(weight_shape) / max(int(out_channels), 1)
    macs = int(out_elems * per_channel)
    return OpCost(name, kind, macs, int(weight_bytes), int(act_elems * elem_bytes), op)


def simple_op(
    name: str, kind: OpKind, out_shape, act_elems: int, elem_bytes: int, *, op: str = ""
) -> OpCost:
    """An op that touches each output element about once (add, pool, resize, ...)."""
    return OpCost(name, kind, prod(out_shape), 0, int(act_elems * elem_bytes), op)


def elementwise_kind(op_type: str) -> OpKind:
    """The kind of a non-matmul op from its name in any format (case-insensitive)."""
    t = op_type.lower().replace("_", "")
    if "pool" in t or t in ("mean", "reducemean", "reduce"):
        return OpKind.POOL
    if "resize" in t or "upsample" in t or "interpolate" in t:
        return OpKind.RESIZE
    if t in LAYOUT_OPS:
        return OpKind.OTHER
    return OpKind.ELEMENTWISE


# Ops that move or reinterpret data without arithmetic; they cost bytes only.
LAYOUT_OPS = {
    "reshape", "transpose", "concatenation", "concat", "squeeze", "unsqueeze", "flatten",
    "pad", "gather", "slice", "stridedslice", "split", "shape", "shapeof", "expanddims",
    "pack", "unpack", "tile", "identity", "quantize", "dequantize", "convert", "cast",
}  # fmt: skip


def dominant_precision(counts: dict[str, int]) -> str:
    """The precision most MACs run in, from a {precision: macs} tally."""
    counts = {k: v for k, v in counts.items() if v}
    return max(counts, key=counts.get) if counts else "fp32"


def prod(shape) -> int:
    """Elements of a shape; unknown (None or negative) dimensions count as 1."""
    dims = [1 if d is None or int(d) < 0 else int(d) for d in shape]
    return int(np.prod(dims, dtype=np.int64)) if dims else 1
