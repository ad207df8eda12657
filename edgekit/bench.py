"""`edgekit bench`: load time, first inference, latency percentiles, throughput, memory.

The timed loop calls `Session.run_raw` on an input prepared (and quantized) once, so it times
the runtime, not edgekit's conversions. Warm-up runs are not counted.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from edgekit.errors import ConfigError
from edgekit.fingerprint import state
from edgekit.runtimes import load
from edgekit.runtimes.base import quantize

DEFAULT_RUNS = 100


@dataclass
class BenchResult:
    artifact: str
    format: str
    precision: str | None
    size_bytes: int
    runtime: str
    threads: int | None
    runs: int
    load_ms: float
    first_ms: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float
    std_ms: float
    min_ms: float
    max_ms: float
    fps: float
    peak_rss_mb: float
    rss_growth_mb: float
    parity: dict | None = None
    sustained: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def benchmark(
    path: str | Path,
    *,
    threads: int | None = None,
    runs: int | None = None,
    duration: float | None = None,
    warmup: int = 10,
    sustained: float | None = None,
    device: str | None = None,
    **options,
) -> BenchResult:
    """Measure one artifact.

    Args:
        path: any artifact `edgekit.load` takes.
        threads: runtime threads (None: the runtime's default).
        runs / duration: stop after N timed runs or S seconds (default 100 runs).
        warmup: untimed runs first.
        sustained: also log latency, temperature and clock every second for S seconds.

    Example:
        >>> r = edgekit.benchmark("out/shapes_int8.tflite", threads=4, runs=200)
        >>> r.p50_ms, r.fps
    """
    if runs is not None and runs < 1 or duration is not None and duration <= 0 or warmup < 0:
        raise ConfigError(
            f"runs and duration must be positive, warmup >= 0; got runs={runs}, "
            f"duration={duration}, warmup={warmup}"
        )
    from edgekit.manifest import size_of

    rss0 = rss_mb()
    t = time.perf_counter()
    session = load(path, threads=threads, device=device, **options)
    load_ms = (time.perf_counter() - t) * 1e3
    with session:
        feed = sample_input(session)
        t = time.perf_counter()
        session.run_raw(feed)
        first_ms = (time.perf_counter() - t) * 1e3
        for _ in range(warmup):
            session.run_raw(feed)
        times = timed_loop(session, feed, runs=runs, duration=duration)
        log = sustained_log(session, feed, sustained) if sustained else []
        peak = rss_mb()
    ms = np.asarray(times) * 1e3
    p = Path(path)
    return BenchResult(
        artifact=str(p),
        format=type(session).format,
        precision=session.precision,
        size_bytes=size_of(p),
        runtime=session.runtime,
        threads=threads,
        runs=len(ms),
        load_ms=round(load_ms, 3),
        first_ms=round(first_ms, 3),
        p50_ms=_r(np.percentile(ms, 50)),
        p90_ms=_r(np.percentile(ms, 90)),
        p99_ms=_r(np.percentile(ms, 99)),
        mean_ms=_r(ms.mean()),
        std_ms=_r(ms.std()),
        min_ms=_r(ms.min()),
        max_ms=_r(ms.max()),
        fps=_r(1e3 / ms.mean()),
        peak_rss_mb=round(peak_rss_mb(), 1),
        rss_growth_mb=round(max(peak - rss0, 0.0), 1),
        sustained=log,
    )


def timed_loop(session, feed, *, runs: int | None, duration: float | None) -> list[float]:
    """Seconds per run_raw call: N runs, or as many as fit in `duration` seconds."""
    clock = time.perf_counter
    run = session.run_raw
    times: list[float] = []
    if duration is None:
        for _ in range(runs or DEFAULT_RUNS):
            t = clock()
            run(feed)
            times.append(clock() - t)
        return times
    end = clock() + duration
    while (t := clock()) < end or not times:
        run(feed)
        times.append(clock() - t)
        if runs and len(times) >= runs:
            break
    return times


def sustained_log(session, feed, seconds: float) -> list[dict]:
    """One row a second: mean latency, temperature, clock, throttle bits."""
    rows = []
    start = time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        times = timed_loop(session, feed, runs=None, duration=1.0)
        rows.append({"t_s": round(elapsed, 1), "mean_ms": _r(np.mean(times) * 1e3), **state()})
    return rows


def sample_input(session) -> list[np.ndarray]:
    """A fixed input in the model's native dtypes (random image-like values)."""
    rng = np.random.default_rng(0)
    feed = []
    for spec in session.inputs:
        x = rng.uniform(0, 1, [d if d > 0 else 1 for d in spec.shape]).astype(np.float32)
        feed.append(np.ascontiguousarray(quantize(x, spec)))
    return feed


def rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def peak_rss_mb() -> float:
    import resource
    import sys

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024


def _r(v) -> float:
    return round(float(v), 4)
