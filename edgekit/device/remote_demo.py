"""`edgekit demo [ARTIFACT] --on ssh://user@host`: the camera demo runs on the device; its
summary, frame lines, browser view and recording come back here.

1. One call asks the device for a temporary folder, its Python with edgekit (none: run
   `edgekit provision` first), its $HOME and a free port on its own 127.0.0.1.
2. The artifact (its sidecars and manifest), and a `--source`, `--labels` or `--anchors` that
   is a file or folder here, are copied into that folder.
3. The agent (`edgekit.demo.agent`) runs the demo there inside `ssh.in_folder`, whose shell
   removes the folder however it ends. `--serve HOST:PORT` is an OpenSSH port forward in the
   same connection (`-L HOST:PORT:127.0.0.1:PORT2`): the device binds its 127.0.0.1 only.
4. Its stream is followed as it comes: frame lines to the local `--jsonl` file, events to the
   caller. A `ping` every 2 s says the link is alive (the device stops the demo when they stop,
   or its stdin ends); SIGINT/SIGTERM here send `stop`: the demo ends cleanly, with a summary.
5. A recording is copied back, then the device removes it (`fetched`); when the link is lost
   first, the device keeps it under ~/.edgekit/recordings and the error names it.
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import signal
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from edgekit.device import link
from edgekit.device.ssh import Connection, Forward, SSHOptions, device_python, in_folder
from edgekit.errors import ConfigError, ConnectionLostError, RemoteError

log = logging.getLogger(__name__)
PING_S = 2.0  # the workstation says it is alive this often
SILENCE_S = 15.0  # the device stops the demo after this long without a word
STOP_WAIT_S = 30.0  # after `stop`, how long the device gets to finish before the link is cut
KEEP_DIR = ".edgekit/recordings"  # under the device's $HOME: recordings nobody fetched


@dataclass
class DemoOnResult:
    """What a demo on a device gave: its summary (a local demo's fields), and where things are."""

    target: str
    summary: dict  # the device's Summary.to_dict(): frames, fps, stages_ms, stopped, info...
    url: str | None = None  # the browser view here (the device's, through the SSH forward)
    record: Path | None = None  # the recording, copied back
    frames_written: int = 0  # lines written to the local --jsonl file


@dataclass
class Device:
    """What the first call found on the device."""

    folder: str
    python: str
    edgekit: str
    home: str
    port: int


def demo_on(
    target: str,
    artifact: str | Path | None = None,
    *,
    options: SSHOptions | None = None,
    source: str | None = None,
    labels: str | Path | None = None,
    anchors: str | None = None,
    jsonl: str | Path | None = None,
    record: str | Path | None = None,
    serve: tuple[str, int] | None = None,
    on_event: Callable[[dict], None] | None = None,
    on_log: Callable[[str], None] | None = None,
    **demo_options,
) -> DemoOnResult:
    """Run `edgekit demo` on the device over SSH and bring its results here.

    Args:
        target: `ssh://user@host[:port]` of a device with edgekit (`edgekit provision`).
        artifact: a .tflite/.xml/.onnx/.ncnn.param here; None: the device's bundled model.
        options: how to connect (host keys, the device's Python, its temp folder).
        source: a file or folder here (copied), or what the device opens (0, /dev/video0,
            picamera, rtsp://...); None: the device's camera, else the sample video.
        labels, anchors: files here (copied), or an anchors name the device knows.
        jsonl, record: local files for the frame lines and the recording (checked first).
        serve: (host, port) here for the browser view; port 0 picks a free one.
        on_event: called with the device's events (started, summary, error, record, kept).
        on_log: called with each line the device writes to stderr (its warnings).
        **demo_options: the rest of `run_demo`'s options (task, max_frames, duration, ...).

    Returns:
        DemoOnResult with the device's summary.

    Raises:
        ConfigError: a bad option (the device's own one-line reason included).
        HostKeyError, RemoteError: as for `bench --on`; also edgekit missing on the device.
        ConnectionLostError: the link dropped mid-run (the device stops the demo itself).
    """
    conn = Connection(target, options)
    serve = free_local(serve) if serve else None
    uploads = _uploads(artifact, source, labels, anchors)  # a bad local file fails first
    device = preflight(conn)
    try:
        for sub, files in uploads.items():
            if files:
                conn.put(files, f"{device.folder}/{sub}")
        spec = _spec(device, artifact, source, labels, anchors, jsonl, record, serve, uploads)
        spec.update(demo_options)
        forward = Forward(serve[0], serve[1], device.port) if serve else None
        program = f'"$PY" -u -m edgekit.demo.agent {shlex.quote(json.dumps(spec))}'
        proc = conn.stream(in_folder(device.folder, program, conn.options), stdin=True,
                           forward=forward)  # fmt: skip
        follow = Follow(conn, proc, jsonl, record, spec, on_event, on_log)
        follow.run()
    except ConnectionLostError:
        raise  # the device is stopping on its own and cleans up after itself
    except BaseException:
        conn.remove(device.folder)
        raise
    conn.remove(device.folder)  # its own trap did it already; this is for a killed shell
    host = serve and (f"[{serve[0]}]" if ":" in serve[0] else serve[0])
    url = f"http://{host}:{serve[1]}/" if serve else None
    return DemoOnResult(str(conn.target), follow.summary, url, follow.fetched, follow.lines)


def preflight(conn: Connection) -> Device:
    """A folder on the device, and its Python with edgekit in it (else: provision first)."""
    base = conn.options.remote_tmp or "${TMPDIR:-/tmp}"
    script = (
        f'D=$(mktemp -d "{base}/edgekit.XXXXXX") || exit 1; cd "$D" || exit 1; '
        "mkdir model data out; "
        f'{device_python(conn.options)}; "$PY" -c {shlex.quote(PROBE)} "$D" '
        '|| { S=$?; rm -rf "$D"; exit $S; }'
    )
    try:
        out = conn.run(f"sh -c {shlex.quote(script)}", timeout=60)
    except RemoteError as e:
        if "not found" in str(e) or "No such file" in str(e):
            raise RemoteError(
                f"{conn.target}: no Python there; got: {e}; run `edgekit provision "
                f"{conn.target}` first, or pass --remote-python"
            ) from e
        raise
    try:
        found = json.loads(out.strip().splitlines()[-1])
    except (ValueError, IndexError) as e:
        raise RemoteError(f"{conn.target}: the device's Python gave no answer; got: {out!r}") \
            from e  # fmt: skip
    if not found.get("edgekit"):
        conn.remove(found["folder"])
        raise RemoteError(
            f"{conn.target}: edgekit is not installed for {found['python']} on the device; "
            f"run `edgekit provision {conn.target}` first (or pass --remote-python)"
        )
    return Device(found["folder"], found["python"], found["edgekit"], found["home"],
                  found["port"])  # fmt: skip


PROBE = """
import json, os, socket, sys, importlib.metadata as m
try:
    version = m.version("edgekit")
except m.PackageNotFoundError:
    version = None
with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
print(json.dumps({"folder": sys.argv[1], "python": sys.executable, "edgekit": version,
                  "home": os.path.expanduser("~"), "port": port}))
"""


def _uploads(artifact, source, labels, anchors) -> dict[str, list[Path]]:
    """What goes to the device: model/ (the artifact, its files, its manifest), data/."""
    from edgekit.manifest import MANIFEST_NAME

    model: list[Path] = []
    if artifact is not None:
        model, _ = link.local_files(artifact)
        manifest = Path(artifact).parent / MANIFEST_NAME
        if manifest.is_file():
            model.append(manifest)  # the contract: task, labels, preprocessing
    data = [Path(x) for x in (source, labels, anchors) if x is not None and _local(x)]
    names = [p.name for p in data]
    if len(set(names)) < len(names):
        raise ConfigError(f"two inputs share a file name; got: {', '.join(map(str, data))}")
    return {"model": model, "data": data}


def _local(value) -> bool:
    """A file or folder here (not a camera, URL, pipeline or a name the device knows)."""
    p = Path(str(value)).expanduser()
    return p.is_file() or p.is_dir()


def _spec(device: Device, artifact, source, labels, anchors, jsonl, record, serve, uploads):
    """run_demo's arguments as the device sees them, and the agent's own."""
    here = {str(Path(str(x)).expanduser()): f"{device.folder}/data/{Path(str(x)).name}"
            for x in (source, labels, anchors) if x is not None and _local(x)}  # fmt: skip

    def there(x):
        return None if x is None else here.get(str(Path(str(x)).expanduser()), str(x))

    main = uploads["model"][0].name if artifact is not None else None
    spec = {
        "artifact": f"{device.folder}/model/{main}" if main else None,
        "source": there(source),
        "labels": there(labels),
        "anchors": there(anchors),
        "jsonl": bool(jsonl),
        "silence_s": SILENCE_S,
    }
    if record:
        name = Path(record).name
        spec["record"] = f"{device.folder}/out/{name}"
        stamp = time.strftime("%Y%m%d-%H%M%S")
        spec["keep"] = f"{device.home}/{KEEP_DIR}/{stamp}-{Path(device.folder).name}-{name}"
    if serve:
        spec["serve"] = f"127.0.0.1:{device.port}"
    return spec


def free_local(serve: tuple[str, int]) -> tuple[str, int]:
    """The local end of the browser view, checked free now (ssh binds it a moment later);
    port 0 becomes a free one.

    Raises:
        ConfigError: the address cannot be bound here.
    """
    host, port = serve
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as s:
        try:
            s.bind((host, port))
        except OSError as e:
            raise ConfigError(
                f"cannot serve on {host}:{port} here; got: {e.strerror or e}; pick another "
                "port or stop what uses it"
            ) from e
        return host, s.getsockname()[1]


class Follow:
    """Reads the agent's stream; writes frame lines here; answers with ping, stop, fetched."""

    def __init__(self, conn, proc, jsonl, record, spec, on_event, on_log) -> None:
        self.conn, self.proc, self.spec = conn, proc, spec
        self.jsonl, self.record = (Path(jsonl) if jsonl else None), record
        self.on_event, self.on_log = on_event or (lambda e: None), on_log or (lambda s: None)
        self.fh = None
        self.lines = 0
        self.summary: dict = {}
        self.error: dict | None = None
        self.kept: str | None = None
        self.fetched: Path | None = None
        self.started = False
        self.stop_reason: str | None = None  # set by a signal handler; sent by the writer
        self.send_fetched = threading.Event()
        self.stderr: list[str] = []

    def run(self) -> None:
        restore = self._trap()
        writer = threading.Thread(target=self._writer, name="edgekit-ping", daemon=True)
        reader = threading.Thread(target=self._stderr, name="edgekit-stderr", daemon=True)
        writer.start()
        reader.start()
        try:
            for line in self.proc.stdout or []:
                self._line(line.rstrip("\n"))
            code = self.proc.wait()
            reader.join(timeout=5)
        finally:
            restore()
            if self.fh is not None:
                self.fh.close()
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
        self._outcome(code)

    def _line(self, line: str) -> None:
        kind, text = line[:1], line[1:]
        if kind == "F" and text.startswith("{"):
            if self.fh is not None:  # opened when the demo started there
                self.fh.write(text + "\n")
                self.fh.flush()
                self.lines += 1
            return
        try:
            event = json.loads(text) if kind == "E" else None
        except ValueError:
            event = None
        if not isinstance(event, dict):
            if line.strip():
                self.on_log(line)  # a stray line: show it, as the device's stderr
            return
        self._event(event)

    def _event(self, event: dict) -> None:
        kind = event.get("event")
        if kind == "started":
            self.started = True
            if self.jsonl is not None and self.fh is None:
                self.fh = open(self.jsonl, "w", encoding="utf-8")  # noqa: SIM115
        elif kind == "summary":
            self.summary = event["summary"]
        elif kind == "error":
            self.error = event
        elif kind == "kept":
            self.kept = event["path"]
        elif kind == "record" and self.record:
            self._fetch(event["path"])
        self.on_event(event)

    def _fetch(self, remote: str) -> None:
        """Copy the recording here (whole, under a temporary name first), then say so."""
        dest = Path(self.record)
        part = dest.with_name(f".{dest.name}.part")
        try:
            self.conn.get(remote, part)
            os.replace(part, dest)
            self.fetched = dest
        except (RemoteError, OSError) as e:
            part.unlink(missing_ok=True)
            self.on_log(f"could not copy the recording back: {e}")
            return
        self.send_fetched.set()

    def _writer(self) -> None:
        """The one writer of the agent's stdin: ping, stop, fetched; cuts a stuck link."""
        last, stop_sent, deadline = 0.0, False, None
        stdin = self.proc.stdin
        while self.proc.poll() is None:
            words = []
            if self.stop_reason and not stop_sent:
                words.append(f"stop {self.stop_reason}")
                stop_sent, deadline = True, time.monotonic() + STOP_WAIT_S
            if self.send_fetched.is_set():
                words.append("fetched")
                self.send_fetched.clear()
            if time.monotonic() - last >= PING_S:
                words.append("ping")
                last = time.monotonic()
            try:
                if words and stdin is not None:
                    stdin.write("".join(w + "\n" for w in words))
                    stdin.flush()
            except (BrokenPipeError, OSError, ValueError):
                return
            if deadline is not None and time.monotonic() > deadline:
                log.warning("the device did not stop in %.0f s: cutting the link", STOP_WAIT_S)
                self.proc.kill()
                return
            time.sleep(0.1)

    def _stderr(self) -> None:
        for line in self.proc.stderr or []:
            line = line.rstrip()
            if line:
                self.stderr = (self.stderr + [line])[-20:]
                self.on_log(line)

    def _trap(self):
        """SIGINT/SIGTERM here ask the device to stop (a second one cuts the link)."""
        if threading.current_thread() is not threading.main_thread():
            return lambda: None

        def handler(signum, _frame):
            if self.stop_reason is not None:
                self.proc.kill()
            self.stop_reason = signal.Signals(signum).name

        old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
        return lambda: [signal.signal(s, h) for s, h in old.items()]

    def _outcome(self, code: int) -> None:
        """Raise what went wrong, if anything did; a summary means the demo ran."""
        t = self.conn.target
        if self.error is not None:
            cls = ConfigError if self.error.get("exit_code") == 2 else RemoteError
            raise cls(f"{t}: {self.error.get('error')}")
        if self.summary:
            return
        said = self.stderr[-1] if self.stderr else f"exit {code}"
        if self.started or self.lines:
            kept = self.spec.get("keep") if self.spec.get("record") else None
            where = f"; a recording it began is kept on the device: {kept} " if kept else ""
            raise ConnectionLostError(
                f"{t}: connection lost mid-run ({self.lines} frame lines kept here{where}); "
                f"got: {said}; the device stops the demo itself and removes what it was sent"
            )
        if code == 255:
            raise self.conn.error(255, "\n".join(self.stderr), "demo")
        hint = "; is edgekit there up to date? run `edgekit provision` again" \
            if "No module named" in said else ""  # fmt: skip
        raise RemoteError(f"{t}: the demo did not start there; got: {said}{hint}")
