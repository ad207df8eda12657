"""`edgekit bench ARTIFACT --on ssh://user@host[:port]`: benchmark on a device over SSH.

Uses the system OpenSSH client, so the user's ~/.ssh/config, agent and known_hosts apply as
they do for `ssh`. An unknown host key is refused (StrictHostKeyChecking=yes) unless the
caller accepts new keys explicitly; a changed key is always refused. No password prompts
(BatchMode): keys or an agent only.

The artifact and `runner.py` go to a fresh temporary folder on the device; the runner streams
its samples as JSON lines, so a link lost mid-run still leaves the samples gathered so far
(`ConnectionLostError.partial`); the folder is removed by the device's shell when the runner
ends for any reason, and again by a separate connection afterwards.

The same pieces serve `demo --on` and `doctor --on`: `Connection.temp_folder()`, `put`/`get`
(scp, folders too), `stream(..., stdin=True, forward=...)` (a port forward, `-L`, in the same
connection) and `in_folder()`, the shell command that cleans up however its program ends.
"""

from __future__ import annotations

import logging
import re
import shlex
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from edgekit.device import link
from edgekit.errors import ConfigError, ConnectionLostError, HostKeyError, RemoteError

log = logging.getLogger(__name__)
RUNNER = Path(__file__).with_name("runner.py")
DEFAULT_VENV = "$HOME/.edgekit/venv"  # where `edgekit provision` puts the runtime
URL = re.compile(
    r"^ssh://(?:(?P<user>[^@/\s]+)@)?(?P<host>\[[^\]]+\]|[^:/\s]+)(?::(?P<port>\d+))?/?$"
)


@dataclass(frozen=True)
class Forward:
    """`-L`: local HOST:PORT reaches the device's own 127.0.0.1:REMOTE_PORT."""

    host: str
    port: int
    remote_port: int

    def argv(self) -> list[str]:
        bind = f"[{self.host}]" if ":" in self.host else self.host
        return ["-o", "ExitOnForwardFailure=yes", "-L", f"{bind}:{self.port}:127.0.0.1:"
                f"{self.remote_port}"]  # fmt: skip


@dataclass(frozen=True)
class SSHTarget:
    """Where to connect: `ssh://user@host:port` (user and port optional: ~/.ssh/config's)."""

    host: str
    user: str | None = None
    port: int | None = None

    @classmethod
    def parse(cls, url: str) -> SSHTarget:
        m = URL.match(url.strip())
        if not m:
            raise ConfigError(f"not an SSH target; got: {url!r}; write ssh://user@host[:port]")
        port = int(m["port"]) if m["port"] else None
        if port is not None and not 0 < port < 65536:
            raise ConfigError(f"SSH port out of range; got: {port}")
        return cls(host=m["host"].strip("[]"), user=m["user"], port=port)

    @property
    def destination(self) -> str:
        return f"{self.user}@{self.host}" if self.user else self.host

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        user = f"{self.user}@" if self.user else ""
        return f"ssh://{user}{host}" + (f":{self.port}" if self.port else "")


@dataclass
class SSHOptions:
    """How to connect. `known_hosts`/`identity`/`config` default to the user's own."""

    accept_host_key: bool = False  # accept-new: record an unknown key; a changed one still fails
    connect_timeout: int = 10
    alive_interval: int = 5  # a silent link is declared lost after interval x count seconds
    alive_count: int = 3
    identity: Path | None = None
    known_hosts: Path | None = None
    config: Path | None = None
    extra: list[str] = field(default_factory=list)  # more `-o KEY=VALUE`
    python: str | None = None  # the device's Python; default: provisioned venv, else python3
    remote_tmp: str | None = None  # base folder for the temporary folder; default $TMPDIR or /tmp

    def argv(self) -> list[str]:
        """The options every ssh/scp call gets."""
        o = [
            "BatchMode=yes",
            f"StrictHostKeyChecking={'accept-new' if self.accept_host_key else 'yes'}",
            f"ConnectTimeout={self.connect_timeout}",
            f"ServerAliveInterval={self.alive_interval}",
            f"ServerAliveCountMax={self.alive_count}",
            "LogLevel=ERROR",
        ]
        if self.known_hosts:
            o.append(f"UserKnownHostsFile={self.known_hosts}")
        if self.identity:
            o += [f"IdentityFile={self.identity}", "IdentitiesOnly=yes"]
        for kv in self.extra:
            if "=" not in kv:
                raise ConfigError(f"an SSH option is KEY=VALUE; got: {kv!r}")
            o.append(kv)
        args = ["-F", str(self.config)] if self.config else []
        for kv in o:
            args += ["-o", kv]
        return args


