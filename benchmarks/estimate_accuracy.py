"""Accuracy of `edgekit estimate` on the published latencies, leave-one-model-out.

Each model's rows (all input sizes of one architecture) are predicted by a fit that never saw
that model. The interval is checked the same way, nested: for each held-out model, its 80%
interval comes from the leave-one-model-out errors of the *other* models only, so no row helps
size its own interval. Median absolute percentage error per device, per runtime and overall.

Goal: median APE <= 20% overall, no device group above 35%, interval coverage 75-85%.

    .venv/bin/python benchmarks/estimate_accuracy.py [--rebuild-costs]

Writes results/estimate_accuracy.json and .csv (one row per published row) and prints the
tables. Pure arithmetic on committed data: no timing, so the machine does not matter.
"""

from __future__ import annotations

import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _common import save  # noqa: E402

from edgekit.estimate import fit as F  # noqa: E402
from edgekit.estimate.published import excluded  # noqa: E402


def nested_intervals(obs) -> dict[int, tuple[float, float]]:
    """Per row id: (low, high) factors from the LOMO errors of the other models."""
    q = (1 - F.COVERAGE) / 2
    out = {}
    for m in sorted({o.family for o in obs}):
        rest = [o for o in obs if o.family != m]
        errs = np.array([e for _, _, e in F.lomo_errors(rest)])
        lo, hi = np.exp(np.quantile(errs, q)), np.exp(np.quantile(errs, 1 - q))
        for o in obs:
            if o.family == m:
                out[id(o)] = (float(lo), float(hi))
    return out


def group_table(rows: list[dict], key: str) -> list[dict]:
    groups = defaultdict(list)
    for r in rows:
        groups[r[key]].append(r)
    return [
        {
            key: k,
            "rows": len(v),
            "mdape": float(np.median([r["ape"] for r in v])),
            "coverage": float(np.mean([r["inside"] for r in v])),
        }
        for k, v in sorted(groups.items())
    ]


def main() -> None:
    if "--rebuild-costs" in sys.argv:
        from edgekit.estimate.published import build_model_table

        build_model_table()
    obs = list(F.published_observations())
    intervals = nested_intervals(obs)
    rows = []
    for o, pred, _err in F.lomo_errors(obs):
        lo, hi = intervals[id(o)]
        rows.append({
            "device": o.device, "runtime": o.runtime, "precision": o.precision,
            "threads": o.threads, "model": o.model, "bench": o.bench,
            "measured_ms": o.latency_ms, "estimate_ms": round(pred, 3),
            "low_ms": round(pred * lo, 3), "high_ms": round(pred * hi, 3),
            "ape": abs(pred / o.latency_ms - 1), "inside": pred * lo <= o.latency_ms <= pred * hi,
        })  # fmt: skip
    overall = {
        "rows": len(rows),
        "models": len({o.family for o in obs}),
        "mdape": float(np.median([r["ape"] for r in rows])),
        "coverage": float(np.mean([r["inside"] for r in rows])),
        "excluded_rows": len(excluded()),
    }
    devices, runtimes = group_table(rows, "device"), group_table(rows, "runtime")
    goal = {
        "mdape_overall_le_20": overall["mdape"] <= 0.20,
        "no_device_above_35": all(d["mdape"] <= 0.35 for d in devices),
        "coverage_75_85": 0.75 <= overall["coverage"] <= 0.85,
    }
    path = save("estimate_accuracy", {
        "method": "leave-one-model-out on edgekit/estimate/data/published_latency.csv; "
                  "nested for the interval",
        "overall": overall, "goal": goal, "by_device": devices, "by_runtime": runtimes,
        "excluded": [{"device": r["device"], "model": r["model"], "runtime": r["runtime"],
                      "why": why} for r, why in excluded()],
        "rows": rows,
    })  # fmt: skip
    print(f"overall: {overall['rows']} rows, {overall['models']} models, median APE "
          f"{overall['mdape']:.1%}, 80% interval coverage {overall['coverage']:.1%}")  # fmt: skip
    for title, table, key in (("device", devices, "device"), ("runtime", runtimes, "runtime")):
        print(f"\n| {title} | rows | median APE | coverage |\n|---|---|---|---|")
        for d in table:
            print(f"| {d[key]} | {d['rows']} | {d['mdape']:.0%} | {d['coverage']:.0%} |")
    print(f"\ngoal: {goal}\nwrote {path}")


if __name__ == "__main__":
    main()
