"""`edgekit provision ssh://...`: edgekit itself (its light install: no TensorFlow) and the
runtimes a target profile names, in a venv on the device, so `demo --on`, `doctor --on` and
`bench --on` find them there (they prefer that venv's Python).

edgekit is not on PyPI: its wheel is built here (`edgekit.device.package`: from this checkout
or repacked from the installed edgekit, cached by content hash), copied over and installed
with pip, together with the extras of the profile's runtimes (`edgekit[ncnn,onnx]`; a runtime
no extra names goes by its PyPI name, one not on PyPI is left to the user). The device's venv
records which wheel it holds (`edgekit-provision.json`), so a second run first asks the device
what it has: the same wheel and every requirement met means nothing is installed, and the
report says so. System packages (apt: picamera2/libcamera, GStreamer, a vendor's runtime) are
reported for the user to install: edgekit never uses sudo on someone's device.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field

from edgekit import formats
from edgekit.device import package
from edgekit.device.ssh import DEFAULT_VENV, Connection, SSHOptions, in_folder
from edgekit.errors import ConfigError, RemoteError

DEFAULT_INSTALL = "pip install numpy ai-edge-litert"  # --runtime-only, without a profile
MARKER = "edgekit-provision.json"  # in the venv: the wheel it holds
PIP = re.compile(r"(?:^|&&|;)\s*(?:\S*/)?pip3? install\s+([^&;#]+)")
SYSTEM = re.compile(r"(?:^|&&|;)\s*(?:sudo\s+)?apt(?:-get)?\s+install\s+([^&;#]+)")
PACKAGE = re.compile(r"^[A-Za-z0-9_.\-\[\],<>=!~']+$")
EXTRA = re.compile(r"""extra\s*==\s*['"]([^'"]+)['"]""")
CAMERA_NEEDS = {  # a profile's camera source -> (apt packages, why)
    "picamera": (
        ["python3-picamera2"],
        "the Pi camera: picamera2 and libcamera come from apt, and the venv sees them "
        "(it is made with --system-site-packages)",
    ),
    "gstreamer": (
        [],
        "CSI cameras through GStreamer need an OpenCV built with it (JetPack's python3-opencv): "
        "pip's opencv-python-headless has none; a USB camera works as /dev/video0",
    ),
}


@dataclass
class ProvisionReport:
    """What the device has after `provision`, and whether this run changed anything."""

    target: str
    python: str  # the venv's Python on the device
    versions: dict[str, str]  # distribution -> version, as installed there
    system_needs: list[str] = field(default_factory=list)  # apt packages left to the user
    changed: bool = True  # False: everything was there already; nothing was installed
    installed: list[str] = field(default_factory=list)  # what pip installed, name-version
    edgekit: str = ""  # the wheel: version, sha256 and where it was built from
    notes: list[str] = field(default_factory=list)  # what else is left to the user, and why

    def to_dict(self) -> dict:
        return self.__dict__.copy()


@dataclass
class Plan:
    """What a device should have: requirements, extras of edgekit's wheel, venv flags."""

    reqs: list[str]  # pip requirement strings (the wheel's own, markers and all, and more)
    extras: list[str] = field(default_factory=list)
    system_site: bool = False
    system_needs: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    wheel: package.Wheel | None = None  # None: --runtime-only


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


def make_plan(
    *, profile: str | None = None, install: str | None = None, runtimes=None,
    wheel: package.Wheel | None = None, runtime_only: bool = False,
) -> Plan:  # fmt: skip
    """What to install: the profile's (or `install`'s) pip line, edgekit's wheel with the
    extras of the runtimes (default: the profile's), and what is left to the user."""
    prof = None
    if profile:
        from edgekit.device import profiles

        prof = profiles.get(profile)
    line = install or (prof.software.install if prof else None)
    if line is None and runtime_only:
        line = DEFAULT_INSTALL
    reqs, system_site, system = parse_install(line) if line else ([], False, [])
    plan = Plan(reqs, system_site=system_site, system_needs=system)
    if prof is not None and prof.camera.source in CAMERA_NEEDS:
        apt, why = CAMERA_NEEDS[prof.camera.source]
        plan.system_needs += [p for p in apt if p not in plan.system_needs]
        plan.notes.append(why)
        plan.system_site = plan.system_site or bool(apt)
    if runtime_only:
        return plan
    for rid in runtimes or ():
        formats.runtime(rid)  # a misspelt id fails before the wheel is built
    plan.wheel = wheel or package.own_wheel()
    chosen = list(runtimes or (prof.runtimes if prof else []))
    plan.extras, more, notes = runtime_extras(chosen, plan.wheel.requires)
    plan.reqs = plan.wheel.requires + [r for r in more + reqs if r not in plan.wheel.requires]
    plan.notes += notes
    return plan


