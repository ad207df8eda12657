"""`edgekit plan` against an exhaustive sweep of the same space, on this machine.

Two models: the bundled `shapes.keras` and the MobileNet-style model of
`edgekit.example.mobilenet` (trained on the generated shapes, cached as in compression.py).
Per model: the fp32 TFLite latency here (2 threads) sets the budget (80% of it), with
`--max-drop 1.0` on 400 validation images. The sweep converts and measures every candidate of
the space; the plan searches it (`edgekit.plan`, target `local`). Each starts from an empty
cache and uses the same worker count. Then the plan's pick and the sweep's fastest candidate
that meets both budgets are measured again side by side (alternating rounds on a shared,
noisy machine; the ratio is the median of per-round ratios), and the pick's accuracy is
scored again through `edgekit.load(...).predict_image` on the validation images.

    python benchmarks/plan.py [--models shapes,mobilenet] [--rounds 7] [--workers 2]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from _common import median, save

SPACE = {"only": "tflite,openvino,onnx", "prunes": [0.0, 0.25], "threads": [1, 2]}


def budget_ms(model: Path, tmp: Path, rounds: int) -> float:
    """80% of the fp32 TFLite latency at 2 threads, median of `rounds` measurements."""
    import edgekit

    out = tmp / "fp32"
    edgekit.convert(model, to="tflite:fp32", out=out)
    art = next(out.glob("*.tflite"))
    p50 = median([edgekit.benchmark(art, threads=2, runs=100).p50_ms for _ in range(rounds)])
    return round(0.8 * p50, 4), p50


def remeasure(a: str, b: str, threads_a, threads_b, rounds: int) -> dict:
    import edgekit

    pa, pb, ratios = [], [], []
    for _ in range(rounds):
        x = edgekit.benchmark(a, threads=threads_a, runs=100).p50_ms
        y = edgekit.benchmark(b, threads=threads_b, runs=100).p50_ms
        pa.append(x)
        pb.append(y)
        ratios.append(x / y)
    return {"pick_ms": median(pa), "best_ms": median(pb), "ratio": median(ratios)}


def rescore(artifact: str, val: Path, labels: list[str]) -> float:
    """Top-1 accuracy of an artifact on a labelled folder, through edgekit.load."""
    import cv2
    import numpy as np

    import edgekit

    hits = total = 0
    with edgekit.load(artifact) as s:
        for k, name in enumerate(labels):
            for f in sorted((val / name).iterdir()):
                probs = s.predict_image(cv2.imread(str(f)))
                hits += int(np.argmax(probs) == k)
                total += 1
    return hits / total


def one(name: str, model: Path, data: dict, tmp: Path, args) -> dict:
    import edgekit

    budget, fp32_ms = budget_ms(model, tmp, args.rounds)
    print(f"{name}: fp32 TFLite {fp32_ms:.4f} ms -> budget {budget} ms")
    native = 64
    sizes = [native, int(native * 0.75)]
    common = dict(targets="local", budget_ms=budget, max_drop=1.0, val=data["val"],
                  labels=data["labels"], calib=data["calib"], workers=args.workers, sizes=sizes,
                  **SPACE)  # fmt: skip
    os.environ["EDGEKIT_CACHE"] = str(tmp / "cache-sweep")  # both start from an empty cache
    t = time.perf_counter()
    swept = edgekit.plan(model, exhaustive=True, out=None, **common).targets[0]
    sweep_s = time.perf_counter() - t
    points = swept.evaluated
    meeting = [p for p in points if p.meets(budget, 1.0)]
    os.environ["EDGEKIT_CACHE"] = str(tmp / "cache-plan")
    t = time.perf_counter()
    tp = edgekit.plan(model, out=tmp / f"plan-{name}", **common).targets[0]
    plan_s = time.perf_counter() - t
    row = {"model": name, "fp32_ms": round(fp32_ms, 4), "budget_ms": budget,
           "space": tp.space, "sweep_evaluated": len(points), "sweep_meeting": len(meeting),
           "plan_evaluated": len(tp.evaluated), "plan_screened": tp.screened,
           "sweep_s": round(sweep_s, 1), "plan_s": round(plan_s, 1),
           "time_ratio": round(plan_s / sweep_s, 3)}  # fmt: skip
    best = min(meeting, key=lambda p: p.latency.ms) if meeting else None
    if tp.pick is None or best is None:
        row |= {"pick": None, "reason": tp.reason, "sweep_best": best and best.candidate.label()}
        return row
    again = remeasure(tp.files["artifact"], best.artifact, tp.pick.candidate.threads,
                      best.candidate.threads, args.rounds)  # fmt: skip
    acc = rescore(tp.files["artifact"], Path(data["val"]), data["labels"])
    ref = tp.pick.accuracy + tp.pick.drop / 100
    row |= {
        "pick": tp.pick.candidate.label(), "sweep_best": best.candidate.label(),
        "pick_ms": round(again["pick_ms"], 4), "best_ms": round(again["best_ms"], 4),
        "pick_over_best": round(again["ratio"], 3), "pick_accuracy": round(acc, 4),
        "pick_drop": round(100 * (ref - acc), 2),
        "pick_meets": again["pick_ms"] <= budget and 100 * (ref - acc) <= 1.0 + 1e-9,
    }  # fmt: skip
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--models", default="shapes,mobilenet")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "edgekit-bench")
    ap.add_argument("--compare-workers", action="store_true", help="Also time 1 vs 2 workers.")
    args = ap.parse_args()
    from compression import mobilenet

    from edgekit.example import LABELS, MODEL
    from edgekit.example.shapes import write_folder

    labels = [x.strip() for x in LABELS.read_text().splitlines() if x.strip()]
    rows = []
    with tempfile.TemporaryDirectory(prefix="edgekit-plan-bench-") as t:
        tmp = Path(t)
        data = {"calib": write_folder(tmp / "calib", "calib", 200),
                "val": write_folder(tmp / "val", "val", 400), "labels": labels}  # fmt: skip
        models = {"shapes": lambda: MODEL, "mobilenet": lambda: mobilenet(args.cache)}
        for name in args.models.split(","):
            rows.append(one(name, models[name](), data, tmp / name, args))
            print(rows[-1])
        workers = compare_workers(data, tmp / "workers") if args.compare_workers else []
    path = save("plan", merged(rows, workers, vars(args) | {"cache": str(args.cache),
                                                           "space": SPACE}))  # fmt: skip
    print(f"wrote {path}")
    print("time ratio (plan/sweep):", statistics.mean(r["time_ratio"] for r in rows))


def compare_workers(data: dict, tmp: Path) -> list[dict]:
    """The same small plan (four conversions of the example) with 1 and 2 worker processes,
    each from an empty cache."""
    import edgekit
    from edgekit.example import MODEL

    out = []
    for n in (1, 2):
        os.environ["EDGEKIT_CACHE"] = str(tmp / f"cache-{n}")
        t = time.perf_counter()
        edgekit.plan(
            MODEL,
            targets="rpi5",
            budget_ms=50,
            val=data["val"],
            calib=data["calib"],
            labels=data["labels"],
            only="tflite:fp32,tflite:int8,openvino:fp32,onnx",
            prunes=[0],
            sizes=[64],
            threads=[4],
            trials=4,
            workers=n,
            out=None,
        )
        out.append({"workers": n, "seconds": round(time.perf_counter() - t, 1)})
        print(out[-1])
    return out


def merged(rows: list[dict], workers: list[dict], settings: dict) -> dict:
    """This run's rows, with the committed rows of models it did not run kept (one model a
    run fits in a session on 2 shared cores)."""
    import json

    from _common import RESULTS

    path = RESULTS / "plan.json"
    old = json.loads(path.read_text()) if path.exists() else {}
    done = {r["model"] for r in rows}
    kept = [r for r in old.get("rows", []) if r["model"] not in done]
    return {"rows": kept + rows, "workers": workers or old.get("workers", []),
            "settings": settings}  # fmt: skip


if __name__ == "__main__":
    main()
