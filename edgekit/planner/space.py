"""The search space of `edgekit plan`, per target, derived from the format registry
(`edgekit.formats`) and the device profiles (`devices/*.toml`): never a list of its own.

A target is a device profile id, estimated there, or measured on it when `--on` reaches it;
`local` is this machine, measured here, with the generic profile of its architecture
(`x86-64`, `aarch64`) for the runtimes it has and for the estimates that screen candidates.
"""

from __future__ import annotations

import itertools
import os
from dataclasses import asdict, dataclass, field

from edgekit import formats
from edgekit.errors import ConfigError

LOCAL = "local"
BUDGETED = "int8-budget"  # int8 with the most sensitive layers in float, to --max-drop
PRUNE_LEVELS = (0.0, 0.25, 0.5)  # fraction of channels removed (edgekit.prune_channels)
SIZE_SCALES = (1.0, 0.75, 0.5)  # input resolutions tried, relative to the model's own
MIN_SIZE = 32


@dataclass(frozen=True)
class Candidate:
    """One way to ship the model: what to convert, and how to run it."""

    format: str
    precision: str  # a precision of the format, or BUDGETED
    prune: float = 0.0
    input_size: int | None = None  # None: the model's own input
    threads: int | None = None  # None: the runtime's default

    @property
    def build(self) -> tuple:
        """What the artifact depends on (threads only change how it runs)."""
        return (self.format, self.precision, self.prune, self.input_size)

    def label(self) -> str:
        parts = [f"{self.format} {self.precision}"]
        if self.prune:
            parts.append(f"pruned {self.prune:.0%}")
        if self.input_size:
            parts.append(f"{self.input_size} px")
        parts.append(f"{self.threads} threads" if self.threads else "default threads")
        return ", ".join(parts)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Target:
    """Where a plan's latencies come from: here, a device over `--on`, or the estimator."""

    id: str  # what the user typed: a profile id or "local"
    profile: object  # edgekit.device.profiles.DeviceProfile
    on: str | None = None  # ssh://... or adb[:SERIAL] when the device is reachable

    @property
    def basis(self) -> str:
        return "measured" if self.id == LOCAL or self.on else "estimated"


@dataclass
class Space:
    """The dimensions searched for one target; `candidates()` is their product."""

    precisions: dict[str, list[str]]  # format -> precisions, in the registry's order
    prunes: list[float] = field(default_factory=lambda: [0.0])
    sizes: list[int | None] = field(default_factory=lambda: [None])
    threads: list[int | None] = field(default_factory=lambda: [None])

    def candidates(self) -> list[Candidate]:
        builds = [(f, p) for f, ps in self.precisions.items() for p in ps]
        return [
            Candidate(f, p, r, s, t)
            for (f, p), r, s, t in itertools.product(builds, self.prunes, self.sizes, self.threads)
        ]

    def to_dict(self) -> dict:
        return asdict(self)


def targets(ids: list[str], on: list[str] | None = None) -> list[Target]:
    """Targets from ids (`local` or profile ids) and `--on` values (`URL`, or `ID=URL` when
    several device targets are planned).

    Raises:
        ConfigError: an unknown id, an --on value that does not parse or names no target.
    """
    from edgekit.device.profiles import get
    from edgekit.device.remote import kind

    if not ids:
        raise ConfigError("--target needs at least one id; got: nothing; e.g. --target local,rpi5")
    out = [Target(i, local_profile() if i == LOCAL else get(i)) for i in dict.fromkeys(ids)]
    devices = [t for t in out if t.id != LOCAL]
    for value in on or ():
        name, sep, url = value.partition("=")
        if not sep or "://" in name:
            name, url = (devices[0].id if len(devices) == 1 else ""), value
        kind(url)  # a URL that does not parse fails here, with the forms it takes
        match = [t for t in devices if t.id == name]
        if not match:
            raise ConfigError(
                f"--on names no device target; got: {value}; write --on ID=URL with ID one of "
                f"{', '.join(t.id for t in devices) or '(none: add --target ID)'}"
            )
        match[0].on = url
    return out


