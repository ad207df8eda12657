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
    ConfigError,
    ConversionError,
    DeviceUnavailableError,
    EdgeKitError,
    InputError,
    MissingDependencyError,
    ModelLoadError,
    OutputMismatchError,
    UnsafeModelError,
)

__version__ = "0.1.0"


def __getattr__(name):
    # heavy parts import on first use, so `import edgekit` stays light on a device
    if name == "load":
        from edgekit.runtimes import load

        return load
    if name == "convert":
        from edgekit.conversion import convert

        return convert
    if name == "benchmark":
        from edgekit.bench import benchmark

        return benchmark
    raise AttributeError(f"module 'edgekit' has no attribute {name!r}")


__all__ = [
    "Contract",
    "Preprocess",
    "TensorSpec",
    "ConfigError",
    "ConversionError",
    "DeviceUnavailableError",
    "EdgeKitError",
    "InputError",
    "MissingDependencyError",
    "ModelLoadError",
    "OutputMismatchError",
    "UnsafeModelError",
    "convert",
    "load",
    "benchmark",
]
