"""Layer-wise reconstruction after magnitude pruning: the weights a mask keeps are re-fit, by
least squares, so that each pruned layer reproduces the ORIGINAL layer's output on the data.

Layers are taken in graph order; each one's inputs come from the pruned model as rebuilt so
far, its targets from the original model, so later layers also correct the error of earlier
ones (the idea of ThiNet / SparseGPT, solved exactly per output channel here: small dense
Gram matrices, no Hessian approximations). It is a linear problem for Dense, Conv and the
pointwise half of separable convs; a layer whose patch layout edgekit cannot verify is left
as magnitude pruning made it. Fine-tuning by distillation follows.
"""

from __future__ import annotations

import logging

import numpy as np

log = logging.getLogger(__name__)
MAX_ROWS = 60_000  # input positions sampled per layer for the least-squares fit
RIDGE = 1e-3  # relative to the mean diagonal of the Gram matrix


def reconstruct(model, original, masks: dict[str, np.ndarray], x: np.ndarray) -> list[str]:
    """Re-fit the kept weights of each masked kernel of `model` (pruned in place) to the
    outputs of the same layer in `original`, on inputs `x`. `masks` maps a kernel's path to
    its 0/1 mask. Returns the names of the layers re-fit."""
    done = []
    rng = np.random.default_rng(0)
    for layer in model.layers:
        kernel = _linear_kernel(layer)
        if kernel is None or kernel.path not in masks:
            continue
        try:
            inputs = _inputs_of(model, layer, x)
            twin = original.get_layer(layer.name)
            target = _preactivation(twin, _inputs_of(original, twin, x))
        except (ValueError, TypeError, AttributeError) as e:  # shared layers, nested models
            log.debug("reconstruct: %s skipped: %s", layer.name, e)
            continue
        rows = _rows(layer, inputs)
        if rows is None:
            continue
        cols = rows.shape[-1]
        keep = rng.permutation(len(rows.reshape(-1, cols)))[:MAX_ROWS]
        a = rows.reshape(-1, cols)[keep].astype(np.float64)
        y = target.reshape(-1, target.shape[-1])[keep].astype(np.float64)
        kernel.assign(_solve(a, y, masks[kernel.path], kernel.numpy(), _bias(layer)))
        done.append(layer.name)
    return done


def _linear_kernel(layer):
    """The kernel re-fit: Dense/Conv kernels, the pointwise kernel of a separable conv."""
    kind = type(layer).__name__
    if kind.startswith("Separable"):
        return layer.pointwise_kernel
    if kind in ("Dense", "Conv1D", "Conv2D"):
        return layer.kernel
    return None


def _inputs_of(model, layer, x: np.ndarray) -> np.ndarray:
    import keras

    probe = keras.Model(model.inputs, layer.input)
    return np.asarray(probe.predict(x, batch_size=64, verbose=0))


def _preactivation(layer, inputs: np.ndarray) -> np.ndarray:
    """The layer's output before its activation (the linear part the fit can match)."""
    from keras import activations

    saved = layer.activation
    layer.activation = activations.linear
    try:
        return np.asarray(layer(inputs))
    finally:
        layer.activation = saved


def _bias(layer):
    return layer.bias if getattr(layer, "use_bias", False) and layer.bias is not None else None


def _rows(layer, inputs: np.ndarray) -> np.ndarray | None:
    """Inputs as the rows the kernel multiplies: one per output position, one column per
    kernel input (kh, kw, cin order); None if that layout does not check out."""
    from keras import ops

    kind = type(layer).__name__
    if kind == "Dense":
        return inputs
    if kind.startswith("Separable"):
        dw = ops.depthwise_conv(inputs, layer.depthwise_kernel, strides=layer.strides,
                                padding=layer.padding,
                                dilation_rate=layer.dilation_rate)  # fmt: skip
        return np.asarray(dw)
    if kind != "Conv2D" or layer.groups != 1 or layer.data_format != "channels_last":
        return None
    kh, kw = layer.kernel_size
    patches = ops.image.extract_patches(inputs[:8], size=(kh, kw), strides=layer.strides,
                                        dilation_rate=layer.dilation_rate,
                                        padding=layer.padding)  # fmt: skip
    k = layer.kernel.numpy().reshape(-1, layer.filters)
    check = np.asarray(patches) @ k + (0 if _bias(layer) is None else _bias(layer).numpy())
    ref = _preactivation(layer, inputs[:8])
    if check.shape != ref.shape or not np.allclose(check, ref, atol=1e-3 * (np.abs(ref).max() + 1)):
        return None
    return np.asarray(ops.image.extract_patches(inputs, size=(kh, kw), strides=layer.strides,
                                                dilation_rate=layer.dilation_rate,
                                                padding=layer.padding))  # fmt: skip


def _solve(a: np.ndarray, y: np.ndarray, mask: np.ndarray, kernel: np.ndarray, bias) -> np.ndarray:
    """Per output channel, the least-squares weights on the kept inputs (ridge-regularized);
    the bias, when there is one, stays and is subtracted from the target."""
    shape = kernel.shape
    m = mask.reshape(-1, shape[-1]) > 0
    if bias is not None:
        y = y - bias.numpy()[None].astype(np.float64)
    gram, cross = a.T @ a, a.T @ y
    ridge = RIDGE * float(np.mean(np.diag(gram))) + 1e-12
    out = np.zeros(m.shape, np.float64)
    for j in range(m.shape[1]):
        idx = np.flatnonzero(m[:, j])
        if idx.size == 0:
            continue
        g = gram[np.ix_(idx, idx)] + ridge * np.eye(idx.size)
        out[idx, j] = np.linalg.solve(g, cross[idx, j])
    return out.reshape(shape).astype(kernel.dtype)