def runtime_extras(runtime_ids: list[str], requires: list[str]):
    """(edgekit extras, other PyPI requirements, notes) that bring these runtimes: a runtime's
    format names edgekit's extra for it (formats.FORMATS[...].extra, as pyproject pins it);
    a PyPI project no extra names goes by its name; one not on PyPI becomes a note."""
    from edgekit.device.doctor import NOT_PYPI, WHEELS

    named = {(m[1], _name(r)) for r in requires if (m := EXTRA.search(r))}
    base = {_name(r) for r in requires if not EXTRA.search(r)}
    extras, more, notes = [], [], []
    for rid in runtime_ids:
        rt = formats.runtime(rid)  # an unknown id fails here, naming the valid ones
        if rid in NOT_PYPI:
            notes.append(f"{rid}: {NOT_PYPI[rid]}")
            continue
        dist = (WHEELS.get(rid) or (None,))[0]
        if dist is None or _name(dist) in base:
            continue
        extra = formats.FORMATS[rt.format].extra
        target, item = (extras, extra) if (extra, _name(dist)) in named else (more, dist)
        if item not in target:
            target.append(item)
    return extras, more, notes


def _name(requirement: str) -> str:
    return re.split(r"[\s<>=!~;\[(]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def provision(
    target: str,
    *,
    options: SSHOptions | None = None,
    profile: str | None = None,
    install: str | None = None,
    runtimes: list[str] | None = None,
    venv: str = DEFAULT_VENV,
    wheel: package.Wheel | None = None,
    runtime_only: bool = False,
    on_line: Callable[[str], None] | None = None,
) -> ProvisionReport:
    """Install edgekit's light package and the runtimes into a venv on the device, unless
    it has them already.

    Args:
        target: `ssh://user@host[:port]`.
        profile: a device id (devices/*.toml): its install line, runtimes and camera.
        install: a pip install line instead of the profile's.
        runtimes: runtime ids to install (default: the profile's; none: LiteRT only).
        venv: where on the device (default $HOME/.edgekit/venv, which the `--on` paths prefer).
        wheel: edgekit's wheel to install (default: built from this checkout / the install).
        runtime_only: only the install line's packages (`bench --on` needs no more), no edgekit.
        on_line: called with each line pip prints.

    Returns:
        ProvisionReport; `changed` is False when the device had everything already.

    Raises:
        ConfigError: an unknown profile or runtime, a bad install line. RemoteError (and
        HostKeyError): the device cannot be reached, or pip failed there (its last words).
    """
    plan = make_plan(profile=profile, install=install, runtimes=runtimes, wheel=wheel,
                     runtime_only=runtime_only)  # fmt: skip
    conn = Connection(target, options)
    v = "$HOME/" + venv[2:] if venv.startswith("~/") else venv
    v = v if v.startswith("$HOME") else shlex.quote(v)
    before = device_state(conn, v, plan)
    held = (before.get("marker") or {}).get("sha256")
    same_wheel = plan.wheel is None or held == plan.wheel.sha256
    if before.get("venv") and same_wheel and not before["missing"]:
        return _report(conn, plan, before, changed=False, installed=[])
    lines = _install(conn, v, plan, before, same_wheel, on_line)
    after = device_state(conn, v, plan)
    if after.get("missing"):
        raise RemoteError(f"{conn.target}: pip finished but {after['missing'][0]} is not there")
    done = [w for ln in lines if ln.startswith("Successfully installed") for w in ln.split()[2:]]
    return _report(conn, plan, after, changed=True, installed=done)


def _report(conn, plan: Plan, state: dict, *, changed: bool, installed) -> ProvisionReport:
    w = plan.wheel
    edgekit = f"{w.version} (sha256 {w.sha256[:12]}, {w.origin})" if w else ""
    versions = {k: v for k, v in state.get("versions", {}).items() if v}
    return ProvisionReport(
        str(conn.target), state.get("python", ""), versions, plan.system_needs, changed,
        installed, edgekit, plan.notes,
    )  # fmt: skip


