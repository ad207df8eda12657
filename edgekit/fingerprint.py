"""What machine a measurement was taken on: CPU, ISA features, OS, runtimes, clocks, heat.

Read from /proc and /sys where they exist (Linux, Raspberry Pi OS, JetPack); fields that a
platform does not expose are None rather than guessed.
"""

from __future__ import annotations

import os
import platform
import re
from pathlib import Path

ISA_FLAGS = (
    "avx",
    "avx2",
    "fma",
    "avx512f",
    "avx512_vnni",
    "avx_vnni",
    "amx_int8",
    "amx_bf16",
    "neon",
    "asimd",
    "asimddp",
    "asimdhp",
    "fphp",
    "i8mm",
    "sve",
    "bf16",
)
RUNTIMES = (
    "ai-edge-litert",
    "tflite-runtime",
    "tensorflow",
    "openvino",
    "onnxruntime",
    "onnxruntime-gpu",
    "coremltools",
    "numpy",
    "opencv-python-headless",
)


def fingerprint() -> dict:
    """A JSON-ready description of this machine, for every benchmark result."""
    from edgekit._deps import version

    cpu = _cpuinfo()
    return {
        "cpu": cpu.get("model name")
        or cpu.get("Model")
        or cpu.get("Hardware")
        or platform.processor(),
        "board": _read("/proc/device-tree/model"),
        "machine": platform.machine(),
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "isa": sorted(
            set(cpu.get("flags", "").split() + cpu.get("Features", "").split()) & set(ISA_FLAGS)
        ),
        "memory_gb": _memory_gb(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "runtimes": {name: v for name in RUNTIMES if (v := version(name))},
        "governor": _read("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor"),
        **state(),
    }


def state() -> dict:
    """The parts that change while a benchmark runs: temperature, clock, throttling."""
    return {"temperature_c": temperature(), "cpu_mhz": cpu_mhz(), "throttled": throttled()}


def temperature() -> float | None:
    """Hottest thermal zone in degrees C (Pi: cpu-thermal; Jetson: several zones)."""
    temps = []
    for zone in Path("/sys/class/thermal").glob("thermal_zone*/temp"):
        raw = _read(zone)
        if raw and raw.lstrip("-").isdigit():
            temps.append(int(raw) / 1000)
    return max(temps) if temps else None


def cpu_mhz() -> float | None:
    raw = _read("/sys/devices/system/cpu/cpu0/cpufreq/scaling_cur_freq")
    return int(raw) / 1000 if raw and raw.isdigit() else None


def throttled() -> str | None:
    """Raspberry Pi firmware throttle bits (0x0 = never throttled), where the kernel shows them."""
    return _read("/sys/devices/platform/soc/soc:firmware/get_throttled")


def _cpuinfo() -> dict:
    info: dict[str, str] = {}
    text = _read("/proc/cpuinfo") or ""
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() not in info:
            info[key.strip()] = value.strip()
    return info


def _memory_gb() -> float | None:
    m = re.search(r"MemTotal:\s+(\d+)", _read("/proc/meminfo") or "")
    return round(int(m.group(1)) / 1024**2, 1) if m else None


def _read(path) -> str | None:
    try:
        return Path(path).read_text(errors="replace").strip().strip("\x00") or None
    except OSError:
        return None
