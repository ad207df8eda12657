"""The live pipeline: capture thread -> inference thread -> output stage, bounded hand-offs.

Capture keeps only the newest frame for live sources; inference runs the task's three timed
stages (preprocess, inference, postprocess); the output stage, on the calling thread (GUI
toolkits want the main thread), draws the results and the overlay and feeds the sinks
(window, browser stream); the recording and JSONL are handed to a writer thread (`Recorder`:
a small bounded queue, every frame in order, drained on every way out) timed as its own
"record" stage. Every frame's stage times are kept in constant memory for the summary, so a
run of any length stays flat.
"""

from __future__ import annotations

import logging
import queue
import signal
import threading
import time
from dataclasses import dataclass, field

from edgekit.demo.capture import CaptureThread, Frame, LatestSlot, Source
from edgekit.demo.overlay import draw_hud
from edgekit.demo.record import Recorder
from edgekit.demo.stats import Stats
from edgekit.demo.tasks.base import Outcome, Task

log = logging.getLogger(__name__)
DEPTH = 3  # frames in flight when every frame is processed: one per stage


@dataclass
class Item:
    """A frame with its outcome and stage times, on its way to the output stage."""

    frame: Frame
    outcome: Outcome
    stages: dict[str, float]
    t_result: float


@dataclass
class Summary:
    """What a run did: counts, FPS, per-stage p50/p90/mean, and why it stopped."""

    frames: int
    seconds: float
    fps: float
    captured: int
    dropped: int
    stages_ms: dict[str, dict[str, float]]
    stopped: str
    error: str | None = None
    reconnects: int = 0
    info: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        from dataclasses import asdict

        return asdict(self)


