"""The cross-target report: `edgekit bench OUT --target ... --budget-ms`, its charts and page."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest

from tests.conftest import run_cli
from tests.test_bench import chromium


@pytest.fixture(scope="module")
def cross(example_out, tmp_path_factory):
    rep = tmp_path_factory.mktemp("cross")
    res = run_cli("bench", example_out.out, "--runs", "3", "--warmup", "1", "--target",
                  "rpi5,pixel4", "--budget-ms", "0.5", "--report", rep,
                  "--json", rep / "bench.json")  # fmt: skip
    assert res.returncode == 0, res.stderr
    return rep, res.stdout


def _image(path):
    import cv2

    img = cv2.imread(str(path))
    assert img is not None and img.shape[0] >= 300 and img.shape[1] >= 500, path
    return img


def test_table_tells_measured_and_estimated_apart(cross, example_out):
    _, out = cross
    assert "measured and estimated per target" in out and "(budget 0.5 ms)" in out
    for a in example_out.artifacts:
        assert a.file[:15] in out
    assert out.count("estimate") > out.count("measured") > 0
    assert "this machine" in out and "rpi5" in out and "pixel4" in out


def test_json_holds_the_estimated_rows_the_table_shows(cross, example_out):
    import json

    rep, out = cross
    doc = json.loads((rep / "bench.json").read_text())
    assert doc["results"] and all(r["basis"] == "measured" for r in doc["results"])
    est = doc["estimates"]
    assert {e["target"] for e in est} == {"rpi5", "pixel4"}
    assert all(e["basis"] == "estimated" for e in est)
    numbers = [e for e in est if not e.get("error")]
    assert numbers and all(e["low_ms"] <= e["latency_ms"] <= e["high_ms"] for e in numbers)
    assert all(e["estimate_basis"] for e in numbers)  # how many published rows back it
    files = {a.file for a in example_out.artifacts}
    assert {e["artifact"] for e in est} <= files
    pairs = [(e["artifact"], e["target"]) for e in est]
    assert len(pairs) == len(set(pairs))  # one row per artifact and target, as in the table
    for name in {e["artifact"] for e in est}:
        assert {t for a, t in pairs if a == name} == {"rpi5", "pixel4"}
        assert name[:15] in out


def test_charts_are_real_images(cross):
    rep, _ = cross
    for name in ("latency.png", "accuracy.png", "chart.png"):
        path = rep / name
        assert path.stat().st_size > 10_000, name
        img = _image(path).astype(int)
        coloured = (np.ptp(img, axis=2) > 60).sum()  # bars/points/budget line in colour
        assert coloured > 500, name
        assert (img < 100).all(axis=2).sum() > 500, name  # axes, ticks and labels in black


@pytest.mark.skipif(not chromium(), reason="no chromium here (tests/run.sh installs it in CI)")
def test_report_page_shows_both_in_headless_browser(cross, tmp_path):
    rep, _ = cross
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             f"--user-data-dir={tmp_path / 'profile'}"]  # fmt: skip
    url = (rep / "report.html").as_uri()
    dom = subprocess.run([chromium(), *flags, "--dump-dom", url], capture_output=True,
                         text=True, timeout=120).stdout  # fmt: skip
    assert 'id="targets"' in dom and 'id="latency-chart"' in dom and 'id="accuracy-chart"' in dom
    assert dom.count('<tr class="estimate">') >= 2 * 10 and '<tr class="measured">' in dom
    assert "frame budget 0.5 ms" in dom and 'src="data:image/png;base64,' in dom
    assert "file://" not in dom.split("<body>")[1]  # self-contained: nothing loaded from disk
    shot = tmp_path / "shot.png"
    subprocess.run([chromium(), *flags, f"--screenshot={shot}", "--window-size=1000,2400", url],
                   capture_output=True, timeout=120)  # fmt: skip
    img = _image(shot).astype(int)
    assert (np.ptp(img, axis=2) > 60).sum() > 2000  # the charts are drawn on the page


def test_an_artifact_without_a_cost_reader_is_a_row_not_a_failure(tiny_keras, tmp_path):
    """ncnn artifacts have no cost reader: their estimate rows say so, the rest still run."""
    import json

    import edgekit

    out = tmp_path / "out"
    edgekit.convert(tiny_keras, to="tflite,ncnn", out=out)
    js = tmp_path / "b.json"
    res = run_cli("bench", out, "--runs", "2", "--warmup", "0", "--target", "rpi5",
                  "--json", js)  # fmt: skip
    assert res.returncode == 0, res.stderr[-2000:]
    est = {e["artifact"]: e for e in json.loads(js.read_text())["estimates"]}
    ncnn = next(e for name, e in est.items() if name.endswith(".ncnn.param"))
    assert "cannot read costs" in ncnn["error"]
    tfl = next(e for name, e in est.items() if name.endswith(".tflite"))
    assert tfl.get("latency_ms", 0) > 0
    bad = run_cli("bench", out, "--runs", "2", "--target", "rpi9")
    assert bad.returncode == 2 and "unknown device" in bad.stderr and "Traceback" not in bad.stderr
