"""`edgekit bench ARTIFACT --on adb[:SERIAL]`: LiteRT's `benchmark_model` on an Android phone.

Pushes the .tflite and the `benchmark_model` binary for the phone's ABI to a fresh folder under
/data/local/tmp, runs it with the chosen delegate (xnnpack, gpu, nnapi) and threads, parses its
output into the BenchResult schema, and removes the folder.

Where `benchmark_model` comes from (the first that exists): `--benchmark-model PATH`,
$EDGEKIT_BENCHMARK_MODEL, ~/.cache/edgekit/benchmark_model/<abi>/benchmark_model, or the
cache of Google's `litert-cli` (~/.cache/litert-cli/binaries/<abi>/benchmark_model, filled by
`litert benchmark --android`). LiteRT publishes prebuilt binaries per release for
android_arm64 (see the LiteRT "Performance measurement" page).
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from edgekit import formats
from edgekit.device.link import local_files, to_result
from edgekit.errors import ConfigError, RemoteError

DELEGATES = {
    "xnnpack": ["--use_xnnpack=true"],
    "gpu": ["--use_gpu=true"],
    "nnapi": ["--use_nnapi=true"],
    "cpu": ["--use_xnnpack=false"],
}
NUM = r"([-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?)"
PREFIX = r"^(?:[A-Z]+:\s+|[IWE]\s+\S+\s*:\s+)?"  # "INFO: " or logcat's "I tflite  : "
STAT = re.compile(
    PREFIX + rf"count={NUM}(?: first={NUM})?(?: curr={NUM})?(?: min={NUM} max={NUM} "
    rf"avg={NUM} std={NUM})?(?: p5={NUM} median={NUM} p95={NUM})?\s*$",
    re.M | re.I,
)
TIMINGS = re.compile(
    rf"Inference timings in us: Init: {NUM}, First inference: {NUM}, "
    rf"Warmup \(avg\): {NUM}, Inference \(avg\): {NUM}",
    re.I,
)
MEMORY = re.compile(
    rf"(?:Peak memory footprint|Memory footprint delta[^:]*) \(MB\): "
    rf"init={NUM} overall={NUM}",
    re.I,
)
PEAK = re.compile(rf"Overall peak memory footprint \(MB\) via periodic monitoring: {NUM}", re.I)
REPLACED = re.compile(r"Replacing (\d+) out of (\d+) node\(s\) with delegate \((\w+)\)")
FAILED = re.compile(r"^.*(?:Failed to apply .*delegate|Benchmarking failed|ERROR: ).*$", re.M)


def parse(text: str) -> dict:
    """Numbers from `benchmark_model` output (us -> ms). Raises RemoteError when it failed.

    Returns a dict of BenchResult fields plus `warmup_ms` and `delegated_nodes`; latency
    percentiles are filled only when the tool printed them (newer builds print p5/median/p95).
    """
    timings = TIMINGS.search(text)
    stats = [m for m in STAT.finditer(text) if m.group(4)]  # lines with min/max/avg/std
    if not timings or not stats:
        lines = [m.strip() for m in FAILED.findall(text)]
        causes = [ln for ln in lines if not ln.startswith("Benchmarking failed")]
        why = (
            " ".join([causes[-1]] + [ln for ln in causes[:1] if ln != causes[-1]])
            if causes
            else (text.strip().splitlines() or ["no output"])[-1]
        )
        raise RemoteError(f"benchmark_model gave no timings; got: {why[:300]}")
    g = [float(v) if v is not None else None for v in stats[-1].groups()]
    count, _, _, lo, hi, avg, std, _, median, p95 = g
    ms = lambda us: round(us / 1000, 4) if us is not None else None  # noqa: E731
    out = {
        "runs": int(count),
        "load_ms": ms(float(timings.group(1))),
        "first_ms": ms(float(timings.group(2))),
        "warmup_ms": ms(float(timings.group(3))),
        "mean_ms": ms(avg),
        "std_ms": ms(std),
        "min_ms": ms(lo),
        "max_ms": ms(hi),
        "p50_ms": ms(median),
        "p90_ms": None,
        "p99_ms": None,
        "p95_ms": ms(p95),
        "fps": round(1e6 / avg, 4) if avg else None,
    }
    peak = PEAK.search(text)
    mem = MEMORY.search(text)
    out["peak_rss_mb"] = float(peak.group(1)) if peak else (float(mem.group(2)) if mem else None)
    out["rss_growth_mb"] = float(mem.group(2)) if mem else None
    rep = REPLACED.search(text)
    out["delegated_nodes"] = f"{rep.group(1)}/{rep.group(2)} {rep.group(3)}" if rep else None
    return out


def command_line(
    folder: str,
    model: str,
    *,
    delegate="xnnpack",
    threads=None,
    runs=None,
    duration=None,
    warmup=10,
) -> list[str]:
    """The `benchmark_model` argv run on the phone."""
    if delegate not in DELEGATES:
        raise ConfigError(
            f"unknown adb delegate; got: {delegate!r}; choose from {', '.join(DELEGATES)}"
        )
    argv = [f"{folder}/benchmark_model", f"--graph={folder}/{model}", *DELEGATES[delegate]]
    if threads:
        argv.append(f"--num_threads={threads}")
    argv += [f"--warmup_runs={warmup}", f"--num_runs={runs or (1 if duration else 100)}"]
    if duration:
        argv += [f"--min_secs={duration}", f"--max_secs={max(duration * 2, 10)}"]
    argv.append("--report_peak_memory_footprint=true")
    return argv


def executed(precision: str | None, delegate: str) -> str | None:
    """What the phone computes in: XNNPACK as on any CPU; the GPU delegate in fp16
    (benchmark_model allows precision loss by default); NNAPI: the vendor's choice, unknown."""
    from edgekit.device.runner import TFLITE_EXECUTED

    if delegate in ("xnnpack", "cpu"):
        return TFLITE_EXECUTED.get(precision or "")
    return "f16" if delegate == "gpu" else None


