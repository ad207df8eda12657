"""What running `convert` in a child process costs (`edgekit.isolate`, what the CLI does):
the bundled example to TFLite fp32, each run in a fresh interpreter, in-process
(`edgekit.convert(...)`) against isolated (`edgekit.convert(..., isolate=True)`), rounds
alternating the order; each round gives a difference and a ratio, and the medians of those
are the result (on shared cores one round's load is shared by both sides).

What the child costs: spawning a fresh interpreter, importing edgekit there, and pickling the
report back; what it saves: the parent never imports TensorFlow. The fixed part alone is
measured too: `edgekit.isolate.call(os.getpid)`, a child that does nothing.

    python benchmarks/isolate_overhead.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from _common import median, save

CHILD = """
import json, tempfile
import edgekit
with tempfile.TemporaryDirectory() as out:
    report = edgekit.convert(to="tflite", out=out, isolate={isolate})
    print(json.dumps({{"passed": all(a.parity["passed"] for a in report.artifacts)}}))
"""


def one(isolate: bool) -> float:
    """Wall seconds of a fresh interpreter converting the example."""
    t = time.perf_counter()
    res = subprocess.run(
        [sys.executable, "-c", CHILD.format(isolate=isolate)],
        capture_output=True,
        text=True,
        check=True,
    )
    wall = time.perf_counter() - t
    if not json.loads(res.stdout.strip().splitlines()[-1])["passed"]:
        raise RuntimeError(f"parity failed (isolate={isolate})")
    return wall


def spawn_cost(n: int = 5) -> float:
    """Median seconds of a child that does nothing (spawn, edgekit's imports, the pipe)."""
    import os

    from edgekit import isolate

    times = []
    for _ in range(n):
        t = time.perf_counter()
        isolate.call(os.getpid)
        times.append(time.perf_counter() - t)
    return median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    rows = []
    for r in range(args.rounds):
        order = (False, True) if r % 2 == 0 else (True, False)
        got = {iso: one(iso) for iso in order}
        row = {
            "round": r,
            "in_process_s": round(got[False], 2),
            "isolated_s": round(got[True], 2),
            "overhead_s": round(got[True] - got[False], 2),
            "ratio": round(got[True] / got[False], 3),
        }
        rows.append(row)
        print(row, flush=True)
    summary = {
        "empty_child_s": round(spawn_cost(), 3),
        "in_process_s": median(r["in_process_s"] for r in rows),
        "isolated_s": median(r["isolated_s"] for r in rows),
        "overhead_s": median(r["overhead_s"] for r in rows),
        "ratio": median(r["ratio"] for r in rows),
    }
    print(summary)
    print(save("isolate_overhead", {"summary": summary, "rows": rows}))


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    main()