def local_profile():
    """The generic profile of this machine's architecture."""
    from edgekit.device.profiles import generic_local

    return generic_local()


def space(
    target: Target,
    *,
    native_size: int | None,
    resizable: bool,
    prunable: bool,
    calibrated: bool,
    max_drop: float | None,
    prunes=None,
    sizes=None,
    threads=None,
    only: list[str] | None = None,
) -> Space:
    """The dimensions for one target. Formats: those the target's runtimes load (only CPU
    runtimes for `local`, whose accelerators edgekit does not drive); precisions: the
    registry's for each (NPU builds left out: they need a vendor SDK and a --device), with
    BUDGETED where --max-drop is given and edgekit budgets that format; calibrated ones only
    with data to calibrate on. `only` keeps these "fmt" or "fmt:precision" entries."""
    from edgekit.optimize.budget import FORMATS as BUDGET_FORMATS

    precs = {}
    for fmt in runnable_formats(target):
        ps = [p for p in formats.get(fmt).precisions if p != "npu"]
        ps = [p for p in ps if calibrated or not formats.needs_calibration(fmt, p)]
        if max_drop is not None and calibrated and fmt in BUDGET_FORMATS:
            ps.append(BUDGETED)
        precs[fmt] = [p for p in ps if _kept(fmt, p, only)]
    precs = {f: ps for f, ps in precs.items() if ps}
    if not precs:
        raise ConfigError(
            f"no format to plan for {target.id}; got: --only {','.join(only or [])}; it runs "
            f"{', '.join(runnable_formats(target))}"
        )
    return Space(
        precs,
        prunes=_levels(prunes, PRUNE_LEVELS if prunable else (0.0,)),
        sizes=_sizes(sizes, native_size, resizable),
        threads=_threads(threads, target),
    )


def runnable_formats(target: Target) -> list[str]:
    """Formats with a runtime on the target, in the registry's order."""
    rts = [formats.runtime(r) for r in target.profile.runtimes]
    if target.id == LOCAL:
        rts = [r for r in rts if r.unit == "cpu"]
    have = {r.format for r in rts if not r.deprecated}
    if target.on:  # what the device runner (ssh) or LiteRT's benchmark_model (adb) runs
        have = {f for f in have if formats.get(f).remote and (f == "tflite" or "://" in target.on)}
    return [f for f in formats.FORMATS if f in have]


def _kept(fmt: str, precision: str, only) -> bool:
    return not only or fmt in only or f"{fmt}:{precision}" in only


def _levels(given, default) -> list[float]:
    levels = sorted({float(x) for x in (given if given is not None else default)} | {0.0})
    bad = [x for x in levels if not 0 <= x < 1]
    if bad:
        raise ConfigError(f"pruning levels are channel fractions in [0, 1); got: {bad[0]}")
    return levels


def _sizes(given, native: int | None, resizable: bool) -> list[int | None]:
    if native is None or not resizable:
        return [None]
    if given is not None:
        sizes = {int(s) for s in given}
        if any(s < 8 for s in sizes):
            raise ConfigError(f"input sizes are pixels >= 8; got: {sorted(sizes)}")
    else:
        sizes = {max(MIN_SIZE, int(round(native * f / 8)) * 8) for f in SIZE_SCALES}
    return [None if s == native else s for s in sorted(sizes | {native}, reverse=True)]


def _threads(given, target: Target) -> list[int | None]:
    if given is not None:
        return sorted({int(t) for t in given})
    cores = (os.cpu_count() or 1) if target.id == LOCAL else target.profile.cpu.cores
    out = {1}
    while max(out) * 2 <= cores:
        out.add(max(out) * 2)
    return sorted(out | {cores})
