"""ncnn as a format: the bundled example through ONNX and pnnx, parity, a session, bench rows."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.conftest import run_cli


@pytest.fixture(scope="session")
def ncnn_out(tmp_path_factory):
    root = tmp_path_factory.mktemp("ncnn-out")
    # relative, with a space (absolute folders: tests/test_bench.py)
    args = ["convert", "--to", "ncnn:fp32,ncnn:fp16,onnx:fp32", "-o", "dir with space"]
    res = run_cli(*args, "--json", cwd=root)
    assert res.returncode == 0, res.stderr[-3000:]
    return root / "dir with space", json.loads(res.stdout)


def test_example_converts_to_ncnn_and_passes_parity(ncnn_out):
    out, report = ncnn_out
    arts = {a["precision"]: a for a in report["artifacts"] if a["format"] == "ncnn"}
    assert set(arts) == {"fp32", "fp16"}
    for precision, art in arts.items():
        assert art["parity"]["passed"], (precision, art["parity"])
        assert (out / art["file"]).is_file()
        assert (out / art["file"]).with_suffix(".bin").is_file()  # weights travel with it
    # fp16 stores half-width weights
    assert arts["fp16"]["size_bytes"] < 0.6 * arts["fp32"]["size_bytes"]
    assert arts["fp32"]["parity"]["max_abs"] <= 1e-4
    # the parity check ran the fp16 file the way a device does (ncnn's fp16 options on)
    assert arts["fp16"]["parity"]["executed_precision"] == "f16"
    assert arts["fp32"]["parity"]["executed_precision"] == "f32"


def test_ncnn_session_matches_onnx_runtime(ncnn_out):
    import edgekit

    out, _ = ncnn_out
    s = edgekit.load(out / "shapes_fp32.ncnn.param", threads=1)
    ref = edgekit.load(out / "shapes_fp32.onnx")
    assert s.format == "ncnn" and s.contract is not None
    x = np.random.default_rng(3).uniform(0, 255, [2, *ref.inputs[0].shape[1:]]).astype("float32")
    got, want = s.predict(x), ref.predict(x)
    assert got.shape == want.shape and np.abs(got - want).max() < 1e-4
    image = np.random.default_rng(4).integers(0, 255, (90, 120, 3), dtype=np.uint8)
    assert np.argmax(s.predict_image(image)) == np.argmax(ref.predict_image(image))


def test_bench_times_ncnn(ncnn_out, tmp_path):
    out, _ = ncnn_out
    res = run_cli(
        "bench", out / "shapes_fp32.ncnn.param", "--runs", "20", "--json", tmp_path / "b.json"
    )
    assert res.returncode == 0, res.stderr[-2000:]
    rows = json.loads((tmp_path / "b.json").read_text())
    rows = rows["results"] if isinstance(rows, dict) else rows
    (row,) = rows
    assert row["format"] == "ncnn" and row["p50_ms"] > 0
    assert row["size_bytes"] > (out / "shapes_fp32.ncnn.bin").stat().st_size  # .param + .bin


def test_doctor_reads_ncnn_ops(ncnn_out):
    from edgekit.device import doctor

    out, _ = ncnn_out
    report = doctor.diagnose(out / "shapes_fp32.ncnn.param", target="rpi5")
    ops = [c for c in report.checks if c.item == "ops"][0]
    assert ops.detail.startswith("ncnn:") and not report.blocked
    assert doctor.diagnose(out / "shapes_fp32.ncnn.param", target="iphone-12-pro").checks


def test_corrupt_ncnn_files_are_one_line_errors(ncnn_out, tmp_path):
    out, _ = ncnn_out
    bad = tmp_path / "m.ncnn.param"
    bad.write_text("not ncnn\n")
    res = run_cli("bench", bad, "--runs", "1")
    assert res.returncode == 2 and "Traceback" not in res.stderr and "ncnn" in res.stderr
    param = tmp_path / "cut.ncnn.param"
    param.write_text((out / "shapes_fp32.ncnn.param").read_text())
    (tmp_path / "cut.ncnn.bin").write_bytes((out / "shapes_fp32.ncnn.bin").read_bytes()[:100])
    res = run_cli("bench", param, "--runs", "1")
    assert res.returncode == 2 and "truncated" in res.stderr and "Traceback" not in res.stderr


def test_ncnn_converts_into_the_default_relative_folder(tmp_path):
    """pnnx ran with relative paths from its own folder and wrote nothing (issue 13)."""
    import edgekit

    res = run_cli("convert", "--to", "ncnn", "--json", cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    (art,) = json.loads(res.stdout)["artifacts"]
    assert art["format"] == "ncnn" and art["parity"]["passed"], art
    param = tmp_path / "edgekit-out" / art["file"]
    assert param.is_file() and param.with_suffix(".bin").is_file()
    assert not [p.name for p in (tmp_path / "edgekit-out").iterdir() if p.name.startswith(".")]
    session = edgekit.load(param)
    labels = session.contract.labels  # its contract came along
    assert labels and session.outputs[0].shape == [1, len(labels)]


def test_pnnx_failure_text_is_reported_as_pnnx_wrote_it(tmp_path):
    from edgekit.converters.ncnn import pnnx_executable, run_pnnx
    from edgekit.errors import ConversionError

    (tmp_path / "model.onnx").write_bytes(b"not an onnx file")
    with pytest.raises(ConversionError) as e:
        run_pnnx(pnnx_executable(), [[1, 8, 8, 3]], tmp_path, fp16=False)
    said = str(e.value)
    assert "pnnx said:" in said and "failed" in said and "\n" not in said
    assert "cannot map" not in said and "inputshape =" not in said  # its own words, not echo


def test_missing_pnnx_says_to_install_it_without_torch(monkeypatch):
    """pnnx hidden from this interpreter (as when it is not installed)."""
    import sys

    from edgekit.converters.ncnn import pnnx_executable
    from edgekit.errors import MissingDependencyError

    monkeypatch.setitem(sys.modules, "pnnx", None)
    with pytest.raises(MissingDependencyError) as e:
        pnnx_executable()
    assert "pip install ncnn && pip install --no-deps pnnx" in str(e.value)
