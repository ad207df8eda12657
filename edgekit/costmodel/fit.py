"""Efficiency factors fitted on measurements: log(latency / roofline) as a sum of shrunken
effects and a few covariates, each standing for a documented effect of the runtimes and chips.

- runtime, device, device x runtime, runtime x precision, benchmark table: what one setup
  reaches of its roofline.
- runtime x CPU class (`cpu_class`): one runtime's kernels differ by instruction set (ONNX
  Runtime's MLAS has fewer tuned Arm kernels than x86 ones; XNNPACK and ncnn use dotprod/i8mm
  for int8 where the cores have it, https://github.com/google/XNNPACK, ncnn's benchmark
  README). This is what carries over to a device never seen.
- runtime x accelerator family (`ACCELERATOR_FAMILIES`): a GPU or NPU path's kernels are
  written per vendor (Adreno, Mali, Ampere...), so the family carries over too.
- thread scaling per runtime: the log of the CPU share the threads reach; a runtime whose
  parallel efficiency is below one gets a coefficient below one.
- depthwise share, model size and a size elasticity per runtime and table (fixed overheads
  make small models relatively slow).

A ridge penalty per level shrinks an effect toward zero when it rests on few rows, so a setup
never seen falls back to what its runtime does elsewhere, on that CPU class or accelerator
family, and what the device does with other runtimes. The link time of an off-chip accelerator
(`roofline.Parts.link_s`) is physics and is added after the fitted factor, not scaled by it.

Intervals come from held-out errors of the situation an estimate is in (`TIERS`): a device and
runtime with published rows, or a runtime with rows on other devices only (leave-one-model-out
errors of rows in that situation: the model is new to the fit, the runtime is not), a runtime
with no published row anywhere (leave-one-runtime-out), a device never seen
(leave-one-device-out).

Example:
    >>> model = fit(list(published_observations()))
    >>> model.predict(obs), model.interval(obs)
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field

import numpy as np

from edgekit.costmodel.cores import usable_isa
from edgekit.costmodel.ops import ModelCost, OpKind
from edgekit.costmodel.roofline import Parts, depthwise_share, parts

# ridge penalty per effect level: larger = more shrinkage. Chosen by a random search on the
# leave-one-bench-table-out split of the published rows (median APE 35% -> 32%), never on the
# three splits benchmarks/estimate_accuracy.py reports.
PENALTY = {"rt": 0.5, "dev": 1.0, "dev|rt": 2.0, "rt|prec": 0.6, "rt|cpu": 1.0, "rt|acc": 1.0,
           "acc": 1.0, "dw|rt": 3.0, "ai|rt": 1.0, "ew|rt": 3.0, "opsize|rt": 0.3, "bench": 0.3,
           "dev|rt|bench": 0.3, "cov": 0.03, "share": 1.0, "slope": 1.0}  # fmt: skip
COVERAGE = 0.80
MIN_PAIR_ROWS = 5  # a device/runtime pair with this many rows is "measured" (tier "pair")
# tier -> the held-out split whose errors size its interval, taken from the rows of that split
# that were in the same tier when held out. "runtime" (the runtime has rows, none or few on this
# device) is what a new model meets there: leave-one-model-out rows in that tier, not the
# leave-one-runtime-out errors of a runtime the fit never saw ("new-runtime")
TIERS = {
    "pair": "model",
    "runtime": "model",
    "new-runtime": "runtime",
    "device": "device",
}
# accelerator families by name: kernels are written per vendor architecture
ACCELERATOR_FAMILIES = (
    ("adreno", "adreno"), ("mali", "mali"), ("immortalis", "mali"), ("ampere", "nvidia"),
    ("maxwell", "nvidia"), ("nvdla", "nvidia-dla"), ("arc", "intel-gpu"), ("uhd", "intel-gpu"),
    ("apple", "apple-gpu"), ("neural engine", "apple-ane"), ("videocore", "videocore"),
    ("edge tpu", "edgetpu"), ("hexagon", "hexagon"), ("tensor", "google-tpu"),
    ("apu", "mediatek-apu"),
)  # fmt: skip


def cpu_class(profile) -> str:
    """A CPU's instruction-set class: what decides which kernels a runtime has for it."""
    isa = usable_isa(profile.cpu)
    if profile.cpu.arch == "x86_64":
        return "x86-avx512" if "avx512f" in isa else "x86-avx2" if "avx2" in isa else "x86-sse"
    if "i8mm" in isa:
        return "arm-i8mm"
    if "asimddp" in isa:
        return "arm-dotprod"
    return "arm-fp16" if "asimdhp" in isa else "arm-v8.0"


def _intensity(cost: ModelCost) -> float:
    """log10 of MACs per byte moved, centred: how compute-bound the model is."""
    return float(np.log10(max(cost.macs, 1) / max(cost.bytes, 1)) - 1.0)


