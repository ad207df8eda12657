"""The light install (no TensorFlow): load, predict and benchmark committed artifacts.

`tests/run.sh` runs the tests marked `light` a second time in `.venv-light`, which has only
`requirements/light.txt` (what `pip install edgekit` gives: the TFLite runtime, no OpenVINO,
ONNX Runtime or TensorFlow). There the other formats must fail with the pip extra to install.
The artifacts in tests/data/example are the bundled model converted by
`python tests/data/make.py`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

import edgekit
from edgekit.errors import MissingDependencyError
from tests.conftest import has, run_cli

DATA = Path(__file__).parent / "data" / "example"
FILES = ["shapes_fp32.tflite", "shapes_int8-io.tflite", "shapes_fp16.xml", "shapes_fp32.onnx"]
LIGHT = bool(os.environ.get("EDGEKIT_LIGHT"))
EXTRA = {".xml": "openvino", ".onnx": "onnx"}


def runs_here(name: str) -> bool:
    return name.endswith(".tflite") or not LIGHT


@pytest.mark.light
def test_environment_is_what_it_claims():
    assert has("tensorflow") is not LIGHT and has("keras") is not LIGHT
    assert has("openvino") is not LIGHT and has("onnxruntime") is not LIGHT


@pytest.mark.light
@pytest.mark.parametrize("name", FILES)
def test_predict_image_accuracy(name):
    from edgekit.example.shapes import arrays

    if not runs_here(name):
        extra = EXTRA[Path(name).suffix]
        with pytest.raises(MissingDependencyError, match=rf"edgekit\[{extra}\]"):
            edgekit.load(DATA / name)
        return
    images, labels = arrays("val", 60)
    with edgekit.load(DATA / name) as s:
        assert s.labels == ["circle", "square", "triangle", "cross"]
        pred = np.array([s.predict_image(img).argmax() for img in images])
    assert (pred == labels).mean() >= 0.95


@pytest.mark.light
def test_int8_io_session_dequantizes():
    x = np.random.default_rng(1).uniform(0, 255, (1, 64, 64, 3)).astype(np.float32)
    with (
        edgekit.load(DATA / "shapes_int8-io.tflite") as s,
        edgekit.load(DATA / "shapes_fp32.tflite") as ref,
    ):
        assert s.inputs[0].dtype == "int8" and s.inputs[0].scale > 0
        y = s.predict(x)
        assert y.dtype == np.float32 and abs(float(y.sum()) - 1) < 0.05
        assert np.abs(y - ref.predict(x)).max() < 0.15


@pytest.mark.light
def test_bench_cli_light(tmp_path):
    js = tmp_path / "r.json"
    res = run_cli(
        "bench", DATA, "--runs", "10", "--warmup", "1", "--json", js, "--report", tmp_path
    )
    assert res.returncode == 0, res.stderr[-2000:]
    results = json.loads(js.read_text())["results"]
    assert sorted(Path(r["artifact"]).name for r in results) == sorted(
        f for f in FILES if runs_here(f)
    )
    assert all(r["p50_ms"] > 0 for r in results)
    if LIGHT:
        assert "shapes_fp16.xml: openvino is not installed" in res.stdout
    assert (tmp_path / "report.html").is_file()


def test_formats_agree():
    x = np.random.default_rng(0).uniform(0, 255, (3, 64, 64, 3)).astype(np.float32)
    with (
        edgekit.load(DATA / "shapes_fp32.tflite") as a,
        edgekit.load(DATA / "shapes_fp32.onnx") as b,
    ):
        np.testing.assert_allclose(a.predict(x), b.predict(x), atol=1e-4)
