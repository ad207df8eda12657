"""keras.applications MobileNetV2 and EfficientNetB0 (weights=None, 224x224): every format in
every precision. Random weights, so parity is the check (accuracy needs the trained example).

Untrained BatchNorm statistics make activations shrink towards zero layer after layer (down
to 1e-18), which no integer format can represent; one training-mode pass with momentum 0 sets
the statistics from the data, as a trained model has them."""

from __future__ import annotations

import pytest

import edgekit


@pytest.fixture(scope="module", params=["MobileNetV2", "EfficientNetB0"])
def app_report(request, tmp_path_factory):
    import keras
    import numpy as np

    keras.utils.set_random_seed(0)
    model = getattr(keras.applications, request.param)(weights=None, input_shape=(224, 224, 3))
    lo, hi = (0, 255) if request.param.startswith("Efficient") else (-1, 1)
    x = np.random.default_rng(0).uniform(lo, hi, (8, 224, 224, 3)).astype(np.float32)
    settle_batchnorm(model, x)
    root = tmp_path_factory.mktemp(request.param)
    path = root / f"{request.param}.keras"
    model.save(path)
    calib = root / "calib.npy"
    np.save(calib, x)
    return edgekit.convert(path, recipe="all", calib=calib, out=root / "out")


def settle_batchnorm(model, x) -> None:
    import keras

    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = 0.0
    model(x, training=True)


@pytest.mark.slow
def test_all_targets_convert_with_parity(app_report):
    got = {(a.format, a.precision) for a in app_report.artifacts}
    assert len(got) == 17
    for a in app_report.artifacts:
        p = a.parity
        if a.precision == "fp32" and a.format != "coreml":
            assert p["max_abs"] <= 1e-4, (a.file, p)
        elif a.precision == "fp16" and a.format != "coreml":
            assert p["max_abs"] <= 1e-2, (a.file, p)
        elif a.format == "coreml":
            assert p["checked"] == "structural" and p["passed"], (a.file, p)
        else:  # random weights give a near-flat softmax (max ~0.004): bound the error only
            assert p["samples"] == 8 and p["max_abs"] < 0.01, (a.file, p)
