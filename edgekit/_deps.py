"""Optional imports that fail with the pip command that fixes them."""

from __future__ import annotations

import importlib
from types import ModuleType

from edgekit.errors import MissingDependencyError

# module -> the extra of edgekit that installs it
EXTRAS = {
    "tensorflow": "convert",
    "keras": "convert",
    "openvino": "openvino",
    "nncf": "convert",
    "coremltools": "convert",
    "tf2onnx": "convert",
    "onnx": "convert",
    "onnxruntime": "onnx",
    "optuna": "plan",
    "filelock": "plan",
    "ray": "ray",
    "cv2": "",
}


def need(module: str, *, what: str = "") -> ModuleType:
    """Import `module` or raise MissingDependencyError with the install hint."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        top = module.split(".")[0]
        extra = EXTRAS.get(top, "convert")
        target = f'"edgekit[{extra}]"' if extra else "edgekit"
        purpose = f" (needed for {what})" if what else ""
        raise MissingDependencyError(
            f"{top} is not installed{purpose}; fix: pip install {target}"
        ) from e


def version(module: str) -> str | None:
    """The installed version of a distribution or module, or None."""
    from importlib import metadata

    for name in (module, module.replace("_", "-")):
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return None
