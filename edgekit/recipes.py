"""Named conversion recipes: `converters/*.toml`. Adding a recipe is adding a file."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from edgekit import _toml as toml
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


def listing(folder: str) -> list[str]:
    """Names of the TOML files in a data folder."""
    return sorted(p.stem for p in data_dir(folder).glob("*.toml"))


def read_toml(folder: str, name: str, build):
    """`build(dict)` of `folder/name.toml`; ConfigError for an unknown name or a bad file."""
    path = data_dir(folder) / f"{name}.toml"
    what = {"converters": "recipe", "devices": "device"}[folder]
    if not path.is_file():
        choices = ", ".join(listing(folder))
        raise ConfigError(f"unknown {what}; got: {name!r}; choose from {choices}")
    try:
        return build(toml.loads(path.read_text()))
    except (toml.TOMLDecodeError, KeyError, TypeError) as e:
        raise ConfigError(f"{what} file {path.name} is malformed: {e}") from e


def names() -> list[str]:
    return listing("converters")


def get(name: str) -> Recipe:
    """A recipe by name (`converters/NAME.toml`) or by the path of a TOML file of the same
    shape (`edgekit plan` writes one beside its pick)."""

    def build(data: dict) -> Recipe:
        targets = [parse_target(t) for t in data["targets"]]
        return Recipe(name, data.get("description", ""), targets, data.get("options", {}))

    path = Path(name)
    if path.suffix == ".toml" or len(path.parts) > 1:
        if not path.is_file():
            raise ConfigError(f"recipe file not found; got: {name}; pass a recipe name "
                              f"({', '.join(names())}) or an existing .toml file")  # fmt: skip
        try:
            return build(toml.loads(path.read_text()))
        except (toml.TOMLDecodeError, KeyError, TypeError) as e:
            raise ConfigError(f"recipe file {path} is malformed: {e}") from e
    return read_toml("converters", name, build)


def parse_target(text: str) -> tuple[str, str]:
    """`tflite:int8` -> ("tflite", "int8"); a bare format gets "" (meaning: use --precision)."""
    fmt, _, precision = str(text).strip().partition(":")
    return fmt.strip().lower(), precision.strip().lower()