class Phone:
    """`adb` commands for one device (`adb:SERIAL`, or `adb` for the only one attached)."""

    def __init__(self, target: str = "adb", adb: str = "adb") -> None:
        serial = target.partition(":")[2]
        self.target = target
        self.base = [adb, *(["-s", serial] if serial else [])]

    def run(self, *args: str, timeout: float = 120) -> str:
        try:
            res = subprocess.run(
                [*self.base, *args], capture_output=True, text=True, timeout=timeout
            )
        except FileNotFoundError as e:
            raise RemoteError(
                "adb is not installed; fix: apt install adb (or Android platform-tools)"
            ) from e
        if res.returncode != 0:
            msg = " ".join((res.stderr or res.stdout).split())[:300]
            raise RemoteError(f"{self.target}: adb {args[0]} failed; got: {msg}")
        return res.stdout

    def shell(self, command: str, timeout: float = 600) -> str:
        return self.run("shell", command, timeout=timeout)

    def prop(self, name: str) -> str:
        return self.shell(f"getprop {name}", timeout=30).strip()


def find_binary(abi: str, given: str | Path | None = None) -> Path:
    """`benchmark_model` for this ABI, or ConfigError saying how to get one."""
    home = Path.home()
    candidates = [
        given,
        os.environ.get("EDGEKIT_BENCHMARK_MODEL"),
        home / ".cache/edgekit/benchmark_model" / abi / "benchmark_model",
        home / ".cache/litert-cli/binaries" / abi / "benchmark_model",
    ]
    for c in candidates:
        if c and Path(c).is_file():
            return Path(c)
    raise ConfigError(
        f"no benchmark_model for {abi}; got: {given or 'no --benchmark-model'}; download LiteRT's "
        f"prebuilt android_arm64 benchmark_model (LiteRT docs: Performance measurement) to "
        f"~/.cache/edgekit/benchmark_model/{abi}/benchmark_model or pass --benchmark-model PATH"
    )