def device_state(conn: Connection, v: str, plan: Plan) -> dict:
    """What the venv on the device holds: {"venv", "python", "missing", "versions", "marker"}."""
    want = json.dumps({"reqs": plan.reqs, "extras": plan.extras})
    script = (
        f'if [ -x "{v}/bin/python" ]; then "{v}/bin/python" -c {shlex.quote(STATE)} '
        f'{shlex.quote(want)}; else echo \'{{"venv": false, "missing": ["venv"]}}\'; fi'
    )
    out = conn.run(f"sh -c {shlex.quote(script)}", timeout=120)
    try:
        return json.loads(out.strip().splitlines()[-1])
    except (ValueError, IndexError) as e:
        raise RemoteError(f"{conn.target}: the venv's Python gave no answer; got: {out!r}") from e


STATE = """
import json, sys, importlib.metadata as m
try:
    from packaging.requirements import Requirement
except ImportError:
    from pip._vendor.packaging.requirements import Requirement
want = json.loads(sys.argv[1])
envs = [{"extra": e} for e in want["extras"] + [""]]
def version(name):
    try:
        return m.version(name)
    except m.PackageNotFoundError:
        return None
missing, versions = [], {"edgekit": version("edgekit")}
for line in want["reqs"]:
    req = Requirement(line)
    if req.marker and not any(req.marker.evaluate(env) for env in envs):
        continue
    got = versions[req.name] = version(req.name)
    if got is None or not req.specifier.contains(got, prereleases=True):
        missing.append(line)
try:
    with open(sys.prefix + "/MARKER") as fh:
        marker = json.load(fh)
except (OSError, ValueError):
    marker = None
print(json.dumps({"venv": True, "python": sys.executable, "missing": missing,
                  "versions": versions, "marker": marker}))
""".replace("MARKER", MARKER)


def _install(conn, v: str, plan: Plan, before: dict, same_wheel: bool, on_line) -> list[str]:
    """Stream the install on the device; returns pip's lines. Needs only what is missing."""
    folder = conn.temp_folder()
    try:
        w = plan.wheel
        if w is not None:
            conn.put([w.path], folder)
        steps = _steps(conn, v, plan, before, same_wheel, folder)
        proc = conn.stream(in_folder(folder, " && ".join(steps), conn.options))
        lines: list[str] = []
        for line in proc.stdout or []:
            lines.append(line.rstrip())
            if on_line:
                on_line(line.rstrip())
        err = proc.stderr.read() if proc.stderr else ""
        if proc.wait() != 0:
            if proc.returncode == 255:
                raise conn.error(255, err, "provision")
            said = [ln for ln in lines + err.splitlines() if ln.strip()][-2:]
            raise RemoteError(f"{conn.target}: installing failed; got: {' | '.join(said)}")
        return lines
    finally:
        conn.remove(folder)


def _steps(conn, v: str, plan: Plan, before: dict, same_wheel: bool, folder: str) -> list[str]:
    pip = f'"{v}/bin/python" -m pip install --disable-pip-version-check --progress-bar off'
    flags = " --system-site-packages" if plan.system_site else ""
    base = '"$PY"' if conn.options.python else "python3"
    steps = [f'{{ [ -x "{v}/bin/python" ] || {base} -m venv{flags} "{v}"; }} 2>&1']
    w = plan.wheel
    local = f"{folder}/{w.path.name}" if w else ""
    wanted = [r for r in plan.reqs if w is None or r not in w.requires]
    if w is not None:
        extras = f"[{','.join(plan.extras)}]" if plan.extras else ""
        wanted.insert(0, local + extras)
    if wanted and (before.get("missing") or not before.get("venv")):
        steps.append(f"{pip} {' '.join(map(shlex.quote, wanted))} 2>&1")
    if w is not None and not same_wheel:  # the same version number may hold other code
        steps.append(f"{pip} --no-deps --force-reinstall {shlex.quote(local)} 2>&1")
        record = json.dumps({"sha256": w.sha256, "version": w.version, "origin": w.origin})
        write = "import sys; open(sys.prefix + '/" + MARKER + "', 'w').write(sys.argv[1])"
        steps.append(f'"{v}/bin/python" -c {shlex.quote(write)} {shlex.quote(record)}')
    return steps
