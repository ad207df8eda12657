"""`edgekit demo`'s pipeline against a naive sequential loop, on the sample videos with the
bundled models (the shapes classifier and the in-repo detector).

    python benchmarks/demo_pipeline.py [--rounds 7] [--threads 1]

Both do the same work per frame (decode, preprocess, inference, postprocess, draw results and
the overlay, write the annotated frame to an .mp4 and a JSON line): the pipeline in four
threads (capture, inference, output, and the writer that encodes the .mp4 and writes the JSON
line, timed as the "record" stage), the loop in one. Rounds alternate which goes first and
the speedup is the median of per-round ratios, since this machine is shared and noisy.
Goals: pipelined FPS >= 0.9 x 1 / (slowest stage's mean time, the writer's included) and
>= 1.5 x the loop; mean capture-to-result latency <= preprocess + inference + one frame
interval (checked in `--realtime` mode, frames arriving at the video's 30 fps, and also at
full speed).
Each round also measures how many cores the process actually gets (`parallel_capacity`: two
threads of GIL-free OpenCV work against one): a pipeline cannot beat a loop on a machine that
gives it one core, so read the speedup next to that figure.
Writes benchmarks/results/demo_pipeline.{json,csv}.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import tempfile
import time
from pathlib import Path

from _common import save


def parts(task_name: str, threads: int, tmp: Path):
    from edgekit.demo.capture import open_source
    from edgekit.demo.record import JsonlSink, VideoSink
    from edgekit.demo.sample import default_artifact, sample_video
    from edgekit.demo.tasks import make
    from edgekit.runtimes import load

    task = make(load(default_artifact(task_name), threads=threads), task_name)
    src = open_source(sample_video(task_name))
    sinks = [VideoSink(tmp / f"{task_name}.mp4", src.fps), JsonlSink(tmp / f"{task_name}.jsonl")]
    return task, src, sinks


def cpu_s() -> float:
    """CPU seconds of this process, every thread (OpenCV's and FFmpeg's included)."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def pipelined(task_name: str, threads: int, tmp: Path, realtime: bool = False) -> dict:
    from edgekit.demo.pipeline import Pipeline

    task, src, sinks = parts(task_name, threads, tmp)
    c0 = cpu_s()
    s = Pipeline(task, src, sinks=sinks, realtime=realtime).run()
    cpu = (cpu_s() - c0) / max(1, s.frames) * 1000
    m = {k: v["mean"] for k, v in s.stages_ms.items()}
    stages = {
        "capture": m["read"],
        "infer": m["preprocess"] + m["inference"] + m["postprocess"],
        "output": m["render"] + m["output"],
        "record": m["record"],  # the writer thread: .mp4 encode and JSON line
    }
    return {"fps": s.fps, "frames": s.frames, "means": m, "stages": stages, "cpu_ms": cpu}


def sequential(task_name: str, threads: int, tmp: Path) -> dict:
    """The obvious loop: read, infer, draw, write, repeat."""
    from edgekit.demo.overlay import draw_hud
    from edgekit.demo.stats import Stats

    task, src, sinks = parts(task_name, threads, tmp)
    stats = Stats()
    frames, t0, c0 = 0, time.perf_counter(), cpu_s()
    while (img := src.read()) is not None:
        t = time.perf_counter()
        tensors, geo = task.prepare(img)
        outcome = task.decode_outputs(task.run(tensors), geo)
        task.draw(img, outcome)
        draw_hud(img, stats.live(), task.name)
        record = {"frame": frames, "t_capture": t, "results": outcome.results}
        for sink in sinks:
            sink.write(img, record, stats)
        stats.add(
            {"latency": (time.perf_counter() - t) * 1000}, outcome.results, time.perf_counter()
        )
        frames += 1
    seconds = time.perf_counter() - t0
    cpu = (cpu_s() - c0) / max(1, frames) * 1000
    for sink in sinks:
        sink.close()
    src.close()
    return {"fps": frames / seconds, "frames": frames, "cpu_ms": cpu}


