"""edgekit bench: statistics, the per-format table, JSON/CSV, chart and HTML report."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess

import numpy as np
import pytest

import edgekit
from tests.conftest import run_cli
from tests.test_convert_example import by


def test_benchmark_statistics_are_consistent(example_out):
    r = edgekit.benchmark(
        example_out.out / by(example_out, "tflite", "int8").file, runs=50, warmup=5, threads=1
    )
    assert r.runs == 50 and r.threads == 1 and r.precision == "int8"
    assert 0 < r.min_ms <= r.p50_ms <= r.p90_ms <= r.p99_ms <= r.max_ms
    assert r.fps == pytest.approx(1000 / r.mean_ms, rel=1e-3)
    assert r.load_ms > 0 and r.first_ms > 0 and r.peak_rss_mb > 50
    assert r.runtime.startswith("ai-edge-litert")


def test_duration_mode_and_sustained_log(example_out):
    r = edgekit.benchmark(
        example_out.out / by(example_out, "onnx", "fp32").file, duration=0.5, warmup=1, sustained=2
    )
    assert r.runs > 5
    assert len(r.sustained) == 2 and all(row["mean_ms"] > 0 for row in r.sustained)
    assert set(r.sustained[0]) >= {"t_s", "temperature_c", "cpu_mhz", "throttled"}


def test_bench_cli_compares_every_artifact(example_out, tmp_path):
    js, cs = tmp_path / "r.json", tmp_path / "r.csv"
    res = run_cli(
        "bench",
        example_out.out,
        "--runs",
        "20",
        "--warmup",
        "2",
        "--json",
        js,
        "--csv",
        cs,
        "--report",
        tmp_path,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    data = json.loads(js.read_text())
    runnable = [a for a in example_out.artifacts if a.format != "coreml"]
    assert len(data["results"]) == len(runnable)
    m = data["machine"]
    assert m["cores"] >= 1 and m["python"] and "runtimes" in m and m["isa"] is not None
    rows = list(csv.DictReader(cs.open()))
    assert len(rows) == len(runnable) and float(rows[0]["p50_ms"]) > 0
    assert "mlpackage: Core ML runs on macOS only" in res.stdout  # skipped, and says why
    for a in runnable:
        assert a.file in res.stdout
    assert (tmp_path / "chart.png").stat().st_size > 2000
    assert "<table" in (tmp_path / "report.html").read_text()


def test_chart_png_has_one_point_per_artifact(example_out, tmp_path):
    import cv2

    from edgekit.report import bench_folder, chart_png

    results, _ = bench_folder(example_out.out, runs=5, warmup=1)
    img = cv2.imread(str(chart_png(results, tmp_path / "c.png")))
    assert img.shape[0] >= 300 and img.shape[1] >= 600  # matplotlib figure, not a thumbnail
    coloured = (np.ptp(img.astype(int), axis=2) > 60).sum()
    assert coloured > 100 * len(results) // 2  # dots are drawn in colour


def chromium() -> str | None:
    return (
        shutil.which("chromium")
        or shutil.which("chromium-browser")
        or shutil.which("google-chrome")
    )


@pytest.mark.skipif(
    not chromium() and not os.environ.get("CI"),
    reason="no chromium here (tests/run.sh installs it in CI)",
)
def test_html_report_renders_in_headless_browser(example_out, tmp_path):
    res = run_cli("bench", example_out.out, "--runs", "5", "--report", tmp_path / "rep")
    assert res.returncode == 0, res.stderr
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
    ]
    url = (tmp_path / "rep" / "report.html").as_uri()
    dom = subprocess.run(
        [chromium(), *flags, "--dump-dom", url], capture_output=True, text=True, timeout=120
    ).stdout
    runnable = [a for a in example_out.artifacts if a.format != "coreml"]
    assert dom.count("<tr>") == 1 + len(runnable) and 'id="chart"' in dom
    assert "shapes_int8-io.tflite" in dom and "mlpackage: Core ML runs on macOS only" in dom
    shot = tmp_path / "shot.png"
    subprocess.run(
        [chromium(), *flags, f"--screenshot={shot}", "--window-size=900,900", url],
        capture_output=True,
        timeout=120,
    )
    import cv2

    img = cv2.imread(str(shot))
    assert img is not None and (np.ptp(img.astype(int), axis=2) > 60).sum() > 50  # chart drawn


def test_bench_bad_input(tmp_path):
    bad = tmp_path / "junk.tflite"
    bad.write_bytes(b"\x00" * 64)
    res = run_cli("bench", bad)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert "not a valid .tflite" in res.stderr
    res = run_cli("bench", tmp_path / "missing.onnx")
    assert res.returncode == 2 and "not found" in res.stderr


def test_bench_folder_without_manifest(example_out, tmp_path):
    from edgekit.report import bench_folder
    from tests.conftest import copy_alone

    for fmt, precision in (("tflite", "int8"), ("openvino", "fp16")):
        copy_alone(example_out.out / by(example_out, fmt, precision).file, tmp_path)
    results, skipped = bench_folder(tmp_path, runs=3, warmup=0)
    assert sorted(r.precision for r in results) == ["fp16", "int8"]  # from embedded metadata
    assert skipped == [] and all(r.parity is None for r in results)


def test_bench_takes_any_file_of_an_ncnn_artifact(tiny_keras, tmp_path):
    """model.ncnn.bin is ncnn's weights, not an OpenVINO IR's (the registry decides)."""
    report = edgekit.convert(tiny_keras, to="ncnn", out=tmp_path / "out")
    param = report.out / report.artifacts[0].file
    weights = param.with_name(param.name.replace(".ncnn.param", ".ncnn.bin"))
    assert weights.is_file()
    js = tmp_path / "r.json"
    res = run_cli("bench", weights, "--runs", "5", "--warmup", "1", "--json", js)
    assert res.returncode == 0, res.stderr[-2000:]
    (row,) = json.loads(js.read_text())["results"]
    assert row["format"] == "ncnn" and row["runtime"].startswith("ncnn") and row["runs"] == 5
