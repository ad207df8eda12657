"""A real OpenSSH server on 127.0.0.1 for the `--on ssh://` tests.

Its own sshd_config, a generated ed25519 host key pinned in a test known_hosts, and a
key-authenticated login as the current user (root in CI). `.venv-light`'s Python plays the
device's Python: only the light install. No sshd installed fails the tests loudly; tests/run.sh
installs openssh-server in CI.

`provisioned(...)` is one venv per test session that `edgekit provision` filled with edgekit's
wheel (built from a snapshot of this checkout), for `demo --on`, `doctor --on` and the rest.
The venv sees `.venv-light`'s site-packages through a path line, so pip finds numpy, OpenCV
and LiteRT (and pip itself) already there, nothing is downloaded for them, while edgekit
itself is installed from the wheel into the venv.
"""

from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEVICE_PYTHON = ROOT / ".venv-light" / "bin" / "python"


@dataclass
class Server:
    port: int
    proc: subprocess.Popen
    folder: Path
    known_hosts: Path
    identity: Path
    host_pub: str
    device_tmp: Path

    @property
    def url(self) -> str:
        return f"ssh://{getpass.getuser()}@127.0.0.1:{self.port}"

    def options(self, **kw):
        from edgekit.device.ssh import SSHOptions

        kw.setdefault("known_hosts", self.known_hosts)
        kw.setdefault("identity", self.identity)
        kw.setdefault("python", str(DEVICE_PYTHON))
        kw.setdefault("remote_tmp", str(self.device_tmp))
        kw.setdefault("connect_timeout", 5)
        kw.setdefault("alive_interval", 2)
        kw.setdefault("alive_count", 2)
        return SSHOptions(**kw)

    def session_pids(self) -> list[int]:
        """The per-connection sshd processes (children of the listener)."""
        import psutil

        return [c.pid for c in psutil.Process(self.proc.pid).children()]


def sshd_binary() -> str | None:
    return shutil.which("sshd") or next(
        (p for p in ("/usr/sbin/sshd", "/usr/local/sbin/sshd") if os.path.exists(p)), None
    )


