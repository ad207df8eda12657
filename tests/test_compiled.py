"""LiteRT's CompiledModel API as a path of the TFLite session: the same outputs as the
Interpreter on the example's artifacts, the API and accelerator in the executed record, bench
rows for both, the device runner's --api, and one line where an accelerator is missing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import edgekit
from edgekit.errors import ConfigError, ModelLoadError
from tests.conftest import run_cli

DATA = Path(__file__).parent / "data" / "example"
ARTIFACTS = [DATA / "shapes_fp32.tflite", DATA / "shapes_int8-io.tflite"]
RUNNER = Path(edgekit.__file__).parent / "device" / "runner.py"


def _same_outputs(path: Path) -> None:
    x = np.random.default_rng(3).uniform(0, 1, (4, 64, 64, 3)).astype("float32")
    with edgekit.load(path) as plain, edgekit.load(path, api="compiled", accelerator="cpu") as cm:
        assert [t.to_dict() for t in cm.inputs] == [t.to_dict() for t in plain.inputs]
        assert [t.to_dict() for t in cm.outputs] == [t.to_dict() for t in plain.outputs]
        np.testing.assert_allclose(cm.predict(x), plain.predict(x), rtol=0, atol=1e-6)
        raw = plain.run_raw([np.zeros([1, 64, 64, 3], plain.inputs[0].dtype)])
        assert np.array_equal(cm.run_raw([np.zeros_like(raw[0], shape=(1, 64, 64, 3))])[0],
                              raw[0]) or plain.inputs[0].dtype == "float32"  # fmt: skip
        assert plain.execution["settings"]["api"] == "interpreter"
        settings = cm.execution["settings"]
        assert settings["api"] == "compiled" and settings["accelerator"] == "cpu"
        assert cm.execution["precision"] == plain.execution["precision"]
        assert "CompiledModel" in cm.runtime and "CompiledModel" not in plain.runtime


@pytest.mark.light
@pytest.mark.parametrize("path", ARTIFACTS, ids=lambda p: p.name)
def test_compiled_model_gives_the_interpreters_outputs(path):
    _same_outputs(path)


def test_compiled_model_on_every_tflite_precision_of_the_example(example_out):
    """fp32, fp16, dynamic-int8, int8, int8-io, uint8-io and int16x8, as converted."""
    files = [example_out.out / a.file for a in example_out.artifacts if a.format == "tflite"]
    assert len(files) >= 6
    for f in files:
        _same_outputs(f)


@pytest.mark.light
def test_options_are_checked_before_any_loading():
    with pytest.raises(ConfigError, match="got: 'fast'; choose from interpreter, compiled"):
        edgekit.load(ARTIFACTS[0], api="fast")
    with pytest.raises(ConfigError, match="choose from cpu, gpu, npu"):
        edgekit.load(ARTIFACTS[0], accelerator="tpu")
    with pytest.raises(ConfigError, match="Interpreter options"):
        edgekit.load(ARTIFACTS[0], api="compiled", xnnpack=False)


@pytest.mark.light
def test_a_missing_gpu_is_one_line_or_it_runs_there():
    """Where LiteRT finds no GPU (this CI machine), the load says so and how to go on; where
    it finds one, the session runs on it and says so."""
    try:
        s = edgekit.load(ARTIFACTS[0], api="compiled", accelerator="gpu")
    except ModelLoadError as e:
        text = str(e)
        assert "GPU accelerator is not available here" in text and "\n" not in text
        assert "got: accelerator=gpu" in text and "use accelerator=cpu" in text
    else:
        with s:
            assert s.execution["settings"]["accelerator"] == "gpu"
            assert s.predict(np.zeros((1, 64, 64, 3), "float32")).shape == (1, 4)
    res = run_cli("bench", ARTIFACTS[0], "--runs", "3", "--option", "accelerator=gpu")
    assert res.returncode in (0, 2) and "Traceback" not in res.stderr
    if res.returncode == 2:
        errors = [ln for ln in res.stderr.splitlines() if ln.startswith("error:")]
        assert len(errors) == 1 and "accelerator=cpu" in errors[0]


@pytest.mark.light
def test_bench_rows_for_both_apis(tmp_path):
    docs = {}
    for name, extra in (("interpreter", []), ("compiled", ["--option", "api=compiled"])):
        out = tmp_path / f"{name}.json"
        res = run_cli("bench", ARTIFACTS[1], "--runs", "20", "--warmup", "2", "--json", out, *extra)
        assert res.returncode == 0, res.stderr[-2000:]
        (docs[name],) = json.loads(out.read_text())["results"]
    for name, row in docs.items():
        assert row["execution"]["settings"]["api"] == name
        assert row["runs"] == 20 and row["p50_ms"] > 0 and row["executed_precision"] == "int8"
    assert docs["compiled"]["execution"]["settings"]["accelerator"] == "cpu"
    assert "CompiledModel" in docs["compiled"]["runtime"]
    res = run_cli("bench", ARTIFACTS[1], "--option", "api")
    assert res.returncode == 2 and "--option takes KEY=VALUE" in res.stderr
    assert "Traceback" not in res.stderr


@pytest.mark.light
def test_device_runner_takes_the_compiled_api():
    """The runner ships alone to devices: it runs the CompiledModel path itself."""
    cmd = [sys.executable, str(RUNNER), str(ARTIFACTS[1]), "--runs", "5", "--json"]
    got = subprocess.run([*cmd, "--api", "compiled"], capture_output=True, text=True, timeout=120)
    assert got.returncode == 0, got.stderr[-2000:]
    (result,) = json.loads(got.stdout.strip().splitlines()[-1])["results"]
    assert result["execution"]["settings"]["api"] == "compiled" and result["runs"] == 5
    assert result["executed_precision"] == "int8" and "CompiledModel" in result["runtime"]
    plain = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    (row,) = json.loads(plain.stdout.strip().splitlines()[-1])["results"]
    assert row["execution"]["settings"]["api"] == "interpreter"
    gpu = subprocess.run(
        [*cmd, "--accelerator", "gpu"], capture_output=True, text=True, timeout=120
    )
    if gpu.returncode:  # no GPU here: one error line naming the way on (LiteRT logs beside it)
        errors = [ln for ln in gpu.stderr.splitlines() if ln.startswith("error:")]
        assert gpu.returncode == 1 and len(errors) == 1 and "use --accelerator cpu" in errors[0]
