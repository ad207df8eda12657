"""The browser view (`edgekit demo --serve`) in a real headless Chromium, driven over the
DevTools protocol on a pipe; and network streams that end or come back (`--reconnect`),
read from the demo's own MJPEG stream."""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import numpy as np
import pytest

from tests.test_bench import chromium
from tests.test_demo import cache, demo_env  # noqa: F401 (the fixture)

pytestmark = pytest.mark.light


class Browser:
    """Headless Chromium with `--remote-debugging-pipe`: commands on fd 3, replies on fd 4."""

    def __init__(self, exe: str, profile) -> None:
        to_r, to_w = os.pipe()
        from_r, from_w = os.pipe()

        def child() -> None:  # put the pipe ends on fds 3 and 4, inheritable
            a, b = os.dup(to_r), os.dup(from_w)
            os.dup2(a, 3)
            os.dup2(b, 4)
            os.set_inheritable(3, True)
            os.set_inheritable(4, True)

        flags = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]
        flags += ["--disable-background-networking", "--disable-component-update"]
        self.proc = subprocess.Popen(
            [exe, *flags, "--remote-debugging-pipe", f"--user-data-dir={profile}", "about:blank"],
            close_fds=False,
            preexec_fn=child,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(to_r)
        os.close(from_w)
        self.w, self.r = os.fdopen(to_w, "wb", buffering=0), os.fdopen(from_r, "rb", buffering=0)
        self.buf, self.id = b"", 0

    def send(self, method: str, session: str | None = None, **params) -> dict:
        self.id += 1
        msg = {"id": self.id, "method": method, "params": params}
        if session:
            msg["sessionId"] = session
        self.w.write(json.dumps(msg).encode() + b"\0")
        while True:
            while b"\0" not in self.buf:
                chunk = self.r.read(1 << 16)
                if not chunk:
                    raise RuntimeError("chromium closed the DevTools pipe")
                self.buf += chunk
            raw, self.buf = self.buf.split(b"\0", 1)
            reply = json.loads(raw)
            if reply.get("id") == self.id:
                if "error" in reply:
                    raise RuntimeError(reply["error"])
                return reply["result"]

    def open(self, url: str) -> str:
        target = self.send("Target.createTarget", url=url)["targetId"]
        return self.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]

    def eval(self, session: str, expression: str):
        r = self.send("Runtime.evaluate", session, expression=expression, returnByValue=True)
        return r["result"].get("value")

    def close(self) -> None:
        try:
            self.send("Browser.close")
        except (RuntimeError, OSError):
            pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_demo(cache, *args) -> subprocess.Popen:  # noqa: F811
    return subprocess.Popen(
        [sys.executable, "-m", "edgekit.cli", "demo", *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=demo_env(cache),
    )


def wait_for(url: str, timeout: float = 60) -> bytes:
    deadline = time.time() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                return r.read()
        except OSError:
            if time.time() > deadline:
                raise
            time.sleep(0.2)


def page_state(browser: Browser, session: str) -> dict:
    return browser.eval(
        session,
        """JSON.parse(JSON.stringify({
            updates: +(document.body.dataset.updates || 0),
            frames: +(document.body.dataset.frames || 0),
            notes: JSON.parse(document.getElementById('stream').dataset.frames || '[]'),
            stages: document.getElementById('stages').innerText,
            results: document.getElementById('results').innerText,
        }))""",
    )


def watch_page(browser: Browser, base: str, *, timeout: float = 90) -> tuple[dict, dict, str]:
    """Wait for the demo's server at `base`, open its page, read its state twice 2 s apart and
    take a screenshot: (first state, later state, PNG as base64)."""
    wait_for(base + "stats.json", timeout=timeout)
    assert wait_for(base + "frame.jpg")[:2] == b"\xff\xd8"  # a JPEG
    session = browser.open(base)
    time.sleep(2.0)
    first = page_state(browser, session)
    time.sleep(2.0)
    later = page_state(browser, session)
    return first, later, browser.send("Page.captureScreenshot", session, format="png")["data"]


@pytest.mark.skipif(
    not chromium() and not os.environ.get("CI"),
    reason="no chromium here (tests/run.sh installs it in CI)",
)
def test_browser_view_shows_a_live_stream_and_stats(cache, tmp_path):  # noqa: F811
    port = free_port()
    proc = start_demo(cache, "--realtime", "--duration", "60", "--serve", f"127.0.0.1:{port}")
    browser = None
    try:
        browser = Browser(chromium(), tmp_path / "profile")
        first, later, shot = watch_page(browser, f"http://127.0.0.1:{port}/")
    finally:
        if browser:
            browser.close()
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err[-2000:]
    assert f"browser view: http://127.0.0.1:{port}/" in err
    notes = later["notes"]
    assert len(notes) >= 5 and all((n["w"], n["h"]) == (640, 480) for n in notes)
    assert min(n["std"] for n in notes) > 10  # decoded frames are pictures, not blank
    assert len({n["hash"] for n in notes}) >= 4  # and they change over time
    assert later["updates"] > first["updates"] >= 1 and later["frames"] > first["frames"] > 0
    assert "inference" in later["stages"] and "ms" in later["stages"]
    assert later["results"].strip()  # the top labels are listed
    import cv2

    img = cv2.imdecode(np.frombuffer(base64.b64decode(shot), np.uint8), cv2.IMREAD_COLOR)
    assert img is not None and np.ptp(img[20:400, 20:600].astype(int)) > 100


def test_stream_that_ends_is_one_clear_line_or_reconnects(cache, tmp_path):  # noqa: F811
    port = free_port()
    url = f"http://127.0.0.1:{port}/stream.mjpg"
    serve = ["--realtime", "--serve", f"127.0.0.1:{port}", "--duration"]
    server = start_demo(cache, *serve, "4")
    wait_for(f"http://127.0.0.1:{port}/stats.json")
    res = subprocess.run(
        [sys.executable, "-m", "edgekit.cli", "demo", "--source", url, "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        env=demo_env(cache),
    )
    server.communicate(timeout=30)
    assert res.returncode == 1
    assert "stopped delivering frames" in res.stderr and "--reconnect" in res.stderr
    assert json.loads(res.stdout)["frames"] > 10  # it ran until the stream ended

    server = start_demo(cache, *serve, "3")
    wait_for(f"http://127.0.0.1:{port}/stats.json")
    client = start_demo(cache, "--source", url, "--reconnect", "--duration", "9", "--json")
    server.communicate(timeout=30)
    time.sleep(1.5)  # the client is now retrying
    server = start_demo(cache, *serve, "3")
    out, err = client.communicate(timeout=60)
    server.communicate(timeout=30)
    assert client.returncode == 0, err[-2000:]
    summary = json.loads(out)
    assert summary["reconnects"] >= 1 and summary["stopped"] == "duration"
