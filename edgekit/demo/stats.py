"""Per-stage timings in constant memory: log-binned histograms for the run's percentiles and
short rolling windows for the live view (FPS and the latest breakdown)."""

from __future__ import annotations

import math
import threading
import time
from collections import deque

import numpy as np

# the stages of one frame, in the order they happen (milliseconds)
STAGES = (
    "read",  # decoding or grabbing the frame in the capture thread
    "capture_age",  # from capture until inference picks the frame up
    "preprocess",  # the input contract: resize, colour, scale, dtype
    "inference",  # the runtime call alone
    "postprocess",  # outputs -> labels, boxes or masks
    "render",  # drawing results and the overlay
    "output",  # window, browser stream, handing the frame to the recording
    "record",  # the writer thread: encoding the video, the JSON line
    "latency",  # capture -> result ready
)
BINS_PER_DECADE = 60
LOW_MS, DECADES = 1e-3, 8  # 1 us .. 100 s


class Histogram:
    """Counts in log-spaced bins: percentiles within ~2% without keeping every sample."""

    def __init__(self) -> None:
        self.counts = np.zeros(BINS_PER_DECADE * DECADES + 1, np.int64)
        self.n, self.total = 0, 0.0

    def add(self, ms: float) -> None:
        k = 0 if ms <= LOW_MS else int(math.log10(ms / LOW_MS) * BINS_PER_DECADE)
        self.counts[min(k, len(self.counts) - 1)] += 1
        self.n += 1
        self.total += ms

    def percentile(self, q: float) -> float:
        if not self.n:
            return float("nan")
        k = int(np.searchsorted(np.cumsum(self.counts), q / 100 * self.n, side="left"))
        return LOW_MS * 10 ** ((k + 0.5) / BINS_PER_DECADE)

    @property
    def mean(self) -> float:
        return self.total / self.n if self.n else float("nan")


class Stats:
    """Thread-safe: the output stage adds, the web server reads."""

    def __init__(self, window: int = 60) -> None:
        self.hist = {s: Histogram() for s in STAGES}
        self.recent = {s: deque(maxlen=window) for s in STAGES}
        self.done_at: deque[float] = deque(maxlen=window)
        self.frames = 0
        self.first: float | None = None
        self.last: float | None = None
        self.top: list[dict] = []
        self._lock = threading.Lock()
        self._live: tuple[float, dict] = (0.0, {})

    def add(self, stages: dict[str, float], results: list[dict], t_done: float) -> None:
        with self._lock:
            for name, ms in stages.items():
                if name in self.hist:
                    self.hist[name].add(ms)
                    self.recent[name].append(ms)
            self.done_at.append(t_done)
            self.frames += 1
            self.first = self.first if self.first is not None else t_done
            self.last = t_done
            self.top = results[:5]

    def add_stage(self, name: str, ms: float) -> None:
        """One stage's time for a frame already counted by `add` (the writer thread's)."""
        with self._lock:
            self.hist[name].add(ms)
            self.recent[name].append(ms)

    def fps(self) -> float:
        d = self.done_at
        if len(d) < 2 or d[-1] <= d[0]:
            return 0.0
        return (len(d) - 1) / (d[-1] - d[0])

    def live(self, max_age: float = 0.1) -> dict:
        """The latest picture: FPS over the window, mean ms per stage, top results; worked
        out at most every `max_age` seconds (the overlay asks on every frame)."""
        now = time.perf_counter()
        if now - self._live[0] < max_age:
            return self._live[1]
        with self._lock:
            live = {
                "frames": self.frames,
                "fps": round(self.fps(), 2),
                "stages_ms": {
                    s: round(float(np.mean(v)), 3) for s, v in self.recent.items() if len(v)
                },
                "results": list(self.top),
                "time": time.time(),
            }
        self._live = (now, live)
        return live

    def summary(self) -> dict:
        """The whole run: frames, FPS, and p50/p90/mean per stage."""
        with self._lock:
            span = (self.last - self.first) if self.frames > 1 else 0.0
            return {
                "frames": self.frames,
                "fps": round((self.frames - 1) / span, 2) if span > 0 else 0.0,
                "stages_ms": {
                    s: {
                        "p50": round(h.percentile(50), 3),
                        "p90": round(h.percentile(90), 3),
                        "mean": round(h.mean, 3),
                    }
                    for s, h in self.hist.items()
                    if h.n
                },
            }
