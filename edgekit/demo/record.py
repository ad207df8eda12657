"""Recording sinks: the annotated video (`--record out.mp4`) and one JSON line per frame
(`--jsonl FILE`). Both are checked before the run starts and closed on every way out, so a
stopped run leaves a playable video and whole lines."""

from __future__ import annotations

import json
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
