"""Every input kind: .keras, legacy .h5, SavedModel; shapes; calibration tensors; the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

import edgekit
from tests.conftest import run_cli


def test_legacy_h5_converts(tiny_keras, tmp_path):
    import keras

    model = keras.saving.load_model(tiny_keras)
    h5 = tmp_path / "legacy.h5"
    model.save(h5)  # Keras 2's HDF5 layout
    assert h5.read_bytes()[:4] == b"\x89HDF"
    report = edgekit.convert(h5, to="tflite,onnx", out=tmp_path / "out")
    assert report.manifest.source["kind"] == "h5"
    assert all(a.parity["passed"] and a.parity["max_abs"] <= 1e-4 for a in report.artifacts)


def test_savedmodel_converts(tiny_keras, tmp_path):
    import keras

    sm = tmp_path / "sm"
    keras.saving.load_model(tiny_keras).export(sm, format="tf_saved_model", verbose=False)
    report = edgekit.convert(sm, to="openvino,tflite:fp16", out=tmp_path / "out")
    assert report.manifest.source["kind"] == "savedmodel"
    assert [a.file for a in report.artifacts] == ["sm_fp32.xml", "sm_fp16.tflite"]
    assert all(a.parity["passed"] for a in report.artifacts)


def test_dynamic_input_needs_input_shape(tmp_path):
    import keras

    inp = keras.Input((None, None, 3))
    x = keras.layers.Conv2D(4, 3)(inp)
    model = keras.Model(inp, keras.layers.GlobalAveragePooling2D()(x))
    path = tmp_path / "dyn.keras"
    model.save(path)
    with pytest.raises(edgekit.ConfigError, match="--input-shape"):
        edgekit.convert(path, to="onnx", out=tmp_path / "a")
    report = edgekit.convert(path, to="onnx", input_shape=[1, 48, 40, 3], out=tmp_path / "b")
    assert report.artifacts[0].inputs[0]["shape"] == [1, 48, 40, 3]


def test_npy_calibration_and_labels(tiny_keras, tmp_path):
    calib = tmp_path / "calib.npz"
    np.savez(calib, x=np.random.default_rng(0).uniform(0, 255, (16, 32, 32, 3)).astype(np.float32))
    labels = tmp_path / "labels.txt"
    labels.write_text("a\nb\n\nc\nd\n")
    report = edgekit.convert(
        tiny_keras,
        to="tflite:int16x8,openvino:int8",
        calib=calib,
        labels=labels,
        out=tmp_path / "out",
    )
    assert report.manifest.calibration == {"kind": "tensors", "source": str(calib), "count": 16}
    assert report.manifest.contract.labels == ["a", "b", "c", "d"]
    assert all(a.parity["cosine"] > 0.98 for a in report.artifacts)


def test_random_calibration_is_recorded(tiny_keras, tmp_path):
    report = edgekit.convert(
        tiny_keras, to="tflite:int8", random_calib=True, calib_samples=8, out=tmp_path / "out"
    )
    assert report.manifest.calibration["kind"] == "random"


def test_recipe_selects_targets(tiny_keras, tmp_path):
    report = edgekit.convert(
        tiny_keras, recipe="edgetpu-int8", random_calib=True, calib_samples=8, out=tmp_path / "out"
    )
    (a,) = report.artifacts
    assert (a.format, a.precision) == ("tflite", "uint8-io")
    assert a.inputs[0]["dtype"] == "uint8"


def test_cli_default_model_and_json(tmp_path):
    """No model argument: the bundled example (here limited to ONNX to keep the suite short)."""
    out = tmp_path / "out"
    res = run_cli("convert", "--to", "onnx", "-o", out, "--json")
    assert res.returncode == 0, res.stderr[-2000:]
    manifest = json.loads(res.stdout)
    (a,) = manifest["artifacts"]
    assert a["file"] == "shapes_fp32.onnx" and a["parity"]["passed"]
    assert a["parity"]["accuracy"] >= 0.95 and a["parity"]["samples"] == 400
    assert (out / "edgekit.json").is_file()


def test_cli_table_and_strict(tiny_keras, tmp_path):
    res = run_cli(
        "convert",
        tiny_keras,
        "--to",
        "tflite",
        "--precision",
        "fp32,fp16",
        "-o",
        tmp_path / "out",
        "--strict",
    )
    assert res.returncode == 0, res.stderr[-2000:]
    assert "tflite" in res.stdout and "pass" in res.stdout and "edgekit.json" in res.stdout
    info = run_cli("info", tmp_path / "out" / "tiny_fp16.tflite")
    assert info.returncode == 0 and '"preprocess"' in info.stdout


def test_strict_fails_on_parity_miss(tiny_keras, tmp_path, monkeypatch):
    from edgekit import parity
    from edgekit.errors import OutputMismatchError

    monkeypatch.setitem(parity.TOLERANCES, "fp16", parity.Tolerance(max_abs=1e-12))
    with pytest.raises(OutputMismatchError, match="missed parity"):
        edgekit.convert(tiny_keras, to="tflite:fp16", out=tmp_path / "out", strict=True)
