"""The device runner: self-contained (numpy + one runtime), the same schema as `edgekit bench`."""

from __future__ import annotations

import ast
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import edgekit
from edgekit.device import runner
from edgekit.fingerprint import fingerprint

DATA = Path(__file__).parent / "data" / "example"
INT8 = DATA / "shapes_int8-io.tflite"
STDLIB = set(sys.stdlib_module_names)


@pytest.mark.light
def test_runner_imports_only_stdlib_numpy_and_runtimes():
    tree = ast.parse(Path(runner.__file__).read_text())
    top = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            top |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            top.add(node.module.split(".")[0])
    assert top - STDLIB == {"numpy"}  # runtimes come through importlib, by the artifact's suffix


@pytest.mark.light
def test_runner_script_runs_alone_and_matches_bench_schema(tmp_path):
    # a copy outside the package, as on a device; record what it imported
    shutil.copy(runner.__file__, tmp_path / "runner.py")
    probe = (
        "import sys, runner; code = runner.main(sys.argv[1:]); "
        "sys.stderr.write('MODULES ' + ' '.join(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    res = subprocess.run(
        [
            sys.executable,
            "-c",
            probe,
            str(INT8),
            "--json",
            "--runs",
            "20",
            "--precision",
            "int8-io",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout.strip().splitlines()[-1])
    modules = set(res.stderr.split("MODULES ")[-1].split())
    assert not modules & {"edgekit", "click", "rich", "cv2", "psutil", "tensorflow"}
    local = edgekit.benchmark(INT8, runs=5, warmup=1)
    result = doc["results"][0]
    assert set(result) == set(local.to_dict()) and set(doc["machine"]) == set(fingerprint())
    assert result["runs"] == 20 and result["executed_precision"] == local.executed_precision
    assert result["size_bytes"] == local.size_bytes and result["format"] == "tflite"


@pytest.mark.light
def test_runner_streams_every_sample(tmp_path):
    res = subprocess.run(
        [sys.executable, runner.__file__, str(INT8), "--stream", "--runs", "300", "--warmup", "0"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    events = [json.loads(ln) for ln in res.stdout.splitlines() if ln.startswith("{")]
    kinds = [e["event"] for e in events]
    assert kinds[:2] == ["machine", "loaded"] and kinds[-1] == "result"
    samples = [ms for e in events if e["event"] == "samples" for ms in e["ms"]]
    assert len(samples) == 300 == events[-1]["result"]["runs"]
    assert min(samples) == pytest.approx(events[-1]["result"]["min_ms"], abs=1e-4)


@pytest.mark.light
def test_runner_bad_artifact_is_one_line(tmp_path):
    bad = tmp_path / "x.tflite"
    bad.write_bytes(b"not a model")
    res = subprocess.run(
        [sys.executable, runner.__file__, str(bad), "--json"], capture_output=True, text=True
    )
    assert res.returncode == 1 and res.stderr.startswith("error: cannot load x.tflite")
    assert "Traceback" not in res.stderr
    assert runner.open_model  # the loaders stay importable by name


@pytest.mark.light
def test_summary_and_timed_loop_agree():
    calls = []
    times = runner.timed_loop(calls.append, [1], runs=25, on_samples=lambda ms: None)
    assert len(times) == len(calls) == 25
    s = runner.summarize([1.0, 2.0, 3.0, 4.0])
    assert s["runs"] == 4 and s["p50_ms"] == 2.5 and s["mean_ms"] == 2.5 and s["fps"] == 400.0
