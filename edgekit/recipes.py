"""Named conversion recipes: `converters/*.toml`. Adding a recipe is adding a file."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import tomllib

from edgekit.errors import ConfigError

PACKAGE = Path(__file__).parent


def data_dir(name: str) -> Path:
    """A top-level data folder (`converters`, `devices`): in the wheel or in a checkout."""
    for candidate in (PACKAGE / "_data" / name, PACKAGE.parent / name):
        if candidate.is_dir():
            return candidate
    raise ConfigError(f"edgekit's {name}/ data folder is missing; reinstall edgekit")


@dataclass
class Recipe:
    name: str
    description: str
    targets: list[tuple[str, str]]  # (format, precision)
    options: dict = field(default_factory=dict)  # calib_samples, preprocess, ...


def names() -> list[str]:
    return sorted(p.stem for p in data_dir("converters").glob("*.toml"))


def get(name: str) -> Recipe:
    path = data_dir("converters") / f"{name}.toml"
    if not path.is_file():
        raise ConfigError(f"unknown recipe; got: {name!r}; choose from {', '.join(names())}")
    try:
        data = tomllib.loads(path.read_text())
        targets = [parse_target(t) for t in data["targets"]]
    except (tomllib.TOMLDecodeError, KeyError, TypeError) as e:
        raise ConfigError(f"recipe {path.name} is malformed: {e}") from e
    return Recipe(name, data.get("description", ""), targets, data.get("options", {}))


def parse_target(text: str) -> tuple[str, str]:
    """`tflite:int8` -> ("tflite", "int8"); a bare format gets "" (meaning: use --precision)."""
    fmt, _, precision = str(text).strip().partition(":")
    return fmt.strip().lower(), precision.strip().lower()
