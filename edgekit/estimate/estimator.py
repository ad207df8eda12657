"""`estimate()`: latency of one model per hardware target, with an interval and its basis."""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass
from pathlib import Path

from edgekit.errors import ConfigError, EdgeKitError
from edgekit.estimate.costs import PRECISIONS, ModelCost, model_costs
from edgekit.estimate.fit import Fit, Observation, fit, published_observations
from edgekit.estimate.roofline import RUNTIMES, unit_for

# the runtimes that can load each format, in order of preference
FORMAT_RUNTIMES = {
    "tflite": ("tflite", "tflite-gpu", "nnapi", "edgetpu"),
    "openvino": ("openvino", "openvino-gpu"),
    "onnx": ("tensorrt", "onnxruntime"),
    "coreml": ("coreml", "coreml-ane", "coreml-gpu", "coreml-cpu"),
    "keras": RUNTIMES,
}


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
    """
    from edgekit.device.profiles import get

    if runtime is not None and runtime not in RUNTIMES:
        raise ConfigError(f"unknown runtime; got: {runtime}; valid: {', '.join(RUNTIMES)}")
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
        rt = runtime or default_runtime(cost.format, prec, profile)
        if cost.format in FORMAT_RUNTIMES and rt not in FORMAT_RUNTIMES[cost.format]:
            raise ConfigError(
                f"{rt} does not load {cost.format} models; got: --runtime {rt}; "
                f"valid: {', '.join(FORMAT_RUNTIMES[cost.format])}"
            )
        if rt == "edgetpu" and prec != "int8":
            raise ConfigError(f"the Edge TPU runs full-integer models only; got: {prec}")
        unit = unit_for(profile, rt, prec, threads)
    except EdgeKitError as e:
        return Estimate(profile.id, runtime, prec, threads, None, None, None, "", error=str(e))
    n = unit.threads or None
    obs = Observation(profile.id, rt, prec, n, cost, Path(cost.source).name)
    model = current_fit()
    if model.counts.get((profile.id, rt, "user")):
        obs.bench = "user"
    ms = model.predict(obs)
    return Estimate(
        profile.id, rt, prec, n, round(ms, 3), round(ms * model.low, 3),
        round(ms * model.high, 3), basis(model, profile.id, rt),
        f"{unit.name} {unit.precision}" + (f" ({unit.note})" if unit.note else ""),
    )  # fmt: skip


def default_runtime(fmt: str, precision: str, profile) -> str:
    """The runtime the format and the profile imply: the profile's recommendation when it can
    load the format, else the first of the format's runtimes the device has."""
    choices = [r for r in FORMAT_RUNTIMES.get(fmt, RUNTIMES) if r in profile.runtimes]
    if precision != "int8":
        choices = [r for r in choices if r != "edgetpu"]
    else:  # GPU delegates dequantize integer models: the CPU is the better default
        choices = [r for r in choices if r not in ("tflite-gpu", "ncnn-vulkan")] or choices
    rec = profile.recommended.runtime
    if rec in choices and not (rec == "edgetpu" and precision != "int8"):
        return rec
    if not choices:
        raise ConfigError(
            f"{profile.id} has no runtime for {fmt} models; got: {fmt}; it runs "
            f"{', '.join(profile.runtimes)}: convert to a format one of those loads"
        )
    return choices[0]


def basis(model: Fit, device: str, runtime: str) -> str:
    """What the figure rests on, in words."""
    pub = model.counts.get((device, runtime), 0)
    user = model.counts.get((device, runtime, "user"), 0)
    if user:
        return f"{user} of your measurements + {_rows(pub)} for {device}/{runtime}"
    if pub:
        return f"{_rows(pub)} for {device}/{runtime}"
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

    import math

    mine = peak(device)
    return min(others, key=lambda d: abs(math.log(peak(d) / mine)))


@functools.lru_cache(maxsize=1)
def _published_fit() -> Fit:
    return fit(list(published_observations()))


def current_fit() -> Fit:
    """The published fit, refitted with the user's calibration rows when there are any."""
    from edgekit.estimate.calibrate import user_observations

    mine = user_observations()
    if not mine:
        return _published_fit()
    base = _published_fit()
    model = fit(list(published_observations()) + mine, interval=False)
    model.low, model.high = base.low, base.high
    for o in mine:
        key = (o.device, o.runtime, "user")
        model.counts[key] = model.counts.get(key, 0) + 1
    return model


def _norm(precision: str) -> str:
    """A recipe precision (int8-io, uint8-io, dynamic-int8, palettize4...) as fp32/fp16/int8."""
    p = precision.lower()
    return "int8" if "int8" in p or "palett" in p else "fp16" if "16" in p else "fp32"


def _rows(n: int) -> str:
    return f"{n} published row" + ("" if n == 1 else "s")