class Pipeline:
    """Run a task over a source until it ends, a limit is reached or `stop()` is called.

    Args:
        task: a Task (classify, detect, segment) over a loaded session.
        source: an opened Source.
        sinks: objects with `write(image, record, stats)` and `close()`.
        realtime: pace a file at its frame rate and drop late frames (live sources always
            keep only the newest frame).
        reopen: a callable returning a fresh Source, to reconnect a live source that stops.
        max_frames, duration: stop after this many output frames or seconds.
        loop: start a file or folder over when it ends.
    """

    def __init__(
        self,
        task: Task,
        source: Source,
        *,
        sinks: list | None = None,
        realtime: bool = False,
        reopen=None,
        max_frames: int | None = None,
        duration: float | None = None,
        overlay: bool = True,
        loop: bool = False,
    ) -> None:
        self.task, self.source = task, source
        sinks = list(sinks or [])
        # recording and JSONL: on the writer thread; window and browser: on this one
        writes = [s for s in sinks if getattr(s, "background", False)]
        self.recorder = Recorder(writes) if writes else None
        self.sinks = [s for s in sinks if not getattr(s, "background", False)]
        if self.recorder is not None:
            self.sinks.append(self.recorder)
        self.max_frames, self.duration, self.overlay = max_frames, duration, overlay
        self.stats = Stats()
        self.slot = LatestSlot()
        self._stop = threading.Event()
        self._stopped = ""
        self.live = source.live or realtime
        # files, every frame: at most DEPTH frames between capture and the end of output
        self.credits = None if self.live else threading.Semaphore(DEPTH)
        self.capture = CaptureThread(
            source,
            self.slot,
            self._stop,
            realtime=realtime,
            reopen=reopen,
            loop=loop,
            credits=self.credits,
        )
        self.results: queue.Queue[Item | None] = queue.Queue(maxsize=2)
        self._infer_error: BaseException | None = None
        self.late = 0  # results replaced before the output stage drew them

    def stop(self, reason: str = "stopped") -> None:
        """Ask every stage to finish; safe from any thread or a signal handler."""
        self._stopped = self._stopped or reason
        self._stop.set()

    def run(self) -> Summary:
        """Run to the end; returns the summary. Sinks are closed whatever happens."""
        restore = self._trap_signals()
        worker = threading.Thread(target=self._infer_loop, name="edgekit-infer", daemon=True)
        t0 = time.perf_counter()
        try:
            self.capture.start()
            worker.start()
            self._output_loop(t0)
        finally:
            self._stop.set()
            worker.join(timeout=5)
            self.capture.join(timeout=5)
            for sink in self.sinks:
                sink.close()
            restore()
            self.source.close()
        if self._infer_error is not None:
            raise self._infer_error
        if self.recorder is not None and self.recorder.error is not None:
            raise self.recorder.error
        return self._summary(time.perf_counter() - t0)

    # -- stages ------------------------------------------------------------------------
    def _infer_loop(self) -> None:
        task = self.task
        try:
            while not self._stop.is_set():
                frame = self.slot.get()
                if frame is None:
                    if self.slot.closed:
                        break
                    continue
                t0 = time.perf_counter()
                tensors, geo = task.prepare(frame.image)
                t1 = time.perf_counter()
                outputs = task.run(tensors)
                t2 = time.perf_counter()
                outcome = task.decode_outputs(outputs, geo)
                t3 = time.perf_counter()
                stages = {
                    "read": frame.read_ms,
                    "capture_age": (t0 - frame.t_capture) * 1000,
                    "preprocess": (t1 - t0) * 1000,
                    "inference": (t2 - t1) * 1000,
                    "postprocess": (t3 - t2) * 1000,
                    "latency": (t3 - frame.t_capture) * 1000,
                }
                self._hand_on(Item(frame, outcome, stages, t3))
        except BaseException as e:  # re-raised on the calling thread by run()
            self._infer_error = e
            self.stop("error")
        finally:
            self._hand_on(None)

    def _hand_on(self, item: Item | None) -> None:
        """Live: a full queue loses its oldest item (never show stale results). Files: wait."""
        while True:
            try:
                self.results.put(item, timeout=0.1)
                return
            except queue.Full:
                if self.live or item is None:
                    try:
                        if self.results.get_nowait() is not None:
                            self.late += 1
                    except queue.Empty:
                        pass
                elif self._stop.is_set():
                    return

    def _output_loop(self, t0: float) -> None:
        while True:
            try:
                item = self.results.get(timeout=0.1)
            except queue.Empty:
                if self._limits_hit(t0):
                    return
                continue
            if item is None:
                self.stop("end of source" if not self.capture.error else "source lost")
                return
            self._output(item)
            if self._limits_hit(t0):
                return

    def _output(self, item: Item) -> None:
        t4 = time.perf_counter()
        image = item.frame.image
        self.task.draw(image, item.outcome)
        if self.overlay:
            draw_hud(image, self.stats.live(), self.task.name)
        t5 = time.perf_counter()
        item.stages["render"] = (t5 - t4) * 1000
        record = {
            "frame": item.frame.index,
            "t_capture": round(item.frame.wall, 6),
            "t_result": round(item.frame.wall + (item.t_result - item.frame.t_capture), 6),
            "stages_ms": {k: round(v, 3) for k, v in item.stages.items()},
            "results": item.outcome.results,
        }
        for sink in self.sinks:
            sink.write(image, record, self.stats)
        t6 = time.perf_counter()
        waited = self.recorder.waited_ms if self.recorder is not None else 0.0
        item.stages["output"] = (t6 - t5) * 1000 - waited  # its own work, as every stage
        self.stats.add(item.stages, item.outcome.results, t6)
        if self.credits is not None:
            self.credits.release()

    def _limits_hit(self, t0: float) -> bool:
        if self._stop.is_set():
            return True
        if self.max_frames and self.stats.frames >= self.max_frames:
            self.stop("max frames")
        elif self.duration and time.perf_counter() - t0 >= self.duration:
            self.stop("duration")
        elif any(getattr(s, "closed_by_user", False) for s in self.sinks):
            self.stop("window closed")
        return self._stop.is_set()

    # -- helpers -----------------------------------------------------------------------
    def _trap_signals(self):
        """Ctrl-C and SIGTERM stop the run cleanly (recordings closed) instead of killing it."""
        if threading.current_thread() is not threading.main_thread():
            return lambda: None
        handler = lambda signum, _frame: self.stop(signal.Signals(signum).name)
        old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
        return lambda: [signal.signal(s, h) for s, h in old.items()]

    def _summary(self, seconds: float) -> Summary:
        s = self.stats.summary()
        return Summary(
            frames=s["frames"],
            seconds=round(seconds, 3),
            fps=s["fps"],
            captured=self.capture.count,
            dropped=self.slot.dropped + self.late,
            stages_ms=s["stages_ms"],
            stopped=self._stopped or "end of source",
            error=self.capture.error,
            reconnects=self.capture.reconnects,
        )
