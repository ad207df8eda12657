"""Accuracy of `edgekit estimate` on published latencies it never saw, three ways.

- leave-one-model-out: each architecture's rows (all input sizes) predicted by a fit without
  that architecture;
- leave-one-device-out: each device's rows by a fit that never saw the device (a new board
  or phone: only its profile's figures, CPU class and accelerator family carry over);
- leave-one-runtime-out: each runtime's rows by a fit that never saw the runtime anywhere.

Every held-out row also gets the ~80% interval the estimator would give it, nested: sized from
the held-out errors of the *other* groups only (`fit.tier_intervals` on the training rows),
for the row's tier as the training fit sees it: "pair" (its device and runtime have >= 5
rows), "runtime" (the runtime is extrapolated to the device from its rows elsewhere),
"new-runtime" (no row of the runtime anywhere), "device" (an unseen device).
Median absolute percentage error and interval coverage per split, per tier, per device and
per runtime.

Goals (issue 16): leave-one-model-out median <= 15% overall and no device group above 35%;
leave-one-device-out <= 30%; the interval covers 75-85% of held-out rows in each split.
The ridge penalties were chosen on a fourth split, leave-one-benchmark-table-out, never on
these three (`fit.PENALTY`).

    .venv/bin/python benchmarks/estimate_accuracy.py [--rebuild-costs]

Writes results/estimate_accuracy.json and .csv (one row per held-out row and split) with the
machine fingerprint, and prints the tables. Pure arithmetic on committed data: no timing.
"""

from __future__ import annotations

import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _common import save  # noqa: E402

from edgekit.costmodel import fit as F  # noqa: E402
from edgekit.costmodel.published import excluded  # noqa: E402

SPLITS = ("model", "device", "runtime")
NAMES = {"model": "leave-one-model-out", "device": "leave-one-device-out",
         "runtime": "leave-one-runtime-out"}  # fmt: skip


def held_out_rows(obs, split: str) -> list[dict]:
    """Every row predicted without its group, with the nested interval for its tier."""
    key = F.group_key(split)
    out = []
    for g in sorted({key(o) for o in obs}):
        train = [o for o in obs if key(o) != g]
        fitted, intervals = F.solve(train), F.tier_intervals(train)
        for o in (o for o in obs if key(o) == g):
            pred, tier = fitted.predict(o), fitted.tier(o)
            lo, hi = intervals.get(tier, (1.0, 1.0))
            out.append({
                "split": split, "group": g, "tier": tier, "device": o.device,
                "runtime": o.runtime, "precision": o.precision, "threads": o.threads,
                "model": o.model, "bench": o.bench, "measured_ms": o.latency_ms,
                "estimate_ms": round(pred, 4), "low_ms": round(pred * lo, 4),
                "high_ms": round(pred * hi, 4), "ape": abs(pred / o.latency_ms - 1),
                "inside": bool(pred * lo <= o.latency_ms <= pred * hi),
            })  # fmt: skip
    return out


def summary(rows: list[dict]) -> dict:
    return {
        "rows": len(rows),
        "mdape": float(np.median([r["ape"] for r in rows])) if rows else None,
        "coverage": float(np.mean([r["inside"] for r in rows])) if rows else None,
    }


def grouped(rows: list[dict], key: str) -> list[dict]:
    groups = defaultdict(list)
    for r in rows:
        groups[r[key]].append(r)
    return [{key: k, **summary(v)} for k, v in sorted(groups.items())]


def report(split: str, rows: list[dict]) -> dict:
    return {
        "method": NAMES[split],
        "overall": summary(rows),
        "by_tier": grouped(rows, "tier"),
        "by_device": grouped(rows, "device"),
        "by_runtime": grouped(rows, "runtime"),
    }


def goals(results: dict) -> dict:
    lomo, lodo = results["model"], results["device"]
    return {
        "lomo_mdape_le_15": lomo["overall"]["mdape"] <= 0.15,
        "lomo_no_device_above_35": all(d["mdape"] <= 0.35 for d in lomo["by_device"]),
        "lodo_mdape_le_30": lodo["overall"]["mdape"] <= 0.30,
        **{
            f"coverage_75_85_{s}": 0.75 <= results[s]["overall"]["coverage"] <= 0.85 for s in SPLITS
        },  # fmt: skip
    }


def show(results: dict, goal: dict) -> None:
    for res in results.values():
        o = res["overall"]
        print(f"\n{res['method']}: {o['rows']} rows, median APE {o['mdape']:.1%}, "
              f"80% interval coverage {o['coverage']:.1%}")  # fmt: skip
        for title in ("tier", "device", "runtime"):
            print(f"| {title} | rows | median APE | coverage |\n|---|---|---|---|")
            for d in res[f"by_{title}"]:
                print(f"| {d[title]} | {d['rows']} | {d['mdape']:.0%} | {d['coverage']:.0%} |")
    print(f"\ngoal: {goal}")


def main() -> None:
    if "--rebuild-costs" in sys.argv:
        from edgekit.costmodel.published import build_model_table

        build_model_table()
    obs = list(F.published_observations())
    all_rows = {s: held_out_rows(obs, s) for s in SPLITS}
    results = {s: report(s, rows) for s, rows in all_rows.items()}
    goal = goals(results)
    path = save("estimate_accuracy", {
        "data": "edgekit/costmodel/data/published_latency.csv",
        "models": len({o.family for o in obs}), "devices": len({o.device for o in obs}),
        "runtimes": len({o.runtime for o in obs}), "tuned_on": "leave-one-bench-table-out",
        "splits": results, "goal": goal,
        "excluded": [{"device": r["device"], "model": r["model"], "runtime": r["runtime"],
                      "why": why} for r, why in excluded()],
        "rows": [r for s in SPLITS for r in all_rows[s]],
    })  # fmt: skip
    show(results, goal)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