def parallel_capacity(seconds: float = 0.4) -> float:
    """How many cores this process gets right now: the same GIL-free OpenCV work in two
    threads against one. About 2 on an idle two-core machine; about 1 when other processes
    (or other users' sessions, under the kernel's autogroup scheduling) take the rest."""
    import threading

    import cv2
    import numpy as np

    img = np.random.default_rng(0).integers(0, 255, (720, 1280, 3), np.uint8)
    before = cv2.getNumThreads()
    cv2.setNumThreads(1)

    def work(n: int) -> None:
        for _ in range(n):
            cv2.GaussianBlur(img, (9, 9), 0)

    t = time.perf_counter()
    work(4)
    n = max(4, int(seconds / ((time.perf_counter() - t) / 4)))
    t = time.perf_counter()
    work(n)
    one = time.perf_counter() - t
    pair = [threading.Thread(target=work, args=(n // 2,)) for _ in range(2)]
    t = time.perf_counter()
    for th in pair:
        th.start()
    for th in pair:
        th.join()
    two = time.perf_counter() - t
    cv2.setNumThreads(before)
    return one / two


def measure(task_name: str, rounds: int, threads: int, tmp: Path) -> tuple[dict, list]:
    rows, ratios, pipes = [], [], []
    pipelined(task_name, threads, tmp)  # warm the caches (sample video, model file)
    for r in range(rounds):
        order = ("pipelined", "sequential") if r % 2 == 0 else ("sequential", "pipelined")
        got = {}
        capacity = parallel_capacity()
        for mode in order:
            got[mode] = (pipelined if mode == "pipelined" else sequential)(task_name, threads, tmp)
            rows.append(
                {
                    "task": task_name,
                    "round": r,
                    "mode": mode,
                    "fps": round(got[mode]["fps"], 2),
                    "cpu_ms_per_frame": round(got[mode]["cpu_ms"], 3),
                    "load_1min": round(os.getloadavg()[0], 2),
                    "parallel_capacity": round(capacity, 2),
                }
            )
        ratios.append(got["pipelined"]["fps"] / got["sequential"]["fps"])
        pipes.append(got["pipelined"])
    best = sorted(pipes, key=lambda p: p["fps"])[len(pipes) // 2]  # the median round
    bound_fps = 1000 / max(best["stages"].values())
    live = pipelined(task_name, threads, tmp, realtime=True)
    lm = live["means"]
    interval = 1000 / 30
    fast_bound = best["means"]["preprocess"] + best["means"]["inference"] + 1000 / best["fps"]
    summary = {
        "task": task_name,
        "pipelined_fps": round(best["fps"], 1),
        "sequential_fps": round(
            statistics.median(r["fps"] for r in rows if r["mode"] == "sequential"), 1
        ),
        "speedup": round(statistics.median(ratios), 3),
        "stage_ms": {k: round(v, 3) for k, v in best["stages"].items()},
        "cpu_ms_per_frame": {
            m: round(statistics.median(r["cpu_ms_per_frame"] for r in rows if r["mode"] == m), 3)
            for m in ("pipelined", "sequential")
        },
        "load_1min": round(statistics.median(r["load_1min"] for r in rows), 2),
        "parallel_capacity": round(statistics.median(r["parallel_capacity"] for r in rows), 2),
        "bound_fps": round(bound_fps, 1),
        "fps_over_bound": round(best["fps"] / bound_fps, 3),
        "latency_ms_realtime": round(lm["latency"], 3),
        "latency_bound_realtime": round(lm["preprocess"] + lm["inference"] + interval, 3),
        "latency_ms_full_speed": round(best["means"]["latency"], 3),
        "latency_bound_full_speed": round(fast_bound, 3),
    }
    summary["passed"] = (
        summary["fps_over_bound"] >= 0.9
        and summary["speedup"] >= 1.5
        and summary["latency_ms_realtime"] <= summary["latency_bound_realtime"]
    )
    return summary, rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--tasks", default="classify,detect")
    args = ap.parse_args()
    summaries, rows = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.tasks.split(","):
            s, r = measure(name, args.rounds, args.threads, Path(tmp))
            summaries.append(s)
            rows += r
            print(s)
    capacity = statistics.median(r["parallel_capacity"] for r in rows)
    note = (
        f"this process got about {capacity:.1f} cores during the run (other load); the "
        "throughput goals need two free cores, so only latency and CPU cost are meaningful here"
        if capacity < 1.6
        else "the process had two cores: every goal is meaningful"
    )
    print(note)
    payload = {"rounds": args.rounds, "threads": args.threads, "note": note}
    save("demo_pipeline", {**payload, "summary": summaries, "rows": rows})


if __name__ == "__main__":
    main()
