"""`edgekit doctor`: is this machine, or a target device, ready to run an artifact?

Without a target: this machine's Python, glibc, arch, ISA flags, which runtimes import (each in
a child process, so a broken wheel cannot crash the doctor) and their versions, cameras, and
whether temperature, clock and governor can be read. With a target: whether the runtime wheels
it needs exist for its platform and Python(s) on the package index, asked as pip would. With an
artifact: its ops and dtypes against what the runtime or delegate takes, and its memory against
the device's.

Example:
    >>> report = diagnose("out/shapes_fp32.tflite", target="coral-usb")
    >>> report.blocked
    True
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

from edgekit import formats
from edgekit.device import checks, profiles, wheels
from edgekit.device.runner import isa_flags, read_sys

OK, INFO, WARN, BLOCK = "ok", "info", "warn", "block"
# runtime id -> PyPI projects that provide it (any one is enough); None: not from PyPI
WHEELS = {
    "tflite": ("ai-edge-litert", "tflite-runtime"),
    "tflite-gpu": None,
    "litert-gpu": ("ai-edge-litert",),
    "litert-npu": None,
    "tflite-coreml": None,
    "nnapi": None,
    "onnxruntime-qnn": ("onnxruntime-qnn",),
    "onnxruntime-nnapi": None,
    "edgetpu": ("ai-edge-litert", "tflite-runtime"),
    "onnxruntime": ("onnxruntime",),
    "tensorrt": None,
    "openvino": ("openvino",),
    "openvino-gpu": ("openvino",),
    "ncnn": ("ncnn",),
    "ncnn-vulkan": ("ncnn",),
}
NOT_PYPI = {
    "tensorrt": "TensorRT comes with JetPack (apt: nvidia-jetpack, python3-libnvinfer)",
    "edgetpu": "libedgetpu1-std from the Coral apt repository, loaded as a TFLite delegate",
    "litert-npu": "the vendor's LiteRT dispatch library on the phone (LiteRT's Maven package) "
    "and a build made for its SoC: edgekit convert --to tflite:npu --device ID",
}
# runtimes that hand (part of) the graph to an accelerator: unsupported ops fall back to the CPU
DELEGATED = {r.id for r in formats.RUNTIMES.values() if r.unit != "cpu"}
# module, distribution: what `import` proves for each runtime on this machine
IMPORTS = (
    ("ai_edge_litert.interpreter", "ai-edge-litert"),
    ("tflite_runtime.interpreter", "tflite-runtime"),
    ("openvino", "openvino"),
    ("onnxruntime", "onnxruntime"),
    ("coremltools", "coremltools"),
    ("ncnn", "ncnn"),
    ("numpy", "numpy"),
    ("cv2", "opencv-python-headless"),
)


@dataclass
class Check:
    """One line of the doctor's table."""

    area: str  # machine | runtime | camera | wheel | artifact | memory
    item: str
    status: str  # ok | info | warn | block
    detail: str


@dataclass
class Report:
    target: str | None
    artifact: str | None
    checks: list[Check] = field(default_factory=list)

    @property
    def blocked(self) -> bool:
        return any(c.status == BLOCK for c in self.checks)

    def add(self, area: str, item: str, status: str, detail: str) -> None:
        self.checks.append(Check(area, item, status, detail))

    def to_dict(self) -> dict:
        return {**asdict(self), "blocked": self.blocked}


def diagnose(
    artifact: str | Path | None = None,
    *,
    target: str | None = None,
    pythons: list[str] | None = None,
    refresh: bool = False,
) -> Report:
    """Check this machine (no target) or a target profile, and an artifact against it.

    Args:
        artifact: a .tflite, .onnx, OpenVINO .xml, ncnn .param or .mlpackage to check.
        target: a device id from `edgekit devices`; None checks this machine.
        pythons: Python versions to ask the index about (default: the profile's).
        refresh: ask the package index again instead of using the day-old cache.

    Raises:
        ConfigError: unknown target; ModelLoadError: unreadable artifact.
    """
    profile = profiles.get(target) if target else None
    report = Report(target, str(artifact) if artifact else None)
    info = checks.read(Path(artifact)) if artifact else None
    if profile is None:
        machine(report)
    else:
        target_wheels(report, profile, pythons or profile.software.pythons, refresh=refresh)
    if info is not None:
        artifact_checks(report, info, profile)
    return report