class Connection:
    """One device reached through the system `ssh` and `scp`."""

    def __init__(self, target: SSHTarget | str, options: SSHOptions | None = None) -> None:
        self.target = SSHTarget.parse(target) if isinstance(target, str) else target
        self.options = options or SSHOptions()

    def ssh_argv(self, command: str, *, forward: Forward | None = None) -> list[str]:
        port = ["-p", str(self.target.port)] if self.target.port else []
        fwd = forward.argv() if forward else []
        return ["ssh", *self.options.argv(), *port, *fwd, self.target.destination, "--", command]

    def run(self, command: str, *, timeout: float = 120) -> str:
        """Run a shell command on the device; its stdout, or RemoteError with ssh's reason."""
        res = self.call(command, timeout=timeout)
        if res.returncode != 0:
            raise self.error(res.returncode, res.stderr, command)
        return res.stdout

    def call(self, command: str, *, timeout: float = 120) -> subprocess.CompletedProcess:
        """Run a shell command on the device; its exit code, stdout and stderr, whatever they
        are (ssh's own failures are exit 255: `error()` reads them)."""
        try:
            return subprocess.run(
                self.ssh_argv(command), capture_output=True, text=True, timeout=timeout
            )
        except subprocess.TimeoutExpired as e:
            raise RemoteError(f"{self.target}: no answer in {timeout:.0f} s; got: {command}") from e

    def put(self, files: list[Path], remote_dir: str, *, timeout: float = 600) -> None:
        """Copy local files (and folders, whole) into a folder on the device."""
        folders = ["-r"] if any(Path(f).is_dir() for f in files) else []
        self._scp([*folders, *map(str, files), f"{self.scp_host()}:{remote_dir}/"], timeout)

    def get(self, remote_path: str, local_path: Path, *, timeout: float = 600) -> None:
        """Copy one file from the device to `local_path`."""
        self._scp([f"{self.scp_host()}:{remote_path}", str(local_path)], timeout)

    def scp_host(self) -> str:
        host = f"[{self.target.host}]" if ":" in self.target.host else self.target.host
        return f"{self.target.user}@{host}" if self.target.user else host

    def _scp(self, args: list[str], timeout: float) -> None:
        port = ["-P", str(self.target.port)] if self.target.port else []  # paths: absolute
        cmd = ["scp", "-q", *self.options.argv(), *port, *args]
        try:
            res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired as e:
            raise RemoteError(f"{self.target}: scp took over {timeout:.0f} s") from e
        if res.returncode != 0:
            raise self.error(res.returncode, res.stderr, "scp")

    def stream(
        self, command: str, *, stdin: bool = False, forward: Forward | None = None
    ) -> subprocess.Popen:
        """Start a command whose stdout is read line by line (`stdin`: a pipe to write to, else
        nothing; `forward`: a port forward that lives as long as the command)."""
        return subprocess.Popen(
            self.ssh_argv(command, forward=forward),
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            bufsize=1,
        )

    def temp_folder(self) -> str:
        """A fresh folder under the device's temporary folder (or `options.remote_tmp`)."""
        base = self.options.remote_tmp or "${TMPDIR:-/tmp}"
        folder = self.run(f'mktemp -d "{base}/edgekit.XXXXXX"', timeout=60).strip()
        if not folder.startswith("/") or "edgekit." not in folder:
            raise RemoteError(f"{self.target}: mktemp gave no folder; got: {folder!r}")
        return folder

    def remove(self, folder: str) -> None:
        """Remove a folder on the device; a failure is logged (its own trap removed it)."""
        try:
            self.run(f"rm -rf {shlex.quote(folder)}", timeout=30)
        except Exception as e:  # the device's own trap normally did it already
            log.warning("%s: could not remove %s on the device: %s", self.target, folder, e)

    def error(self, code: int, stderr: str, what: str) -> Exception:
        """ssh's failure as one of edgekit's errors, with the fix."""
        text = " ".join(stderr.split())
        t = self.target
        if "IDENTIFICATION HAS CHANGED" in stderr:
            return HostKeyError(
                f"{t}: the host key changed since it was recorded in known_hosts; got: "
                f"{_last(stderr)}; if the device was reinstalled, remove the old key with "
                f"ssh-keygen -R {t.host} and check the new one; edgekit never accepts a changed key"
            )
        if "Host key verification failed" in text or "host key is known" in text:
            return HostKeyError(
                f"{t}: unknown host key, refused; got: {_last(stderr)}; check the key's "
                f"fingerprint (ssh-keyscan {'-p ' + str(t.port) + ' ' if t.port else ''}{t.host}"
                " | ssh-keygen -lf -) and connect once with ssh, or pass --accept-host-key"
            )
        if "Permission denied" in text:
            return RemoteError(
                f"{t}: login refused; got: {_last(stderr)}; edgekit uses keys only (no password "
                "prompts): ssh-copy-id to the device, ssh-add the key, or pass --identity"
            )
        if code == 255:
            return RemoteError(f"{t}: cannot connect; got: {_last(stderr) or 'ssh exit 255'}")
        return RemoteError(f"{t}: {what} failed (exit {code}); got: {_last(stderr)}")


