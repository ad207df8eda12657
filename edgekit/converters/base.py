"""What every format's converter provides, and the precisions edgekit knows."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import ClassVar

import numpy as np

from edgekit.errors import ConversionError


class Precision(str, Enum):
    FP32 = "fp32"
    FP16 = "fp16"
    BF16 = "bf16"  # OpenVINO: an fp32 IR executed with INFERENCE_PRECISION_HINT=bf16
    DYNAMIC_INT8 = "dynamic-int8"  # int8 weights, float activations (TFLite dynamic range)
    INT8 = "int8"  # full-integer (TFLite, OpenVINO) or int8 weights (Core ML); float I/O
    INT8_IO = "int8-io"  # full-integer with int8 input and output tensors
    UINT8_IO = "uint8-io"  # full-integer with uint8 input and output tensors
    INT16X8 = "int16x8"  # int16 activations, int8 weights
    NPU = "npu"  # TFLite full-integer, compiled ahead of time for one phone's NPU (--device)
    PALETTIZE4 = "palettize4"  # Core ML 4-bit k-means weight palette
    PALETTIZE6 = "palettize6"
    PALETTIZE8 = "palettize8"


@dataclass
class Result:
    """What a converter reports besides the file it wrote."""

    tools: dict[str, str]
    notes: list[str] = field(default_factory=list)
    route: str = ""  # which of the converter's routes wrote the file
    route_errors: dict[str, str] = field(default_factory=dict)  # routes tried before it
    placement: dict | None = None  # an NPU build: which ops landed on the NPU (converters.npu)


@dataclass
class Route:
    """One way of producing a format: `write(dest) -> Result`. A converter lists its routes
    best first; `edgekit.convert` tries them in order and verifies each artifact the same way,
    whichever route made it."""

    name: str
    write: Callable[[Path], Result]


class Converter:
    """One output format. Subclasses set `name` (a row of `edgekit.formats.FORMATS`, which
    gives the suffix, the precisions and which of them need calibration) and list `routes`."""

    name: ClassVar[str]
    suffix: ClassVar[str]
    precisions: ClassVar[tuple[Precision, ...]]
    calibrated: ClassVar[frozenset[Precision]]

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        from edgekit import formats

        row = formats.get(cls.name)
        cls.suffix = row.suffix
        cls.precisions = tuple(Precision(p) for p in row.precisions)
        cls.calibrated = frozenset(Precision(p) for p in row.calibrated)

    def routes(self, source, precision: Precision, *, calib, metadata: str) -> list[Route]:
        """The ways to make this format from `source` (edgekit.source.SourceModel), best
        first. `calib` is one array (single-input model), a list of arrays, or None."""
        raise NotImplementedError

    def write(
        self,
        source,
        precision: Precision,
        dest: Path,
        *,
        calib: np.ndarray | list[np.ndarray] | None,
        metadata: str,
    ) -> Result:
        """Write the artifact at `dest` by the first route that succeeds (no parity check:
        `edgekit.convert` verifies each route's artifact and falls back on a miss)."""
        errors: dict[str, str] = {}
        for route in self.routes(source, precision, calib=calib, metadata=metadata):
            try:
                result = route.write(Path(dest))
            except Exception as e:  # each route's own failure; the next one may work
                errors[route.name] = short(e)
                continue
            result.route, result.route_errors = route.name, errors
            return result
        raise ConversionError(failed_routes(self.name, precision, errors))

    def file_name(self, stem: str, precision: Precision) -> str:
        return f"{stem}_{precision.value}{self.suffix}"


def short(e: BaseException, limit: int = 240) -> str:
    """An exception as one line: the converter's own `error:` line when it printed one
    (MLIR and TensorFlow bury it under paths and stack frames), else its first line."""
    text = str(e)
    if isinstance(e, ConversionError):  # edgekit's own message: cause and fix, keep it whole
        return " ".join(text.split())[:600]
    found = re.findall(r"error: (?:loc\(.*?\): )?(.+)", text)
    line = found[0] if found else next((ln for ln in text.splitlines() if ln.strip()), "")
    line = " ".join(line.split()) or type(e).__name__
    return line[:limit]


def failed_routes(fmt: str, precision: Precision, errors: dict[str, str]) -> str:
    tried = "; ".join(f"{name}: {err}" for name, err in errors.items())
    return (
        f"{fmt} {precision.value}: every route failed ({tried}); an op this format cannot "
        "express? try another format or precision"
    )
