"""TOML reading on every Python edgekit supports: the standard library's tomllib (3.11+), else
the same parser from PyPI (tomli) on Python 3.10 (JetPack 6's Python)."""

from __future__ import annotations

try:
    from tomllib import TOMLDecodeError, loads
except ModuleNotFoundError:  # Python 3.10
    from tomli import TOMLDecodeError, loads

__all__ = ["TOMLDecodeError", "loads"]
