"""Format registry: name -> "module:Class", imported only when that format is used."""

from __future__ import annotations

import importlib

from edgekit.converters.base import Converter, Precision, Tolerance, tolerance_for
from edgekit.errors import ConfigError

REGISTRY = {
    "tflite": "edgekit.converters.tflite:TFLiteConverter",
    "openvino": "edgekit.converters.openvino:OpenVINOConverter",
    "coreml": "edgekit.converters.coreml:CoreMLConverter",
    "onnx": "edgekit.converters.onnx:ONNXConverter",
    "ncnn": "edgekit.converters.ncnn:NCNNConverter",
}

# what each format can do, known without importing anything heavy
PRECISIONS = {
    "tflite": ("fp32", "fp16", "dynamic-int8", "int8", "int8-io", "uint8-io", "int16x8"),
    "openvino": ("fp32", "fp16", "bf16", "int8"),
    "coreml": ("fp32", "fp16", "int8", "palettize4", "palettize6", "palettize8"),
    "onnx": ("fp32",),
    "ncnn": ("fp32", "fp16"),
}


def get(name: str) -> Converter:
    if name not in REGISTRY:
        raise ConfigError(f"unknown format; got: {name!r}; choose from {', '.join(REGISTRY)}")
    module, cls = REGISTRY[name].split(":")
    return getattr(importlib.import_module(module), cls)()


def check_pair(fmt: str, precision: str) -> None:
    """Refuse an impossible format/precision pair before any work starts."""
    if fmt not in REGISTRY:
        raise ConfigError(f"unknown format; got: {fmt!r}; choose from {', '.join(REGISTRY)}")
    if precision not in PRECISIONS[fmt]:
        raise ConfigError(
            f"{fmt} cannot do precision {precision!r}; {fmt} can do: {', '.join(PRECISIONS[fmt])}"
        )
    if precision == "bf16":
        from edgekit.fingerprint import has_bf16, isa_flags

        if not has_bf16():
            raise ConfigError(
                f"{fmt}:bf16 needs a CPU with AVX512_BF16 or AMX (to check parity here); this "
                f"CPU has: {', '.join(isa_flags()) or 'none of the known flags'}; convert "
                "openvino:fp32 and load it with inference_precision='bf16' on a bf16 machine"
            )


__all__ = [
    "Converter",
    "Precision",
    "Tolerance",
    "tolerance_for",
    "get",
    "check_pair",
    "REGISTRY",
    "PRECISIONS",
]
