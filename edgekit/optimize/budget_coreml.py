"""Core ML int8 (linear, per-channel weights) to an accuracy budget.

Core ML runs only on macOS, so the accuracy is measured here on the Keras model with the
same int8 weights (symmetric, per output channel, as coremltools' linear quantizer stores
them; activations stay float in Core ML's int8 mode, so this is the same arithmetic up to
float rounding). Layers are ranked by the accuracy lost when only they are quantized; the
worst are kept float (coremltools op selection: `op_name_configs={weight: None}`) until the
estimated drop fits.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgekit._deps import need


def search(source, dest: Path, val_x, val_y, ref, max_drop, max_float, say):
    from edgekit.converters.coreml import WEIGHT_THRESHOLD
    from edgekit.optimize.budget import BudgetResult, _met, _steps

    model = source.keras_model
    # coremltools leaves weights of WEIGHT_THRESHOLD values or fewer in float anyway
    layers = [
        layer
        for layer in model.layers
        if _kernel(layer) is not None and int(np.prod(_kernel(layer).shape)) > WEIGHT_THRESHOLD
    ]
    saved = {layer.name: _kernel(layer).numpy() for layer in layers}

    def accuracy(quantized: list[str]) -> float:
        for layer in layers:
            w = saved[layer.name]
            _kernel(layer).assign(_fake_int8(w) if layer.name in quantized else w)
        out = model.predict(val_x, batch_size=64, verbose=0)
        out = out[0] if isinstance(out, list) else out
        return float(np.mean(np.argmax(out, -1) == val_y))

    names = [layer.name for layer in layers]
    say("coreml: per-layer sensitivity of int8 weights (Keras, same weights)")
    drops = {n: ref - accuracy([n]) for n in names}
    ranked = sorted(names, key=lambda n: -drops[n])
    limit = len(ranked) if max_float is None else min(max_float, len(ranked))
    tries, best = [], None
    for k in _steps(limit):
        acc = accuracy([n for n in names if n not in ranked[:k]])
        tries.append({"float_layers": k, "accuracy": acc})
        if best is None or acc > best[1]:
            best = (k, acc)
        if _met(ref, acc, max_drop):
            break
    accuracy([])  # the Keras model back to float
    keep = ranked[: best[0]]
    _write(source, dest, {n: saved[n] for n in keep}, layers)
    return BudgetResult(
        "coreml", "", max_drop, ref, tries[0]["accuracy"], best[1], keep,
        len(names) - len(keep), _met(ref, best[1], max_drop), tries,
    )  # fmt: skip


def _kernel(layer):
    for attr in ("kernel", "depthwise_kernel"):
        w = getattr(layer, attr, None)
        if w is not None and len(w.shape) >= 2:
            return w
    return None


def _fake_int8(w: np.ndarray) -> np.ndarray:
    """Symmetric int8 per output channel (the last Keras axis), back to float."""
    flat = w.reshape(-1, w.shape[-1])
    scale = np.abs(flat).max(0) / 127
    scale[scale == 0] = 1
    return (np.clip(np.round(flat / scale), -127, 127) * scale).reshape(w.shape)


def _write(source, dest: Path, keep_float: dict[str, np.ndarray], layers) -> None:
    """fp32 Core ML, then int8 weights except the consts matching the float layers."""
    import shutil
    import tempfile

    ct = need("coremltools", what="Core ML conversion")
    from edgekit.converters.base import Precision
    from edgekit.converters.coreml import WEIGHT_THRESHOLD, CoreMLConverter

    with tempfile.TemporaryDirectory(dir=dest.parent) as tmp:
        fp32 = Path(tmp) / dest.name
        CoreMLConverter().write(source, Precision.FP32, fp32, calib=None, metadata="")
        model = ct.models.MLModel(str(fp32), skip_model_load=True)
        opt = ct.optimize.coreml
        consts = opt.get_weights_metadata(model, weight_threshold=0)
        skip = {name: None for name, m in consts.items() if _same(np.asarray(m.val), keep_float)}
        op = opt.OpLinearQuantizerConfig(
            mode="linear_symmetric", dtype="int8", weight_threshold=WEIGHT_THRESHOLD
        )
        config = opt.OptimizationConfig(global_config=op, op_name_configs=skip)
        out = Path(tmp) / "int8.mlpackage"
        opt.linear_quantize_weights(model, config).save(str(out))
        if dest.exists():
            shutil.rmtree(dest)
        shutil.move(str(out), dest)


def _same(value: np.ndarray, kernels: dict[str, np.ndarray]) -> bool:
    """Does a Core ML weight (out, in, kh, kw) or (out, in) hold one of these Keras kernels?"""
    for w in kernels.values():
        t = np.moveaxis(w, [-1, -2], [0, 1]) if w.ndim > 2 else w.T
        if t.shape == value.shape and np.allclose(t, value, atol=1e-6):
            return True
    return False
