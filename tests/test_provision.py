"""`edgekit provision ssh://`: edgekit's own wheel and the runtimes into a venv on the device,
against a real OpenSSH server on 127.0.0.1 (tests/sshd.py); idempotent; `bench --on` of an
ncnn artifact there; `doctor --on` answering like a local doctor. And the wheel itself: built
from a checkout and cached by content, or packed again from an installed edgekit.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from importlib import metadata
from pathlib import Path

import pytest

from edgekit.device import package
from edgekit.device.provision import make_plan
from edgekit.errors import ConfigError
from tests import sshd
from tests.conftest import run_cli

DATA = Path(__file__).parent / "data" / "example"


# `server` (the test sshd) and `device` (a venv `edgekit provision` filled): tests/conftest.py


def provision_cli(server, device, *args):
    return run_cli("provision", server.url, "--venv", device.venv, "--wheel", device.wheel.path,
                   *args, *sshd.cli_reach(server))  # fmt: skip


def test_provision_installs_edgekit_from_its_wheel(device):
    report = device.report
    assert report.changed and "edgekit-0.1.0" in report.installed
    assert report.python == str(device.python)
    assert report.versions["edgekit"] == device.wheel.version == metadata.version("edgekit")
    assert {"numpy", "opencv-python-headless", "ai-edge-litert"} <= set(report.versions)
    assert "tensorflow" not in report.versions and device.wheel.sha256[:12] in report.edgekit
    # the device imports edgekit from the venv (the wheel's files), demo agent included
    where = sshd.device_python_says(
        device.python, "import edgekit.demo.agent as a, edgekit; print(edgekit.__file__)"
    )
    assert where.startswith(str(device.venv)) and "site-packages" in where
    marker = json.loads(next(device.venv.glob("edgekit-provision.json")).read_text())
    assert marker["sha256"] == device.wheel.sha256


def test_a_second_provision_with_nothing_new_changes_nothing(server, device):
    res = provision_cli(server, device)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "nothing changed" in res.stdout and "Successfully installed" not in res.stderr
    res = provision_cli(server, device, "--json")
    report = json.loads(res.stdout)
    assert report["changed"] is False and report["installed"] == []
    assert report["versions"] == device.report.versions
    assert list(server.device_tmp.iterdir()) == []  # the wheel's folder went with the run


def test_a_runtime_added_then_bench_on_runs_ncnn_with_the_local_schema(server, device, tmp_path):
    """`provision --runtime ncnn` installs edgekit's ncnn extra (from the package index);
    `bench --on` then times the bundled example's ncnn artifact on the device."""
    res = provision_cli(server, device, "--runtime", "ncnn", "--json")
    assert res.returncode == 0, res.stderr[-2000:]
    report = json.loads(res.stdout)
    assert report["changed"] and report["versions"]["ncnn"]
    assert any(x.startswith("ncnn-") for x in report["installed"])
    param = ncnn_example(tmp_path)
    remote_json, local_json = tmp_path / "remote.json", tmp_path / "local.json"
    res = run_cli("bench", param, "--runs", "20", "--json", remote_json, "--on", server.url,
                  "--remote-python", device.python, *sshd.cli_reach(server))  # fmt: skip
    assert res.returncode == 0, res.stderr[-2000:]
    assert run_cli("bench", param, "--runs", "5", "--json", local_json).returncode == 0
    remote, local = json.loads(remote_json.read_text()), json.loads(local_json.read_text())
    there, here = remote["results"][0], local["results"][0]
    assert set(there) == set(here) and set(remote["machine"]) == set(local["machine"])
    assert there["format"] == here["format"] == "ncnn" and there["runs"] == 20
    assert there["runtime"].startswith("ncnn ") and there["size_bytes"] == here["size_bytes"]
    assert there["executed_precision"] == here["executed_precision"] == "f32"
    assert list(server.device_tmp.iterdir()) == []


def ncnn_example(folder: Path) -> Path:
    """The bundled example's ONNX artifact through edgekit's ncnn route (pnnx)."""
    from edgekit.converters.ncnn import pnnx_executable, run_pnnx, with_input_shapes
    from edgekit.runtimes import load

    work = folder / "pnnx"
    work.mkdir()
    shutil.copy(DATA / "shapes_fp32.onnx", work / "model.onnx")
    shapes = [
        [d if isinstance(d, int) and d > 0 else 1 for d in s.shape]
        for s in load(work / "model.onnx").inputs
    ]
    run_pnnx(pnnx_executable(), shapes, work, fp16=False)
    param = folder / "shapes_fp32.ncnn.param"
    param.write_text(with_input_shapes((work / "model.ncnn.param").read_text(), shapes))
    shutil.copy(work / "model.ncnn.bin", folder / "shapes_fp32.ncnn.bin")
    return param


