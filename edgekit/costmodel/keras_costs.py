"""Costs of a Keras model before conversion, with the same rules as the artifact readers."""

from __future__ import annotations

from pathlib import Path

from edgekit.costmodel.ops import (
    PRECISION_BYTES,
    ModelCost,
    OpCost,
    OpKind,
    elementwise_kind,
    matmul_op,
    prod,
    simple_op,
)

# Absent from artifacts: converters drop or fold them.
_FOLDED = {"Dropout", "InputLayer", "Rescaling"}
# What a BatchNorm folds into (its scale and shift become the weights and bias) and what an
# activation fuses into (TFLite's CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED, ADD and MUL carry
# a fused activation; OpenVINO and ONNX Runtime fuse the same). A BatchNorm or ReLU after a
# concatenation or at a block's input (DenseNet, pre-activation ResNets, NASNet) stays an
# elementwise op of its own.
_CONVS = {"Conv1D", "Conv2D", "Conv3D", "Conv2DTranspose", "DepthwiseConv2D", "SeparableConv2D",
          "Dense"}  # fmt: skip
_FUSERS = _CONVS | {"Add", "Multiply"}
# Activations a convolution can carry fused (TFLite's ActivationFunctionType: NONE, RELU,
# RELU_N1_TO_1, RELU6, TANH; OpenVINO and ONNX Runtime fuse the same ones). Swish, hard-swish
# and sigmoid stay elementwise ops of their own in every artifact.
FUSED_ACTIVATIONS = {"linear", "relu", "relu6", "tanh"}
_FREE = {"Flatten", "Reshape", "Permute", "Dropout", "SpatialDropout2D", "GaussianNoise"}


def keras_costs(model, *, precision: str = "fp32") -> ModelCost:
    """Per-layer costs of a Keras model (a path or a loaded `keras.Model`)."""
    source = str(model) if isinstance(model, (str, Path)) else getattr(model, "name", "keras")
    if isinstance(model, (str, Path)):
        model = _load(Path(model))
    ops: list[OpCost] = []
    eb = PRECISION_BYTES[precision]
    _walk(model, ops, eb)
    io = sum(prod(t.shape) for t in list(model.inputs) + list(model.outputs)) * eb
    return ModelCost(source, "keras", precision, ops, int(io))


def _walk(model, ops: list[OpCost], eb: int) -> None:
    for layer in model.layers:
        if hasattr(layer, "layers") and layer.layers:  # a nested model (e.g. a backbone)
            _walk(layer, ops, eb)
            continue
        op = _layer_cost(layer, eb)
        if isinstance(op, tuple):  # a separable convolution: two ops in every artifact
            ops.extend(op)
        elif op is not None:
            ops.append(op)


def _shapes(layer):
    ins = layer.input if isinstance(layer.input, (list, tuple)) else [layer.input]
    return [tuple(t.shape) for t in ins], tuple(layer.output.shape)


def _producer(layer):
    """The layer whose output this single-input layer takes (None for several inputs)."""
    t = layer.input
    if isinstance(t, (list, tuple)):
        return None
    history = getattr(t, "_keras_history", None)
    return getattr(history, "operation", None)


def _fused(layer) -> bool:
    """A BatchNorm or an activation layer the converters fold into the op before it."""
    cls = type(layer).__name__
    before = _producer(layer)
    if cls == "BatchNormalization":
        return type(before).__name__ in _CONVS
    if cls == "ReLU":  # ReLU(max_value=6) is RELU6; a leaky slope or threshold is its own op
        fusable = not getattr(layer, "negative_slope", 0) and getattr(layer, "threshold", 0) == 0
    else:
        fn = getattr(layer, "activation", None)
        fusable = cls == "Activation" and getattr(fn, "__name__", "") in FUSED_ACTIVATIONS
    if not fusable:
        return False
    if type(before).__name__ == "BatchNormalization" and _fused(before):
        before = _producer(before)  # conv -> BN -> ReLU: both fold into the conv
    return type(before).__name__ in _FUSERS


def _layer_cost(layer, eb: int) -> OpCost | tuple[OpCost, OpCost] | None:
    cls = type(layer).__name__
    if cls in _FOLDED or cls in _FREE or _fused(layer):
        return None
    try:
        in_shapes, out = _shapes(layer)
    except (AttributeError, ValueError):  # a layer that was never called
        return None
    act = sum(prod(s) for s in in_shapes) + prod(out)
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
            weight_bytes=prod(w.shape) * eb, act_elems=act, elem_bytes=eb, op=cls,
        )  # fmt: skip
    if cls == "SeparableConv2D":
        dw, pw = layer.depthwise_kernel, layer.pointwise_kernel
        mid = (*out[:-1], dw.shape[2] * dw.shape[3])
        a = matmul_op(layer.name, OpKind.DEPTHWISE, mid, dw.shape, mid[-1],
                      weight_bytes=prod(dw.shape) * eb, act_elems=act, elem_bytes=eb)  # fmt: skip
        b = matmul_op(layer.name, OpKind.CONV, out, pw.shape, out[-1],
                      weight_bytes=prod(pw.shape) * eb, act_elems=0, elem_bytes=eb)  # fmt: skip
        mid_bytes = prod(mid) * eb  # the depthwise output the pointwise convolution reads
        a.act_bytes = prod(in_shapes[0]) * eb + mid_bytes
        a.op, b.op, b.act_bytes = "DepthwiseConv2D", "Conv2D", mid_bytes + prod(out) * eb
        return a, b
    if cls == "MultiHeadAttention":
        return _attention(layer, in_shapes, out, eb)
    return simple_op(layer.name, elementwise_kind(cls), out, act, eb, op=cls)


def _attention(layer, in_shapes, out, eb: int) -> OpCost:
    """Q, K, V and output projections plus the two attention matmuls."""
    weights = sum(prod(w.shape) for w in layer.weights)
    q = in_shapes[0]
    tokens = prod(q[1:-1])
    kv_tokens = prod(in_shapes[-1][1:-1]) if len(in_shapes) > 1 else tokens
    heads, key_dim = layer.num_heads, layer.key_dim
    proj = weights * max(tokens, kv_tokens)
    scores = 2 * heads * key_dim * tokens * kv_tokens
    act = sum(prod(s) for s in in_shapes) + prod(out) + heads * tokens * kv_tokens
    return OpCost(
        layer.name,
        OpKind.ATTENTION,
        int(proj + scores),
        weights * eb,
        act * eb,
        "MultiHeadAttention",
    )


def _load(path: Path):
    from edgekit.source import detect_kind, load_keras

    return load_keras(path, detect_kind(path), safe_mode=True)
