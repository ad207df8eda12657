"""Hardware-target profiles: `devices/*.toml`, one file per target; a new device is a new file.

A profile says what the device is (CPU clusters, ISA, accelerators with peak figures per
precision, memory bandwidth), what it usually runs (OS, Python, wheel platform tag, the light
runtime install), what suits it (recipe, format, precision, runtime, delegate, threads), how a
benchmark reaches it and which camera source the demo uses. Every figure names its source in
`[sources]` (a dotted key -> URL or the derivation).

Peak figures are in GFLOPS (GOPS for int8), counting a multiply-accumulate as two operations,
dense (NVIDIA's "sparse" TOPS are halved). `fp16` on a CPU without fp16 arithmetic is omitted.

Example:
    >>> from edgekit.device import profiles
    >>> p = profiles.get("rpi5")
    >>> p.cpu.cores, p.memory.bandwidth_gbs, p.recommended.runtime
    (4, 17.1, 'tflite')
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from edgekit import formats
from edgekit.converters.npu import VENDORS
from edgekit.errors import ConfigError
from edgekit.recipes import listing, read_toml

KINDS = ("sbc", "jetson", "phone", "accelerator", "pc", "generic")
REACHES = ("ssh", "adb", "local", "app", "usb-host")
ACCELERATOR_KINDS = ("gpu", "npu", "tpu", "ane", "dsp")
PRECISIONS = ("fp32", "fp16", "int8")
# runtime ids and the format each runs: one table, edgekit.formats.RUNTIMES
RUNTIME_IDS = tuple(formats.RUNTIMES)
RUNTIME_FORMAT = {r.id: r.format for r in formats.RUNTIMES.values()}
# NPU vendors LiteRT compiles ahead of time for (edgekit.converters.npu.VENDORS)
SOC_VENDORS = tuple(VENDORS)


@dataclass
class Cluster:
    """Identical cores sharing a clock: `cores` x `core` at `ghz` (the highest rated clock)."""

    cores: int
    core: str
    ghz: float


@dataclass
class CPU:
    arch: str  # aarch64 | x86_64 | armv7l
    clusters: list[Cluster]
    isa: list[str]
    peak_gflops: dict[str, float]  # all cores; precision -> GFLOPS (GOPS for int8)
    simd_channels: int = 0  # fp32 lanes of its kernels' vectors (0: derived from isa)

    @property
    def cores(self) -> int:
        return sum(c.cores for c in self.clusters)

    @property
    def max_ghz(self) -> float:
        return max((c.ghz for c in self.clusters), default=0.0)


@dataclass
class Memory:
    gb: float
    bandwidth_gbs: float  # theoretical peak DRAM bandwidth, GB/s


@dataclass
class Accelerator:
    name: str
    kind: str  # gpu | npu | tpu | ane | dsp (NVIDIA DLA: npu)
    runtimes: list[str] = field(default_factory=list)
    peak_gflops: dict[str, float] = field(default_factory=dict)
    memory_mb: float | None = None  # on-chip memory for weights (Edge TPU: ~8 MB SRAM)
    link_gbs: float | None = None  # host link when the accelerator is off-chip (USB 3.0: 0.625)
    soc: str = ""  # "vendor:model" an NPU build is compiled for (edgekit convert --to tflite:npu)
    note: str = ""


@dataclass
class Software:
    os: str
    python: str  # "" when no Python runs there (phones, iPhone apps)
    platform: str  # wheel platform tag pip should ask for ("" when no wheels apply)
    install: str  # the light runtime install line for this platform
    other_pythons: list[str] = field(default_factory=list)  # other usual images' Pythons
    note: str = ""

    @property
    def pythons(self) -> list[str]:
        return [p for p in [self.python, *self.other_pythons] if p]


@dataclass
class Recommended:
    format: str
    precision: str
    runtime: str
    delegate: str = ""
    threads: int = 0


@dataclass
class Camera:
    source: str  # what `edgekit demo --source` takes on that device
    note: str = ""
    pipeline: str = ""  # a GStreamer pipeline when the source needs one


@dataclass
class DeviceProfile:
    """One hardware target from `devices/ID.toml`."""

    id: str
    name: str
    kind: str
    reach: str
    recipe: str
    runtimes: list[str]
    cpu: CPU
    memory: Memory
    software: Software
    recommended: Recommended
    camera: Camera
    accelerators: list[Accelerator] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)
    note: str = ""

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["cpu"]["cores"] = self.cpu.cores
        return d

    def peak_gflops(self, runtime: str, precision: str) -> float | None:
        """Peak of the unit a runtime id uses: an accelerator's, else the CPU's; None if unknown."""
        for acc in self.accelerators:
            if runtime in acc.runtimes:
                return acc.peak_gflops.get(precision)
        return self.cpu.peak_gflops.get(precision)


def names() -> list[str]:
    """Ids of every profile in devices/."""
    return listing("devices")


def get(device_id: str) -> DeviceProfile:
    """The profile `devices/<device_id>.toml`.

    Raises:
        ConfigError: unknown id (the message lists the valid ids) or a malformed file.
    """
    return read_toml("devices", device_id, lambda data: build(device_id, data))


# The generic profile that stands in for this machine, by `platform.machine()`.
GENERIC = {"x86_64": "x86-64", "amd64": "x86-64", "aarch64": "aarch64", "arm64": "aarch64"}


def generic_local() -> DeviceProfile:
    """The generic profile of this machine's architecture (its peaks and bandwidth stand in
    for this machine's where a plan or pruning estimates here).

    Raises:
        ConfigError: an architecture without a generic profile.
    """
    import platform

    arch = platform.machine().lower()
    if arch not in GENERIC:
        raise ConfigError(
            f"no generic profile for this machine; got: {arch}; name a device id instead"
        )
    import os

    from edgekit.fingerprint import isa_flags

    return for_this_cpu(get(GENERIC[arch]), isa_flags(), os.cpu_count() or 1)


# x86 arithmetic per core-cycle against AVX2's 2 x 256-bit FMA (32 fp32 FLOP): AVX-512 doubles
# the vector (VFMADD on 16 lanes); VNNI's VPDPBUSD does a 4-way u8 x s8 dot product per 32-bit
# lane in one instruction (int8 4x fp32; 2x without it, through VPMADDUBSW + VPADDD);
# AVX512_BF16's VDPBF16PS does 2 bf16 products per lane (2x fp32). AMX is left out: its tile
# throughput needs large matrices that edge models rarely give it.
X86_FP32_PER_CYCLE = {"avx512f": 64, "avx2": 32}


def for_this_cpu(p: DeviceProfile, isa: list[str], cores: int) -> DeviceProfile:
    """A generic profile with this CPU's cores and ISA: its per-precision peaks follow the
    vector width and the int8 and bf16 instructions the flags show (x86), so an estimate here
    ranks int8, bf16 and fp32 as this CPU runs them."""
    per_core = {k: v / max(p.cpu.cores, 1) for k, v in p.cpu.peak_gflops.items()}
    peaks = {k: round(v * cores, 1) for k, v in per_core.items()}
    if p.cpu.arch == "x86_64":
        width = next((v for k, v in X86_FP32_PER_CYCLE.items() if k in isa), 32)
        fp32 = peaks["fp32"] * width / 32
        peaks["fp32"] = round(fp32, 1)
        peaks["int8"] = round(fp32 * (4 if {"avx512_vnni", "avx_vnni"} & set(isa) else 2), 1)
        if {"avx512_bf16", "amx_bf16"} & set(isa):
            peaks["fp16"] = round(2 * fp32, 1)  # the planner costs bf16 as 16-bit arithmetic
    clusters = [dataclasses.replace(p.cpu.clusters[0], cores=cores)]
    cpu = dataclasses.replace(p.cpu, clusters=clusters, isa=sorted(set(isa)), peak_gflops=peaks)
    return dataclasses.replace(p, cpu=cpu)


def all_profiles() -> list[DeviceProfile]:
    return [get(n) for n in names()]


def npu_soc(device_id: str | None) -> str:
    """The SoC a device's NPU builds are compiled for ("qualcomm:SM8650").

    Raises:
        ConfigError: no device, or one whose profile names no NPU SoC (lists those that do).
    """
    profile = get(device_id) if device_id else None
    soc = next((a.soc for a in profile.accelerators if a.soc), "") if profile else ""
    if not soc:
        phones = [p.id for p in all_profiles() if any(a.soc for a in p.accelerators)]
        got = f"--device {device_id}" if device_id else "no --device"
        raise ConfigError(
            f"tflite:npu is compiled for one phone's NPU; got: {got}; pass --device with one "
            f"of {', '.join(phones)}"
        )
    return soc


def build(device_id: str, data: dict) -> DeviceProfile:
    """A DeviceProfile from a parsed TOML table; ConfigError when a value is out of range."""
    data = dict(data)
    cpu = dict(data.pop("cpu"))
    cpu["clusters"] = [Cluster(**c) for c in cpu["clusters"]]
    profile = DeviceProfile(
        id=device_id,
        cpu=CPU(**cpu),
        memory=Memory(**data.pop("memory")),
        software=Software(**data.pop("software")),
        recommended=Recommended(**data.pop("recommended")),
        camera=Camera(**data.pop("camera")),
        accelerators=[Accelerator(**a) for a in data.pop("accelerators", [])],
        **data,
    )
    check(profile)
    return profile


def check(p: DeviceProfile) -> None:
    """Refuse values outside the agreed vocabularies, naming the file and the valid choices."""
    fields = [
        ("kind", [p.kind], KINDS),
        ("reach", [p.reach], REACHES),
        ("runtimes", p.runtimes, RUNTIME_IDS),
        ("recommended.runtime", [p.recommended.runtime], RUNTIME_IDS),
        ("cpu.peak_gflops", list(p.cpu.peak_gflops), PRECISIONS),
    ]
    for a in p.accelerators:
        fields += [
            ("accelerators.kind", [a.kind], ACCELERATOR_KINDS),
            ("accelerators.runtimes", a.runtimes, RUNTIME_IDS),
            ("accelerators.peak_gflops", list(a.peak_gflops), PRECISIONS),
        ]
    for key, values, choices in fields:
        bad = [v for v in values if v not in choices]
        if bad:
            raise ConfigError(
                f"device file {p.id}.toml: bad {key}; got: {bad[0]!r}; choose from "
                f"{', '.join(choices)}"
            )
    rec = formats.runtime(p.recommended.runtime)
    if rec.deprecated:  # a profile may list a deprecated runtime, never recommend it
        raise ConfigError(
            f"device file {p.id}.toml: recommended.runtime is deprecated; got: {rec.id}; "
            f"{rec.deprecated}"
        )
    for a in p.accelerators:
        vendor, _, model = a.soc.partition(":")
        if a.soc and (vendor not in SOC_VENDORS or not model):
            raise ConfigError(
                f"device file {p.id}.toml: bad accelerators.soc; got: {a.soc!r}; write "
                f"VENDOR:MODEL with VENDOR one of {', '.join(SOC_VENDORS)}"
            )