# -- this machine ----------------------------------------------------------------------------
def machine(report: Report) -> None:
    libc, libc_version = platform.libc_ver()
    report.add("machine", "python", OK, f"{platform.python_version()} ({sys.executable})")
    report.add("machine", "arch", OK, f"{platform.machine()}, {libc or 'libc'} {libc_version}")
    flags = isa_flags()
    report.add("machine", "isa", OK if flags else WARN, " ".join(flags) or "no flags read")
    for name, result in imports().items():
        if result.get("ok"):
            report.add("runtime", name, OK, result.get("detail", ""))
        elif result.get("installed"):
            report.add("runtime", name, WARN, f"installed but does not import: {result['error']}")
    cameras(report)
    readable(report)


def imports(pairs: tuple[tuple[str, str], ...] = IMPORTS) -> dict[str, dict]:
    """Try each (module, distribution) import in one child process; a crash there is reported,
    not fatal. Returns distribution -> {"ok", "detail" | "error"} for the installed ones."""
    script = _IMPORT_SCRIPT % json.dumps(pairs)
    try:
        out = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
        )
        return json.loads(out.stdout.strip().splitlines()[-1])
    except (subprocess.TimeoutExpired, ValueError, IndexError) as e:
        return {"imports": {"ok": False, "installed": True, "error": f"import probe failed: {e}"}}


_IMPORT_SCRIPT = """
import importlib, json, sys
from importlib import metadata
out = {}
for module, dist in json.loads(%r):
    try:
        version = metadata.version(dist)
    except metadata.PackageNotFoundError:
        continue
    try:
        mod = importlib.import_module(module)
        detail = version
        if module == "openvino":
            detail += " devices: " + ",".join(mod.Core().available_devices)
        if module == "onnxruntime":
            detail += " providers: " + ",".join(mod.get_available_providers())
        out[dist] = {"ok": True, "detail": detail}
    except Exception as e:
        out[dist] = {"ok": False, "installed": True, "error": " ".join(str(e).split())[:200]}
print(json.dumps(out))
"""


def cameras(report: Report) -> None:
    videos = sorted(str(p) for p in Path("/dev").glob("video*"))
    report.add("camera", "v4l2", OK if videos else INFO, ", ".join(videos) or "no /dev/video*")
    if Path("/dev/media0").exists() or Path("/proc/device-tree/model").exists():
        import importlib.util

        found = importlib.util.find_spec("picamera2") is not None
        report.add(
            "camera", "picamera2", OK if found else INFO, "importable" if found else "absent"
        )


def readable(report: Report) -> None:
    """Benchmarks record temperature, clock and governor; say which this machine exposes."""
    zones = list(Path("/sys/class/thermal").glob("thermal_zone*/temp"))
    temps = [t for z in zones if (t := read_sys(z))]
    report.add("machine", "thermal", OK if temps else INFO, f"{len(temps)} zone(s) readable")
    clock = read_sys("/sys/devices/system/cpu/cpu0/cpufreq/scaling_cur_freq")
    report.add(
        "machine",
        "clock",
        OK if clock else INFO,
        f"{int(clock) / 1000:.0f} MHz" if clock else "cpufreq not exposed",
    )
    governor = read_sys("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor")
    status = INFO if governor in (None, "performance") else WARN
    hint = "" if status == INFO else " (set 'performance' for steady benchmarks)"
    report.add("machine", "governor", status, f"{governor or 'not exposed'}{hint}")
    report.add("machine", "cores", OK, f"{os.cpu_count()} logical")


