"""keras.applications MobileNetV2 and EfficientNetB0 (weights=None, 224x224): every format in
every precision. Random weights, so parity is the check (accuracy needs the trained example)."""

from __future__ import annotations

import pytest

import edgekit


@pytest.fixture(scope="module", params=["MobileNetV2", "EfficientNetB0"])
def app_report(request, tmp_path_factory):
    import keras
    import numpy as np

    keras.utils.set_random_seed(0)
    model = getattr(keras.applications, request.param)(weights=None, input_shape=(224, 224, 3))
    root = tmp_path_factory.mktemp(request.param)
    path = root / f"{request.param}.keras"
    model.save(path)
    calib = root / "calib.npy"
    lo, hi = (0, 255) if request.param.startswith("Efficient") else (-1, 1)
    np.save(calib, np.random.default_rng(0).uniform(lo, hi, (8, 224, 224, 3)).astype(np.float32))
    return edgekit.convert(path, recipe="all", calib=calib, out=root / "out")


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
        else:
            assert p["cosine"] > 0.5, (a.file, p)  # quantized with random weights: sanity only
