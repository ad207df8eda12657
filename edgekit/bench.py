"""`edgekit bench`: load time, first inference, latency percentiles, throughput, memory.

The timed loop calls `Session.run_raw` on an input prepared (and quantized) once, so it times
the runtime, not edgekit's conversions. Warm-up runs are not counted. The loop, the statistics
and the input are `edgekit.device.runner`'s, the same code that runs on a device reached with
`edgekit bench --on`.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from edgekit.device import runner
from edgekit.errors import ConfigError
from edgekit.runtimes import load

DEFAULT_RUNS = runner.DEFAULT_RUNS


@dataclass
class BenchResult:
    artifact: str
    format: str
    precision: str | None
    size_bytes: int
    runtime: str
    executed_precision: str | None  # what the runtime computes in (f32, bf16, f16, int8...)
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
    execution: dict = field(default_factory=dict)  # numerics settings and the ISA deciding them
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
    inputs: str | Path | None = None,
    **options,
) -> BenchResult:
    """Measure one artifact.

    Args:
        path: any artifact `edgekit.load` takes.
        threads: runtime threads (None: the runtime's default).
        runs: stop after N timed runs (default 100 when no duration is given).
        duration: stop after S seconds instead.
        warmup: untimed runs first.
        sustained: also log latency, temperature and clock every second for S seconds.
        device: OpenVINO device, ONNX Runtime provider or Core ML compute unit.
        inputs: an .npz with the model's inputs by name (or arr_0, arr_1, ... in order), for
            models that random values break (a sample rate, token ids, a recurrent state);
            default: random values.

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

    data = _read(inputs) if inputs is not None else None  # before the model loads
    rss0 = runner.rss_mb()
    t = time.perf_counter()
    session = load(path, threads=threads, device=device, **options)
    load_ms = (time.perf_counter() - t) * 1e3
    with session:
        feed = _feed(data, session.inputs) if data is not None else None
        fields = runner.measure(
            _Adapter(session), load_ms=load_ms, rss0=rss0, runs=runs, duration=duration,
            warmup=warmup, sustained=sustained, feed=feed,
        )  # fmt: skip
    p = Path(path)
    return BenchResult(
        artifact=str(p),
        precision=session.precision,
        size_bytes=size_of(p),
        threads=threads,
        **fields,
    )


def _read(inputs) -> dict:
    if not Path(inputs).is_file():
        raise ConfigError(f"--inputs file not found; got: {inputs}; pass an .npz of the inputs")
    try:
        return runner.read_inputs(inputs)
    except runner.RunnerError as e:
        raise ConfigError(str(e)) from None


def _feed(data: dict, specs):
    try:
        return runner.load_feed(data, specs)
    except runner.RunnerError as e:
        raise ConfigError(str(e)) from None


class _Adapter:
    """A Session seen as the device runner's Model: the runner's loop times `run_raw` on an
    input prepared (and quantized) once."""

    def __init__(self, session) -> None:
        self.inputs = session.inputs
        self.run = session.run_raw
        self.format = type(session).format
        self.runtime = session.runtime
        self.execution = session.execution