# -- a target's wheels -------------------------------------------------------------------------
def target_wheels(report: Report, profile, pythons: list[str], *, refresh: bool = False) -> None:
    sw = profile.software
    report.add("target", profile.id, INFO, f"{profile.name}; {sw.os}")
    deprecated_runtimes(report, profile)
    if not sw.platform or not pythons:
        report.add("wheel", "python", INFO, f"no Python on {profile.id}: {sw.install}")
        return
    needed = profile.recommended.runtime
    for runtime in profile.runtimes:
        projects = WHEELS.get(runtime)
        if runtime in NOT_PYPI:
            report.add("wheel", runtime, INFO, NOT_PYPI[runtime])
        if not projects or (runtime != needed and runtime.endswith(("-gpu", "-vulkan"))):
            continue
        for python in pythons:
            answers = [
                wheels.check(p, python=python, platform=sw.platform, refresh=refresh)
                for p in projects
            ]
            found = [a for a in answers if a.found]
            detail = "; ".join(_wheel_line(a) for a in answers)
            status = OK if found else (BLOCK if runtime == needed else WARN)
            report.add("wheel", f"{runtime} py{python}", status, f"{sw.platform}: {detail}")


def deprecated_runtimes(report: Report, profile) -> None:
    """A runtime the profile still lists but that is on its way out (NNAPI from Android 15):
    one warning each, with what to use instead."""
    for rid in profile.runtimes:
        why = formats.runtime(rid).deprecated
        if why:
            report.add("runtime", rid, WARN, why)


def _wheel_line(a: wheels.WheelAnswer) -> str:
    if a.found:
        return f"{a.package} {a.version} ({a.wheel})"
    newest = f" (newest release {a.latest} has none)" if a.latest else " (not on the index)"
    return f"{a.package}: no wheel{newest}"


# -- an artifact against a target -------------------------------------------------------------
def artifact_checks(report: Report, info: checks.ArtifactInfo, profile) -> None:
    dtypes = ", ".join(f"{d} x{n}" for d, n in info.compute_dtypes.most_common()) or "unknown"
    report.add(
        "artifact",
        "ops",
        INFO,
        f"{info.format}: {sum(info.ops.values())} ops, {len(info.ops)} types; inputs {dtypes}",
    )
    runtimes = profile.runtimes if profile else local_runtimes(info.format)
    usable = [r for r in runtimes if profiles.RUNTIME_FORMAT.get(r) == info.format]
    where = profile.id if profile else "this machine"
    if not usable:
        formats = sorted({profiles.RUNTIME_FORMAT[r] for r in runtimes})
        report.add(
            "artifact",
            "format",
            BLOCK,
            f"{where} has no runtime for this format; got: {info.format}; "
            f"convert to {', '.join(formats) or 'another format'}",
        )
        return
    if checks.NPU_DISPATCH_OP in info.ops:  # an NPU build runs on its own SoC only
        npu_build(report, info, profile)
        usable = [r for r in usable if r == "litert-npu"] or usable
    for runtime in usable:
        op_checks(report, info, runtime, profile)
    memory_check(report, info, profile)


def npu_build(report: Report, info, profile) -> None:
    """Which SoC an NPU build was compiled for, and where its ops landed (the manifest's
    record when it is beside the file; else what the file itself shows)."""
    from edgekit.manifest import sibling_manifest

    art = (m := sibling_manifest(info.path)) and m.find(info.path)
    placed = art.placement if art and art.placement else None
    soc = placed["soc"] if placed else info.stamp or "an unknown SoC"
    if placed:
        cpu = ", ".join(f"{k} x{v}" for k, v in placed["cpu_ops"].items()) or "none"
        detail = (f"compiled for {soc}: {sum(placed['npu_ops'].values())} ops on the NPU in "
                  f"{placed['partitions']} partition(s); on the CPU: {cpu}")  # fmt: skip
    else:
        cpu = sorted(o for o in info.ops if o != checks.NPU_DISPATCH_OP)
        detail = (f"compiled for {soc}: {info.ops[checks.NPU_DISPATCH_OP]} NPU partition(s); "
                  f"on the CPU: {', '.join(cpu) or 'none'}")  # fmt: skip
    want = next((a.soc for a in profile.accelerators if a.soc), "") if profile else ""
    if profile and want.split(":")[-1].lower() not in soc.lower():
        report.add("artifact", "npu", BLOCK, f"{detail}; {profile.id}'s NPU is {want or 'none'}: "
                   f"convert again with --device {profile.id}")  # fmt: skip
        return
    where = "" if profile else "; numbers need the phone (edgekit bench --on adb)"
    report.add("artifact", "npu", OK if profile else INFO, detail + where)


