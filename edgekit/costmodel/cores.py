"""What a CPU's cores give the runtimes: each core's share of the peak, and the instructions the
runtimes can see.

- Big and little cores differ in vector width, not only in clock: a Cortex-A76 issues two
  128-bit FMAs per cycle (16 fp32 FLOP), the Cortex-A55 beside it one (8); Apple's Lightning
  three, its Thunder cores one; Intel's Redwood Cove P-cores two 256-bit FMAs (32), the
  Crestmont E-cores two 128-bit (16). Threads placed on the fastest cores first reach a share
  of the peak weighted by clock x FLOP per cycle, the same sum the profiles' `cpu.peak_gflops`
  derivations use (`devices/*.toml` [sources]); `share_weights` checks the table against that
  sum and falls back to clocks alone when they disagree.
- Dot-product instructions (SDOT/UDOT) are used by XNNPACK, ruy and ncnn only where the OS
  reports them (HWCAP_ASIMDDP, Linux 4.15 and later). Phones of the Snapdragon 845/670 era run
  4.9 kernels that do not, and cpuinfo's MIDR whitelist for old kernels names only the Kryo 485
  Gold (Cortex-A76) (pytorch/cpuinfo src/arm/linux/aarch64-isa.c: "Many phones ship with an old
  kernel configuration that doesn't report UDOT/SDOT instructions"). On the Kryo 385/360 int8
  then runs on widening 16-bit multiply-accumulates: 2x fp32, as on any core without SDOT.
"""

from __future__ import annotations

import re

# fp32 FLOP per cycle per core (FMA lanes x 2), by core name; the first match wins (specific
# names before the families they contain). Sources: Arm's and Intel's optimization guides, as
# quoted in the profiles' peak derivations.
FP32_FLOP_PER_CYCLE = (
    ("cortex-x4", 32), ("cortex-x3", 32), ("cortex-x2", 32), ("cortex-x1", 32),
    ("a720", 16), ("a715", 16), ("a710", 16), ("a78", 16), ("a77", 16), ("a76", 16),
    ("neoverse-n1", 16), ("a520", 8), ("a510", 8), ("a75", 8), ("a73", 8), ("a72", 8),
    ("a57", 8), ("a55", 8), ("a53", 8), ("kryo", 8), ("firestorm", 32), ("icestorm", 16),
    ("lightning", 24), ("vortex", 24), ("thunder", 8), ("tempest", 8),
    ("redwood cove", 32), ("crestmont", 16), ("tremont", 8),
)  # fmt: skip
# cores whose dot product the runtimes cannot see on the kernels their phones ship
DOT_UNSEEN = ("kryo 385", "kryo 360")
PEAK_TOLERANCE = 0.05  # the table's sum against the profile's fp32 peak


def flop_per_cycle(core: str) -> int | None:
    """fp32 FLOP per cycle of one core by its name, or None when the table lacks it."""
    low = core.lower()
    return next((w for key, w in FP32_FLOP_PER_CYCLE if re.search(re.escape(key), low)), None)


def share_weights(cpu) -> list[float]:
    """Each core's weight in the CPU's peak (one entry per core, fastest first): clock x FLOP
    per cycle where the table knows every cluster and reproduces the profile's fp32 peak,
    else the clock alone."""
    widths = [flop_per_cycle(c.core) for c in cpu.clusters]
    peak = cpu.peak_gflops.get("fp32")
    if None not in widths and peak:
        total = sum(c.cores * c.ghz * w for c, w in zip(cpu.clusters, widths))
        if abs(total / peak - 1) <= PEAK_TOLERANCE:
            weights = [c.ghz * w for c, w in zip(cpu.clusters, widths) for _ in range(c.cores)]
            return sorted(weights, reverse=True)
    return sorted((c.ghz for c in cpu.clusters for _ in range(c.cores)), reverse=True)


def dot_seen(cpu) -> bool:
    """Whether the runtimes use SDOT/UDOT on this CPU: the ISA has it and the OS reports it."""
    if "asimddp" not in cpu.isa:
        return False
    return not any(key in c.core.lower() for c in cpu.clusters for key in DOT_UNSEEN)


def usable_isa(cpu) -> set[str]:
    """The ISA features the runtimes detect and use."""
    isa = set(cpu.isa)
    return isa if dot_seen(cpu) else isa - {"asimddp"}


def cpu_peaks(cpu) -> dict[str, float]:
    """The CPU's peaks per precision as the runtimes reach them: int8 at 2x fp32 where the
    profile counts a dot product the runtimes cannot see."""
    peaks = dict(cpu.peak_gflops)
    if "asimddp" in cpu.isa and not dot_seen(cpu) and peaks.get("fp32") and peaks.get("int8"):
        peaks["int8"] = min(peaks["int8"], 2 * peaks["fp32"])
    return peaks
