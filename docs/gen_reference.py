"""Reference tables generated from the code: formats, runtime ids, recipes, hardware targets
and the public API; and the README's set-up commands and install table, shown in the docs
without a second copy.

The docs hook (`docs/hooks.py`) calls these on every build, so the pages cannot drift from
`edgekit.formats` or `edgekit.__all__`:

    python docs/gen_reference.py formats     # prints one of them (see GENERATORS)
"""

from __future__ import annotations

import dataclasses
import inspect
import re
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"
CONTRACT = README.parent / ".importlinter"


def formats_table() -> str:
    """One row per `edgekit.formats.FORMATS` entry."""
    from edgekit import formats

    rows = [
        "| format | files edgekit writes | also reads | precisions | runtime | "
        "`bench --on` | converted without `--to` |",
        "|---|---|---|---|---|---|---|",
    ]
    for f in formats.FORMATS.values():
        files = " + ".join(f"`{s}`" for s in (f.suffix, *f.sidecars))
        others = ", ".join(" + ".join(f"`{s}`" for s in (m, *side)) for m, side in f.layouts[1:])
        precisions = ", ".join(
            f"`{p}`" + ("\\*" if p in f.calibrated else "") for p in f.precisions
        )
        rows.append(
            f"| `{f.name}` | {files} | {others or '-'} | {precisions} | "
            f"{_install(f.extra)} | {'yes' if f.remote else 'no'} | "
            f"{'yes' if f.name in formats.DEFAULT_FORMATS else 'no'} |"
        )
    note = (
        "\\* needs calibration data (`--calib`). Runtime: what a device installs to run "
        "the format: the light install is `pip install edgekit`, an extra "
        '`pip install "edgekit[NAME]"`.'
    )
    return "\n".join(rows) + "\n\n" + note + "\n"


def _install(extra: str) -> str:
    return "light install" if not extra else f"`edgekit[{extra}]`"


# how a set field of `Runtime` reads in the notes column (a flag alone, a text after this)
LABELS = {
    "note": "",
    "fp16_default": "fp16 by default",
    "integer_only": "full-integer models only",
    "float_only": "float models only",
    "deprecated": "deprecated: ",
}


def runtimes_table() -> str:
    """One row per `edgekit.formats.RUNTIMES` entry; the notes column shows every other field
    of the record that is set, so a field added to `Runtime` shows up without a change here."""
    from edgekit import formats

    rows = ["| runtime id | format | runs on | notes |", "|---|---|---|---|"]
    for r in formats.RUNTIMES.values():
        notes = []
        for f in dataclasses.fields(r):
            value = getattr(r, f.name)
            if f.name in ("id", "format", "unit") or not value:
                continue
            label = LABELS.get(f.name, f.name.replace("_", " "))
            notes.append(label if value is True else f"{label}{value}")
        rows.append(f"| `{r.id}` | `{r.format}` | {r.unit} | {'; '.join(notes) or '-'} |")
    return "\n".join(rows) + "\n"


def recipes_table() -> str:
    """One row per recipe in `converters/*.toml`."""
    from edgekit import recipes

    rows = ["| recipe | targets | what for |", "|---|---|---|"]
    for name in recipes.names():
        r = recipes.get(name)
        targets = ", ".join(f"`{f}:{p}`" for f, p in r.targets)
        rows.append(f"| `{name}` | {targets} | {r.description} |")
    return "\n".join(rows) + "\n"


def devices_table() -> str:
    """One row per hardware target in `devices/*.toml`."""
    from edgekit.device import profiles

    rows = ["| target | what | reached by | recommended | recipe |", "|---|---|---|---|---|"]
    for p in profiles.all_profiles():
        rec = p.recommended
        best = f"`{rec.format}:{rec.precision}` on `{rec.runtime}`"
        best += f" ({rec.delegate})" if rec.delegate else ""
        rows.append(f"| `{p.id}` | {p.name} | {p.reach} | {best} | `{p.recipe}` |")
    return "\n".join(rows) + "\n"


def setup_commands() -> str:
    """The README's two set-up commands (its first bash block): one copy, shown here too."""
    found = re.search(r"^```bash\n.*?^```\n", README.read_text(), re.S | re.M)
    if not found:
        raise ValueError(f"no ```bash block in {README}; the set-up commands come first there")
    return found.group(0)


def install_table() -> str:
    """The install table of the README's Install section: one copy, shown here too."""
    section = README.read_text().partition("\n## Install\n")[2].split("\n## ")[0]
    rows = [line for line in section.splitlines() if line.startswith("|")]
    if not rows:
        raise ValueError(f"no table under '## Install' in {README}")
    return "\n".join(rows) + "\n"


def public_object(name: str):
    """The object `edgekit.NAME` stands for (no public name shares its name with a module)."""
    import edgekit

    return getattr(edgekit, name)


def api_reference() -> str:
    """A summary table, then mkdocstrings directives, for every name in `edgekit.__all__`,
    functions first, then classes, then errors."""
    import edgekit

    groups: dict[str, list[tuple[str, object]]] = {"Functions": [], "Classes": [], "Errors": []}
    for name in edgekit.__all__:
        obj = public_object(name)
        groups[_kind(obj)].append((name, obj))
    summary = ["| name | what | defined in |", "|---|---|---|"]
    details = []
    for title, items in groups.items():
        details += [f"## {title}", ""]
        for name, obj in items:
            path = f"{obj.__module__}.{obj.__qualname__}"
            first = (inspect.getdoc(obj) or "").split("\n\n")[0].replace("\n", " ")
            summary.append(f"| [`edgekit.{name}`][{path}] | {first} | `{obj.__module__}` |")
            details.append(
                f'::: {path}\n    options:\n      heading: "edgekit.{name}"\n'
                f'      toc_label: "{name}"\n      heading_level: 3\n'
            )
    return "\n".join(summary + [""] + details)


def _kind(obj) -> str:
    if inspect.isclass(obj):
        return "Errors" if issubclass(obj, BaseException) else "Classes"
    return "Functions"


def floors_table() -> str:
    """The layers of the import-linter contract (`.importlinter`, checked in CI), top first."""
    import configparser

    config = configparser.ConfigParser()
    config.read(CONTRACT)
    section = next(s for s in config.sections() if config[s].get("type") == "layers")
    layers = [ln.strip() for ln in config[section]["layers"].splitlines() if ln.strip()]
    rows = ["| floor | modules |", "|---|---|"]
    for n, layer in zip(range(len(layers), 0, -1), layers):
        names = [m.strip().removeprefix("edgekit.") for m in re.split(r"[|:]", layer)]
        rows.append(f"| {n} | {', '.join(f'`{m}`' for m in names)} |")
    ignored = [ln.strip() for ln in config[section].get("ignore_imports", "").splitlines()]
    rows += ["", "Imports the contract allows across floors, each with its reason in the file:", ""]
    rows += [f"- `{ln}`" for ln in ignored if ln and not ln.startswith("#")]
    return "\n".join(rows) + "\n"


GENERATORS = {
    "floors": floors_table,
    "formats": formats_table,
    "runtimes": runtimes_table,
    "recipes": recipes_table,
    "devices": devices_table,
    "api": api_reference,
    "setup": setup_commands,
    "install": install_table,
}

if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in GENERATORS:
        sys.exit(f"usage: python docs/gen_reference.py {'|'.join(GENERATORS)}")
    print(GENERATORS[sys.argv[1]]())
