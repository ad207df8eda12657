"""`edgekit convert --to tflite:npu --device ID`: LiteRT's ahead-of-time compile for a phone's
NPU. The vendor SDK packages (ai-edge-litert-sdk-qualcomm, -mediatek, -google-tensor) are
source distributions that download the vendor's SDK from its own site while they install; CI
reaches PyPI only, so there the missing-SDK path is what runs, and the compile test says why
it skips."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from edgekit.converters import npu
from edgekit.errors import ConfigError, MissingDependencyError
from tests.conftest import run_cli

DATA = Path(__file__).parent / "data" / "example"
INT8 = DATA / "shapes_int8-io.tflite"


def _sdk_ready(vendor: str) -> bool:
    try:
        npu.sdk_libs(npu.VENDORS[vendor], "v8" if vendor == "mediatek" else None)
    except MissingDependencyError:
        return False
    return True


QUALCOMM = _sdk_ready("qualcomm")


@pytest.mark.light
def test_soc_strings_are_checked_against_litert():
    vendor, model = npu.parse_soc("qualcomm:SM8650")
    assert vendor.dist == "ai-edge-litert-sdk-qualcomm" and model == "SM8650"
    with pytest.raises(ConfigError, match="VENDOR:MODEL with VENDOR one of qualcomm"):
        npu.parse_soc("apple:A17")
    with pytest.raises(ConfigError, match="it knows .*SM8650"):
        npu.target("qualcomm:SM1234")


@pytest.mark.skipif(QUALCOMM, reason="the Qualcomm SDK is installed: the compile test runs")
def test_missing_sdk_is_one_line_naming_the_pip_command(tmp_path):
    """Checked when the plan is made: before the model loads, nothing written."""
    out = tmp_path / "out"
    res = run_cli("convert", "--to", "tflite:npu", "--device", "galaxy-s24", "-o", out)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    errors = [ln for ln in res.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1, res.stderr
    assert 'pip install "edgekit[npu-qualcomm]"' in errors[0] and "softwarecenter" in errors[0]
    assert not out.exists() or not any(out.iterdir())
    with pytest.raises(MissingDependencyError, match=r"edgekit\[npu-mediatek\]"):
        npu.check("mediatek:MT6989")


def test_npu_builds_need_a_phone_with_an_npu(tmp_path):
    for extra, got in (([], "no --device"), (["--device", "rpi5"], "--device rpi5")):
        res = run_cli("convert", "--to", "tflite:npu", *extra, "-o", tmp_path / "out")
        assert res.returncode == 2 and "Traceback" not in res.stderr
        assert f"got: {got}" in res.stderr and "galaxy-s24, pixel8, vivo-x100" in res.stderr


@pytest.mark.light
def test_placement_of_a_file_without_npu_partitions_is_all_cpu():
    """The op split reads the files themselves: no DISPATCH_OP, every op on the CPU."""
    ops, metadata = npu.ops_of(INT8)
    assert sum(ops.values()) == 10 and "CONV_2D" in ops
    placed = npu.placement(INT8, INT8, "qualcomm:SM8650")
    assert placed.partitions == 0 and placed.npu_ops == {} and placed.cpu_ops == dict(ops)
    assert "0 ops on the NPU in 0 partition(s), 10 on the CPU" in placed.summary


@pytest.mark.light
def test_structure_check_refuses_a_file_that_is_not_an_npu_build():
    class Source:  # the converted model's I/O as edgekit.source records it
        inputs = [type("T", (), {"shape": [1, 64, 64, 3]})()]
        outputs = [type("T", (), {"shape": [1, 4]})()]

    ok, reason = npu.structure(INT8, "qualcomm:SM8650", Source())
    assert not ok and "no NPU partition (DISPATCH_OP)" in reason


@pytest.mark.skipif(not QUALCOMM, reason="no Qualcomm SDK: ai-edge-litert-sdk-qualcomm is an "
                    "sdist that downloads QAIRT from softwarecenter.qualcomm.com at install "
                    "time, which CI (PyPI only) cannot reach")  # fmt: skip
def test_npu_build_for_the_snapdragon_phone(tmp_path):
    res = run_cli("convert", "--to", "tflite:npu", "--device", "galaxy-s24", "-o", tmp_path,
                  "--json")  # fmt: skip
    assert res.returncode == 0, res.stderr[-2000:]
    (art,) = json.loads(res.stdout)["artifacts"]
    placed = art["placement"]
    assert placed["soc"] == "qualcomm:SM8650" and placed["partitions"] >= 1
    assert sum(placed["npu_ops"].values()) > 0 and art["parity"]["checked"] == "structural"
    assert art["parity"]["passed"], art["parity"]["reason"]
    res = run_cli("doctor", tmp_path / art["file"], "--target", "galaxy-s24", "--json")
    npu_row = next(c for c in json.loads(res.stdout)["checks"] if c["item"] == "npu")
    assert npu_row["status"] == "ok" and "qualcomm:SM8650" in npu_row["detail"]


@pytest.mark.light
def test_vendor_extras_are_declared():
    import tomllib

    project = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    extras = project["project"]["optional-dependencies"]
    for v in npu.VENDORS.values():
        assert any(dep.startswith(v.dist) for dep in extras[v.extra]), v.extra
        # their module name is what the LiteRT vendor backend imports
        assert importlib.util.find_spec(v.target) is not None
