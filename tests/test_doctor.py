"""`edgekit doctor`: this machine's facts, the wheel question asked of the real index (and
checked against pip's own answer), and artifacts checked against target profiles."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from edgekit.device import doctor, wheels
from edgekit.device.runner import ISA_FLAGS
from tests.conftest import run_cli

DATA = Path(__file__).parent / "data" / "example"
FP32 = DATA / "shapes_fp32.tflite"
INT8 = DATA / "shapes_int8-io.tflite"


def rows(report, area=None) -> dict[str, doctor.Check]:
    return {c.item: c for c in report.checks if area is None or c.area == area}


@pytest.mark.light
def test_machine_reports_isa_flags_and_runtimes():
    import numpy

    report = doctor.diagnose()
    cpuinfo = Path("/proc/cpuinfo").read_text()
    words = set(" ".join(line.split(":", 1)[-1] for line in cpuinfo.splitlines()
                         if line.startswith(("flags", "Features"))).split())  # fmt: skip
    assert set(rows(report)["isa"].detail.split()) == words & set(ISA_FLAGS)
    numpy_row = rows(report, "runtime")["numpy"]
    assert numpy_row.status == "ok" and numpy_row.detail == numpy.__version__
    assert rows(report)["python"].detail.startswith(".".join(map(str, sys.version_info[:3])))
    assert not report.blocked


def test_broken_runtime_is_reported_not_fatal_fake_package(tmp_path, monkeypatch):
    # a package that is "installed" (has metadata) but raises on import
    site = tmp_path / "site"
    (site / "onnxruntime").mkdir(parents=True)
    (site / "onnxruntime" / "__init__.py").write_text("raise ImportError('bad wheel for this CPU')")
    dist = site / "onnxruntime-9.9.9.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: onnxruntime\nVersion: 9.9.9\n")
    monkeypatch.setenv("PYTHONPATH", str(site))
    result = doctor.imports((("onnxruntime", "onnxruntime"),))["onnxruntime"]
    assert not result["ok"] and "bad wheel" in result["error"]


@pytest.mark.light
def test_platform_tags_expand_like_pip():
    tags = wheels.platforms("manylinux_2_36_aarch64")
    assert tags[0] == "manylinux_2_36_aarch64" and "manylinux2014_aarch64" in tags
    assert "manylinux_2_16_aarch64" not in tags and "manylinux1_aarch64" not in tags
    assert "cp311-cp311-manylinux_2_28_aarch64" in wheels.supported_tags("3.11", tags[0])
    assert "cp312-cp312-manylinux_2_28_aarch64" not in wheels.supported_tags("3.11", tags[0])


def pip_finds(package: str, python: str, platform: str, tmp: Path) -> str | None:
    """pip's own answer: the version `pip install --dry-run --only-binary` resolves, or None."""
    cmd = [sys.executable, "-m", "pip", "install", "--dry-run", "--quiet", "--report", "-",
           "--no-deps", "--only-binary=:all:", "--ignore-installed", "--target", str(tmp),
           "--index-url", wheels.INDEX_URL, "--python-version", python,
           "--implementation", "cp", package]  # fmt: skip
    for tag in wheels.platforms(platform):
        cmd += ["--platform", tag]
    env = {**os.environ, "PIP_CONFIG_FILE": os.devnull, "PIP_FIND_LINKS": ""}
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    if res.returncode != 0:
        assert "No matching distribution" in res.stderr, res.stderr[-1500:]
        return None
    (item,) = json.loads(res.stdout)["install"]
    return item["metadata"]["version"]


