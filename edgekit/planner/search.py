"""The search of one target's space: screen every candidate by an estimate made from its
Keras variant, then let Optuna (multi-objective TPE: latency down, accuracy up, with the two
budgets as constraints) choose which of the rest to convert and measure, a batch at a time.

The reference candidate (the first format at fp32, unpruned, the model's own size) and the
few that the screening estimate calls fastest go first; every other choice is Optuna's.
Candidates that the screen rules out are told to Optuna as infeasible at no cost.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field

from edgekit._deps import need
from edgekit.planner.latency import Latency
from edgekit.planner.space import Candidate, Space

log = logging.getLogger(__name__)
SEEDED = 3  # candidates the screening estimate calls fastest, tried right after the reference
IDLE_ASKS = 200  # Optuna proposals in a row that were all seen before: the search stops


@dataclass
class Point:
    """One candidate on one target: its latency, accuracy and artifact (or why not)."""

    candidate: Candidate
    latency: Latency
    accuracy: float | None = None
    drop: float | None = None  # points below the original model on --val
    accuracy_basis: str | None = None
    artifact: str | None = None
    stage: str = "evaluated"  # evaluated | screened (ruled out unconverted: the estimate, or
    # a variant that already lost more than --max-drop)
    error: str | None = None
    variant: str | None = None  # the pruned/resized Keras model it was converted from

    def meets(self, budget_ms: float, max_drop: float | None) -> bool:
        bound = self.latency.bound_ms
        if self.error or bound is None or bound > budget_ms:
            return False
        return max_drop is None or (self.drop is not None and self.drop <= max_drop + 1e-9)

    def to_dict(self) -> dict:
        lat = self.latency
        return {
            **self.candidate.to_dict(),
            "latency_ms": _r(lat.ms), "latency_low_ms": _r(lat.low_ms),
            "latency_high_ms": _r(lat.high_ms), "basis": lat.basis,
            "latency_basis": lat.detail, "accuracy": _r(self.accuracy, 4),
            "accuracy_drop": _r(self.drop, 3), "accuracy_basis": self.accuracy_basis,
            "artifact": self.artifact, "stage": self.stage, "error": self.error or lat.error,
        }  # fmt: skip


@dataclass
class Outcome:
    """What the search of one target saw."""

    points: list[Point]
    screened: int  # candidates ruled out by the estimate alone
    space: int
    asked: int = 0
    notes: list[str] = field(default_factory=list)


def run(
    space: Space,
    *,
    screen: Callable[[Candidate], Latency],
    evaluate: Callable[[list[Candidate]], list[Point]],
    budget_ms: float,
    max_drop: float | None,
    trials: int | None = None,
    batch: int = 2,
    seed: int = 0,
    reference: Candidate,
    measured: bool = False,
    built: Callable[[tuple], bool] = lambda build: False,
    variant_miss: Callable[[Candidate], tuple[float, float] | None] = lambda c: None,
) -> Outcome:
    """Search one target. `screen` estimates a candidate before conversion; `evaluate`
    converts and measures a batch; `trials` caps the artifacts converted (default: a fifth
    of the builds the screen keeps, at least 8). A converted artifact is timed at every
    thread count of the space: a timed run costs little beside a conversion. A batch holds
    `batch` conversions still to make (`built` tells those already made, e.g. the
    reference), so that no worker waits idle beside one long conversion. A candidate whose
    pruned or resized Keras variant already lost more than --max-drop (`variant_miss` gives
    its accuracy and drop once one build of it is scored) is ruled out unconverted: no
    precision of it wins the points back."""
    optuna = need("optuna", what="edgekit plan")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    cands = space.candidates()
    estimates = {c: screen(c) for c in cands}
    kept = [c for c in cands if _possible(estimates[c], budget_ms, measured)]
    builds = {c.build for c in kept}
    limit = min(len(builds), trials or max(8, math.ceil(len(builds) / 5)))
    sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=max(4, limit // 3))
    study = optuna.create_study(directions=["minimize", "maximize"], sampler=sampler)
    for c in _first(reference, kept, estimates):
        study.enqueue_trial(_params(c))
    done: dict[Candidate, Point] = {}
    asked, idle = 0, 0  # idle: asks in a row that brought nothing new (the space is spent)
    while _evaluated(done) < limit and idle < IDLE_ASKS:
        trials_, fresh = [], []
        while _new(fresh, done, built) < batch and idle < IDLE_ASKS:
            trial = study.ask()
            asked += 1
            cand = _candidate(trial, space)
            trials_.append((trial, cand))
            if cand in done or cand in fresh:
                idle += 1
                continue
            idle = 0
            miss = variant_miss(cand) if cand != reference else None
            if miss is not None:
                done[cand] = Point(cand, estimates[cand], *miss, stage="screened")
            elif cand in kept or cand == reference:  # the reference is measured anyway: what
                fresh.append(cand)  # a miss is told against, and often the closest one
            else:
                done[cand] = Point(cand, estimates[cand], stage="screened",
                                   error=estimates[cand].error)  # fmt: skip
            if _evaluated(done) + _new(fresh, done) >= limit:
                break
        # the other thread counts of an artifact cost a timed run, not a conversion: all are
        # tried, screened or not (thread scaling is what an estimate knows least: a tiny model
        # can run faster on one thread than on two)
        twins = [t for c in fresh for t in cands if t.build == c.build and t not in fresh]
        for point in evaluate(fresh + [t for t in dict.fromkeys(twins) if t not in done]):
            done[point.candidate] = point
        for trial, cand in trials_:
            _tell(study, trial, done[cand], budget_ms, max_drop)
    screened = [Point(c, estimates[c], stage="screened", error=estimates[c].error)
                for c in cands if c not in kept and c not in done]  # fmt: skip
    return Outcome(list(done.values()) + screened, len(cands) - len(kept), len(cands), asked)


def _possible(est: Latency, budget_ms: float, measured: bool) -> bool:
    """Ruled out when even the estimate's low end misses the budget. Without an estimate
    (the estimator cannot run it there) a measured target keeps it, an estimated one not."""
    if est.low_ms is None:
        return measured
    return est.low_ms <= budget_ms


def _first(reference: Candidate, kept: list[Candidate], estimates) -> list[Candidate]:
    """The reference, then the fastest by estimate, one per format and precision."""
    out, builds = [reference], {reference.build[:2]}
    for c in sorted(kept, key=lambda c: estimates[c].ms or math.inf):
        if len(out) > SEEDED:
            break
        if c.build[:2] not in builds:
            out.append(c)
            builds.add(c.build[:2])
    return out


def _params(c: Candidate) -> dict:
    return {"format": c.format, f"precision:{c.format}": c.precision, "prune": c.prune,
            "input_size": _opt(c.input_size), "threads": _opt(c.threads)}  # fmt: skip


def _candidate(trial, space: Space) -> Candidate:
    fmt = trial.suggest_categorical("format", list(space.precisions))
    prec = trial.suggest_categorical(f"precision:{fmt}", space.precisions[fmt])
    prune = trial.suggest_categorical("prune", space.prunes)
    size = trial.suggest_categorical("input_size", [_opt(s) for s in space.sizes])
    threads = trial.suggest_categorical("threads", [_opt(t) for t in space.threads])
    return Candidate(fmt, prec, prune, size or None, threads or None)


def _opt(v: int | None) -> int:
    """Optuna's categorical choices cannot be None: 0 stands for 'the default'."""
    return v or 0


