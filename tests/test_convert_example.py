"""The bundled example through every format and precision: parity, accuracy, manifest."""

from __future__ import annotations

import json
import platform

import numpy as np
import pytest

from edgekit.manifest import MANIFEST_NAME
from tests.conftest import copy_alone

ALL = 17


def by(report, fmt, precision):
    return next(a for a in report.artifacts if a.format == fmt and a.precision == precision)


def test_every_format_and_precision_written(example_out):
    files = {a.file for a in example_out.artifacts}
    assert len(files) == ALL
    for a in example_out.artifacts:
        assert (example_out.out / a.file).exists(), a.file
        assert a.size_bytes > 1000
        assert a.tools and a.convert_seconds > 0
    assert not [p for p in example_out.out.iterdir() if p.name.startswith(".staging")]


@pytest.mark.parametrize("fmt", ["tflite", "openvino", "onnx"])
def test_float_parity_within_tolerance(example_out, fmt):
    fp32 = by(example_out, fmt, "fp32").parity
    assert fp32["checked"] == "numeric" and fp32["samples"] == 400
    assert fp32["max_abs"] <= 1e-4 and fp32["passed"]
    assert fp32["top1_agreement"] == 1.0
    if fmt != "onnx":
        fp16 = by(example_out, fmt, "fp16").parity
        assert fp16["max_abs"] <= 1e-2 and fp16["passed"]


@pytest.mark.parametrize(
    "fmt,precision",
    [("tflite", "int8"), ("tflite", "int8-io"), ("tflite", "uint8-io"), ("openvino", "int8")],
)
def test_int8_keeps_accuracy(example_out, fmt, precision):
    p = by(example_out, fmt, precision).parity
    assert p["top1_agreement"] >= 0.98
    assert p["reference_accuracy"] >= 0.95  # the example model really learned its task
    assert abs(p["accuracy"] - p["reference_accuracy"]) <= 0.01
    assert p["passed"]


def test_quantized_artifacts_are_smaller(example_out):
    fp32 = by(example_out, "tflite", "fp32").size_bytes
    assert by(example_out, "tflite", "int8").size_bytes < fp32 * 0.5
    assert by(example_out, "tflite", "fp16").size_bytes < fp32 * 0.7
    assert (
        by(example_out, "openvino", "fp16").size_bytes
        < by(example_out, "openvino", "fp32").size_bytes
    )


def test_int16x8_carries_a_speed_note(example_out):
    assert "reference kernels" in by(example_out, "tflite", "int16x8").notes[0]
    assert by(example_out, "tflite", "int8").notes == []


def test_int8_io_records_scale_and_zero_point(example_out):
    a = by(example_out, "tflite", "int8-io")
    assert a.inputs[0]["dtype"] == "int8" and a.inputs[0]["scale"] > 0
    u = by(example_out, "tflite", "uint8-io")
    assert u.inputs[0]["dtype"] == "uint8" and 0 <= u.inputs[0]["zero_point"] <= 255


@pytest.mark.skipif(platform.system() == "Darwin", reason="on macOS Core ML parity is numeric")
def test_coreml_structural_check_says_numbers_need_macos(example_out):
    for precision in ("fp32", "fp16", "int8", "palettize4", "palettize6", "palettize8"):
        p = by(example_out, "coreml", precision).parity
        assert p["checked"] == "structural" and p["passed"], p
        assert "needs macOS" in p["reason"]
    from edgekit.converters.coreml import inspect

    info = inspect(example_out.out / by(example_out, "coreml", "palettize4").file)
    assert "constexpr_lut_to_dense" in info["compressed_weights"]
    assert info["inputs"][0]["shape"] == [1, 64, 64, 3]


def test_manifest_records_contract_and_provenance(example_out):
    m = json.loads((example_out.out / MANIFEST_NAME).read_text())
    assert len(m["source"]["sha256"]) == 64
    c = m["contract"]
    assert c["labels"] == ["circle", "square", "triangle", "cross"]
    assert c["preprocess"]["scale"] == 1.0  # the model rescales itself: raw pixels
    assert c["preprocess"]["size"] == [64, 64] and c["preprocess"]["color"] == "rgb"
    assert m["calibration"] == {
        "kind": "images",
        "source": m["calibration"]["source"],
        "count": 200,
    }
    assert len(m["artifacts"]) == ALL


@pytest.mark.parametrize(
    "fmt,precision", [("tflite", "fp16"), ("openvino", "fp16"), ("onnx", "fp32")]
)
def test_lone_artifact_is_self_describing(example_out, tmp_path, fmt, precision):
    import edgekit

    alone = copy_alone(example_out.out / by(example_out, fmt, precision).file, tmp_path)
    with edgekit.load(alone) as s:
        assert s.contract is not None and s.labels[0] == "circle"
        assert s.contract.preprocess.size == (64, 64)
        assert s.precision == precision


def test_coreml_metadata_embedded(example_out):
    from edgekit.converters.coreml import inspect

    meta = inspect(example_out.out / by(example_out, "coreml", "fp16").file)["metadata"]
    assert json.loads(meta["edgekit.contract"])["precision"] == "fp16"


def test_predict_image_classifies_rendered_shapes(example_out):
    import edgekit
    from edgekit.example.shapes import arrays

    images, labels = arrays("val", 40)
    with edgekit.load(example_out.out / by(example_out, "tflite", "int8-io").file) as s:
        pred = np.array([s.predict_image(img).argmax() for img in images])
    assert (pred == labels).mean() >= 0.95
