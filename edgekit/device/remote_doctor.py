"""`edgekit doctor --on ssh://...`: the doctor's report for the device itself (its Python, ISA
flags, runtimes, cameras, thermal zones, clock and governor), made there by the device's own
edgekit (`edgekit provision` puts it there), and with `--target ID` set beside what that
profile expects of the device (arch, Python, ISA, the recommended runtime, the camera).

An artifact given goes to a temporary folder on the device first, so its checks (ops, dtypes,
memory) run against the device's own runtimes; the folder is removed however it ends.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path

from edgekit import formats
from edgekit.device import doctor
from edgekit.device.runner import ISA_FLAGS
from edgekit.device.ssh import Connection, SSHOptions, in_folder
from edgekit.errors import RemoteError

OK, INFO, WARN = doctor.OK, doctor.INFO, doctor.WARN


def doctor_on(
    target: str,
    artifact: str | Path | None = None,
    *,
    options: SSHOptions | None = None,
    profile: str | None = None,
) -> doctor.Report:
    """Run `edgekit doctor` on the device; its report, with a profile's expectations.

    Args:
        target: `ssh://user@host[:port]` of a device with edgekit on it.
        artifact: an artifact here to check there (copied, then removed).
        options: how to connect (host keys, the device's Python, its temp folder).
        profile: a device id whose expectations to set beside the device's answers.

    Returns:
        doctor.Report of the device (target: the URL), "expected" rows appended.

    Raises:
        ConfigError: an unknown profile. HostKeyError, RemoteError: as for `bench --on`, or
        no edgekit on the device (then: run `edgekit provision` first).
    """
    from edgekit.device import profiles

    prof = profiles.get(profile) if profile else None  # an unknown id fails before connecting
    files = formats.files_of(artifact) if artifact else []
    conn = Connection(target, options)
    folder = conn.temp_folder()
    try:
        if files:
            conn.put(files, folder)
        words = ["-m", "edgekit.cli", "doctor", "--json"] + ([files[0].name] if files else [])
        # the doctor exits 1 when something blocks (its JSON says so): not a failure here
        program = f'"$PY" {" ".join(map(shlex.quote, words))} || echo "EXIT $?" >&2'
        res = conn.call(in_folder(folder, program, conn.options), timeout=300)
    finally:
        conn.remove(folder)
    data = _read(conn, res)
    report = doctor.Report(str(conn.target), str(artifact) if artifact else None)
    report.checks = [doctor.Check(**c) for c in data.get("checks", [])]
    if prof is not None:
        expect(report, prof)
    return report


def _read(conn: Connection, res) -> dict:
    if res.returncode == 255:
        raise conn.error(255, res.stderr, "doctor")
    try:
        return json.loads(res.stdout[res.stdout.index("{") :])
    except ValueError:
        pass
    said = [ln.strip() for ln in res.stderr.splitlines() if ln.strip() and "EXIT" not in ln]
    reason = said[-1] if said else f"exit {res.returncode}"
    if "No module named" in reason or "not found" in reason or "No such file" in reason:
        raise RemoteError(
            f"{conn.target}: edgekit is not on the device's Python; got: {reason}; run "
            f"`edgekit provision {conn.target}` first (or pass --remote-python)"
        )
    raise RemoteError(f"{conn.target}: the doctor failed there; got: {reason}")


def rows(report: doctor.Report, area: str) -> dict[str, doctor.Check]:
    """The report's checks of one area, by item."""
    return {c.item: c for c in report.checks if c.area == area}


def expect(report: doctor.Report, prof) -> None:
    """Rows comparing what the device answered with what the profile says of it."""
    machine, runtimes, cameras = (rows(report, a) for a in ("machine", "runtime", "camera"))

    def add(item: str, ok: bool, want: str, got: str, fix: str = "") -> None:
        detail = f"{prof.id}: {want}; device: {got}" + ("" if ok or not fix else f"; {fix}")
        report.add("expected", item, OK if ok else WARN, detail)

    arch = machine["arch"].detail.split(",")[0] if "arch" in machine else "?"
    add("arch", arch == prof.cpu.arch, prof.cpu.arch, arch)
    python = machine["python"].detail.split()[0] if "python" in machine else "?"
    short = ".".join(python.split(".")[:2])
    add("python", short in prof.software.pythons, " or ".join(prof.software.pythons) or "none",
        python)  # fmt: skip
    flags = set(machine["isa"].detail.split()) if "isa" in machine else set()
    wanted = sorted(set(prof.cpu.isa) & set(ISA_FLAGS))
    lacking = [f for f in wanted if f not in flags]
    add("isa", not lacking, " ".join(wanted) or "-", " ".join(sorted(flags)) or "-",
        f"lacks {' '.join(lacking)}")  # fmt: skip
    rid = prof.recommended.runtime
    dists = doctor.WHEELS.get(rid) or ()
    have = [d for d in dists if d in runtimes and runtimes[d].status == OK]
    add(f"runtime {rid}", bool(have) or not dists, " or ".join(dists) or "not from PyPI",
        ", ".join(have) or "not importable",
        f"edgekit provision {report.target} --target {prof.id}")  # fmt: skip
    _camera(report, prof, cameras)


def _camera(report: doctor.Report, prof, cameras: dict) -> None:
    source = prof.camera.source
    if source == "picamera":
        ok = "picamera2" in cameras and cameras["picamera2"].status == OK
        got = cameras["picamera2"].detail if "picamera2" in cameras else "no picamera2"
    elif source.isdigit() or source.startswith("/dev/video"):
        ok = "v4l2" in cameras and cameras["v4l2"].status == OK
        got = cameras["v4l2"].detail if "v4l2" in cameras else "-"
    else:
        report.add("expected", "camera", INFO, f"{prof.id}: {source}; {prof.camera.note}")
        return
    detail = f"{prof.id}: {source}; device: {got}"
    report.add("expected", "camera", OK if ok else WARN,
               detail + ("" if ok else f"; {prof.camera.note}"))  # fmt: skip
