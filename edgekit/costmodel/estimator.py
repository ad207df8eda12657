"""`estimate()`: latency of one model per hardware target, with an interval and its basis."""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from edgekit import formats
from edgekit.cache import cache_dir
from edgekit.costmodel import choice
from edgekit.costmodel.calibrate import user_observations
from edgekit.costmodel.costs import model_costs
from edgekit.costmodel.fit import Fit, Observation, fit, published_observations, tier_intervals
from edgekit.costmodel.ops import PRECISIONS, ModelCost
from edgekit.costmodel.published import DATA
from edgekit.costmodel.roofline import unit_for
from edgekit.errors import ConfigError, EdgeKitError


@dataclass
class Estimate:
    """An estimated latency for one target; `error` says why there is no number instead."""

    target: str
    runtime: str | None
    precision: str | None
    threads: int | None
    latency_ms: float | None
    low_ms: float | None
    high_ms: float | None
    basis: str
    unit: str = ""
    error: str | None = None
    tier: str = ""  # pair | runtime | new-runtime | device: what the interval was sized on
    parts_ms: dict[str, float] = field(default_factory=dict)  # roofline split (unscaled)
    cpu_ops: list[str] = field(default_factory=list)  # op types the path leaves to the CPU
    warning: str = ""  # e.g. a deprecated runtime

    def to_dict(self) -> dict:
        return asdict(self)


def estimate(
    model,
    targets: list[str],
    *,
    runtime: str | None = None,
    precision: str | None = None,
    threads: int | None = None,
) -> list[Estimate]:
    """Estimate the latency of `model` (an artifact, a .keras file or a ModelCost) per target.

    Args:
        model: path of a .tflite/.xml/.onnx/.mlpackage/.keras file, or a ModelCost.
        targets: device profile ids (`edgekit devices`).
        runtime: a runtime id; default: what the format and the target's profile imply.
        precision: fp32, fp16 or int8 for a Keras model (default: the profile's recommendation).
        threads: CPU threads (default: the profile's recommendation).

    Returns:
        One Estimate per target; a target that cannot run the model has `error` set.

    Raises:
        ConfigError: unknown target, runtime or precision, or an unreadable model.

    Example:
        >>> [e.latency_ms for e in estimate("out/m_int8.tflite", ["rpi5", "pixel8"])]
    """
    from edgekit.device.profiles import get

    if runtime is not None:
        formats.runtime(runtime)  # unknown ids fail here, with the valid ones
    if precision is not None and precision not in PRECISIONS:
        raise ConfigError(f"unknown precision; got: {precision}; valid: {', '.join(PRECISIONS)}")
    profiles = [get(t) for t in targets]  # unknown ids fail here, before any work
    cost = model if isinstance(model, ModelCost) else model_costs(model, precision=precision)
    return [_one(cost, p, runtime, precision, threads) for p in profiles]


def _one(cost: ModelCost, profile, runtime, precision, threads) -> Estimate:
    prec = precision or (
        _norm(profile.recommended.precision) if cost.format == "keras" else cost.precision
    )
    try:
        rt = runtime or choice.default_runtime(cost.format, prec, profile)
        choice.check(cost.format, rt, prec)
        unit_for(profile, rt, prec, threads)  # the device must have it
    except EdgeKitError as e:
        return Estimate(profile.id, runtime, prec, threads, None, None, None, "", error=str(e))
    obs = Observation(profile.id, rt, prec, threads, cost, Path(cost.source).name)
    model = current_fit()
    if model.counts.get((profile.id, rt, "user")):
        obs.bench = "user"
    ms = model.predict(obs)
    low, high = model.interval(obs)
    p = obs.parts()
    unit = p.unit
    return Estimate(
        profile.id, rt, prec, unit.threads or None, round(ms, 3), round(ms * low, 3),
        round(ms * high, 3), basis(model, profile.id, rt),
        f"{unit.name} {unit.precision}" + (f" ({unit.note})" if unit.note else ""),
        tier=model.tier(obs), cpu_ops=p.fallback_ops, warning=formats.runtime(rt).deprecated,
        parts_ms={k: round(v * 1e3, 4) for k, v in (("accelerator", p.accel_s),
                  ("cpu_fallback", p.fallback_s), ("switches", p.switch_s),
                  ("link", p.link_s)) if v},
    )  # fmt: skip


def basis(model: Fit, device: str, runtime: str) -> str:
    """What the figure rests on, in words."""
    pub = model.counts.get((device, runtime), 0)
    user = model.counts.get((device, runtime, "user"), 0)
    if user:
        return f"{user} of your measurements + {_rows(pub)} for {device}/{runtime}"
    if pub:
        return f"{_rows(pub)} for {device}/{runtime}"
    if device not in model.devices:
        return f"no published rows for {device}: its CPU class and accelerator family"
    others = sorted({d for (d, r, *_) in model.counts if r == runtime and d != device})
    if others:
        near = _nearest(device, others, runtime)
        return f"extrapolated from {near} ({runtime}) by peak compute and bandwidth"
    return f"extrapolated from {device}'s other runtimes; no published {runtime} rows"


def _nearest(device: str, others: list[str], runtime: str) -> str:
    from edgekit.device.profiles import get

    def peak(d: str) -> float:
        try:
            u = unit_for(get(d), runtime, "fp32")
        except EdgeKitError:
            return 1.0
        return u.peak_gflops / max(u.core_fraction, 1e-9)

    mine = peak(device)
    return min(others, key=lambda d: abs(math.log(peak(d) / mine)))


@functools.lru_cache(maxsize=1)
def published_fit() -> Fit:
    """The fit on the published rows, with its intervals. Sizing the intervals refits once
    per held-out group (about 50 fits): their factors are kept in the cache folder, keyed by
    everything they depend on (data, profiles, this package's estimate code)."""
    obs = list(published_observations())
    model = fit(obs, interval=False)
    path = cache_dir("estimate", f"intervals-{_inputs_digest()}.json")
    try:
        model.intervals = {k: tuple(v) for k, v in json.loads(path.read_text()).items()}
    except (OSError, ValueError, AttributeError):
        model.intervals = tier_intervals(obs)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps(model.intervals))
            tmp.replace(path)
        except OSError:  # a read-only cache: recompute next time
            pass
    return model


def _inputs_digest() -> str:
    from edgekit.recipes import data_dir

    h = hashlib.sha256()
    files = sorted(Path(__file__).parent.glob("*.py")) + sorted(DATA.glob("*"))
    files += sorted(data_dir("devices").glob("*.toml"))
    for f in files:
        h.update(f.name.encode() + f.read_bytes())
    return h.hexdigest()[:16]


def current_fit() -> Fit:
    """The published fit, refitted with the user's calibration rows when there are any."""
    mine = user_observations()
    if not mine:
        return published_fit()
    base = published_fit()
    model = fit(list(published_observations()) + mine, interval=False)
    model.intervals = base.intervals
    for o in mine:
        key = (o.device, o.runtime, "user")
        model.counts[key] = model.counts.get(key, 0) + 1
    return model


def _norm(precision: str) -> str:
    """A recipe precision (int8-io, uint8-io, dynamic-int8, npu, palettize4...) as
    fp32/fp16/int8."""
    p = precision.lower()
    return "int8" if "int8" in p or "palett" in p or p == "npu" else "fp16" if "16" in p else "fp32"


def _rows(n: int) -> str:
    return f"{n} published row" + ("" if n == 1 else "s")
