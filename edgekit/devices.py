"""Hardware-target profiles; kept so `from edgekit import devices` keeps working.

The code lives in `edgekit.device.profiles`.
"""

from edgekit.device.profiles import DeviceProfile, all_profiles, get, names

__all__ = ["DeviceProfile", "all_profiles", "get", "names"]
