"""The device side of `edgekit demo --on ssh://...`: the demo runs here and talks to the
workstation through the SSH session's stdin and stdout (`edgekit.device.remote_demo` is the
other end).

    python -m edgekit.demo.agent SPEC_JSON

SPEC_JSON holds `run_demo`'s arguments (paths on this device) and the agent's own: `jsonl`
(send the frame lines back), `keep` (where a recording nobody fetched is kept), `silence_s`.

stdout carries one message a line: `E{...}` an event (started, summary, error, record, kept,
done) and `F{...}` a frame line for the workstation's `--jsonl` file. Whatever a library prints
goes to stderr instead, so it cannot break a line. stdin carries the workstation's words: `ping`
(the link is alive), `stop REASON` (Ctrl-C or SIGTERM there), `fetched` (the recording was
copied back). The demo stops cleanly, recordings closed, on `stop`; on SIGTERM, SIGINT or
SIGHUP; when stdin ends or stays silent for `silence_s` (the link is gone); and when stdout
breaks. A recording that was not fetched is moved to `keep` and named in a `kept` event.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import select
import shutil
import signal
import sys
import threading
import time
from pathlib import Path

from edgekit.errors import EdgeKitError

log = logging.getLogger("edgekit.demo.agent")
GIVE_UP_S = 20.0  # after a stop, the most a demo may take to finish before the agent exits
FETCH_WAIT_S = 900.0  # how long a finished recording waits to be copied back


class Channel:
    """The one writer of the workstation's stream: whole lines, from any thread."""

    def __init__(self) -> None:
        fd = os.dup(1)
        os.dup2(2, 1)  # libraries' prints (C or Python) go to stderr, never into a message
        self.fh = os.fdopen(fd, "w", buffering=1, encoding="utf-8")
        sys.stdout = sys.stderr
        self.lock = threading.Lock()
        self.broken = False

    def send(self, kind: str, text: str) -> bool:
        with self.lock:
            if self.broken:
                return False
            try:
                self.fh.write(kind + text + "\n")
                self.fh.flush()
                return True
            except (BrokenPipeError, OSError):  # the link is gone
                self.broken = True
                return False

    def event(self, name: str, **fields) -> bool:
        return self.send("E", json.dumps({"event": name, **fields}, default=str))