def machine(phone: Phone) -> dict:
    """The phone's fingerprint, in the runner's keys where Android tells them."""
    props = {
        k: phone.prop(f"ro.{k}")
        for k in (
            "product.model",
            "soc.model",
            "product.cpu.abi",
            "build.version.release",
            "board.platform",
        )
    }
    features = re.search(r"Features\s*:\s*(.+)", phone.shell("cat /proc/cpuinfo", timeout=30))
    cores = phone.shell("cat /sys/devices/system/cpu/possible", timeout=30).strip()
    n = int(cores.split("-")[-1]) + 1 if re.fullmatch(r"\d+-\d+", cores) else None
    from edgekit.device.runner import ISA_FLAGS

    return {
        "cpu": props["soc.model"] or props["board.platform"],
        "board": props["product.model"],
        "machine": props["product.cpu.abi"],
        "cores": n,
        "usable_cores": n,
        "isa": sorted(set(features.group(1).split()) & set(ISA_FLAGS)) if features else [],
        "memory_gb": None,
        "os": f"Android {props['build.version.release']}",
        "python": None,
        "runtimes": {"benchmark_model": "LiteRT"},
        "governor": None,
        "temperature_c": None,
        "cpu_mhz": None,
        "throttled": None,
    }


def bench(
    artifact,
    target: str = "adb",
    *,
    benchmark_model=None,
    delegate=None,
    threads=None,
    runs=None,
    duration=None,
    warmup=10,
    on_event: Callable | None = None,
    adb: str = "adb",
    **_,
):
    """Benchmark a .tflite on the phone; returns (machine, BenchResult) like a local bench."""
    if _.get("api") == "compiled" or _.get("accelerator"):
        raise ConfigError(
            "--on adb runs LiteRT's benchmark_model, which drives the Interpreter; got: "
            "--option api=compiled; use --delegate gpu there, or the runner over ssh"
        )
    if _.get("inputs"):
        raise ConfigError(
            f"--on adb runs LiteRT's benchmark_model, which feeds random values; got: --inputs "
            f"{_['inputs']}; bench that model over ssh (the runner takes --inputs), or here"
        )
    files, precision = local_files(artifact)
    if formats.of_path(files[0]).name != "tflite":
        raise ConfigError(f"--on adb runs .tflite artifacts; got: {files[0].name}")
    phone = Phone(target, adb)
    info = machine(phone)
    binary = find_binary(info["machine"] or "arm64-v8a", benchmark_model)
    folder = f"/data/local/tmp/edgekit-{os.getpid()}-{int(time.time())}"
    emit = on_event or (lambda e: None)
    emit({"event": "machine", "machine": info})
    phone.shell(f"mkdir -p {folder}", timeout=30)
    try:
        phone.run("push", str(binary), f"{folder}/benchmark_model", timeout=300)
        phone.run("push", str(files[0]), f"{folder}/{files[0].name}", timeout=300)
        phone.shell(f"chmod 755 {folder}/benchmark_model", timeout=30)
        argv = command_line(
            folder,
            files[0].name,
            delegate=delegate or "xnnpack",
            threads=threads,
            runs=runs,
            duration=duration,
            warmup=warmup,
        )
        text = phone.shell(" ".join(map(shlex.quote, argv)), timeout=600 + (duration or 0) * 3)
    finally:
        phone.shell(f"rm -rf {folder}", timeout=30)
    numbers = parse(text)
    fields = {
        **numbers,
        "format": "tflite",
        "size_bytes": files[0].stat().st_size,
        "runtime": "LiteRT benchmark_model",
        "executed_precision": executed(precision, delegate or "xnnpack"),
        "threads": threads,
        "execution": {
            "delegate": delegate or "xnnpack",
            "delegated_nodes": numbers["delegated_nodes"],
            "warmup_ms": numbers["warmup_ms"],
            "p95_ms": numbers["p95_ms"],
        },
    }
    result = to_result(fields, artifact, precision)
    emit({"event": "result", "result": result.to_dict()})
    return info, result
