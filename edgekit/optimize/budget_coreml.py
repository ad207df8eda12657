"""Core ML int8 (linear, per-channel weights) to an accuracy budget.

Core ML runs only on macOS, so the accuracy is measured here on the Keras model with the
same int8 weights (symmetric, per output channel, as coremltools' linear quantizer stores
them; activations stay float in Core ML's int8 mode, so this is the same arithmetic up to
float rounding). The mix search (`mix.Search`) ranks layers by their measured effect and
keeps the fewest float (coremltools op selection: `op_name_configs={weight: None}`) that
hold the budget.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgekit._deps import need
from edgekit.optimize.mix import BudgetResult, Search, Trial, met, most_evaluations, scores


def search(source, dest: Path, val_x, val_y, ref, max_drop, max_float, say) -> BudgetResult:
    """Write the chosen Core ML mix (int8 weights, some layers float) to `dest`."""
    from edgekit.converters.coreml import WEIGHT_THRESHOLD

    model = source.keras_model
    # coremltools leaves weights of WEIGHT_THRESHOLD values or fewer in float anyway
    layers = [
        layer
        for layer in model.layers
        if _kernel(layer) is not None and int(np.prod(_kernel(layer).shape)) > WEIGHT_THRESHOLD
    ]
    saved = {layer.name: _kernel(layer).numpy() for layer in layers}
    names = [layer.name for layer in layers]
    reference = np.asarray(model.predict(val_x, batch_size=64, verbose=0), np.float64)

    def evaluate(floats: list[str]) -> Trial:
        for layer in layers:
            w = saved[layer.name]
            _kernel(layer).assign(w if layer.name in floats else _fake_int8(w))
        out = model.predict(val_x, batch_size=64, verbose=0)
        acc, err = scores(out, val_y, reference[0] if reference.ndim == 3 else reference)
        return Trial(floats, acc, err)

    say("coreml: int8 weights measured on the Keras model (same weights, per layer); at most "
        f"{most_evaluations(len(names), max_float)} evaluations")  # fmt: skip
    s = Search([[n] for n in names], evaluate, ref, max_drop, max_float, say, "coreml")
    try:
        best = s.run()
    finally:
        for layer in layers:  # the Keras model back to float
            _kernel(layer).assign(saved[layer.name])
    _write(source, dest, {n: saved[n] for n in best.floats}, layers)
    return BudgetResult(
        "coreml", "", max_drop, ref, s.trials[0].accuracy, best.accuracy, best.floats,
        len(names) - len(best.floats), met(ref, best.accuracy, max_drop), s.tries,
        len(val_y), s.evaluations, "measured ranking + bisection (coremltools op selection)",
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
