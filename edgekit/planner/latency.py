"""A candidate's latency on a target: measured here (`local`), measured on the device when
`--on` reaches it, else estimated from the artifact with the estimate's interval; and the
screening estimate from the Keras variant, made before anything is converted."""

from __future__ import annotations

from dataclasses import dataclass

from edgekit.errors import EdgeKitError
from edgekit.planner.space import BUDGETED, LOCAL, Candidate, Target

RUNS = 50  # timed runs per measurement (after 5 warm-up runs)


@dataclass
class Latency:
    """One latency figure with its interval and what it rests on."""

    ms: float | None
    low_ms: float | None
    high_ms: float | None
    basis: str  # measured | estimated
    detail: str = ""  # the estimate's basis, or how it was measured
    error: str | None = None

    @property
    def bound_ms(self) -> float | None:
        """What a budget is checked against: the upper bound of an estimate, the median of a
        measurement."""
        return self.high_ms if self.basis == "estimated" else self.ms


def of_artifact(target: Target, cand: Candidate, artifact: str, *, runs: int = RUNS) -> Latency:
    """Measure or estimate a converted candidate on `target`."""
    try:
        if target.id == LOCAL:
            return _local(artifact, cand.threads, runs)
        if target.on:
            return _remote(target.on, artifact, cand.threads, runs)
        return _estimated(artifact, target, cand.threads)
    except EdgeKitError as e:
        return Latency(None, None, None, target.basis, error=" ".join(str(e).split())[:300])


def _local(artifact: str, threads, runs: int) -> Latency:
    from edgekit.bench import benchmark

    r = benchmark(artifact, threads=threads, runs=runs, warmup=5)
    return Latency(r.p50_ms, r.min_ms, r.p90_ms, "measured",
                   f"p50 of {r.runs} runs here ({r.runtime})")  # fmt: skip


def _remote(url: str, artifact: str, threads, runs: int) -> Latency:
    from edgekit.device.remote import bench_on

    outcome = bench_on([url], artifact, threads=threads, runs=runs, warmup=5)[0]
    r = outcome.result
    if r is None or outcome.error:
        return Latency(None, None, None, "measured", error=outcome.error or "no result")
    return Latency(r.p50_ms, r.min_ms, r.p90_ms, "measured", f"p50 of {r.runs} runs on {url}")


def _estimated(artifact: str, target: Target, threads) -> Latency:
    from edgekit.costmodel.estimator import estimate

    e = estimate(artifact, [target.profile.id], threads=threads)[0]
    if e.error:
        return Latency(None, None, None, "estimated", error=e.error)
    return Latency(e.latency_ms, e.low_ms, e.high_ms, "estimated", f"{e.runtime}: {e.basis}")


def arithmetic(precision: str) -> str:
    """The arithmetic an estimate of a Keras model assumes for a precision of the registry:
    int8 for any integer mix or weight palette, fp16 for half floats, else fp32."""
    p = precision.lower()
    if "int8" in p or "int16" in p or p.startswith("palett") or p == BUDGETED:
        return "int8"
    return "fp16" if p in ("fp16", "bf16") else "fp32"


def screen(target: Target, cand: Candidate, cost) -> Latency:
    """The estimate of a candidate from its Keras variant's costs (`model_costs`), on the
    target's profile (`local`: this architecture's generic profile), with the runtime the
    format and precision imply there."""
    from edgekit.costmodel.choice import default_runtime
    from edgekit.costmodel.estimator import estimate

    arith = arithmetic(cand.precision)
    try:
        rt = default_runtime(cand.format, arith, target.profile)
        e = estimate(cost, [target.profile.id], runtime=rt, precision=arith,
                     threads=cand.threads)[0]  # fmt: skip
    except EdgeKitError as err:
        return Latency(None, None, None, "estimated", error=" ".join(str(err).split())[:300])
    if e.error:
        return Latency(None, None, None, "estimated", error=e.error)
    return Latency(e.latency_ms, e.low_ms, e.high_ms, "estimated", f"{rt}: {e.basis}")