def test_doctor_on_the_device_answers_like_a_local_doctor(server, device):
    light = sshd.DEVICE_PYTHON
    res = run_cli("doctor", "--on", server.url, "--remote-python", light, "--json",
                  *sshd.cli_reach(server))  # fmt: skip
    assert res.returncode == 0, res.stderr[-2000:]
    remote = json.loads(res.stdout)
    local = json.loads(subprocess.run(
        [str(light), "-m", "edgekit.cli", "doctor", "--json"], capture_output=True, text=True,
        cwd="/",
    ).stdout)  # fmt: skip

    def pick(doc, area, item=None):
        return [c for c in doc["checks"] if c["area"] == area and item in (None, c["item"])]

    assert pick(remote, "machine", "isa") == pick(local, "machine", "isa") != []
    assert pick(remote, "runtime") == pick(local, "runtime") != []
    assert remote["target"] == server.url
    # beside a profile's expectations, in the table
    res = run_cli("doctor", "--on", server.url, "--target", "x86-64", "--remote-python", light,
                  *sshd.cli_reach(server))  # fmt: skip
    assert res.returncode == 0, res.stderr[-2000:]
    assert "expected" in res.stdout and "x86-64: x86_64; device: x86_64" in res.stdout
    # no edgekit on the device's Python: provision first
    res = run_cli("doctor", "--on", server.url, "--remote-python", "/usr/bin/python3",
                  *sshd.cli_reach(server))  # fmt: skip
    assert res.returncode == 1 and "run `edgekit provision" in res.stderr, res.stderr
    assert list(server.device_tmp.iterdir()) == []


def test_plans_follow_the_profiles(device):
    wheel = device.wheel
    pi = make_plan(profile="rpi5", wheel=wheel)
    assert set(pi.extras) == {"ncnn", "onnx", "openvino"}  # the profile's runtimes
    assert "python3-picamera2" in pi.system_needs and pi.system_site
    assert any("picamera2" in n for n in pi.notes)
    jetson = make_plan(profile="jetson-orin-nano", wheel=wheel)
    notes = " ".join(jetson.notes)
    assert "TensorRT" in notes and "GStreamer" in notes
    assert jetson.system_site and "onnx" in jetson.extras
    assert make_plan(wheel=wheel).extras == []  # LiteRT is in the light install itself
    with pytest.raises(ConfigError, match="unknown runtime; got: tpu"):
        make_plan(runtimes=["tpu"], wheel=wheel)
    with pytest.raises(ConfigError, match="no `pip install` in the install line"):
        make_plan(profile="pixel8", wheel=wheel)
    only = make_plan(runtime_only=True)
    assert only.wheel is None and only.reqs == ["numpy", "ai-edge-litert"]


def test_the_wheel_is_cached_by_content_and_packs_again_from_an_install(device, tmp_path):
    again = package.own_wheel(source=device.snapshot)
    assert again.path == device.wheel.path and again.sha256 == device.wheel.sha256
    before = package.source_hash(device.snapshot)
    copy = tmp_path / "tree"
    shutil.copytree(device.snapshot, copy)
    (copy / "edgekit" / "cache.py").write_text((copy / "edgekit" / "cache.py").read_text() + "#\n")
    assert package.source_hash(copy) != before
    with pytest.raises(ConfigError, match="not an edgekit source tree"):
        package.own_wheel(source=tmp_path)
    # an installed (not editable) edgekit: its RECORD's files, packed again
    target = tmp_path / "installed"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target",
                    str(target), str(device.wheel.path)], check=True)  # fmt: skip
    dist = next(metadata.distributions(path=[str(target)]))
    packed = package.repack(dist)
    a, b = zipfile.ZipFile(packed.path), zipfile.ZipFile(device.wheel.path)
    assert set(a.namelist()) == set(b.namelist())
    assert all(a.read(n) == b.read(n) for n in a.namelist() if not n.endswith("RECORD"))
    assert packed.version == device.wheel.version and packed.requires == device.wheel.requires