def _elementwise_share(cost: ModelCost) -> float:
    """Share of the model's bytes moved by elementwise ops."""
    ew = sum(o.bytes for o in cost.ops if o.kind == OpKind.ELEMENTWISE)
    return ew / max(cost.bytes, 1)


def accelerator_family(name: str) -> str:
    low = name.lower()
    return next((fam for key, fam in ACCELERATOR_FAMILIES if re.search(rf"\b{key}", low)), "other")


@dataclass
class Observation:
    """One measured (or to-be-predicted) latency with what it ran on."""

    device: str
    runtime: str
    precision: str
    threads: int | None
    cost: ModelCost
    model: str
    latency_ms: float = float("nan")
    bench: str = ""
    _parts: Parts | None = field(default=None, repr=False)
    _features: dict | None = field(default=None, repr=False)

    @property
    def family(self) -> str:
        """The architecture without its input size: what leave-one-model-out holds out."""
        return self.model.split("@")[0]

    def parts(self) -> Parts:
        if self._parts is None:
            from edgekit.device.profiles import get

            profile = get(self.device)
            self._parts = parts(self.cost, profile, self.runtime, self.precision, self.threads)
            self._cpu, self._acc = cpu_class(profile), ""
            if self._parts.unit.kind != "cpu":
                self._acc = accelerator_family(self._parts.unit.name)
        return self._parts

    def base_ms(self) -> float:
        """Roofline ms that the fitted efficiency scales."""
        return self.parts().base_s * 1e3

    def link_ms(self) -> float:
        """Ms over an off-chip accelerator's link: added, never scaled."""
        return self.parts().link_s * 1e3

    def features(self) -> dict[str, float]:
        """The row's covariates and effect indicators (computed once: they do not depend on
        the fit)."""
        if self._features is None:
            self._features = self._compute_features()
        return self._features

    def _compute_features(self) -> dict[str, float]:
        p = self.parts()
        rt = self.runtime
        f = {
            "cov:dw": depthwise_share(self.cost),
            "cov:log_macs": float(np.log10(max(self.cost.macs, 1)) - 8.5),
            f"rt:{rt}": 1.0,
            f"dev:{self.device}": 1.0,
            f"dev|rt:{self.device}|{rt}": 1.0,
            f"rt|prec:{rt}|{self.precision}": 1.0,
        }
        # depthwise kernels differ most between runtimes (little reuse per byte), and so does
        # what a runtime makes of dense arithmetic (Winograd for 3x3 convs in ncnn, cuDNN)
        f[f"dw|rt:{rt}"] = f["cov:dw"]
        f[f"ai|rt:{rt}"] = _intensity(self.cost)
        # elementwise ops (residual adds, swish, squeeze-excite): fused or not, per runtime
        f[f"ew|rt:{rt}"] = _elementwise_share(self.cost)
        # small ops reach less of the peak: every op pays a dispatch and, on a CPU, a thread
        # barrier (XNNPACK and ncnn split each op across threads)
        per_op = max(self.cost.macs, 1) / max(len(self.cost.ops), 1)
        f[f"opsize|rt:{rt}"] = float(np.log10(per_op) - 7)
        if p.unit.kind == "cpu":
            share = float(np.log(p.unit.core_fraction))
            f["cov:log_share"] = share
            f[f"share:{rt}"] = share
            f[f"rt|cpu:{rt}|{self._cpu}|{self.precision}"] = 1.0
        else:
            f[f"acc:{self._acc}"] = 1.0  # the family's speed against its peak, any runtime
            f[f"rt|acc:{rt}|{self._acc}"] = 1.0
        slope = float(np.log(self.base_ms() / 10.0))  # size elasticity, centred at 10 ms
        f[f"slope:{rt}"] = slope
        if self.bench:  # one table's setup (its harness, its versions); no size term of its
            # own: a table of two or three models cannot pin one down
            f[f"bench:{self.bench}"] = 1.0
            f[f"dev|rt|bench:{self.device}|{rt}|{self.bench}"] = 1.0
        return f


