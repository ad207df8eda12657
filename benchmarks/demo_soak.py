"""10-minute soak of `edgekit demo`: resident memory must stay flat (growth < 5%).

    nice python benchmarks/demo_soak.py [--minutes 10]

The bundled detector on the looping sample video, every frame processed as fast as the
machine allows, with the JSONL sink and the browser view (one MJPEG viewer and a stats poller
running the whole time). RSS is sampled every 2 s; growth is measured from the end of the
first minute (warm-up: allocators, the runtime's arenas, the server's threads) to the end.
Writes benchmarks/results/demo_soak.{json,csv,png}.
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from _common import RESULTS, save

WARMUP_S = 60.0


def sample_rss(stop: threading.Event, rows: list, pipe_box: list, t0: float) -> None:
    import psutil

    proc = psutil.Process()
    while not stop.wait(2.0):
        stats = pipe_box[0].stats if pipe_box else None
        rows.append(
            {
                "t_s": round(time.perf_counter() - t0, 1),
                "rss_mb": round(proc.memory_info().rss / 2**20, 2),
                "frames": stats.frames if stats else 0,
                "threads": threading.active_count(),
            }
        )


def watch(url: str, stop: threading.Event) -> None:
    """A browser stand-in: read the MJPEG stream and poll the stats for the whole run."""
    buf = bytearray(1 << 16)
    while not stop.is_set():
        try:
            with urllib.request.urlopen(url + "stream.mjpg", timeout=5) as r:
                last = 0.0
                while not stop.is_set() and r.readinto(buf):
                    if time.time() - last > 1:
                        urllib.request.urlopen(url + "stats.json", timeout=5).read()
                        last = time.time()
        except OSError:
            stop.wait(0.5)


def chart(rows: list, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 3.5))
    ax.plot([r["t_s"] / 60 for r in rows], [r["rss_mb"] for r in rows], lw=1.5)
    ax.axvline(WARMUP_S / 60, color="grey", ls="--", lw=1, label="end of warm-up")
    ax.set_xlabel("minutes")
    ax.set_ylabel("RSS (MiB)")
    ax.set_ylim(0, max(r["rss_mb"] for r in rows) * 1.15)
    ax.set_title("edgekit demo soak: resident memory")
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    from edgekit.demo import run_demo

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--minutes", type=float, default=10.0)
    args = ap.parse_args()
    rows: list = []
    pipe_box: list = []
    stop = threading.Event()
    t0 = time.perf_counter()

    def started(pipe):
        pipe_box.append(pipe)
        url = next(s.url for s in pipe.sinks if hasattr(s, "url"))
        threading.Thread(target=watch, args=(url, stop), daemon=True).start()

    threading.Thread(target=sample_rss, args=(stop, rows, pipe_box, t0), daemon=True).start()
    with tempfile.TemporaryDirectory() as tmp:
        summary = run_demo(
            task="detect",
            loop=True,
            duration=args.minutes * 60,
            jsonl=Path(tmp) / "soak.jsonl",
            serve="127.0.0.1:0",
            window=False,
            threads=1,
            on_start=started,
        )
    stop.set()
    warm = next(r for r in rows if r["t_s"] >= min(WARMUP_S, rows[-1]["t_s"]))
    end = rows[-1]
    growth = (end["rss_mb"] - warm["rss_mb"]) / warm["rss_mb"] * 100
    peak = max(r["rss_mb"] for r in rows if r["t_s"] >= warm["t_s"])
    result = {
        "minutes": args.minutes,
        "frames": summary.frames,
        "fps": summary.fps,
        "rss_start_mb": rows[0]["rss_mb"],
        "rss_after_warmup_mb": warm["rss_mb"],
        "rss_end_mb": end["rss_mb"],
        "rss_peak_after_warmup_mb": peak,
        "growth_pct": round(growth, 2),
        "frames_after_warmup": end["frames"] - warm["frames"],
        "goal": "growth < 5%, frames flowing to the end",
        "passed": growth < 5 and end["frames"] > warm["frames"],
        "stages_ms": summary.stages_ms,
    }
    save("demo_soak", {"result": result, "rows": rows})
    chart(rows, RESULTS / "demo_soak.png")
    print(result)


if __name__ == "__main__":
    main()