def _evaluated(done: dict) -> int:
    """Artifacts converted so far (a build timed at several thread counts counts once)."""
    return len({p.candidate.build for p in done.values() if p.stage == "evaluated"})


def _new(fresh: list[Candidate], done: dict, built=lambda build: False) -> int:
    """Conversions a batch adds: builds of `fresh` not evaluated yet (nor made before)."""
    seen = {p.candidate.build for p in done.values() if p.stage == "evaluated"}
    return len({c.build for c in fresh if c.build not in seen and not built(c.build)})


def _tell(study, trial, p: Point, budget_ms: float, max_drop: float | None) -> None:
    """Objectives (latency, accuracy) and constraints (<= 0 is met): the latency bound over
    the budget, the drop over --max-drop. A candidate without numbers is infeasible."""
    bound = p.latency.bound_ms
    lat = bound if bound is not None else 10 * budget_ms
    acc = p.accuracy if p.accuracy is not None else 0.0
    over = lat - budget_ms if not p.error else budget_ms
    drop = (p.drop if p.drop is not None else 100.0) - max_drop if max_drop is not None else 0.0
    trial.set_constraint("latency", over)
    trial.set_constraint("accuracy", drop)
    study.tell(trial, [lat, acc])


def _r(v, digits: int = 4):
    return None if v is None else round(float(v), digits)
