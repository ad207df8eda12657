"""Hardware-target profiles: `devices/*.toml`. Adding a device is adding a file.

A profile names the recipe that suits the device and how a benchmark reaches it; latency
estimates for devices that are not attached build on the same profiles.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from edgekit.recipes import listing, read_toml


@dataclass
class DeviceProfile:
    id: str
    name: str
    recipe: str
    runtime: str
    cpu: str = ""
    cores: int = 0
    isa: list[str] = field(default_factory=list)
    reach: str = "none"


def names() -> list[str]:
    return listing("devices")


def get(device_id: str) -> DeviceProfile:
    return read_toml("devices", device_id, lambda data: DeviceProfile(id=device_id, **data))
