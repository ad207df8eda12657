"""edgekit demo: the no-argument run, the bundled models on frames with known content, the
pipeline's latest-frame behaviour, recordings, JSONL, signals and bad sources."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.light


@pytest.fixture(scope="session")
def cache(_one_cache):
    """The run's one cache folder (sample videos rendered once), for every demo subprocess."""
    return Path(os.environ["EDGEKIT_CACHE"])


def demo_env(cache) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    return {**env, "EDGEKIT_CACHE": str(cache), "COLUMNS": "200", "TF_CPP_MIN_LOG_LEVEL": "3"}


def demo(cache, *args, timeout: int = 120) -> subprocess.CompletedProcess:
    """The real `edgekit demo` with no display."""
    return subprocess.run(
        [sys.executable, "-m", "edgekit.cli", "demo", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=demo_env(cache),
    )


def lines(path) -> list[dict]:
    return [json.loads(ln) for ln in open(path, encoding="utf-8")]


def video_frames(path) -> tuple[int, tuple[int, int]]:
    """Frames decoded from a recording (counted by reading, not from the header)."""
    import cv2

    cap = cv2.VideoCapture(str(path))
    n, size = 0, (0, 0)
    while True:
        ok, img = cap.read()
        if not ok:
            break
        n, size = n + 1, img.shape[:2]
    cap.release()
    return n, size


def test_no_argument_demo_writes_a_line_per_frame(cache, tmp_path):
    out = tmp_path / "frames.jsonl"
    res = demo(cache, "--max-frames", "120", "--jsonl", out)
    assert res.returncode == 0, res.stderr[-2000:]
    rows = lines(out)
    assert [r["frame"] for r in rows] == list(range(120))  # a file: every frame, in order
    for r in rows:
        assert {"preprocess", "inference", "postprocess", "render", "capture_age"} <= set(
            r["stages_ms"]
        )
        assert r["t_result"] >= r["t_capture"] and r["results"][0]["label"]
    assert "120 frames" in res.stdout and "inference" in res.stdout  # summary with stages
    assert "stopped: max frames" in res.stdout


def test_classifier_names_the_shapes_of_the_sample(cache, tmp_path):
    from edgekit.demo.sample import frames_of

    out = tmp_path / "c.jsonl"
    res = demo(cache, "--max-frames", "90", "--jsonl", out, "--top-k", "1")
    assert res.returncode == 0, res.stderr[-2000:]
    truth = [shapes[0].name for _, shapes in frames_of("classify", 90)]
    got = [r["results"][0]["label"] for r in lines(out)]
    assert sum(g == t for g, t in zip(got, truth)) >= 0.9 * len(truth)


def test_detector_finds_shapes_with_known_boxes():
    from edgekit.demo.tasks import make, task_of
    from edgekit.demo.tasks.detect import match
    from edgekit.example.detect import TFLITE
    from edgekit.example.detect.scenes import boxes_of, scene
    from edgekit.runtimes import load

    session = load(TFLITE)
    assert task_of(session) == "detect"  # from the embedded contract
    det = make(session, "detect")
    rng = np.random.default_rng(2024)  # scenes the detector never saw
    found = hits = truth = 0
    for h, w in [(480, 640)] * 12 + [(360, 640), (640, 480)] * 4:  # letterbox both ways
        img, shapes = scene(rng, h, w)
        boxes, labels = boxes_of(shapes)
        res = det.infer(img)
        hits += match(res, boxes, labels, iou_min=0.5)
        found, truth = found + len(res), truth + len(boxes)
    assert hits >= 0.9 * truth, (hits, truth)
    assert hits >= 0.85 * found, (hits, found)


def test_no_artifact_detect_demo_boxes_the_sample(cache, tmp_path):
    from edgekit.demo.sample import frames_of
    from edgekit.demo.tasks.detect import match
    from edgekit.example.detect.scenes import boxes_of

    out, rec = tmp_path / "d.jsonl", tmp_path / "d.mp4"
    res = demo(cache, "--task", "detect", "--max-frames", "40", "--jsonl", out, "--record", rec)
    assert res.returncode == 0, res.stderr[-2000:]
    rows = lines(out)
    hits = total = 0
    for r, (_, shapes) in zip(rows, frames_of("detect", 40)):
        boxes, labels = boxes_of(shapes)
        hits += match(r["results"], boxes, labels, iou_min=0.5)
        total += len(boxes)
    assert hits >= 0.9 * total, (hits, total)
    assert video_frames(rec) == (40, (480, 640))  # the recording plays back, every frame


def test_live_pipeline_keeps_the_newest_frame(cache, tmp_path):
    """A slow output stage (150 ms a frame) on a source paced at 30 fps: frames are dropped,
    never queued, so capture-to-result stays short while the output falls behind."""
    from edgekit.demo.capture import open_source
    from edgekit.demo.pipeline import Pipeline
    from edgekit.demo.sample import default_artifact, sample_video
    from edgekit.demo.tasks import make
    from edgekit.runtimes import load

    class Slow:
        def __init__(self):
            self.frames = []

        def write(self, image, record, stats):
            self.frames.append(record["frame"])
            time.sleep(0.15)

        def close(self):
            pass

    slow = Slow()
    task = make(load(default_artifact("classify")), "classify")
    source = open_source(sample_video("classify"))
    summary = Pipeline(task, source, sinks=[slow], realtime=True, duration=2.0).run()
    gaps = np.diff(slow.frames)
    assert summary.dropped > 10 and gaps.min() >= 1 and np.median(gaps) >= 3  # skipped ahead
    age = summary.stages_ms["capture_age"]["p90"]
    assert age < 40, summary.stages_ms  # never waited behind the 150 ms output stage
    assert summary.frames <= 16


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_recording_and_jsonl_survive_a_stop_signal(cache, tmp_path, sig):
    rec, out = tmp_path / "run.mp4", tmp_path / "run.jsonl"
    args = ["--realtime", "--record", rec, "--jsonl", out]
    proc = subprocess.Popen(
        [sys.executable, "-m", "edgekit.cli", "demo", *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=demo_env(cache),
    )
    deadline = time.time() + 60
    while time.time() < deadline and (not out.exists() or len(out.read_bytes().splitlines()) < 20):
        time.sleep(0.1)
    proc.send_signal(sig)
    stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0, stderr[-2000:]
    assert f"stopped: {sig.name}" in stdout
    rows = lines(out)  # every line whole
    assert 20 <= len(rows) < 300
    assert video_frames(rec) == (len(rows), (480, 640))


def test_bad_sources_are_one_line_and_write_nothing(cache, tmp_path):
    out = tmp_path / "never.jsonl"
    for source, words in (
        (tmp_path / "missing.mp4", "source not found; got: "),
        ("/dev/video97", "no such camera device"),
        (tmp_path, "no images in the folder"),
    ):
        res = demo(cache, "--source", source, "--jsonl", out, "--max-frames", "5")
        assert res.returncode == 2, res.stderr
        assert words in res.stderr and "Traceback" not in res.stderr
        assert len(res.stderr.strip().splitlines()) == 1  # one line, before the model loads
        assert not out.exists()
    res = demo(cache, "--source", "/dev/video97")
    assert "camera found" in res.stderr or "cameras here" in res.stderr  # what exists here
    res = demo(cache, "--record", tmp_path / "x.gif", "--max-frames", "5")
    assert res.returncode == 2 and "unknown recording format" in res.stderr
    res = demo(cache, "--serve", "127.0.0.1:notaport", "--max-frames", "5")
    assert res.returncode == 2 and "HOST:PORT" in res.stderr
    res = demo(cache, "--option", "novalue", "--max-frames", "5")
    assert res.returncode == 2 and "KEY=VALUE" in res.stderr
    import cv2

    if "GStreamer:                   NO" in cv2.getBuildInformation():  # pip's wheels
        res = demo(cache, "--source", "videotestsrc ! appsink", "--max-frames", "5")
        assert res.returncode == 2 and "without GStreamer" in res.stderr


def test_image_folder_source(cache, tmp_path):
    import cv2

    from edgekit.example.shapes import CLASSES, arrays

    images, labels = arrays("val", 12)
    for i, img in enumerate(images):
        cv2.imwrite(str(tmp_path / f"{i:02d}.png"), img)
    res = demo(cache, "--source", tmp_path, "--loop", "--max-frames", "100", "--json")
    assert res.returncode == 0 and json.loads(res.stdout)["frames"] == 100  # 8 times round
    out = tmp_path / "f.jsonl"
    res = demo(
        cache,
        "--source",
        tmp_path,
        "--jsonl",
        out,
        "--json",
        "--threads",
        "1",
        "--option",
        "xnnpack=false",
    )  # runtime options pass through
    assert res.returncode == 0, res.stderr[-2000:]
    assert json.loads(res.stdout)["frames"] == 12
    got = [r["results"][0]["label"] for r in lines(out)]
    assert sum(g == CLASSES[k] for g, k in zip(got, labels)) >= 11


def test_classification_smoothing_holds_the_label_across_a_cut():
    from edgekit.demo.sample import default_artifact
    from edgekit.demo.tasks import make
    from edgekit.example.shapes import CLASSES, arrays
    from edgekit.runtimes import load

    images, labels = arrays("val", 40)
    a = next(i for i, k in enumerate(labels) if CLASSES[k] == "circle")
    b = next(i for i, k in enumerate(labels) if CLASSES[k] == "square")
    session = load(default_artifact("classify"))
    plain, smooth = make(session, "classify"), make(session, "classify", smooth=0.9)
    for _ in range(5):
        plain.infer(images[a]), smooth.infer(images[a])
    assert plain.infer(images[b])[0]["label"] == "square"  # every frame stands alone
    first = smooth.infer(images[b])[0]
    assert first["label"] == "circle"  # the average still remembers the circle
    later = [smooth.infer(images[b])[0]["label"] for _ in range(30)]
    assert later[-1] == "square"  # and moves over