@pytest.mark.parametrize(
    "target, python",
    [("rpi5", "3.11"), ("rpi5", "3.13"), ("jetson-orin-nano", "3.10")],
)
def test_wheel_answers_match_pip(target, python, tmp_path):
    from edgekit.device import profiles

    platform = profiles.get(target).software.platform
    for package in ("ai-edge-litert", "tflite-runtime", "onnxruntime", "openvino"):
        answer = wheels.check(package, python=python, platform=platform, refresh=True)
        assert answer.version == pip_finds(package, python, platform, tmp_path), package
        if package == "tflite-runtime":  # its wheels stop at cp311
            assert answer.found == (python != "3.13")
        else:
            assert answer.found, (package, python)


@pytest.mark.light
def test_doctor_target_rpi5_answers_both_pythons():
    report = doctor.diagnose(target="rpi5")
    wheel = rows(report, "wheel")
    assert {"tflite py3.11", "tflite py3.13"} <= set(wheel)
    assert "tflite-runtime: no wheel" in wheel["tflite py3.13"].detail
    assert "ai-edge-litert" in wheel["tflite py3.13"].detail and not report.blocked


@pytest.mark.light
def test_float_model_is_flagged_for_coral_usb():
    res = run_cli("doctor", "--target", "coral-usb", FP32, "--json")
    assert res.returncode == 1, res.stderr[-2000:]
    data = json.loads(res.stdout)
    (tpu,) = [c for c in data["checks"] if c["item"] == "edgetpu" and c["area"] == "artifact"]
    assert data["blocked"] and tpu["status"] == "block" and "float model" in tpu["detail"]
    ok = doctor.diagnose(INT8, target="coral-usb")
    assert not ok.blocked
    assert any("edgetpu_compiler" in c.detail for c in ok.checks if c.item == "edgetpu")


@pytest.mark.light
def test_table_and_exit_codes():
    res = run_cli("doctor", "--target", "pixel4", INT8)
    assert res.returncode == 0 and "tflite-gpu" in res.stdout, res.stderr[-2000:]
    res = run_cli("doctor", "--target", "nope")
    assert res.returncode == 2 and "rpi5" in res.stderr and "Traceback" not in res.stderr


@pytest.mark.light
def test_corrupt_artifact_is_one_line(tmp_path):
    bad = tmp_path / "cut.tflite"
    bad.write_bytes(FP32.read_bytes()[:200])
    res = run_cli("doctor", "--target", "rpi5", bad)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert "cut.tflite" in res.stderr


def test_format_and_ops_against_targets():
    onnx_model = DATA / "shapes_fp32.onnx"
    assert doctor.diagnose(onnx_model, target="coral-usb").blocked  # no ONNX runtime there
    pixel = doctor.diagnose(onnx_model, target="pixel4")  # ONNX Runtime runs on Android
    assert rows(pixel, "artifact")["onnxruntime"].status == "ok" and not pixel.blocked
    orin = doctor.diagnose(onnx_model, target="jetson-orin-nano")
    assert rows(orin, "artifact")["tensorrt"].status == "ok" and not orin.blocked
    ir = doctor.diagnose(DATA / "shapes_fp16.xml", target="intel-core-ultra-155h")
    assert rows(ir, "artifact")["openvino"].status == "ok"


@pytest.mark.light
def test_phone_profiles_flag_nnapi_and_point_at_the_npu_build():
    """NNAPI is deprecated from Android 15: the doctor says so, and sends an NPU phone's
    artifact to `convert --to tflite:npu` (the vendor compiler decides what the NPU takes)."""
    old = doctor.diagnose(INT8, target="pixel4")
    assert rows(old, "runtime")["nnapi"].status == "warn"
    assert "deprecated from Android 15" in rows(old, "runtime")["nnapi"].detail
    assert "litert-gpu" in rows(old, "runtime")["nnapi"].detail
    new = doctor.diagnose(INT8, target="galaxy-s24")
    assert "nnapi" not in rows(new, "runtime")
    hint = rows(new, "artifact")["litert-npu"]
    assert hint.status == "info" and "--to tflite:npu --device galaxy-s24" in hint.detail
    assert rows(new, "artifact")["litert-gpu"].status == "ok"
    assert not new.blocked
