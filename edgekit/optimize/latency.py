"""Latency-aware channel counts for structured pruning (NetAdapt-style, estimated latency).

Uniform pruning removes the same fraction from every channel group, but latency does not
follow FLOPs: a CPU kernel computes channels in vectors of `simd_channels` lanes (8 fp32 on
AVX2, 16 on AVX-512, 4 on NEON), so 12 channels cost what 16 do; depthwise convs and the
high-resolution layers are bound by memory traffic, which falls with the channel count, not
its square; every op has a fixed dispatch cost that pruning never removes. Here each conv,
depthwise, dense and residual add of the model gets a roofline time as a function of the
channels it keeps (`LatencyTable`), with counts padded to the kernel width and the target's
peak, bandwidth and per-op overhead (`edgekit.costmodel.roofline`). Channels are then removed
`multiple` at a time from the group with the largest estimated time saved per unit of filter
norm lost, until the FLOPs reach what uniform pruning at the same ratio gives: "structured=0.3"
still means about 30% fewer channels' worth of FLOPs, but groups that do not pay are left
alone and those that pay lose more (NetAdapt, Yang et al., ECCV 2018, with an estimated
instead of a measured per-layer table).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from edgekit.costmodel.ops import PRECISION_BYTES, OpKind
from edgekit.costmodel.roofline import FIXED_OVERHEAD, KIND_EFFICIENCY, OP_OVERHEAD, cpu_unit
from edgekit.device import profiles
from edgekit.optimize import channels

# vector register width in bits per ISA flag (the widest the CPU has wins)
VECTOR_BITS = {"avx512f": 512, "avx2": 256, "avx": 256, "sse4_2": 128, "asimd": 128, "neon": 128}
MAX_SHARE = 1.5  # a group loses at most this many times the requested ratio (and <= 0.9)


def simd_channels(target: str | None = None, precision: str = "fp32") -> int:
    """Channels a CPU kernel of `target` computes per vector: the profile's `simd_channels`,
    else derived from its ISA flags (this machine's when `target` is None or "local").

    Raises:
        ConfigError: an unknown target id.
    """
    if target in (None, "local"):
        from edgekit.fingerprint import isa_flags

        isa, fixed = isa_flags(), 0
    else:
        cpu = profiles.get(target).cpu
        isa, fixed = cpu.isa, cpu.simd_channels
    bits = max((VECTOR_BITS.get(f, 0) for f in isa), default=128) or 128
    lanes = fixed or bits // 32
    return lanes * 2 if precision == "fp16" and ("fphp" in isa or "asimdhp" in isa) else lanes


def _profile(target: str | None):
    return profiles.get(target) if target not in (None, "local") else profiles.generic_local()


@dataclass
class LayerCost:
    """One op's shape: what it reads and writes, as channel segments of the graph."""

    name: str
    kind: OpKind
    reads: list[tuple[int, int]]  # (group, size) of its input channels
    writes: list[tuple[int, int]]  # (group, size) of its output channels
    positions_in: int
    positions_out: int
    taps: int  # kernel window elements (1 for a dense layer, 0 for an add)


class LatencyTable:
    """Estimated seconds and FLOPs of a model as functions of the channels each group keeps."""

    def __init__(self, model, cg, *, target=None, threads=None, input_size=None,
                 multiple: int = 8, precision: str = "fp32"):  # fmt: skip
        unit = cpu_unit(_profile(target), "tflite", precision, threads)
        self.peak = unit.peak_gflops * 1e9
        self.bandwidth = unit.bandwidth_gbs * 1e9
        self.multiple, self.cg, self.bytes = multiple, cg, PRECISION_BYTES[precision]
        self.layers = _layers(model, cg, _scale(model, input_size))

    def _kept(self, segs, keep: dict[int, int]) -> int:
        return sum(keep.get(self.cg.root(g), size) for g, size in segs)

    def _pad(self, c: int) -> int:
        return -(-c // self.multiple) * self.multiple

    def op(self, lc: LayerCost, keep: dict[int, int]) -> tuple[float, float]:
        """(seconds, FLOPs) of one op with `keep` channels per group root; the time counts
        channels padded to the kernel width, the FLOPs the real ones."""
        cin, cout = self._kept(lc.reads, keep), self._kept(lc.writes, keep)
        if lc.kind == OpKind.ELEMENTWISE:
            flops = padded = lc.positions_out * cout
            weights = 0
        elif lc.kind == OpKind.DEPTHWISE:
            flops, weights = 2 * lc.positions_out * lc.taps * cin, lc.taps * cin
            padded = flops * self._pad(cin) / max(cin, 1)
        else:
            flops, weights = 2 * lc.positions_out * lc.taps * cin * cout, lc.taps * cin * cout
            padded = flops * self._pad(cin) * self._pad(cout) / max(cin * cout, 1)
        moved = self.bytes * (lc.positions_in * cin + lc.positions_out * cout + weights)
        compute = padded / (self.peak * KIND_EFFICIENCY.get(lc.kind, 1.0))
        return max(compute, moved / self.bandwidth) + OP_OVERHEAD["cpu"], float(flops)

    def seconds(self, keep: dict[int, int]) -> float:
        """Estimated latency with `keep` channels per group root (others whole)."""
        return FIXED_OVERHEAD["cpu"] + sum(self.op(lc, keep)[0] for lc in self.layers)

    def flops(self, keep: dict[int, int]) -> float:
        return sum(self.op(lc, keep)[1] for lc in self.layers)

    def per_layer(self, keep: dict[int, int]) -> dict[str, float]:
        """Estimated seconds of every op, by layer name."""
        return {lc.name: self.op(lc, keep)[0] for lc in self.layers}


def _scale(model, input_size: int | None) -> float:
    """Positions scale when the latency is for another input size than the model's own."""
    shape = model.inputs[0].shape
    if input_size is None or len(shape) < 4 or not shape[1]:
        return 1.0
    return (input_size / shape[1]) * (input_size / (shape[2] or shape[1]))


def _positions(shape, scale: float) -> int:
    dims = [d or 1 for d in shape[1:-1]]
    return max(1, round(math.prod(dims) * (scale if len(dims) >= 2 else 1.0)))


def _layers(model, cg, scale: float) -> list[LayerCost]:
    out = []
    for layer in model.layers:
        kind = type(layer).__name__
        if layer.name not in cg.reads and kind not in channels.MERGES:
            continue
        seg_out = cg.tensors.get(id(layer.output))
        if seg_out is None:
            continue
        ins = layer.input if isinstance(layer.input, (list, tuple)) else [layer.input]
        pin, pout = _positions(ins[0].shape, scale), _positions(layer.output.shape, scale)
        if kind in channels.MERGES:
            out.append(LayerCost(layer.name, OpKind.ELEMENTWISE, seg_out, seg_out, pin * len(ins),
                                 pout, 0))  # fmt: skip
        elif kind in channels.PRODUCERS or kind in channels.DEPTHWISE:
            op = OpKind.DEPTHWISE if kind in channels.DEPTHWISE else OpKind.CONV
            taps = math.prod(getattr(layer, "kernel_size", (1,)))
            out.append(LayerCost(layer.name, op, cg.reads[layer.name], seg_out, pin, pout, taps))
    return out


def choose_counts(table: LatencyTable, groups: list[int], sizes: dict[int, int],
                  importance: dict[int, np.ndarray], ratio: float,
                  uniform: dict[int, int]) -> dict[int, int]:  # fmt: skip
    """Channels kept per group: greedy removal of `multiple` channels at a time from the group
    with the best estimated seconds saved per share of its filter norm lost, until the FLOPs
    are at most those of `uniform`. A group whose steps save nothing is never touched.

    Args:
        importance: per group, channel scores sorted high to low (any positive scale).
        uniform: the counts uniform pruning keeps, whose FLOPs are the target.
    """
    goal = table.flops(uniform)
    keep = {g: sizes[g] for g in groups}
    share = min(0.9, MAX_SHARE * ratio)
    floor = {g: max(1, min(sizes[g], math.ceil(sizes[g] * (1 - share)))) for g in groups}
    total = {g: float(importance[g].sum()) or 1.0 for g in groups}
    now = table.seconds(keep)
    while table.flops(keep) > goal:
        best, best_score, best_t = None, 0.0, now
        for g in groups:
            n = _step_down(keep[g], table.multiple)
            if n < floor[g]:
                continue
            t = table.seconds({**keep, g: n})
            lost = float(importance[g][n : keep[g]].sum()) / total[g]
            score = (now - t) / max(lost, 1e-9)
            if now - t > 1e-12 and score > best_score:
                best, best_score, best_t = (g, n), score, t
        if best is None:  # nothing left that pays
            break
        keep[best[0]], now = best[1], best_t
    return keep


def _step_down(n: int, multiple: int) -> int:
    """The next smaller count on the kernel grid (a multiple of `multiple`)."""
    if n <= multiple:
        return n - 1
    return (n - 1) // multiple * multiple
