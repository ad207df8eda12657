"""Channel groups of a Keras functional graph: which conv filters / dense units must be
removed together so that every tensor keeps consistent channels.

Each tensor's last axis is a list of segments (group, size). A conv or dense layer starts a
new group; BatchNorm, activations, pooling and depthwise convs pass their input's segments
through; Add/Multiply/... join the groups of their inputs (a residual must keep the same
channels on both sides); Concatenate lays segments end to end. Anything else, and every
model output, fixes the groups it touches: those channels are never removed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

PRODUCERS = {"Conv1D", "Conv2D", "Conv3D", "Dense", "SeparableConv1D", "SeparableConv2D"}
DEPTHWISE = {"DepthwiseConv1D", "DepthwiseConv2D"}
MERGES = {"Add", "Subtract", "Multiply", "Maximum", "Minimum", "Average"}
PASSTHROUGH = {
    "BatchNormalization", "LayerNormalization", "Activation", "ReLU", "LeakyReLU", "ELU",
    "PReLU", "Softmax", "Dropout", "SpatialDropout1D", "SpatialDropout2D", "GaussianNoise",
    "GaussianDropout", "Identity", "MaxPooling1D", "MaxPooling2D", "MaxPooling3D",
    "AveragePooling1D", "AveragePooling2D", "AveragePooling3D", "GlobalAveragePooling1D",
    "GlobalAveragePooling2D", "GlobalAveragePooling3D", "GlobalMaxPooling1D",
    "GlobalMaxPooling2D", "GlobalMaxPooling3D", "ZeroPadding1D", "ZeroPadding2D",
    "ZeroPadding3D", "UpSampling1D", "UpSampling2D", "Cropping1D", "Cropping2D",
}  # fmt: skip

Segments = list[tuple[int, int]]  # (group id, channel count)


@dataclass
class ChannelGraph:
    """Union-find over channel groups, the segments each layer reads and writes."""

    parent: list[int] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)
    fixed: set[int] = field(default_factory=set)
    tensors: dict[int, Segments] = field(default_factory=dict)
    reads: dict[str, Segments] = field(default_factory=dict)  # layer -> input segments
    writes: dict[str, int] = field(default_factory=dict)  # producer layer -> its group

    def new(self, size: int, *, fixed: bool = False) -> int:
        self.parent.append(len(self.parent))
        self.sizes.append(size)
        if fixed:
            self.fixed.add(len(self.parent) - 1)
        return len(self.parent) - 1

    def root(self, g: int) -> int:
        while self.parent[g] != g:
            self.parent[g] = self.parent[self.parent[g]]
            g = self.parent[g]
        return g

    def join(self, a: int, b: int) -> None:
        ra, rb = self.root(a), self.root(b)
        if ra != rb:
            self.parent[rb] = ra
            if rb in self.fixed:
                self.fixed.add(ra)

    def fix(self, segs: Segments) -> None:
        for g, _ in segs:
            self.fixed.add(self.root(g))

    def is_fixed(self, g: int) -> bool:
        return self.root(g) in self.fixed

    def prunable(self) -> list[int]:
        """Root groups whose channels may be removed, each with at least one producer."""
        roots = {self.root(g) for g in self.writes.values()}
        return sorted(r for r in roots if r not in self.fixed)

    def producers(self, root: int) -> list[str]:
        return [name for name, g in self.writes.items() if self.root(g) == root]

    def consumers(self, root: int) -> list[tuple[str, np.ndarray]]:
        """(layer, input channel indices) of every layer that reads this group."""
        out = []
        for name, segs in self.reads.items():
            offset, idx = 0, []
            for g, size in segs:
                if self.root(g) == root:
                    idx.append(np.arange(offset, offset + size))
                offset += size
            if idx:
                out.append((name, np.concatenate(idx)))
        return out

    def keep_indices(self, segs: Segments, keep: dict[int, np.ndarray]) -> np.ndarray:
        """Channel indices that survive in a tensor laid out as `segs`."""
        offset, idx = 0, []
        for g, size in segs:
            idx.append(offset + keep.get(self.root(g), np.arange(size)))
            offset += size
        return np.concatenate(idx) if idx else np.zeros(0, int)


def trace(model) -> ChannelGraph:
    """Walk a functional model once, in topological order, and build its channel groups."""
    cg = ChannelGraph()
    for t in model.inputs:
        cg.tensors[id(t)] = [(cg.new(_channels(t), fixed=True), _channels(t))]
    for layer in model.operations:
        if type(layer).__name__ == "InputLayer":
            continue
        nodes = [n for n in layer._inbound_nodes if _known(n, cg)]
        if len(nodes) != 1:  # shared layer (or unreachable): leave its channels alone
            for n in nodes:
                _opaque(cg, n)
            continue
        _step(cg, layer, nodes[0])
    for t in model.outputs:
        cg.fix(cg.tensors[id(t)])
    return cg


def _known(node, cg: ChannelGraph) -> bool:
    ins = node.input_tensors
    return bool(ins) and all(id(t) in cg.tensors for t in ins)


def _channels(t) -> int:
    return int(t.shape[-1]) if t.shape and t.shape[-1] is not None else 0


def _step(cg: ChannelGraph, layer, node) -> None:
    kind = type(layer).__name__
    ins = [cg.tensors[id(t)] for t in node.input_tensors]
    outs = node.output_tensors
    channels_last = getattr(layer, "data_format", "channels_last") == "channels_last"
    if not channels_last or len(outs) != 1:
        return _opaque(cg, node)
    if kind in PRODUCERS and len(ins) == 1 and getattr(layer, "groups", 1) == 1:
        if getattr(layer, "depth_multiplier", 1) != 1:
            return _opaque(cg, node)
        cg.reads[layer.name] = ins[0]
        g = cg.new(_channels(outs[0]))
        cg.writes[layer.name] = g
        cg.tensors[id(outs[0])] = [(g, _channels(outs[0]))]
    elif kind in DEPTHWISE and len(ins) == 1 and layer.depth_multiplier == 1:
        cg.reads[layer.name] = ins[0]
        cg.tensors[id(outs[0])] = ins[0]
    elif kind in PASSTHROUGH and len(ins) == 1 and _last_axis(layer):
        cg.reads[layer.name] = ins[0]
        cg.tensors[id(outs[0])] = ins[0]
    elif kind in MERGES and _same_layout(ins):
        for segs in ins[1:]:
            for (a, _), (b, _) in zip(ins[0], segs):
                cg.join(a, b)
        cg.tensors[id(outs[0])] = ins[0]
    elif kind == "Concatenate" and layer.axis in (-1, len(outs[0].shape) - 1):
        cg.tensors[id(outs[0])] = [s for segs in ins for s in segs]
    else:
        _opaque(cg, node)


def _last_axis(layer) -> bool:
    axis = getattr(layer, "axis", -1)
    axis = axis[0] if isinstance(axis, (list, tuple)) and len(axis) == 1 else axis
    return axis in (-1, len(layer.output.shape) - 1) if isinstance(axis, int) else False


def _same_layout(ins: list[Segments]) -> bool:
    sizes = [[s for _, s in segs] for segs in ins]
    return all(s == sizes[0] for s in sizes)


def _opaque(cg: ChannelGraph, node) -> None:
    """A layer we do not see through: fix what it reads, give its outputs fixed groups."""
    for t in node.input_tensors:
        if id(t) in cg.tensors:
            cg.fix(cg.tensors[id(t)])
    for t in node.output_tensors:
        cg.tensors[id(t)] = [(cg.new(_channels(t), fixed=True), _channels(t))]
