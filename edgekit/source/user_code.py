"""`--import MODULE|FILE.py`: the user's own code, imported before a model that needs it loads.

Keras finds a custom class only when the module that registers it
(`@keras.saving.register_keras_serializable(package="my")`) has been imported in this
process. Importing it does not loosen safe mode: the file's classes come from the user's
code, never from the model file.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import re
import sys
from pathlib import Path
from types import ModuleType

from edgekit.errors import ConfigError

DOTTED = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")
PREFIX = "edgekit_user_"  # file imports get a module name of their own, never a clash


def import_user_code(spec: str | Path) -> ModuleType:
    """Import a module by dotted name (the current folder is searched too) or a `.py` file by
    path, so that the Keras classes it registers resolve when a model loads. Importing the
    same spec again returns the module already imported.

    Args:
        spec: "my_layers", "pkg.layers" or "path/to/layers.py".

    Returns:
        The imported module.

    Raises:
        ConfigError: no such module or file, or importing it raised (its first line said).

    Example:
        >>> import_user_code("my_layers.py")
        >>> edgekit.convert("model.keras", imports=["my_layers.py"])  # the same, in the API
    """
    text = str(spec).strip()
    if text.endswith(".py") or os.sep in text or "/" in text:
        return _from_file(Path(text), text)
    if not DOTTED.fullmatch(text):
        raise ConfigError(
            f"--import takes a module name or a .py file; got: {text!r}; e.g. --import "
            "my_layers or --import ./my_layers.py"
        )
    return _from_name(text)


def check(spec: str | Path) -> None:
    """Refuse a spec that cannot be imported, without importing it (for early validation)."""
    text = str(spec).strip()
    if text.endswith(".py") or os.sep in text or "/" in text:
        if not Path(text).is_file():
            raise ConfigError(_no_file(text))
    elif not DOTTED.fullmatch(text) or _find(text) is None:
        raise ConfigError(_no_module(text))


def _from_file(path: Path, text: str) -> ModuleType:
    if not path.is_file():
        raise ConfigError(_no_file(text))
    resolved = path.resolve()
    digest = hashlib.sha1(str(resolved).encode()).hexdigest()[:10]
    stem = re.sub(r"\W", "_", path.stem)
    name = f"{PREFIX}{stem}_{digest}"
    if name in sys.modules:
        return sys.modules[name]
    folder = str(resolved.parent)
    if folder not in sys.path:  # its own `import helpers` finds the files beside it
        sys.path.append(folder)
    spec = importlib.util.spec_from_file_location(name, resolved)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except (Exception, SystemExit) as e:  # a script that exits on import is a bad spec too
        del sys.modules[name]
        raise ConfigError(_failed(text, e)) from e
    return module


def _from_name(text: str) -> ModuleType:
    if _find(text) is None:
        raise ConfigError(_no_module(text))
    try:
        return importlib.import_module(text)
    except Exception as e:
        raise ConfigError(_failed(text, e)) from e


def _find(text: str):
    """The module's spec, with the current folder searched last (a console script's
    sys.path starts at its own bin folder, not where the user typed the command)."""
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        sys.path.append(cwd)
    try:
        return importlib.util.find_spec(text)
    except (ImportError, ValueError):  # a parent package that is missing or broken
        return None


def _no_file(text: str) -> str:
    return f"--import file not found; got: {text}; pass an existing .py file or a module name"


def _no_module(text: str) -> str:
    return (
        f"--import: no module named {text!r} on the Python path or in {os.getcwd()}; got: "
        f"{text}; pass the module's name as you would import it, or its .py file"
    )


def _failed(text: str, e: BaseException) -> str:
    first = next((ln.strip() for ln in str(e).splitlines() if ln.strip()), "")
    return (
        f"--import {text} failed while importing: {type(e).__name__}: {first[:200]}; "
        "fix that code (run it with python to see the traceback)"
    )