def device_python(options: SSHOptions) -> str:
    """Shell words choosing the device's Python: given, else the provisioned venv, else python3."""
    if options.python:
        return f"PY={shlex.quote(options.python)}"
    return (
        f'if [ -x "{DEFAULT_VENV}/bin/python" ]; then PY="{DEFAULT_VENV}/bin/python"; '
        "else PY=python3; fi"
    )


def in_folder(folder: str, program: str, options: SSHOptions) -> str:
    """A shell command running `program` (shell words, "$PY" for the device's Python) inside
    `folder`, which its EXIT trap removes however the program ends: done, failed, or killed by
    a broken pipe when the link drops. A hang-up or TERM ends the shell, and the trap runs."""
    d = shlex.quote(folder)
    script = (
        f"trap 'rm -rf {d}' EXIT; trap 'exit 129' HUP; trap 'exit 143' TERM; cd {d} || exit 1; "
        f"{device_python(options)}; {program}"
    )
    return f"sh -c {shlex.quote(script)}"


def _last(stderr: str) -> str:
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    return lines[-1][:300] if lines else ""


EventHandler = Callable[[dict], None]


def bench(
    artifact: str | Path,
    target: SSHTarget | str,
    *,
    options: SSHOptions | None = None,
    on_event: EventHandler | None = None,
    **bench_options,
):
    """Benchmark `artifact` on the device: copy it and the runner, run, stream, clean up.

    Args:
        artifact: a .tflite, .xml (its .bin goes along) or .onnx here.
        target: `ssh://user@host[:port]` or an SSHTarget.
        options: how to connect (host-key policy, timeouts, the device's Python).
        on_event: called with each event the runner streams (machine, loaded, samples, ...).
        **bench_options: threads, runs, duration, warmup, sustained, device, delegate.

    Returns:
        (machine fingerprint of the device, BenchResult) - the schema of a local bench.

    Raises:
        HostKeyError: unknown or changed host key. RemoteError: cannot connect, login refused,
        or the runner failed there (its one-line reason). ConnectionLostError: the link
        dropped mid-run; `.partial` keeps the samples gathered so far.
    """
    conn = Connection(target, options)
    files, precision = link.local_files(artifact)
    inputs = bench_options.get("inputs")
    if inputs is not None and not Path(inputs).is_file():
        raise ConfigError(f"--inputs file not found; got: {inputs}; pass an .npz of the inputs")
    folder = conn.temp_folder()
    try:
        conn.put([RUNNER, *files, *([Path(inputs)] if inputs else [])], folder)
        if inputs:  # the copy in the device's folder (same name: the runner's cwd)
            bench_options = {**bench_options, "inputs": Path(inputs).name}
        cmd = _runner_command(folder, Path(files[0]).name, precision, conn.options, bench_options)
        return _follow(conn, conn.stream(cmd), artifact, precision, on_event)
    finally:
        conn.remove(folder)


def _runner_command(folder: str, name: str, precision, options: SSHOptions, kw: dict) -> str:
    args = ["runner.py", name, "--stream"]
    if precision:
        args += ["--precision", precision]
    for key in ("threads", "runs", "duration", "warmup", "sustained", "device", "delegate",
                "api", "accelerator", "inputs"):  # fmt: skip
        if kw.get(key) is not None:
            args += [f"--{key}", str(kw[key])]
    return in_folder(folder, f'"$PY" -u {" ".join(map(shlex.quote, args))}', options)


def _follow(conn: Connection, proc: subprocess.Popen, artifact, precision, on_event):
    got = link.Collector(artifact, precision, on_event)
    for line in proc.stdout or []:
        got.feed(line)
    stderr = proc.stderr.read() if proc.stderr else ""
    code = proc.wait()
    if got.result is not None:
        return got.machine, got.result
    if got.error:
        raise RemoteError(f"{conn.target}: the runner failed there; got: {got.error}")
    if code == 255 or got.samples:
        partial = got.partial()
        kept = f"{partial.runs} samples kept" if partial else "no samples yet"
        raise ConnectionLostError(
            f"{conn.target}: connection lost mid-run ({kept}); got: "
            f"{_last(stderr) or 'ssh exit ' + str(code)}; check the link and the device's power",
            partial=partial,
            machine=got.machine,
        )
    reason = _last(stderr) or f"exit {code}"
    if "No such file" in stderr or "not found" in stderr:
        reason += "; is Python 3 on the device? run `edgekit provision` or pass --remote-python"
    raise RemoteError(f"{conn.target}: the runner did not start; got: {reason}")