def start(folder: Path) -> Server:
    sshd = sshd_binary()
    if sshd is None or not shutil.which("ssh") or not shutil.which("ssh-keygen"):
        raise RuntimeError(
            "openssh-server/openssh-client are not installed; tests/run.sh installs them with "
            "apt-get (apt-get install openssh-server openssh-client)"
        )
    if not DEVICE_PYTHON.exists():
        raise RuntimeError(f"{DEVICE_PYTHON} is missing; tests/run.sh creates .venv-light")
    folder.mkdir(parents=True, exist_ok=True)
    keygen = ["ssh-keygen", "-q", "-t", "ed25519", "-N", ""]
    subprocess.run([*keygen, "-f", str(folder / "host_key")], check=True)
    subprocess.run([*keygen, "-f", str(folder / "user_key")], check=True)
    (folder / "authorized_keys").write_text((folder / "user_key.pub").read_text())
    port = free_port()
    config = folder / "sshd_config"
    config.write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {folder / 'host_key'}\n"
        f"PidFile {folder / 'sshd.pid'}\nAuthorizedKeysFile {folder / 'authorized_keys'}\n"
        "PubkeyAuthentication yes\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
        "UsePAM no\nStrictModes no\nPermitRootLogin prohibit-password\n"
        "Subsystem sftp internal-sftp\nLogLevel ERROR\n"
    )
    if os.geteuid() == 0:
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # privilege separation folder
    proc = subprocess.Popen(
        [sshd, "-D", "-e", "-f", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    wait_for_port(port, proc)
    host_pub = (folder / "host_key.pub").read_text().split()
    known = folder / "known_hosts"
    known.write_text(
        "".join(f"[{h}]:{port} {host_pub[0]} {host_pub[1]}\n" for h in ("127.0.0.1", "localhost"))
    )
    device_tmp = folder / "device-tmp"
    device_tmp.mkdir()
    return Server(
        port, proc, folder, known, folder / "user_key", " ".join(host_pub[:2]), device_tmp
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen, timeout: float = 10) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"sshd exited: {proc.stderr.read().decode(errors='replace')}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"sshd did not listen on 127.0.0.1:{port} within {timeout} s")


def stop(server: Server) -> None:
    server.proc.terminate()
    try:
        server.proc.wait(5)
    except subprocess.TimeoutExpired:
        server.proc.kill()


def cli_reach(server: Server, known_hosts: Path | None = None) -> list[str]:
    """The CLI options that reach the test server (its key, its known_hosts, its temp folder)."""
    return [
        "--identity", str(server.identity),
        "--ssh-option", f"UserKnownHostsFile={known_hosts or server.known_hosts}",
        "--remote-tmp", str(server.device_tmp),
    ]  # fmt: skip


@dataclass
class Provisioned:
    venv: Path
    python: Path  # the venv's Python: the device's edgekit
    wheel: object  # edgekit.device.package.Wheel
    snapshot: Path  # the checkout copy the wheel was built from
    report: object  # the first ProvisionReport


_PROVISIONED: list[Provisioned] = []  # one per test session, whichever module asks first


def provisioned(server: Server, base: Path) -> Provisioned:
    """The session's provisioned venv (made on first use, through `server`)."""
    if _PROVISIONED:
        return _PROVISIONED[0]
    from edgekit.device import package
    from edgekit.device.provision import provision

    base.mkdir(parents=True, exist_ok=True)
    snapshot = snapshot_checkout(base / "checkout")
    wheel = package.own_wheel(source=snapshot)
    venv = base / "venv"
    # no pip of its own (ensurepip is most of a venv's 20 s here): the seed's pip installs
    # into the venv it runs in, as the venv's own would
    subprocess.run([str(DEVICE_PYTHON), "-m", "venv", "--without-pip", str(venv)], check=True)
    site = purelib(venv / "bin" / "python")
    (Path(site) / "_edgekit_test_seed.pth").write_text(purelib(DEVICE_PYTHON) + "\n")
    report = provision(server.url, options=server.options(), venv=str(venv), wheel=wheel)
    _PROVISIONED.append(Provisioned(venv, venv / "bin" / "python", wheel, snapshot, report))
    return _PROVISIONED[0]


def snapshot_checkout(dest: Path) -> Path:
    """A copy of what edgekit's wheel is built from (the tree may change while tests run)."""
    from edgekit.device.package import SOURCES

    skip = shutil.ignore_patterns("__pycache__", "*.pyc", ".*")
    for name in SOURCES:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=skip)
        elif src.is_file():
            dest.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    return dest


def purelib(python: Path) -> str:
    code = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    return subprocess.run(
        [str(python), "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()


def device_python_says(python: Path, code: str) -> str:
    """Run code with a device Python, from a neutral folder (no checkout on its path)."""
    return subprocess.run(
        [str(python), "-c", code], capture_output=True, text=True, check=True, cwd="/"
    ).stdout.strip()


def edgekit_on_device(server: Server) -> list[str]:
    """The command lines of edgekit's processes on the "device": everything the test sshd
    started (its sessions' shells and what they run) that mentions edgekit."""
    import psutil

    found = []
    for p in psutil.Process(server.proc.pid).children(recursive=True):
        try:
            line = " ".join(p.cmdline())
        except psutil.Error:  # ended meanwhile
            continue
        if "edgekit" in line:
            found.append(line)
    return found


def wait_until(check, timeout: float = 20.0, every: float = 0.2):
    """check() until it is truthy or the time is up; its last value."""
    end = time.monotonic() + timeout
    while not (value := check()) and time.monotonic() < end:
        time.sleep(every)
    return value


CLI = [sys.executable, "-m", "edgekit.cli"]
