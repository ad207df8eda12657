"""Hardware-target profiles: `devices/*.toml`. Adding a device is adding a file.

A profile names the recipe that suits the device and how a benchmark reaches it; latency
estimates for devices that are not attached build on the same profiles.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import tomllib

from edgekit.errors import ConfigError
from edgekit.recipes import data_dir


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
    return sorted(p.stem for p in data_dir("devices").glob("*.toml"))


def get(device_id: str) -> DeviceProfile:
    path = data_dir("devices") / f"{device_id}.toml"
    if not path.is_file():
        raise ConfigError(f"unknown device; got: {device_id!r}; choose from {', '.join(names())}")
    try:
        return DeviceProfile(id=device_id, **tomllib.loads(path.read_text()))
    except (tomllib.TOMLDecodeError, TypeError) as e:
        raise ConfigError(f"device profile {path.name} is malformed: {e}") from e
