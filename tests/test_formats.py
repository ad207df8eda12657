"""The format registry: every file of an artifact resolves to its format, the device runner's
own small table agrees with it, and what derives from it (converters, sessions, cost readers,
runtime ids) exists."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgekit import formats
from edgekit.device import runner
from edgekit.errors import ConfigError, ModelLoadError

pytestmark = pytest.mark.light


@pytest.mark.parametrize(
    "name, fmt, main",
    [
        ("m_fp32.tflite", "tflite", "m_fp32.tflite"),
        ("m_fp32.xml", "openvino", "m_fp32.xml"),
        ("m_fp32.bin", "openvino", "m_fp32.xml"),
        ("m_fp32.onnx", "onnx", "m_fp32.onnx"),
        ("m_fp32.ncnn.param", "ncnn", "m_fp32.ncnn.param"),
        ("m_fp32.ncnn.bin", "ncnn", "m_fp32.ncnn.param"),  # not an OpenVINO IR's weights
        ("M_FP32.NCNN.BIN", "ncnn", "M_FP32.ncnn.param"),
        ("model.param", "ncnn", "model.param"),
        ("m_fp16.mlpackage", "coreml", "m_fp16.mlpackage"),
        ("m.mlmodel", "coreml", "m.mlmodel"),
    ],
)
def test_every_file_of_an_artifact_resolves(name, fmt, main):
    assert formats.of_path(Path("out") / name).name == fmt
    assert formats.main_file(Path("out") / name) == Path("out") / main


def test_files_travel_together():
    assert formats.files_of("a/m.ncnn.bin") == [Path("a/m.ncnn.param"), Path("a/m.ncnn.bin")]
    assert formats.files_of("a/m.xml") == [Path("a/m.xml"), Path("a/m.bin")]
    assert formats.files_of("a/m.tflite") == [Path("a/m.tflite")]
    assert formats.files_of("a/notes.txt") == [Path("a/notes.txt")]


def test_a_shared_sidecar_name_goes_to_the_artifact_that_is_there(tmp_path):
    (tmp_path / "k.param").write_text("7767517\n")
    (tmp_path / "k.bin").write_bytes(b"\0")
    (tmp_path / "v.xml").write_text("<net/>")
    (tmp_path / "v.bin").write_bytes(b"\0")
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "sub").mkdir()
    assert formats.of_path(tmp_path / "k.bin").name == "ncnn"
    assert formats.of_path(tmp_path / "v.bin").name == "openvino"
    assert formats.artifacts_in(tmp_path) == [tmp_path / "k.param", tmp_path / "v.xml"]


def test_unknown_files_and_formats_say_what_edgekit_reads():
    with pytest.raises(ModelLoadError, match=r"got: notes.txt; edgekit reads .tflite, .xml"):
        formats.of_path("notes.txt")
    with pytest.raises(ConfigError, match="unknown format; got: 'tensorrt'; choose from tflite"):
        formats.get("tensorrt")
    with pytest.raises(ConfigError, match="unknown runtime; got: tpu"):
        formats.runtime("tpu")


def test_the_device_runner_table_agrees_with_the_registry():
    """runner.py ships alone to devices with its own suffix table: it must match."""
    for suffix, model in runner.MODELS.items():
        fmt = formats.of_path(f"m{suffix}")
        assert fmt.name == model.format, suffix
        assert fmt.remote, f"{fmt.name} runs in the runner but the registry says it does not"
    runner_formats = {m.format for m in runner.MODELS.values()}
    for fmt in formats.FORMATS.values():
        if fmt.remote:
            assert fmt.name in runner_formats, f"{fmt.name} is remote but the runner lacks it"
            for main, sidecars in fmt.layouts[:1]:
                assert main in runner.MODELS
                assert all(s in runner.MODELS for s in sidecars)
    assert runner.file_size.__doc__  # the runner counts an artifact's sidecars itself


def test_every_row_names_what_exists():
    """The "module:attribute" strings resolve, with nothing heavy imported (light install)."""
    from edgekit.converters.base import Converter
    from edgekit.runtimes.base import Session

    for fmt in formats.FORMATS.values():
        session, converter = formats.resolve(fmt.session), formats.resolve(fmt.converter)
        assert issubclass(session, Session) and session.format == fmt.name
        assert issubclass(converter, Converter) and converter.name == fmt.name
        assert converter.suffix == fmt.suffix
        assert [p.value for p in converter.precisions] == list(fmt.precisions)
        assert callable(formats.resolve(fmt.costs)) if fmt.costs else True
        assert set(fmt.calibrated) <= set(fmt.precisions), fmt.name
    for r in formats.RUNTIMES.values():
        assert r.format in formats.FORMATS, r.id


def test_runtime_ids_are_one_table():
    from edgekit.device import profiles

    assert profiles.RUNTIME_IDS == tuple(formats.RUNTIMES)
    assert profiles.RUNTIME_FORMAT == {r.id: r.format for r in formats.RUNTIMES.values()}
