"""edgekit: take a trained Keras model to edge devices and prove it works there.

import edgekit
report = edgekit.convert("model.keras", to=["tflite", "openvino"], precisions=["fp16"])
session = edgekit.load("out/model_fp16.tflite")
probs = session.predict_image(frame)
"""

import os as _os

# TensorFlow's C++ logging drowns the CLI's output; users can still set their own level.
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from edgekit.contract import Contract, Preprocess, TensorSpec  # noqa: E402
from edgekit.errors import (  # noqa: E402
    BudgetNotMetError,
    ConfigError,
    ConnectionLostError,
    ConversionError,
    DeviceUnavailableError,
    EdgeKitError,
    HostKeyError,
    InputError,
    MissingDependencyError,
    ModelLoadError,
    NativeCrashError,
    OutputMismatchError,
    RemoteError,
    UnsafeModelError,
)

try:  # the installed distribution's version: one place, pyproject.toml
    from importlib.metadata import PackageNotFoundError as _NotFound
    from importlib.metadata import version as _version

    __version__ = _version("edgekit")
except _NotFound:  # a source tree on sys.path without an install
    __version__ = "0+unknown"


# public name -> "module:attribute", imported on first use so `import edgekit` stays light
_LAZY = {
    "load": "edgekit.runtimes:load",
    "convert": "edgekit.conversion:convert",
    "benchmark": "edgekit.bench:benchmark",
    "estimate": "edgekit.costmodel:estimate",
    "plan": "edgekit.planner:plan",
    "prune": "edgekit.optimize:prune",
    "prune_channels": "edgekit.optimize:prune_channels",
    "run_demo": "edgekit.demo:run_demo",
    "DeviceProfile": "edgekit.device.profiles:DeviceProfile",
    "profile": "edgekit.device.profiles:get",
}


def __dir__():
    return sorted({*globals(), *_LAZY})


def __getattr__(name):
    if name not in _LAZY:
        raise AttributeError(f"module 'edgekit' has no attribute {name!r}")
    import importlib

    module, attr = _LAZY[name].split(":")
    value = getattr(importlib.import_module(module), attr)
    globals()[name] = value  # bound once: later lookups skip __getattr__
    return value


__all__ = [
    "Contract",
    "Preprocess",
    "TensorSpec",
    "BudgetNotMetError",
    "ConfigError",
    "ConnectionLostError",
    "ConversionError",
    "DeviceUnavailableError",
    "EdgeKitError",
    "HostKeyError",
    "InputError",
    "MissingDependencyError",
    "ModelLoadError",
    "NativeCrashError",
    "OutputMismatchError",
    "RemoteError",
    "UnsafeModelError",
    *_LAZY,
]
