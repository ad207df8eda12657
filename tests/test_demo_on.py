"""`edgekit demo --on ssh://`: the camera demo on a device, against a real OpenSSH server on
127.0.0.1 (tests/sshd.py) whose "device" Python is a venv `edgekit provision` filled.

The device has no camera, so the demo there runs on its sample video; its page is served on
the device's own 127.0.0.1 and reached here through the SSH port forward, in headless
Chromium. SIGTERM here and a killed connection must both leave no edgekit process and no
copied file on the device.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess

import numpy as np
import pytest

from tests import sshd
from tests.test_bench import chromium
from tests.test_demo_serve import Browser, free_port, watch_page

# `server` (the test sshd) and `device` (a venv `edgekit provision` filled): tests/conftest.py


def demo_on(server, device, *args, python=None) -> list[str]:
    """The `edgekit demo ... --on` command line for the test device."""
    return [
        *sshd.CLI, "demo", *map(str, args), "--on", server.url, *sshd.cli_reach(server),
        "--remote-python", str(python or device.python),
    ]  # fmt: skip


def env() -> dict:
    drop = ("DISPLAY", "WAYLAND_DISPLAY")
    return {**{k: v for k, v in os.environ.items() if k not in drop}, "COLUMNS": "200"}


def run(cmd, timeout: int = 180) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env())


def clean_device(server) -> None:
    """No edgekit process and no copied file stay on the device."""
    assert sshd.wait_until(lambda: not sshd.edgekit_on_device(server)), sshd.edgekit_on_device(
        server
    )
    assert sshd.wait_until(lambda: not os.listdir(server.device_tmp), timeout=10), os.listdir(
        server.device_tmp
    )


def test_demo_on_device_streams_60_frame_lines_back(server, device, tmp_path):
    out = tmp_path / "frames.jsonl"
    res = run(demo_on(server, device, "--max-frames", "60", "--jsonl", out, "--json"))
    assert res.returncode == 0, res.stderr[-3000:]
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert [x["frame"] for x in lines] == list(range(60))
    assert all(x["results"] and "inference" in x["stages_ms"] for x in lines)
    summary = json.loads(res.stdout)
    assert summary["frames"] == 60 and summary["stopped"] == "max frames"
    assert summary["target"] == server.url
    # it ran there: the device's copy of edgekit, on its sample video (no camera there)
    assert summary["info"]["source"].endswith(".mp4") and "sample" in summary["info"]["source"]
    assert f"classify on {server.url}" in res.stderr
    clean_device(server)


def test_a_folder_here_is_the_source_there_and_bad_input_is_one_line(server, device, tmp_path):
    import cv2

    folder = tmp_path / "my images"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(5):
        cv2.imwrite(str(folder / f"{i}.png"), rng.integers(0, 255, (120, 160, 3), np.uint8))
    out = tmp_path / "f.jsonl"
    res = run(demo_on(server, device, "--source", folder, "--jsonl", out, "--json"))
    assert res.returncode == 0, res.stderr[-3000:]
    assert len(out.read_text().splitlines()) == 5
    assert json.loads(res.stdout)["stopped"] == "end of source"
    # a camera the device lacks: the device's own one line, exit 2, nothing written here
    bad = tmp_path / "bad.jsonl"
    res = run(demo_on(server, device, "--source", "/dev/video9", "--jsonl", bad))
    assert res.returncode == 2 and "no such camera device; got: /dev/video9" in res.stderr
    assert "Traceback" not in res.stderr and not bad.exists()
    # no edgekit on the device's Python: provision first
    res = run(demo_on(server, device, "--max-frames", "5", python="/usr/bin/python3"))
    assert res.returncode == 1 and "run `edgekit provision" in res.stderr, res.stderr
    clean_device(server)


@pytest.mark.skipif(
    not chromium() and not os.environ.get("CI"),
    reason="no chromium here (tests/run.sh installs it in CI)",
)
def test_device_page_through_ssh_in_chromium_then_sigterm_stops_it(server, device, tmp_path):
    import cv2

    port, video = free_port(), tmp_path / "device.avi"
    args = ("--realtime", "--loop", "--serve", f"127.0.0.1:{port}", "--record", video)
    proc = subprocess.Popen(demo_on(server, device, *args), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env())  # fmt: skip
    browser = None
    try:
        browser = Browser(chromium(), tmp_path / "profile")
        first, later, shot = watch_page(browser, f"http://127.0.0.1:{port}/")
    finally:
        if browser:
            browser.close()
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err[-3000:]
    assert f"browser view: http://127.0.0.1:{port}/" in err and "stopped: SIGTERM" in out
    notes = later["notes"]
    assert len(notes) >= 5 and all((n["w"], n["h"]) == (640, 480) for n in notes)
    assert min(n["std"] for n in notes) > 10  # decoded frames are pictures, not blank
    assert len({n["hash"] for n in notes}) >= 4  # and they change over time
    assert later["frames"] > first["frames"] > 0 and "inference" in later["stages"]
    img = cv2.imdecode(np.frombuffer(base64.b64decode(shot), np.uint8), cv2.IMREAD_COLOR)
    assert img is not None and np.ptp(img[20:400, 20:600].astype(int)) > 100
    # the recording came back whole and playable
    cap = cv2.VideoCapture(str(video))
    assert cap.isOpened() and cap.get(cv2.CAP_PROP_FRAME_COUNT) > 30
    cap.release()
    assert f"recording copied back: {video}" in err
    clean_device(server)


def test_a_killed_connection_stops_the_demo_on_the_device(server, device, tmp_path):
    out, video = tmp_path / "frames.jsonl", tmp_path / "lost.avi"
    args = ("--realtime", "--loop", "--jsonl", out, "--record", video)
    proc = subprocess.Popen(demo_on(server, device, *args), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env())  # fmt: skip
    try:
        assert sshd.wait_until(lambda: out.exists() and len(out.read_text().splitlines()) > 10,
                               timeout=90)  # fmt: skip
        for pid in server.session_pids():  # the server side of the demo's connection
            os.kill(pid, signal.SIGKILL)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 1, err[-3000:]
    errors = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and "connection lost mid-run" in errors[0], err[-3000:]
    assert "Traceback" not in err and not video.exists()
    kept = errors[0].split("kept on the device: ")[1].split()[0]
    assert sshd.wait_until(lambda: os.path.isfile(kept)), kept  # named, and there
    assert os.path.getsize(kept) > 0
    os.remove(kept)
    clean_device(server)


def test_the_device_camera_on_a_fake_pi_board_and_elsewhere(tmp_path, monkeypatch):
    """A Raspberry Pi this machine cannot be: its board file faked, picamera2 faked present."""
    import importlib.util

    from edgekit.demo import agent

    pi = tmp_path / "model"
    pi.write_text("Raspberry Pi 5 Model B Rev 1.0\x00")
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda n, *a: object() if n == "picamera2" else real(n, *a))  # fmt: skip
    assert agent.device_camera(str(pi)) == "picamera"
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None)
    assert agent.device_camera(str(pi)) is None  # no picamera2: the sample video, and why
    monkeypatch.setattr(os.path, "exists", lambda p: p == "/dev/video0")
    assert agent.device_camera(str(tmp_path / "none")) == "/dev/video0"
    monkeypatch.setattr(os.path, "exists", lambda p: False)
    assert agent.device_camera(str(tmp_path / "none")) is None
