"""`edgekit provision ssh://...`: the light runtime in a venv on the device, from the target
profile's install line, so `bench --on` finds it (the runner prefers that venv's Python).

Only the pip part of a profile's line runs; system packages (`sudo apt install ...`) are
reported for the user to run, since edgekit never uses sudo on someone's device.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field

from edgekit.device.ssh import DEFAULT_VENV, Connection, SSHOptions
from edgekit.errors import ConfigError, RemoteError

DEFAULT_INSTALL = "pip install numpy ai-edge-litert"
PIP = re.compile(r"(?:^|&&|;)\s*(?:\S*/)?pip3? install\s+([^&;#]+)")
SYSTEM = re.compile(r"(?:^|&&|;)\s*(?:sudo\s+)?apt(?:-get)?\s+install\s+([^&;#]+)")
PACKAGE = re.compile(r"^[A-Za-z0-9_.\-\[\],<>=!~']+$")


@dataclass
class ProvisionReport:
    target: str
    python: str  # the venv's Python on the device
    versions: dict[str, str]  # distribution -> version, as installed there
    system_needs: list[str] = field(default_factory=list)  # apt packages left to the user

    def to_dict(self) -> dict:
        return self.__dict__.copy()


def parse_install(line: str) -> tuple[list[str], bool, list[str]]:
    """(pip requirements, whether the venv sees system site-packages, apt packages)."""
    pips = PIP.findall(line)
    if not pips:
        raise ConfigError(
            f"no `pip install` in the install line; got: {line!r}; this target is not set up "
            "through a Python venv (phones: --on adb; iPhone: Xcode)"
        )
    reqs = [r.strip("'\"") for part in pips for r in shlex.split(part)]
    bad = [r for r in reqs if r.startswith("-") or not PACKAGE.match(r)]
    if bad:
        raise ConfigError(f"unexpected word in the pip install line; got: {bad[0]!r}")
    system = [p for part in SYSTEM.findall(line) for p in shlex.split(part)]
    return reqs, "--system-site-packages" in line, system


def provision(
    target: str,
    *,
    options: SSHOptions | None = None,
    profile: str | None = None,
    install: str | None = None,
    venv: str = DEFAULT_VENV,
    on_line: Callable[[str], None] | None = None,
) -> ProvisionReport:
    """Create (or update) a venv on the device and pip-install the light runtime into it.

    Args:
        target: `ssh://user@host[:port]`.
        profile: a device id (devices/*.toml) whose `software.install` line to use.
        install: an install line instead (default: `pip install numpy ai-edge-litert`).
        venv: where on the device (default $HOME/.edgekit/venv, which `bench --on` prefers).
        on_line: called with each line pip prints.
    """
    if profile and not install:
        from edgekit.device import profiles

        install = profiles.get(profile).software.install
    reqs, system_site, system = parse_install(install or DEFAULT_INSTALL)
    conn = Connection(target, options)
    base = shlex.quote(conn.options.python) if conn.options.python else "python3"
    v = venv if venv.startswith("$HOME") else shlex.quote(venv)
    flags = " --system-site-packages" if system_site else ""
    script = (
        f'{base} -m venv{flags} "{v}" 2>&1 && "{v}/bin/python" -m pip install '
        f"--disable-pip-version-check --progress-bar off {' '.join(map(shlex.quote, reqs))} 2>&1"
    )
    proc = conn.stream(f"sh -c {shlex.quote(script)}")
    tail = []
    for line in proc.stdout or []:
        tail = (tail + [line.rstrip()])[-5:]
        if on_line:
            on_line(line.rstrip())
    err = proc.stderr.read() if proc.stderr else ""
    if proc.wait() != 0:
        if proc.returncode == 255:
            raise conn.error(255, err, "provision")
        raise RemoteError(
            f"{conn.target}: installing {' '.join(reqs)} failed; got: {' | '.join(tail[-2:])}"
        )
    return ProvisionReport(
        str(conn.target), _venv_python(conn, v), _versions(conn, v, reqs), system
    )


def _venv_python(conn: Connection, v: str) -> str:
    return conn.run(f"sh -c 'echo \"{v}/bin/python\"'", timeout=30).strip()


def _versions(conn: Connection, v: str, reqs: list[str]) -> dict[str, str]:
    names = [re.split(r"[<>=!~\[]", r, maxsplit=1)[0] for r in reqs]
    code = (
        "import json, importlib.metadata as m\n"
        f"print(json.dumps({{d: m.version(d) for d in {names!r}}}))"
    )
    out = conn.run(f'"{v}/bin/python" -c {shlex.quote(code)}', timeout=60)
    return json.loads(out.strip().splitlines()[-1])
