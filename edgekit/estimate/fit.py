"""Efficiency factors fitted on measurements: log(latency / roofline) as a sum of shrunken
effects (runtime, device, device x runtime, runtime x precision, benchmark table) and a few
covariates (log of threads' share of the CPU, depthwise share, model size).

A ridge penalty per level shrinks an effect toward its parent when it rests on few rows, so a
device/runtime pair never seen falls back to what that runtime does elsewhere and what that
device does with other runtimes. The interval comes from leave-one-model-out errors.

Example:
    >>> model = fit(observations())
    >>> model.predict(obs)          # latency in ms
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np

from edgekit.estimate.costs import ModelCost
from edgekit.estimate.roofline import depthwise_share, roofline_seconds, unit_for

# ridge penalty per effect level: larger = more shrinkage toward the parent levels
# (chosen by leave-one-model-out error on the published rows, benchmarks/estimate_accuracy.py)
PENALTY = {"rt": 0.5, "dev": 1.0, "dev|rt": 2.0, "rt|prec": 2.0, "bench": 1.0, "dev|rt|bench": 1.0,
           "cov": 0.1, "slope": 1.0}  # fmt: skip
COVERAGE = 0.80


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
    _base: float | None = field(default=None, repr=False)

    @property
    def family(self) -> str:
        """The architecture without its input size: what leave-one-model-out holds out."""
        return self.model.split("@")[0]

    def base_ms(self) -> float:
        """Roofline time in ms on this device and runtime."""
        if self._base is None:
            from edgekit.device.profiles import get

            unit = unit_for(get(self.device), self.runtime, self.precision, self.threads)
            self._base = roofline_seconds(self.cost, unit, self.runtime) * 1e3
            self._fraction = unit.core_fraction
        return self._base

    def features(self) -> dict[str, float]:
        self.base_ms()
        f = {
            "cov:log_share": float(np.log(self._fraction)),
            "cov:dw": depthwise_share(self.cost),
            "cov:log_macs": float(np.log10(max(self.cost.macs, 1)) - 8.5),
            f"rt:{self.runtime}": 1.0,
            f"dev:{self.device}": 1.0,
            f"dev|rt:{self.device}|{self.runtime}": 1.0,
            f"rt|prec:{self.runtime}|{self.precision}": 1.0,
        }
        slope = float(np.log(self._base))  # size elasticity: overhead-bound setups scale < 1
        f[f"slope:{self.runtime}"] = slope
        if self.bench:
            f[f"bench:{self.bench}"] = 1.0
            f[f"slope:{self.bench}"] = slope
            f[f"dev|rt|bench:{self.device}|{self.runtime}|{self.bench}"] = 1.0
        return f


@dataclass
class Fit:
    """Fitted effects and the interval factors from held-out errors."""

    columns: dict[str, int]
    beta: np.ndarray
    intercept: float
    low: float = 1.0  # multiply the estimate by these for the ~80% interval
    high: float = 1.0
    counts: dict[tuple[str, str], int] = field(default_factory=dict)

    def log_ratio(self, obs: Observation) -> float:
        f = obs.features()
        return self.intercept + sum(
            v * self.beta[self.columns[k]] for k, v in f.items() if k in self.columns
        )

    def predict(self, obs: Observation) -> float:
        """Estimated latency in ms."""
        return obs.base_ms() * float(np.exp(self.log_ratio(obs)))


def fit(obs: list[Observation], *, interval: bool = True) -> Fit:
    """Fit the effects on observations; with `interval`, size the interval by leave-one-model-
    out errors (each model's rows predicted by a fit without it)."""
    model = _solve(obs)
    if interval and len({o.family for o in obs}) > 2:
        errors = np.array([e for _, _, e in lomo_errors(obs)])
        q = (1 - COVERAGE) / 2
        model.low, model.high = (float(np.exp(np.quantile(errors, p))) for p in (q, 1 - q))
    return model


def lomo_errors(obs: list[Observation]) -> list[tuple[Observation, float, float]]:
    """(row, prediction ms, log error) for every row, from a fit that never saw its model."""
    out = []
    for m in sorted({o.family for o in obs}):
        train = [o for o in obs if o.family != m]
        fitted = _solve(train)
        for o in obs:
            if o.family == m:
                p = fitted.predict(o)
                out.append((o, p, float(np.log(o.latency_ms / p))))
    return out


def _solve(obs: list[Observation]) -> Fit:
    feats = [o.features() for o in obs]
    names = sorted({k for f in feats for k in f})
    columns = {k: i for i, k in enumerate(names)}
    x = np.zeros((len(obs), len(names)))
    for i, f in enumerate(feats):
        for k, v in f.items():
            x[i, columns[k]] = v
    y = np.array([np.log(o.latency_ms / o.base_ms()) for o in obs])
    mu = float(np.median(y))
    lam = np.array([PENALTY[k.split(":")[0]] for k in names])
    beta = np.linalg.solve(x.T @ x + np.diag(lam), x.T @ (y - mu))
    counts: dict[tuple[str, str], int] = {}
    for o in obs:
        if o.bench != "user":  # the user's rows are counted apart (estimator.current_fit)
            counts[(o.device, o.runtime)] = counts.get((o.device, o.runtime), 0) + 1
    return Fit(columns, beta, mu, counts=counts)


@functools.lru_cache(maxsize=1)
def published_observations() -> tuple[Observation, ...]:
    """The published rows as observations (costs at the row's precision)."""
    from edgekit.estimate.published import model_table, rows

    table = model_table()
    return tuple(
        Observation(
            r.device,
            r.runtime,
            r.precision,
            r.threads,
            _at(table[r.model], r.precision),
            r.model,
            r.latency_ms,
            r.bench,
        )  # fmt: skip
        for r in rows()
    )


def _at(cost: ModelCost, precision: str) -> ModelCost:
    """Published fp32 costs stored at the row's precision (weights and activations)."""
    from edgekit.estimate.costs import PRECISION_BYTES, OpCost

    s = PRECISION_BYTES[precision] / 4
    ops = [OpCost(o.name, o.kind, o.macs, int(o.weight_bytes * s), int(o.act_bytes * s))
           for o in cost.ops]  # fmt: skip
    return ModelCost(cost.source, cost.format, precision, ops)
