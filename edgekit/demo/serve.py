"""The browser view for headless devices (`--serve HOST:PORT`): a page with the annotated
MJPEG stream and live stats, on the standard library's threaded HTTP server.

Bound to 127.0.0.1 unless a host is named: the stream shows whatever the camera sees.
Frames are JPEG-encoded at most 30 times a second while someone watches, twice a second
otherwise (for `/frame.jpg`).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np

from edgekit.errors import ConfigError

log = logging.getLogger(__name__)
PAGE = Path(__file__).with_name("page.html")
BOUNDARY = "edgekitframe"


def parse_address(text: str) -> tuple[str, int]:
    """ "HOST:PORT", ":PORT" or "PORT" -> (host, port); the host defaults to 127.0.0.1."""
    host, _, port = str(text).rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigError(f"--serve takes HOST:PORT; got: {text!r}; e.g. 127.0.0.1:8080")
    return host, int(port)


class ServeSink:
    """Publishes annotated frames and stats to browsers. `url` is where to look."""

    def __init__(self, address: str, *, quality: int = 80, max_fps: float = 30.0) -> None:
        host, port = parse_address(address)
        self.quality, self.max_fps = quality, max_fps
        self._cond = threading.Condition()
        self._jpeg: bytes | None = None
        self._seq = 0
        self._last_encode = 0.0
        self.viewers = 0
        self.closing = False
        self.stats, self.task = None, ""
        try:
            self.server = ThreadingHTTPServer((host, port), _handler(self))
        except OSError as e:
            raise ConfigError(
                f"cannot serve on {host}:{port}; got: {e.strerror or e}; pick another port "
                "or stop what uses it"
            ) from e
        self.server.daemon_threads = True
        bound_host, bound_port = self.server.server_address[:2]
        shown = bound_host if bound_host not in ("0.0.0.0", "::") else "<this-device>"
        self.url = f"http://{shown}:{bound_port}/"
        if host not in ("127.0.0.1", "localhost", "::1"):
            log.warning("serving on %s: anyone who can reach this port can watch", host)
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True
        )
        self._thread.start()

    def attach(self, stats, task: str) -> None:
        self.stats, self.task = stats, task

    # -- the output stage calls these ---------------------------------------------------
    def write(self, image: np.ndarray, record: dict, stats) -> None:
        now = time.perf_counter()
        if now - self._last_encode < (1 / self.max_fps if self.viewers else 0.5):
            return  # a browser needs no more than max_fps; nobody watching: twice a second
        import cv2

        ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, self.quality])
        if not ok:
            return
        with self._cond:
            self._jpeg, self._seq = buf.tobytes(), self._seq + 1
            self._last_encode = now
            self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            self.closing = True
            self._cond.notify_all()
        self.server.shutdown()
        self.server.server_close()

    # -- the request handlers call these ------------------------------------------------
    def next_frame(self, after: int, timeout: float = 1.0) -> tuple[int, bytes | None]:
        with self._cond:
            if self._seq <= after and not self.closing:
                self._cond.wait(timeout)
            return self._seq, self._jpeg

    def stats_json(self) -> bytes:
        live = self.stats.live() if self.stats else {}
        live["task"] = self.task
        return json.dumps(live).encode()


def _handler(sink: ServeSink):
    class Handler(BaseHTTPRequestHandler):
        server_version = "edgekit-demo"

        def log_message(self, fmt, *args):  # quiet: the demo's own output matters
            log.debug("%s " + fmt, self.address_string(), *args)

        def do_GET(self):  # noqa: N802 (the standard library's name)
            path = self.path.split("?")[0]
            if path in ("/", "/index.html"):
                self._send(PAGE.read_bytes(), "text/html; charset=utf-8")
            elif path == "/stats.json":
                self._send(sink.stats_json(), "application/json")
            elif path == "/frame.jpg":
                _, jpeg = sink.next_frame(-1, timeout=0)
                if jpeg is None:
                    self.send_error(HTTPStatus.SERVICE_UNAVAILABLE, "no frame yet")
                else:
                    self._send(jpeg, "image/jpeg")
            elif path == "/stream.mjpg":
                self._stream()
            else:
                self.send_error(HTTPStatus.NOT_FOUND)

        def _send(self, body: bytes, ctype: str) -> None:
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def _stream(self) -> None:
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            with sink._cond:
                sink.viewers += 1
            seq = 0
            try:
                while not sink.closing:
                    seq, jpeg = sink.next_frame(seq)
                    if jpeg is None:
                        continue
                    head = f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\n"
                    head += f"Content-Length: {len(jpeg)}\r\n\r\n"
                    self.wfile.write(head.encode() + jpeg + b"\r\n")
            except (BrokenPipeError, ConnectionResetError):
                pass
            finally:
                with sink._cond:
                    sink.viewers -= 1

    return Handler
