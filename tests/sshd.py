"""A real OpenSSH server on 127.0.0.1 for the `bench --on ssh://` tests.

Its own sshd_config, a generated ed25519 host key pinned in a test known_hosts, and a
key-authenticated login as the current user (root in CI). `.venv-light`'s Python plays the
device's Python: only the light install. No sshd installed fails the tests loudly; tests/run.sh
installs openssh-server in CI.
"""

from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
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
