"""The float/int8 mix search behind `--max-drop`, the same for every format.

A format gives candidate units (an op, or an op with the ops that read its output) and an
`evaluate(float_names)` that makes the artifact with those ops in float and scores it on
the validation set. The search:

1. plain int8 (every unit quantized); done if it holds the budget;
2. ranks units by their MEASURED effect: each unit alone in float, scored (accuracy, then
   the mean squared output error against the float model, which separates ties that 200
   images cannot); at most `rank_limit` units are measured, in the format's own proxy
   order, the rest follow in that order;
   (if one unit alone in float holds the budget, that is the answer);
3. the far end: the first `limit` ranked units in float (`--max-float`; default all, the
   all-float end that always holds). If that misses, no mix within the limit does;
4. bisection over the ranked prefix for the fewest units that hold the budget;
5. greedy refinement: each chosen unit, least useful first, goes back to int8 when the
   mix still holds without it (at most `refine` tries).

Evaluations: 1 + min(units, rank_limit) + 1 + log2(limit) + refine, said in the result.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np

Progress = Callable[[str], None]


@dataclass
class Trial:
    """One evaluated mix: the ops in float, its scores, the artifact (bytes, a model...)."""

    floats: list[str]
    accuracy: float
    error: float
    artifact: object = None


@dataclass
class BudgetResult:
    """What the search reached for one format. `tries` has accuracy against the number of
    float layers for every mix evaluated; `samples_per_point` is how many validation
    samples one accuracy point is (below that, a difference is one image)."""

    format: str
    path: str
    max_drop: float  # accuracy points
    reference_accuracy: float  # the float model on the validation set
    plain_accuracy: float  # every layer int8
    accuracy: float  # the artifact written
    float_layers: list[str]
    quantized_layers: int
    met: bool
    tries: list[dict] = field(default_factory=list)
    samples: int = 0
    evaluations: int = 0
    method: str = ""

    @property
    def drop(self) -> float:
        return 100 * (self.reference_accuracy - self.accuracy)

    @property
    def samples_per_point(self) -> float:
        return self.samples / 100

    def to_dict(self) -> dict:
        d = asdict(self)
        return {**d, "drop": round(self.drop, 3), "samples_per_point": self.samples_per_point}


def met(ref: float, acc: float, max_drop: float) -> bool:
    """Is `acc` within `max_drop` accuracy points of `ref` (both fractions)?"""
    return 100 * (ref - acc) <= max_drop + 1e-9


def scores(out, y: np.ndarray, reference: np.ndarray) -> tuple[float, float]:
    """(top-1 accuracy, mean squared error against the float model's outputs)."""
    out = np.asarray(out[0] if isinstance(out, list) else out, np.float64)
    return float(np.mean(out.argmax(-1) == y)), float(np.mean((out - reference) ** 2))


@dataclass
class Search:
    """The search over one format's units; `run()` returns the trial to write."""

    units: list[list[str]]  # each unit: op names floated together, proxy order
    evaluate: Callable[[list[str]], Trial]
    ref: float
    max_drop: float
    limit: int | None = None  # most units in float
    say: Progress = print
    fmt: str = ""
    rank_limit: int = 40
    refine: int = 8
    tries: list[dict] = field(default_factory=list)
    trials: list[Trial] = field(default_factory=list)

    def run(self) -> Trial:
        plain = self._try([], "plain int8")
        if self._met(plain) or self.limit == 0:
            return plain
        ranked = self._rank()
        if any(self._met(t) for t in self.trials):  # one unit alone in float is enough
            return self.best()
        limit = len(ranked) if self.limit is None else min(self.limit, len(ranked))
        end = self._try(self._names(ranked[:limit]), f"first {limit} ranked in float")
        if not self._met(end) or limit == 0:
            return self.best()
        lo, hi = 0, limit  # plain misses, `limit` holds
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if self._met(self._try(self._names(ranked[:mid]), "bisection")):
                hi = mid
            else:
                lo = mid
        self._refine(ranked[:hi])
        return self.best()

    def best(self) -> Trial:
        """The met trial with the fewest float ops (then the most accurate), else the most
        accurate trial."""
        held = [t for t in self.trials if self._met(t)]
        if held:
            return min(held, key=lambda t: (len(t.floats), -t.accuracy, t.error))
        return max(self.trials, key=lambda t: (t.accuracy, -t.error))

    def _rank(self) -> list[list[str]]:
        measured = self.units[: self.rank_limit]
        self.say(f"{self.fmt}: ranking {len(measured)} of {len(self.units)} units by their "
                 "measured effect (each alone in float)")  # fmt: skip
        gain = {}
        for i, unit in enumerate(measured):
            t = self._try(list(unit), "ranking", quiet=True)
            gain[i] = (t.accuracy, -t.error)
        order = sorted(range(len(measured)), key=lambda i: gain[i], reverse=True)
        return [measured[i] for i in order] + self.units[self.rank_limit :]

    def _refine(self, chosen: list[list[str]]) -> None:
        keep = list(chosen)
        for unit in list(reversed(chosen))[: self.refine]:
            if len(keep) <= 1:
                break
            trial_units = [u for u in keep if u is not unit]
            if self._met(self._try(self._names(trial_units), "refine")):
                keep = trial_units

    def _names(self, units: list[list[str]]) -> list[str]:
        return list(dict.fromkeys(n for unit in units for n in unit))

    def _try(self, floats: list[str], phase: str, quiet: bool = False) -> Trial:
        t = self.evaluate(floats)
        t.floats = list(floats)
        self.trials.append(t)
        self.tries.append({"float_layers": len(floats), "accuracy": t.accuracy,
                           "error": t.error, "phase": phase})  # fmt: skip
        if not quiet:
            self.say(f"{self.fmt}: {len(floats)} ops in float ({phase}) -> accuracy "
                     f"{100 * t.accuracy:.2f}%")  # fmt: skip
        # keep only the artifacts that can still be chosen: memory stays at two
        best = self.best()
        for other in self.trials:
            if other is not best and other is not t:
                other.artifact = None
        return t

    def _met(self, t: Trial) -> bool:
        return met(self.ref, t.accuracy, self.max_drop)

    @property
    def evaluations(self) -> int:
        return len(self.trials)


def most_evaluations(units: int, limit: int | None, rank_limit: int = 40, refine: int = 8) -> int:
    """The bound on evaluations the module docstring gives, for the progress line."""
    lim = units if limit is None else min(limit, units)
    return 2 + min(units, rank_limit) + math.ceil(math.log2(max(lim, 1))) + refine