def local_runtimes(fmt: str) -> list[str]:
    """Runtime ids this machine can load (by import), for the artifact's format."""
    have = {d for d, r in imports().items() if r.get("ok")}
    by_dist = {
        "ai-edge-litert": "tflite",
        "tflite-runtime": "tflite",
        "openvino": "openvino",
        "onnxruntime": "onnxruntime",
        "ncnn": "ncnn",
        "coremltools": "coreml",
    }
    return sorted({by_dist[d] for d in have if d in by_dist})


def op_checks(report: Report, info, runtime: str, profile) -> None:
    if runtime == "litert-npu" and checks.NPU_DISPATCH_OP not in info.ops:
        where = profile.id if profile else "ID"
        report.add("artifact", runtime, INFO, "not an NPU build (the vendor compiler decides "
                   f"what it takes): edgekit convert --to tflite:npu --device {where}")  # fmt: skip
        return
    bad = checks.unsupported(info, runtime)
    delegate = runtime in DELEGATED
    if runtime == "edgetpu":
        if not checks.is_fully_integer(info):
            floats = sum(n for d, n in info.compute_dtypes.items() if d in checks.FLOAT_TYPES)
            report.add(
                "artifact",
                "edgetpu",
                BLOCK,
                f"float model: the Edge TPU runs only full-integer int8/uint8 models; "
                f"got: {floats} ops with float inputs; convert with --device "
                f"{profile.id if profile else 'coral-usb'} (tflite:uint8-io) + edgetpu_compiler",
            )
            return
        if "CUSTOM:edgetpu-custom-op" not in info.ops:
            report.add(
                "artifact",
                "edgetpu",
                WARN,
                "full-integer but not compiled: run edgetpu_compiler on it, "
                "or every op runs on the host CPU",
            )
    if bad:
        status = WARN if delegate else BLOCK
        what = "falls back to the CPU" if delegate else "cannot run"
        report.add(
            "artifact", runtime, status, f"{len(bad)} op type(s) {what}: {', '.join(bad[:12])}"
        )
    else:
        report.add("artifact", runtime, OK, "every op supported")
    if profile and runtime == profile.recommended.runtime:
        dtype_hints(report, info, runtime, profile)


def dtype_hints(report: Report, info, runtime: str, profile) -> None:
    if (
        info.compute_dtypes.get("float16")
        and "fp16" not in profile.cpu.peak_gflops
        and runtime in ("tflite", "onnxruntime", "ncnn")
    ):
        report.add(
            "artifact",
            "dtype",
            INFO,
            f"{profile.id}'s CPU has no fp16 arithmetic: fp16 weights are widened to fp32 "
            "(smaller file, no speed-up)",
        )
    if profile.id == "jetson-nano" and checks.is_fully_integer(info):
        report.add(
            "artifact",
            "dtype",
            WARN,
            "Maxwell GPUs have no int8 path: TensorRT runs int8 models in fp16/fp32",
        )


def memory_check(report: Report, info, profile) -> None:
    need_mb = (info.weight_bytes + info.activation_bytes) / 2**20 + 50  # + runtime overhead
    total_gb = profile.memory.gb if profile else (_machine_memory_gb() or 0)
    if not total_gb:
        return
    share = need_mb / (total_gb * 1024)
    status = BLOCK if share > 0.8 else WARN if share > 0.4 else OK
    report.add("memory", "ram", status, f"about {need_mb:.0f} MB needed of {total_gb:g} GB")
    for acc in profile.accelerators if profile else []:
        if acc.memory_mb and info.weight_bytes / 2**20 > acc.memory_mb:
            report.add(
                "memory",
                acc.name,
                WARN,
                f"weights {info.weight_bytes / 2**20:.1f} MB exceed its {acc.memory_mb:g} MB "
                "on-chip memory: the rest streams from the host on every inference",
            )


def _machine_memory_gb() -> float | None:
    from edgekit.device.runner import memory_gb

    return memory_gb()
