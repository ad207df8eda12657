"""The light install (no TensorFlow): load, predict and benchmark committed artifacts.

`tests/run.sh` runs this file a second time in `.venv-light`, which has only
`requirements/light.txt`; there `test_no_tensorflow_here` proves the environment is light.
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
from tests.conftest import has, run_cli

pytestmark = pytest.mark.light
DATA = Path(__file__).parent / "data" / "example"
FILES = ["shapes_fp32.tflite", "shapes_int8-io.tflite", "shapes_fp16.xml", "shapes_fp32.onnx"]


@pytest.mark.skipif(not os.environ.get("EDGEKIT_LIGHT"), reason="only in the light venv")
def test_no_tensorflow_here():
    assert not has("tensorflow") and not has("keras")


@pytest.mark.parametrize("name", FILES)
def test_predict_image_accuracy(name):
    from edgekit.example.shapes import arrays

    images, labels = arrays("val", 60)
    with edgekit.load(DATA / name) as s:
        assert s.labels == ["circle", "square", "triangle", "cross"]
        pred = np.array([s.predict_image(img).argmax() for img in images])
    assert (pred == labels).mean() >= 0.95


def test_formats_agree():
    x = np.random.default_rng(0).uniform(0, 255, (3, 64, 64, 3)).astype(np.float32)
    with (
        edgekit.load(DATA / "shapes_fp32.tflite") as a,
        edgekit.load(DATA / "shapes_fp32.onnx") as b,
    ):
        np.testing.assert_allclose(a.predict(x), b.predict(x), atol=1e-4)


def test_int8_io_session_dequantizes():
    x = np.random.default_rng(1).uniform(0, 255, (1, 64, 64, 3)).astype(np.float32)
    with edgekit.load(DATA / "shapes_int8-io.tflite") as s:
        assert s.inputs[0].dtype == "int8" and s.inputs[0].scale > 0
        y = s.predict(x)
        assert y.dtype == np.float32 and abs(float(y.sum()) - 1) < 0.05


def test_bench_cli_light(tmp_path):
    js = tmp_path / "r.json"
    res = run_cli(
        "bench", DATA, "--runs", "10", "--warmup", "1", "--json", js, "--report", tmp_path
    )
    assert res.returncode == 0, res.stderr[-2000:]
    results = json.loads(js.read_text())["results"]
    assert sorted(Path(r["artifact"]).name for r in results) == sorted(FILES)
    assert all(r["p50_ms"] > 0 for r in results)
    assert (tmp_path / "report.html").is_file()
