"""Costs of a Keras model before conversion, with the same rules as the artifact readers."""

from __future__ import annotations

from pathlib import Path

from edgekit.estimate.costs import (
    PRECISION_BYTES,
    ModelCost,
    OpCost,
    OpKind,
    _prod,
    elementwise_kind,
    matmul_op,
    simple_op,
)

# Folded into the preceding convolution by every converter, so absent from artifacts.
_FOLDED = {"BatchNormalization", "Activation", "ReLU", "Dropout", "InputLayer", "Rescaling"}
_FREE = {"Flatten", "Reshape", "Permute", "Dropout", "SpatialDropout2D", "GaussianNoise"}


def keras_costs(model, *, precision: str = "fp32") -> ModelCost:
    """Per-layer costs of a Keras model (a path or a loaded `keras.Model`)."""
    source = str(model) if isinstance(model, (str, Path)) else getattr(model, "name", "keras")
    if isinstance(model, (str, Path)):
        model = _load(Path(model))
    ops: list[OpCost] = []
    _walk(model, ops, PRECISION_BYTES[precision])
    return ModelCost(source, "keras", precision, ops)


def _walk(model, ops: list[OpCost], eb: int) -> None:
    for layer in model.layers:
        if hasattr(layer, "layers") and layer.layers:  # a nested model (e.g. a backbone)
            _walk(layer, ops, eb)
            continue
        op = _layer_cost(layer, eb)
        if op is not None:
            ops.append(op)


def _shapes(layer):
    ins = layer.input if isinstance(layer.input, (list, tuple)) else [layer.input]
    return [tuple(t.shape) for t in ins], tuple(layer.output.shape)


def _layer_cost(layer, eb: int) -> OpCost | None:
    cls = type(layer).__name__
    if cls in _FOLDED or cls in _FREE:
        return None
    try:
        in_shapes, out = _shapes(layer)
    except (AttributeError, ValueError):  # a layer that was never called
        return None
    act = sum(_prod(s) for s in in_shapes) + _prod(out)
    if cls in ("Conv1D", "Conv2D", "Conv3D", "Conv2DTranspose", "DepthwiseConv2D", "Dense"):
        w = layer.kernel
        cout = out[-1]
        kind = OpKind.DENSE if cls == "Dense" else OpKind.CONV
        if cls == "DepthwiseConv2D":
            kind, cout = OpKind.DEPTHWISE, w.shape[2] * w.shape[3]
        elif cls.startswith("Conv") and getattr(layer, "groups", 1) > 1:
            kind = OpKind.DEPTHWISE if layer.groups == in_shapes[0][-1] else OpKind.CONV
        return matmul_op(
            layer.name, kind, out, w.shape, cout,
            weight_bytes=_prod(w.shape) * eb, act_elems=act, elem_bytes=eb,
        )  # fmt: skip
    if cls == "SeparableConv2D":
        dw, pw = layer.depthwise_kernel, layer.pointwise_kernel
        mid = (*out[:-1], dw.shape[2] * dw.shape[3])
        a = matmul_op(layer.name, OpKind.DEPTHWISE, mid, dw.shape, mid[-1],
                      weight_bytes=_prod(dw.shape) * eb, act_elems=act, elem_bytes=eb)  # fmt: skip
        b = matmul_op(layer.name, OpKind.CONV, out, pw.shape, out[-1],
                      weight_bytes=_prod(pw.shape) * eb, act_elems=0, elem_bytes=eb)  # fmt: skip
        return OpCost(layer.name, OpKind.CONV, a.macs + b.macs, a.weight_bytes + b.weight_bytes,
                      a.act_bytes)  # fmt: skip
    if cls == "MultiHeadAttention":
        return _attention(layer, in_shapes, out, eb)
    return simple_op(layer.name, elementwise_kind(cls), out, act, eb)


def _attention(layer, in_shapes, out, eb: int) -> OpCost:
    """Q, K, V and output projections plus the two attention matmuls."""
    weights = sum(_prod(w.shape) for w in layer.weights)
    q = in_shapes[0]
    tokens = _prod(q[1:-1])
    kv_tokens = _prod(in_shapes[-1][1:-1]) if len(in_shapes) > 1 else tokens
    heads, key_dim = layer.num_heads, layer.key_dim
    proj = weights * max(tokens, kv_tokens)
    scores = 2 * heads * key_dim * tokens * kv_tokens
    act = sum(_prod(s) for s in in_shapes) + _prod(out) + heads * tokens * kv_tokens
    return OpCost(layer.name, OpKind.ATTENTION, int(proj + scores), weights * eb, act * eb)


def _load(path: Path):
    from edgekit.errors import ConfigError
    from edgekit.source import detect_kind, load_keras

    kind = detect_kind(path)
    if kind == "savedmodel":
        raise ConfigError(
            f"costs need a Keras model or a converted artifact; got: a SavedModel ({path}); "
            "convert it first and estimate the artifact"
        )
    return load_keras(path, kind, safe_mode=True)