class Agent:
    """One demo run on behalf of the workstation."""

    def __init__(self, spec: dict) -> None:
        self.spec = spec
        self.out = Channel()
        self.pipe = None
        self.reason: str | None = None
        self.lost = False  # the link went away (stdin ended, went silent, stdout broke)
        self.fetched = threading.Event()
        self.silence_s = float(spec.pop("silence_s", 15))
        self.keep = spec.pop("keep", None)
        self.timer: threading.Timer | None = None

    # -- stopping ------------------------------------------------------------------------
    def stop(self, reason: str) -> None:
        """Stop the demo (safe from any thread and from a signal handler)."""
        if self.reason is None:
            self.reason = reason
            self.timer = threading.Timer(GIVE_UP_S, self._give_up)
            self.timer.daemon = True
            self.timer.start()
        if self.pipe is not None:
            self.pipe.stop(self.reason)

    def _give_up(self) -> None:
        log.error("the demo did not stop within %.0f s of %s; exiting", GIVE_UP_S, self.reason)
        self._keep()
        os._exit(3)

    def listen(self) -> None:
        """The workstation's words on stdin; its silence or end means the link is gone."""
        heard, buf = time.monotonic(), b""
        while True:
            ready, _, _ = select.select([0], [], [], 1.0)
            if not ready:
                if time.monotonic() - heard > self.silence_s:
                    return self._lose(f"no word from the workstation for {self.silence_s:.0f} s")
                continue
            chunk = os.read(0, 4096)
            if not chunk:
                return self._lose("the link closed")
            heard, buf = time.monotonic(), buf + chunk
            *lines, buf = buf.split(b"\n")
            for line in lines:
                word, _, rest = line.decode(errors="replace").strip().partition(" ")
                if word == "stop":
                    self.stop(rest or "stopped from the workstation")
                elif word == "fetched":
                    self.fetched.set()

    def _lose(self, why: str) -> None:
        self.lost = True
        log.warning("%s: stopping the demo", why)
        self.stop("link lost")
        self.fetched.set()  # nobody will fetch now: wake whoever waits for it

    # -- the run -------------------------------------------------------------------------
    def run(self) -> int:
        from edgekit.demo import run_demo

        threading.Thread(target=self.listen, name="edgekit-listen", daemon=True).start()
        signal.signal(signal.SIGHUP, lambda s, f: self.stop("SIGHUP"))
        frames = self._frames() if self.spec.pop("jsonl", False) else None
        if self.spec.get("source") is None:
            self.spec["source"] = device_camera()
        try:
            summary = run_demo(**self.spec, window=False, on_start=self._started,
                               jsonl=frames[1] if frames else None)  # fmt: skip
        except EdgeKitError as e:
            self.out.event("error", error=" ".join(str(e).split()), exit_code=e.exit_code)
            return e.exit_code
        finally:
            if self.timer is not None:
                self.timer.cancel()  # it stopped in time
            if frames:
                os.close(frames[0])
                frames[2].join(timeout=10)
        self.out.event("summary", summary=summary.to_dict())
        self._hand_over()
        self.out.event("done")
        return 1 if summary.error else 0

    def _started(self, pipe) -> None:
        self.pipe = pipe
        urls = [s.url for s in pipe.sinks if hasattr(s, "url")]
        self.out.event("started", task=pipe.task.name, kind=pipe.source.kind,
                       source=str(pipe.source.spec), urls=urls)  # fmt: skip
        if self.reason is not None:  # stopped while it was loading
            pipe.stop(self.reason)

    def _frames(self):
        """A pipe for run_demo's JSONL sink and a thread sending its lines on as `F` lines."""
        read_fd, write_fd = os.pipe()

        def forward() -> None:
            with os.fdopen(read_fd, "r", encoding="utf-8") as fh:
                for line in fh:
                    if not self.out.send("F", line.rstrip("\n")):
                        self._lose("the link broke")
                        break
                for _ in fh:  # keep draining, so the demo's writer never blocks
                    pass

        thread = threading.Thread(target=forward, name="edgekit-frames", daemon=True)
        thread.start()
        return write_fd, f"/dev/fd/{write_fd}", thread

    def _hand_over(self) -> None:
        """Offer the recording to the workstation; keep it here if nobody takes it."""
        record = self.spec.get("record")
        if not record or not Path(record).is_file():
            return
        self.out.event("record", path=str(record), bytes=Path(record).stat().st_size)
        self.fetched.wait(FETCH_WAIT_S)
        if self.lost or not self.fetched.is_set():
            self._keep()

    def _keep(self) -> None:
        record, keep = self.spec.get("record"), self.keep
        if record and keep and Path(record).is_file():
            Path(keep).parent.mkdir(parents=True, exist_ok=True)
            shutil.move(record, keep)
            log.warning("the recording is kept on this device: %s", keep)
            self.out.event("kept", path=keep)


def device_camera(board_file: str = "/proc/device-tree/model") -> str | None:
    """This device's camera for the demo: picamera on a Raspberry Pi (with picamera2),
    /dev/video0 elsewhere; None for the sample video."""
    try:
        board = Path(board_file).read_text(errors="replace")
    except OSError:
        board = ""
    if "Raspberry Pi" in board:
        if importlib.util.find_spec("picamera2") is not None:
            return "picamera"
        log.warning(
            "a Raspberry Pi without picamera2 here: running on the sample video; for the Pi "
            "camera: sudo apt install python3-picamera2, then edgekit provision --target rpi5"
        )
        return None
    return "/dev/video0" if os.path.exists("/dev/video0") else None


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = sys.argv[1:] if argv is None else argv
    agent = Agent(json.loads(args[0]))
    try:
        return agent.run()
    except Exception as e:  # one line to the workstation, never a traceback
        log.debug("agent failed", exc_info=True)
        agent.out.event("error", error=f"{type(e).__name__}: {' '.join(str(e).split())}",
                        exit_code=1)  # fmt: skip
        return 1


if __name__ == "__main__":
    sys.exit(main())
