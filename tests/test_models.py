"""Models as users bring them (several inputs and outputs, non-image inputs, recurrent
layers), fallback routes, and quiet output: every format, the real converters and runtimes."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import edgekit
from edgekit.conversion import convert
from edgekit.fingerprint import has_bf16

FORMATS = "tflite,openvino,onnx,coreml"


@pytest.fixture(scope="module")
def two_in_two_out(tmp_path_factory):
    """An image plus a metadata vector in; class scores and a box regression out."""
    import keras
    from keras import layers

    keras.utils.set_random_seed(2)
    image = keras.Input((24, 24, 3), name="image")
    meta = keras.Input((5,), name="meta")
    x = layers.Conv2D(6, 3, activation="relu")(image)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Concatenate()([x, layers.Dense(4, activation="relu")(meta)])
    probs = layers.Dense(3, activation="softmax", name="probs")(x)
    box = layers.Dense(4, name="box")(x)
    path = tmp_path_factory.mktemp("multi") / "multi.keras"
    keras.Model([image, meta], [probs, box]).save(path)
    out = tmp_path_factory.mktemp("multi-out")
    return path, convert(path, to=FORMATS, out=out)


def test_every_format_checks_every_output(two_in_two_out):
    _, report = two_in_two_out
    assert sorted(a.format for a in report.artifacts) == sorted(FORMATS.split(","))
    assert not report.manifest.failures
    for art in report.artifacts:
        assert art.parity["passed"], (art.format, art.parity["reason"])
        if art.parity["checked"] == "numeric":
            per = {o["name"]: o for o in art.parity["outputs"]}
            assert set(per) == {"probs", "box"}, art.format
            assert all(o["max_abs"] < 1e-4 for o in per.values()), (art.format, per)
    assert report.manifest.contract.head == 0  # probs: the classifier head


@pytest.mark.parametrize("fmt", ["tflite", "openvino", "onnx"])
def test_session_takes_inputs_by_name(two_in_two_out, fmt):
    path, report = two_in_two_out
    art = next(a for a in report.artifacts if a.format == fmt)
    rng = np.random.default_rng(0)
    image = rng.uniform(0, 1, (1, 24, 24, 3)).astype(np.float32)
    meta = rng.standard_normal((1, 5)).astype(np.float32)
    import keras

    want = keras.saving.load_model(path)([image, meta])
    with edgekit.load(report.out / art.file) as s:
        got = s.predict({"image": image, "meta": meta})
    by_name = dict(zip([t.name for t in s.outputs], got))
    probs = next(v for k, v in by_name.items() if "probs" in k)
    np.testing.assert_allclose(probs, np.asarray(want[0]), atol=1e-4)


def test_sequence_model_with_a_gru(tmp_path):
    """Non-image input (a float sequence) through a recurrent layer, every format."""
    import keras
    from keras import layers

    keras.utils.set_random_seed(3)
    seq = keras.Input((12, 6), name="features")
    x = layers.GRU(8)(seq)
    out = layers.Dense(3, activation="softmax", name="scores")(x)
    path = tmp_path / "gru.keras"
    keras.Model(seq, out).save(path)
    report = convert(path, to=FORMATS, out=tmp_path / "out")
    assert report.manifest.contract.preprocess is None  # tensors, not images
    assert sorted(a.format for a in report.artifacts) == sorted(FORMATS.split(",")), (
        report.manifest.failures
    )
    for art in report.artifacts:
        assert art.parity["passed"], (art.format, art.parity)
        if art.format != "coreml":
            assert art.parity["max_abs"] < 1e-4, (art.format, art.parity)
    # coremltools cannot read the GRU's while loop: the layer is unrolled for it
    coreml = next(a for a in report.artifacts if a.format == "coreml")
    assert coreml.route == "unrolled" and "frozen-graph" in coreml.route_errors


def test_forced_route_failure_falls_back_and_is_recorded(tiny_keras, tmp_path, monkeypatch):
    from edgekit.converters.base import Route
    from edgekit.converters.openvino import OpenVINOConverter

    real = OpenVINOConverter.routes

    def first_route_broken(self, *args, **kwargs):
        routes = real(self, *args, **kwargs)

        def broken(dest):
            raise RuntimeError("simulated frontend failure")

        return [Route(routes[0].name, broken), *routes[1:]]

    monkeypatch.setattr(OpenVINOConverter, "routes", first_route_broken)
    report = convert(tiny_keras, to="openvino", out=tmp_path / "out")
    (art,) = report.artifacts
    assert art.route != "frozen-graph"
    assert art.route_errors == {"frozen-graph": "simulated frontend failure"}
    assert art.parity["passed"] and art.parity["max_abs"] < 1e-4
    saved = json.loads((tmp_path / "out" / "edgekit.json").read_text())["artifacts"][0]
    assert saved["route"] == art.route and "frozen-graph" in saved["route_errors"]


def _cli(*args, quiet_env: bool):
    env = dict(os.environ, COLUMNS="200")
    for key in ("TF_CPP_MIN_LOG_LEVEL", "TQDM_DISABLE"):
        env.pop(key, None)  # let every library be as loud as it is by default
    return subprocess.run(
        [sys.executable, "-m", "edgekit.cli", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )


FOREIGN = ("WARNING", "INFO", "I0000", "oneDNN", "absl", "coremltools", "warnings.warn", "W0000")


def test_convert_prints_only_its_own_lines_unless_verbose(tiny_keras, tmp_path):
    args = ("convert", tiny_keras, "--to", "tflite:fp32,tflite:int8,openvino,onnx,coreml")
    quiet = _cli(*args, "--random-calib", "-o", tmp_path / "a", quiet_env=False)
    assert quiet.returncode == 0, quiet.stderr[-2000:]
    text = quiet.stdout + quiet.stderr
    assert "wrote 5 artifacts" in text
    foreign = [ln for ln in text.splitlines() if any(w in ln for w in FOREIGN)]
    assert not foreign, foreign[:5]
    loud = _cli(*args, "--random-calib", "--verbose", "-o", tmp_path / "b", quiet_env=False)
    assert loud.returncode == 0, loud.stderr[-2000:]
    loud_text = loud.stdout + loud.stderr
    assert any(w in loud_text for w in FOREIGN)
    assert "route" in loud.stdout  # the verbose table names the route per artifact


@pytest.mark.skipif(
    not has_bf16(),
    reason="this CPU has no AVX512_BF16/AMX, so openvino:bf16 is refused here (tested below)",
)
def test_openvino_bf16_is_its_own_row(tiny_keras, tmp_path):
    from edgekit.bench import benchmark

    report = convert(tiny_keras, to="openvino:fp32,openvino:bf16", out=tmp_path / "out")
    rows = {a.precision: a for a in report.artifacts}
    assert rows["fp32"].parity["executed_precision"] == "f32"
    assert rows["fp32"].parity["max_abs"] <= 1e-4
    assert rows["bf16"].parity["executed_precision"] == "bf16"
    assert rows["bf16"].parity["tolerance"]["max_abs"] == 5e-2
    assert rows["bf16"].parity["passed"]
    result = benchmark(tmp_path / "out" / rows["bf16"].file, runs=5, warmup=1)
    assert (result.precision, result.executed_precision) == ("bf16", "bf16")


def test_openvino_bf16_refused_without_bf16_hardware(tiny_keras, tmp_path, monkeypatch):
    import edgekit.fingerprint

    monkeypatch.setattr(edgekit.fingerprint, "has_bf16", lambda: False)
    with pytest.raises(edgekit.ConfigError, match="AVX512_BF16 or AMX"):
        convert(tiny_keras, to="openvino:bf16", out=tmp_path / "out")
    assert not (tmp_path / "out").exists()
