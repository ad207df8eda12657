"""What machine a measurement was taken on: CPU, ISA features, OS, runtimes, clocks, heat.

Read from /proc and /sys where they exist (Linux, Raspberry Pi OS, JetPack); fields that a
platform does not expose are None rather than guessed. The code lives in
`edgekit.device.runner`, which is copied to remote devices as it is, so a device's fingerprint
and this machine's come from the same lines.
"""

from __future__ import annotations

from edgekit.device.runner import (
    ISA_FLAGS,
    RUNTIMES,
    cpu_mhz,
    fingerprint,
    has_bf16,
    isa_flags,
    state,
    temperature,
    throttled,
)

__all__ = [
    "ISA_FLAGS",
    "RUNTIMES",
    "cpu_mhz",
    "fingerprint",
    "has_bf16",
    "isa_flags",
    "state",
    "temperature",
    "throttled",
]
