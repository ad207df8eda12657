"""Pruning held to a budget (`edgekit prune --max-drop D`): the highest sparsity, up to the
one asked for, whose fine-tuned result stays within D points of the original.

Points are accuracy points when the scored data has labels, else top-1 agreement with the
original (100 x the fraction of inputs whose top-1 changed). The search fine-tunes the
sparsity asked for first; when that misses, it bisects between 0 (the original, which holds
any budget) and there, `steps` more runs, each fine-tuned from the original.

    >>> from edgekit.optimize import PruneConfig, prune_to_budget
    >>> r = prune_to_budget("model.keras", "images/", config=PruneConfig(sparsity=0.6), max_drop=2)
    >>> r.sparsity, r.tried
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable

from edgekit.errors import BudgetNotMetError, ConfigError
from edgekit.optimize import contained
from edgekit.optimize.prune import PruneConfig, PruneResult, prepare, prune_with

log = logging.getLogger(__name__)


def prune_to_budget(
    model,
    data,
    *,
    config: PruneConfig | None = None,
    max_drop: float = 1.0,
    steps: int = 3,
    val=None,
    labels=None,
    preprocess: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> PruneResult:
    """Prune at the highest sparsity (at most `config.sparsity`) that loses at most
    `max_drop` points; see the module docstring for the search.

    Args:
        model, data, val, labels, preprocess: as for `prune` (data is required).
        config: the pruning settings; its sparsity is the most the search tries.
        max_drop: points the result may lose (accuracy with labels, else agreement).
        steps: bisection runs after the first miss (each one fine-tune).

    Returns:
        PruneResult with `met=True` and `tried` (sparsity, drop, agreement of each run).

    Raises:
        BudgetNotMetError: no sparsity tried held the budget; `result` is the run that came
            closest (written by the CLI all the same).
        ConfigError: bad settings or data.
    """
    config = config or PruneConfig()
    return contained.run(_to_budget, model, data, trains=config.epochs > 0, progress=progress,
                         config=config, max_drop=max_drop, steps=steps, val=val, labels=labels,
                         preprocess=preprocess)  # fmt: skip


def _to_budget(model, data, *, config, max_drop, steps, val, labels, preprocess, progress):
    if max_drop < 0:
        raise ConfigError(f"--max-drop is in points and >= 0; got: {max_drop}")
    if data is None:
        raise ConfigError("--max-drop needs --data to fine-tune on (images are enough)")
    if config.m_n:
        raise ConfigError("--max-drop searches --sparsity; M:N sparsity has one level per N:M")
    say = progress or log.info
    prep = prepare(model, data, val=val, labels=labels, preprocess=preprocess)
    tried: list[PruneResult] = []

    def run(sparsity: float) -> PruneResult:
        r = prune_with(prep, dataclasses.replace(config, sparsity=round(sparsity, 4)), progress=say)
        tried.append(r)
        say(f"sparsity {100 * sparsity:.1f}%: lost {r.drop:.2f} points (budget {max_drop})")
        return r

    best = _search(run, config.sparsity, max_drop, steps)
    chosen = best or min(tried, key=lambda r: (r.drop, -r.sparsity))
    chosen.tried = [_row(r, max_drop) for r in tried]
    chosen.max_drop, chosen.met = max_drop, best is not None
    chosen.notes += prep.notes
    for note in prep.notes:
        log.warning(note)
    if best is None:
        raise BudgetNotMetError(
            f"no sparsity tried kept the loss within --max-drop {max_drop}; got: "
            f"{', '.join(f'{100 * r.sparsity:.0f}% -> {r.drop:.2f}' for r in tried)} points; "
            f"kept the closest ({100 * chosen.sparsity:.0f}%); raise --max-drop, add --data "
            "or --epochs, or prune less",
            chosen,
        )
    return chosen


def _search(run: Callable[[float], PruneResult], top: float, max_drop: float, steps: int):
    """The sparsest run within budget: `top` first, then bisection below it."""
    first = run(top)
    if _met(first, max_drop):
        return first
    lo, hi, best = 0.0, top, None
    for _ in range(steps):
        mid = (lo + hi) / 2
        r = run(mid)
        if _met(r, max_drop):
            lo, best = mid, r
        else:
            hi = mid
    return best


def _met(r: PruneResult, max_drop: float) -> bool:
    if r.drop is None:
        raise ConfigError("--max-drop needs scored data: the model's first output has no classes")
    return r.drop <= max_drop + 1e-9


def _row(r: PruneResult, max_drop: float) -> dict:
    return {
        "sparsity": round(r.sparsity, 4),
        "drop": r.drop,
        "agreement": r.agreement,
        "accuracy": r.accuracy_after,
        "met": r.drop is not None and r.drop <= max_drop + 1e-9,
    }