@dataclass
class Fit:
    """Fitted effects, what they were fitted on, and the interval factors per tier."""

    columns: dict[str, int]
    beta: np.ndarray
    intercept: float
    counts: dict[tuple, int] = field(default_factory=dict)  # (device, runtime) -> rows
    devices: set[str] = field(default_factory=set)
    runtimes: set[str] = field(default_factory=set)
    intervals: dict[str, tuple[float, float]] = field(default_factory=dict)

    def log_ratio(self, obs: Observation) -> float:
        f = obs.features()
        return self.intercept + sum(
            v * self.beta[self.columns[k]] for k, v in f.items() if k in self.columns
        )

    def predict(self, obs: Observation) -> float:
        """Estimated latency in ms."""
        return obs.base_ms() * float(np.exp(self.log_ratio(obs))) + obs.link_ms()

    def tier(self, obs: Observation) -> str:
        """How much the fit knows of this setup: "pair", "runtime", "new-runtime" or "device"."""
        if obs.device not in self.devices:
            return "device"
        if obs.runtime not in self.runtimes:
            return "new-runtime"
        pair = self.counts.get((obs.device, obs.runtime), 0)
        return "pair" if pair >= MIN_PAIR_ROWS else "runtime"

    def interval(self, obs: Observation) -> tuple[float, float]:
        """(low, high) factors of the ~80% interval for this setup's tier."""
        return self.intervals.get(self.tier(obs), (1.0, 1.0))


def fit(obs: list[Observation], *, interval: bool = True) -> Fit:
    """Fit the effects; with `interval`, size each tier's interval by held-out errors of the
    matching split (each group's rows predicted by a fit without that group)."""
    model = solve(obs)
    if interval:
        model.intervals = tier_intervals(obs)
    return model


def tier_intervals(obs: list[Observation]) -> dict[str, tuple[float, float]]:
    """Interval factors per tier from the held-out errors of its split; "pair" from the
    rows that were in a measured pair when held out."""
    q = (1 - COVERAGE) / 2
    out = {}
    for tier, split in TIERS.items():
        rows = held_out(obs, split)
        errs = [e for _, _, e, t in rows if t == tier] or [e for _, _, e, _ in rows]
        if len(errs) >= 5:
            out[tier] = tuple(float(np.exp(np.quantile(errs, p))) for p in (q, 1 - q))
    return out


def group_key(split: str):
    return {
        "model": lambda o: o.family,
        "device": lambda o: o.device,
        "runtime": lambda o: o.runtime,
        "bench": lambda o: o.bench,
    }[split]


def held_out(obs: list[Observation], split: str) -> list[tuple[Observation, float, float, str]]:
    """(row, prediction ms, log error, tier) for every row, from a fit without its group."""
    key = group_key(split)
    out = []
    for g in sorted({key(o) for o in obs}):
        train = [o for o in obs if key(o) != g]
        if not train:
            continue
        fitted = solve(train)
        for o in obs:
            if key(o) == g:
                p = fitted.predict(o)
                out.append((o, p, float(np.log(o.latency_ms / p)), fitted.tier(o)))
    return out


def lomo_errors(obs: list[Observation]) -> list[tuple[Observation, float, float]]:
    """(row, prediction ms, log error) for every row, from a fit that never saw its model."""
    return [(o, p, e) for o, p, e, _ in held_out(obs, "model")]


def solve(obs: list[Observation]) -> Fit:
    """The ridge fit of the effects on `obs` (no intervals)."""
    feats = [o.features() for o in obs]
    names = sorted({k for f in feats for k in f})
    columns = {k: i for i, k in enumerate(names)}
    x = np.zeros((len(obs), len(names)))
    for i, f in enumerate(feats):
        for k, v in f.items():
            x[i, columns[k]] = v
    y = np.array([np.log(_scaled_part(o) / o.base_ms()) for o in obs])
    mu = float(np.median(y))
    lam = np.array([PENALTY[k.split(":")[0]] for k in names])
    # ridge in its dual form (rows < columns): beta = L^-1 X' (X L^-1 X' + I)^-1 (y - mu),
    # the same as (X'X + L)^-1 X'(y - mu) with an n x n solve instead of a p x p one
    xl = x / lam
    beta = xl.T @ np.linalg.solve(xl @ x.T + np.eye(len(obs)), y - mu)
    counts: dict[tuple, int] = {}
    for o in obs:
        if o.bench != "user":  # the user's rows are counted apart (calibrate.current_fit)
            counts[(o.device, o.runtime)] = counts.get((o.device, o.runtime), 0) + 1
    devices, runtimes = {o.device for o in obs}, {o.runtime for o in obs}
    return Fit(columns, beta, mu, counts=counts, devices=devices, runtimes=runtimes)


def _scaled_part(o: Observation) -> float:
    """The measured ms the fitted factor explains: the latency less the link time (kept above
    a fifth of the latency, so a link estimate above the measurement cannot flip the sign)."""
    return max(o.latency_ms - o.link_ms(), 0.2 * o.latency_ms)


@functools.lru_cache(maxsize=1)
def published_observations() -> tuple[Observation, ...]:
    """The published rows as observations (costs at the row's precision)."""
    from edgekit.costmodel.published import model_table, rows

    table = model_table()
    return tuple(
        Observation(
            r.device,
            r.runtime,
            r.precision,
            r.threads,
            table[r.model].at(r.precision),
            r.model,
            r.latency_ms,
            r.bench,
        )  # fmt: skip
        for r in rows()
    )
