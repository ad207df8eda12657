"""Frame sources and the capture thread that keeps only the newest frame.

A camera or stream is read as fast as it delivers, and each new frame replaces the one not yet
taken, so the model always sees the latest picture (OpenCV's own buffer is set to one frame
and drained continuously). Files and image folders are read frame by frame, every frame
processed, unless `realtime` paces them at the file's frame rate and lets late frames drop.
"""

from __future__ import annotations

import glob
import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgekit.errors import ConfigError, DeviceUnavailableError

log = logging.getLogger(__name__)
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".ppm", ".pgm"}
STREAM_PREFIXES = ("rtsp://", "rtsps://", "http://", "https://", "rtmp://", "udp://", "tcp://")
GST_ELEMENTS = ("nvarguscamerasrc", "v4l2src", "libcamerasrc", "videotestsrc", "rtspsrc")


@dataclass
class Frame:
    """One captured frame: BGR image, index, and when it arrived (perf_counter and wall)."""

    index: int
    image: np.ndarray
    t_capture: float
    wall: float
    read_ms: float = 0.0


class Source:
    """An opened source. `read()` returns a BGR frame or None when it ends or fails."""

    kind = "video"
    live = False  # cameras and streams: True; files and folders: False

    def __init__(self, spec: str) -> None:
        self.spec = spec
        self.fps: float = 30.0

    def read(self) -> np.ndarray | None:
        raise NotImplementedError

    def rewind(self) -> bool:
        """Back to the first frame (files and folders); False when the source cannot."""
        return False

    def close(self) -> None:
        pass


class OpenCVSource(Source):
    """A camera index, /dev/videoN, video file, network stream or GStreamer pipeline."""

    def __init__(self, spec: str, target: int | str, api: int, *, kind: str, live: bool) -> None:
        import cv2

        super().__init__(spec)
        self.kind, self.live = kind, live
        self.cap = cv2.VideoCapture(target, api)
        if not self.cap.isOpened():
            self.cap.release()
            raise ConfigError(cannot_open(spec, kind))
        if live:
            self.cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # no queue of stale frames in the driver
        fps = self.cap.get(cv2.CAP_PROP_FPS)
        self.fps = fps if 1 <= fps <= 240 else 30.0
        count = self.cap.get(cv2.CAP_PROP_FRAME_COUNT)
        self.frames = int(count) if not live and count > 0 else None

    def read(self) -> np.ndarray | None:
        ok, img = self.cap.read()
        return img if ok and img is not None and img.size else None

    def rewind(self) -> bool:
        import cv2

        return not self.live and bool(self.cap.set(cv2.CAP_PROP_POS_FRAMES, 0))

    def close(self) -> None:
        self.cap.release()


class FolderSource(Source):
    """Every image in a folder (or one image file), in name order, once."""

    kind = "images"

    def __init__(self, spec: str, files: list[Path], fps: float = 30.0) -> None:
        super().__init__(spec)
        self.files, self.fps, self._i = files, fps, 0
        self.frames = len(files)

    def read(self) -> np.ndarray | None:
        import cv2

        while self._i < len(self.files):
            img = cv2.imread(str(self.files[self._i]), cv2.IMREAD_COLOR)
            self._i += 1
            if img is not None:
                return img
            log.warning("skipping unreadable image %s", self.files[self._i - 1])
        return None

    def rewind(self) -> bool:
        self._i = 0
        return True


class PicameraSource(Source):
    """A Raspberry Pi camera through picamera2 (libcamera)."""

    kind, live = "picamera", True

    def __init__(self, spec: str, size: tuple[int, int] = (640, 480)) -> None:
        super().__init__(spec)
        try:
            from picamera2 import Picamera2
        except ImportError as e:
            raise ConfigError(
                "picamera needs picamera2; got: not installed; fix: sudo apt install "
                "python3-picamera2 (Raspberry Pi OS), in a venv made with --system-site-packages"
            ) from e
        try:
            self.cam = Picamera2()
            # libcamera names formats by word order: "RGB888" is B, G, R in memory (OpenCV's)
            cfg = self.cam.create_video_configuration(main={"size": size, "format": "RGB888"})
            self.cam.configure(cfg)
            self.cam.start()
        except (RuntimeError, IndexError, OSError) as e:
            raise ConfigError(f"cannot open the Pi camera; got: {e}; {available_line()}") from e

    def read(self) -> np.ndarray | None:
        try:
            return self.cam.capture_array()
        except RuntimeError:
            return None

    def close(self) -> None:
        self.cam.close()


