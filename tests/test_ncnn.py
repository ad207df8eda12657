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


def _leftovers_model(path):
    """What tf2onnx writes for these and pnnx left unmapped (deepcut, basic-pitch): Keras 3's
    Embedding on float ids (casts, the negative-id wrap, Gather), a constant Pad with no mode,
    a min/max over two axes, divide_no_nan (Equal + Where), a sum over one axis. (A convolution
    follows the lookup as in deepcut: pnnx finds the batch axis of a tensor from one.)"""
    import keras

    ids = keras.Input((6,), name="ids")
    x = keras.layers.Embedding(10, 4)(ids)
    x = keras.layers.ZeroPadding1D((1, 2))(keras.layers.Conv1D(5, 3)(x))
    low = keras.ops.min(x, axis=(1, 2), keepdims=True)
    span = keras.ops.max(x - low, axis=(1, 2), keepdims=True)
    x = keras.ops.divide_no_nan(x - low, span)
    keras.Model(ids, keras.ops.sum(x, axis=-1)).save(path)
    return path


def test_constructs_pnnx_leaves_unmapped_convert_and_pass_parity(tmp_path):
    import edgekit

    model = _leftovers_model(tmp_path / "leftovers.keras")
    report = edgekit.convert(model, to="ncnn", out=tmp_path / "out")
    (art,) = report.artifacts
    assert art.parity["passed"] and art.parity["max_abs"] <= 1e-5, art.parity
    layers = {ln.split()[0] for ln in (tmp_path / "out" / art.file).read_text().splitlines()[2:]}
    assert "Embed" not in layers and "Reduction" in layers  # one-hot rows; real reductions


def test_op_pnnx_cannot_map_is_named_in_one_line(tmp_path):
    """Where(x < 0, 0, x): ncnn has no comparison or select layer; pnnx writes them as they are
    and exits 0."""
    import onnx
    from onnx import TensorProto, helper

    from edgekit.converters.ncnn import pnnx_executable, run_pnnx
    from edgekit.errors import ConversionError

    zero = helper.make_tensor("zero", TensorProto.FLOAT, [], [0.0])
    graph = helper.make_graph(
        [
            helper.make_node("Less", ["x", "zero"], ["neg"]),
            helper.make_node("Where", ["neg", "zero", "x"], ["y"]),
        ],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 8, 8])],
        [zero],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    onnx.save(model, str(tmp_path / "model.onnx"))
    with pytest.raises(ConversionError) as e:
        run_pnnx(pnnx_executable(), [[1, 3, 8, 8]], tmp_path, fp16=False)
    said = str(e.value)
    assert "pnnx could not map torch.lt, torch.where to an ncnn layer" in said, said
    assert "pnnx said: ignore torch.lt" in said and "\n" not in said
