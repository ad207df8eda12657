"""Recording sinks: the annotated video (`--record out.mp4`) and one JSON line per frame
(`--jsonl FILE`). Both are checked before the run starts and closed on every way out, so a
stopped run leaves a playable video and whole lines. In the pipeline they run on their own
writer thread (`Recorder`), so encoding the video does not hold up the output stage."""

from __future__ import annotations

import json
import queue
import threading
import time
from pathlib import Path

import numpy as np

from edgekit.errors import ConfigError

FOURCC = {".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v", ".avi": "MJPG", ".mkv": "mp4v"}


def check_output(path: Path, what: str) -> Path:
    """The parent folder must exist and the path must not be a folder."""
    p = Path(path)
    if p.is_dir():
        raise ConfigError(f"{what} path is a folder; got: {p}; name a file")
    if not p.parent.exists():
        raise ConfigError(f"{what} folder does not exist; got: {p.parent}; create it first")
    return p


class VideoSink:
    """Writes the annotated frames; opened on the first frame (its size), at `fps`."""

    background = True  # the pipeline runs it on the Recorder's thread

    def __init__(self, path: Path, fps: float) -> None:
        self.path = check_output(path, "--record")
        if self.path.suffix.lower() not in FOURCC:
            raise ConfigError(
                f"unknown recording format; got: {self.path.name}; use one of {sorted(FOURCC)}"
            )
        self.fps = fps
        self.writer = None
        self.frames = 0

    def write(self, image: np.ndarray, record: dict, stats) -> None:
        import cv2

        if self.writer is None:
            fourcc = cv2.VideoWriter_fourcc(*FOURCC[self.path.suffix.lower()])
            h, w = image.shape[:2]
            self.writer = cv2.VideoWriter(str(self.path), fourcc, self.fps, (w, h))
            if not self.writer.isOpened():
                self.writer = None
                raise ConfigError(
                    f"cannot write video; got: {self.path}; this OpenCV has no encoder for "
                    f"{self.path.suffix} (try .avi)"
                )
            self.size = (w, h)
        if (image.shape[1], image.shape[0]) != self.size:  # a source that changed size
            image = cv2.resize(image, self.size)
        self.writer.write(image)
        self.frames += 1

    def close(self) -> None:
        if self.writer is not None:
            self.writer.release()
            self.writer = None


class JsonlSink:
    """One JSON object per output frame: index, timestamps, stage times, results."""

    background = True

    def __init__(self, path: Path) -> None:
        self.path = check_output(path, "--jsonl")
        self.fh = open(self.path, "w", encoding="utf-8", buffering=1)  # noqa: SIM115
        self.lines = 0

    def write(self, image: np.ndarray, record: dict, stats) -> None:
        if self.fh is not None:
            self.fh.write(json.dumps(record, separators=(",", ":")) + "\n")
            self.lines += 1

    def close(self) -> None:
        if self.fh is not None:
            self.fh.close()
            self.fh = None


class Recorder:
    """Runs recording sinks (video, JSONL) on one writer thread behind a small bounded queue.

    `write` hands the frame on and returns; when the writer falls behind it blocks (never
    drops), so every frame is written, in order; `waited_ms` is how long the last `write`
    waited (the output stage's own time leaves it out). The writer times each frame as the
    "record" stage: the summary's figure is all of the writer's work for the frame; the JSON
    line carries the time up to its own write (the encode). `close` drains the queue, then
    closes the sinks, so a stopped run leaves a complete, playable recording. A sink's error
    stops the writing and is raised by the next `write`; after `close` it is in `error`.
    """

    def __init__(self, sinks: list, depth: int = 4) -> None:
        # JSON lines last, so each line can carry the frame's record time
        self.sinks = sorted(sinks, key=lambda s: isinstance(s, JsonlSink))
        self.jobs: queue.Queue = queue.Queue(maxsize=depth)
        self.error: BaseException | None = None
        self.thread: threading.Thread | None = None
        self.waited_ms = 0.0  # how long the last `write` waited for room in the queue

    def write(self, image: np.ndarray, record: dict, stats) -> None:
        if self.error is not None:
            raise self.error
        if self.thread is None:
            self.thread = threading.Thread(target=self._run, name="edgekit-record", daemon=True)
            self.thread.start()
        try:
            self.jobs.put_nowait((image, record, stats))
            self.waited_ms = 0.0
        except queue.Full:  # the writer is behind: wait for it (backpressure, no drops)
            t0 = time.perf_counter()
            self.jobs.put((image, record, stats))
            self.waited_ms = (time.perf_counter() - t0) * 1000

    def _run(self) -> None:
        while (job := self.jobs.get()) is not None:
            if self.error is not None:
                continue  # keep taking jobs so `write` never blocks on a dead writer
            image, record, stats = job
            try:
                t0 = time.perf_counter()
                for sink in self.sinks:
                    if isinstance(sink, JsonlSink) and "stages_ms" in record:
                        record["stages_ms"]["record"] = round((time.perf_counter() - t0) * 1000, 3)
                    sink.write(image, record, stats)
                if stats is not None:
                    stats.add_stage("record", (time.perf_counter() - t0) * 1000)
            except BaseException as e:  # raised on the output stage's thread
                self.error = e

    def close(self) -> None:
        """Write what is queued, then close every sink (safe to call twice)."""
        try:
            if self.thread is not None:
                self.jobs.put(None)
                self.thread.join()
                self.thread = None
        finally:
            for sink in self.sinks:
                sink.close()