def open_source(spec: str | int, *, fps: float | None = None) -> Source:
    """Open SRC: a camera index, /dev/videoN, video file, rtsp:// or http:// stream, GStreamer
    pipeline, `picamera`, or a folder of images. Raises ConfigError, naming the sources that
    exist on this machine, when it cannot be opened."""
    import cv2

    s = str(spec).strip()
    if s.isdigit():
        return OpenCVSource(s, int(s), cv2.CAP_ANY, kind="camera", live=True)
    if s.startswith("/dev/video"):
        if not os.path.exists(s):
            raise ConfigError(f"no such camera device; got: {s}; {available_line()}")
        return OpenCVSource(s, s, getattr(cv2, "CAP_V4L2", cv2.CAP_ANY), kind="camera", live=True)
    if s.lower().startswith(STREAM_PREFIXES):
        return OpenCVSource(s, s, cv2.CAP_FFMPEG, kind="stream", live=True)
    if s == "picamera":
        return PicameraSource(s)
    if "!" in s or s.split(" ")[0] in GST_ELEMENTS:
        return gstreamer(s)
    p = Path(s).expanduser()
    if p.is_dir():
        files = sorted(f for f in p.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise ConfigError(
                f"no images in the folder; got: {p}; expected {sorted(IMAGE_SUFFIXES)}"
            )
        return FolderSource(s, files, fps or 30.0)
    if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES:
        return FolderSource(s, [p], fps or 30.0)
    if p.is_file():
        src = OpenCVSource(s, str(p), cv2.CAP_ANY, kind="video", live=False)
        if fps:
            src.fps = fps
        return src
    raise ConfigError(f"source not found; got: {s}; {available_line()}")


def gstreamer(s: str) -> Source:
    import cv2

    if "GStreamer:                   YES" not in cv2.getBuildInformation():
        raise ConfigError(
            f"this OpenCV was built without GStreamer; got: {s!r}; pip's opencv wheels lack it: "
            "use the system OpenCV (JetPack's python3-opencv) or a camera index / /dev/videoN"
        )
    if "appsink" not in s:
        s = f"{s} ! videoconvert ! video/x-raw,format=BGR ! appsink drop=1 max-buffers=1"
    return OpenCVSource(s, s, cv2.CAP_GSTREAMER, kind="gstreamer", live=True)


def cameras() -> list[str]:
    """Camera devices this machine has, without opening them."""
    found = sorted(glob.glob("/dev/video*"), key=lambda d: (len(d), d))
    try:
        import importlib.util

        if importlib.util.find_spec("picamera2") is not None:
            found.append("picamera")
    except (ImportError, ValueError):
        pass
    return found


def available_line() -> str:
    cams = cameras()
    have = f"cameras here: {', '.join(cams)}" if cams else "no camera found on this machine"
    return (
        f"{have}; other sources: a video file, an image folder, rtsp:// or http:// URL, a "
        "GStreamer pipeline, or no --source for the bundled sample video"
    )


def cannot_open(spec: str, kind: str) -> str:
    hints = {
        "camera": "is it plugged in and free (not used by another program), and may this user "
        "read it (group video)?",
        "stream": "is the URL right and the server reachable?",
        "video": "is it a video OpenCV's FFmpeg can decode?",
        "gstreamer": "does the pipeline run with gst-launch-1.0?",
    }
    return f"cannot open {kind} source; got: {spec}; {hints.get(kind, '')} {available_line()}"


class LatestSlot:
    """A one-frame mailbox. `put` replaces an untaken frame (counted as dropped) or, with
    `block=True`, waits until it is taken; `get` waits for a frame not seen before."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._item: Frame | None = None
        self.closed = False
        self.dropped = 0

    def put(self, item: Frame, *, block: bool, stop: threading.Event) -> None:
        with self._cond:
            while block and self._item is not None and not stop.is_set():
                self._cond.wait(0.1)
            if block and stop.is_set():
                return  # stopping: nothing was skipped, the run just ended
            if self._item is not None:
                self.dropped += 1
            self._item = item
            self._cond.notify_all()

    def get(self, timeout: float = 0.1) -> Frame | None:
        with self._cond:
            if self._item is None and not self.closed:
                self._cond.wait(timeout)
            item, self._item = self._item, None
            self._cond.notify_all()
            return item

    def close(self) -> None:
        with self._cond:
            self.closed = True
            self._cond.notify_all()


class CaptureThread(threading.Thread):
    """Reads the source into a LatestSlot until the source ends, fails or `stop` is set.

    Live sources overwrite the slot (the newest frame wins). Files fill it one frame at a time,
    waiting until it is taken, unless `realtime`, which paces reading at the file's frame rate
    and overwrites. `reopen` is called to reconnect a live source that stopped delivering.
    """

    def __init__(
        self,
        source: Source,
        slot: LatestSlot,
        stop: threading.Event,
        *,
        realtime: bool = False,
        reopen=None,
        loop: bool = False,
        credits: threading.Semaphore | None = None,
        retry_s: float = 1.0,
    ) -> None:
        super().__init__(name="edgekit-capture", daemon=True)
        self.source, self.slot, self.stop = source, slot, stop
        self.realtime, self.reopen, self.retry_s = realtime, reopen, retry_s
        self.loop, self.credits = loop, credits
        self.count = 0
        self.error: str | None = None  # why capture ended early, for the summary
        self.reconnects = 0

    def run(self) -> None:
        try:
            self._loop()
        except Exception as e:  # surfaced in the summary, never a thread traceback
            self.error = f"capture failed: {type(e).__name__}: {e}"
            log.debug("capture failed", exc_info=True)
        finally:
            self.slot.close()

    def _loop(self) -> None:
        block = not self.source.live and not self.realtime
        t0 = time.perf_counter()
        while not self.stop.is_set():
            if self.realtime and not self.source.live:
                due = t0 + self.count / self.source.fps
                delay = due - time.perf_counter()
                if delay > 0:
                    self.stop.wait(delay)
            if block and not self._credit():
                return
            t = time.perf_counter()
            img = self.source.read()
            done = time.perf_counter()
            if img is None:
                if block and self.credits is not None:
                    self.credits.release()  # no frame took this credit
                if self.source.live and self._lost():
                    continue
                if self.loop and not self.source.live and self.source.rewind():
                    t0 = time.perf_counter() - self.count / self.source.fps  # keep the pace
                    continue
                return
            frame = Frame(self.count, img, done, time.time(), (done - t) * 1000)
            self.count += 1
            self.slot.put(frame, block=block, stop=self.stop)

    def _credit(self) -> bool:
        """Every-frame mode reads a frame only when the pipeline has room for it, so a frame
        is decoded just before it is needed instead of waiting, ageing, in a queue."""
        if self.credits is None:
            return True
        while not self.stop.is_set():
            if self.credits.acquire(timeout=0.1):
                return True
        return False

    def _lost(self) -> bool:
        """A live source stopped: reconnect (True) or record why capture ended (False)."""
        what = f"{self.source.kind} {self.source.spec} stopped delivering frames after " + (
            f"{self.count} frames (unplugged, or the stream ended)"
        )
        if self.reopen is None:
            self.error = f"{what}; pass --reconnect to keep trying"
            return False
        log.warning("%s; reconnecting", what)
        self.source.close()
        while not self.stop.is_set():
            try:
                self.source = self.reopen()
                self.reconnects += 1
                log.warning("reconnected to %s", self.source.spec)
                return True
            except (ConfigError, DeviceUnavailableError) as e:
                log.debug("reconnect failed: %s", e)
                self.stop.wait(self.retry_s)
        return False
