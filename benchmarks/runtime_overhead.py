"""`edgekit bench` against the runtimes' own benchmark tools, on the same artifacts.

MobileNetV2 (weights=None, 224x224) as fp32 and full-int8 TFLite, timed by `edgekit bench`
and by `litert-benchmark` (installed with ai-edge-litert); as fp16 and int8 OpenVINO IR, by
`edgekit bench` and by `benchmark_app -hint latency`. Each round runs both tools as separate
processes with the same thread count, alternating which goes first. These machines are shared
and noisy, so the ratio is taken per round (two neighbouring runs see the same neighbours) and
the reported ratio is the median of the per-round ratios. Goal: ratio <= 1.03.

    python benchmarks/runtime_overhead.py [--rounds 15] [--runs 100] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import median, mobilenet_v2, save

BIN = Path(sys.executable).parent


def edgekit_p50(path: Path, runs: int, threads: int | None, tmp: Path) -> float:
    out = tmp / "ek.json"
    cmd = [BIN / "edgekit", "bench", str(path), "--runs", str(runs), "--warmup", "10"]
    cmd += ["--json", str(out)] + (["--threads", str(threads)] if threads else [])
    subprocess.run(cmd, check=True, capture_output=True)
    return json.loads(out.read_text())["results"][0]["p50_ms"]


def litert_p50(path: Path, runs: int, threads: int, tmp: Path) -> float:
    out = tmp / "lr.json"
    subprocess.run(
        [
            BIN / "litert-benchmark",
            f"--model={path}",
            f"--num_runs={runs}",
            "--warmup_runs=10",
            f"--num_threads={threads}",
            f"--result_json={out}",
        ],
        check=True,
        capture_output=True,
    )
    return json.loads(out.read_text())["latency"]["median_ms"]


def benchmark_app_p50(path: Path, runs: int, threads: int | None, tmp: Path) -> float:
    # benchmark_app refuses -nthreads next to -hint latency, so both sides use OpenVINO's own
    # thread choice for the latency hint (edgekit's default hint is latency too)
    res = subprocess.run(
        [
            BIN / "benchmark_app",
            "-m",
            str(path),
            "-d",
            "CPU",
            "-hint",
            "latency",
            "-niter",
            str(runs),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    m = re.search(r"Latency:.*?Median:\s+([\d.]+) ms", res.stdout, re.S)
    if not m:
        raise RuntimeError(f"no median in benchmark_app output:\n{res.stdout[-2000:]}")
    return float(m.group(1))


def artifacts(tmp: Path) -> dict[str, Path]:
    import numpy as np

    from edgekit.conversion import convert

    model = mobilenet_v2(tmp)
    calib = tmp / "calib.npy"
    np.save(calib, np.random.default_rng(0).uniform(-1, 1, (16, 224, 224, 3)).astype("float32"))
    convert(
        model,
        to="tflite:fp32,tflite:int8,openvino:fp16,openvino:int8",
        calib=calib,
        calib_samples=16,
        out=tmp / "out",
    )
    stem = tmp / "out" / "mobilenet_v2"
    return {
        "tflite-fp32": stem.with_name("mobilenet_v2_fp32.tflite"),
        "tflite-int8": stem.with_name("mobilenet_v2_int8.tflite"),
        "openvino-fp16": stem.with_name("mobilenet_v2_fp16.xml"),
        "openvino-int8": stem.with_name("mobilenet_v2_int8.xml"),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--runs", type=int, default=100)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        for name, path in artifacts(tmp).items():
            tflite = name.startswith("tflite")
            tool_name, tool = (
                ("litert-benchmark", litert_p50)
                if tflite
                else ("benchmark_app -hint latency", benchmark_app_p50)
            )
            threads = args.threads if tflite else None
            ek, tl = [], []
            for r in range(args.rounds):
                pair = [(ek, edgekit_p50), (tl, tool)]
                for bucket, fn in pair if r % 2 == 0 else pair[::-1]:
                    bucket.append(fn(path, args.runs, threads, tmp))
            row = {
                "artifact": name,
                "tool": tool_name,
                "threads": threads or "latency hint default",
                "edgekit_p50_ms": round(median(ek), 3),
                "tool_p50_ms": round(median(tl), 3),
                "ratio": round(median([e / t for e, t in zip(ek, tl)]), 3),
                "edgekit_rounds_ms": ek,
                "tool_rounds_ms": tl,
            }
            print(row, flush=True)
            rows.append(row)
    path = save(
        "runtime_overhead",
        {"goal": "ratio <= 1.03", "runs": args.runs, "rounds": args.rounds, "rows": rows},
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
