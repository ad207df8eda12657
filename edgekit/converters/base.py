"""What every format's converter provides, and the precisions edgekit knows."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import ClassVar

import numpy as np


class Precision(str, Enum):
    FP32 = "fp32"
    FP16 = "fp16"
    BF16 = "bf16"  # OpenVINO: an fp32 IR executed with INFERENCE_PRECISION_HINT=bf16
    DYNAMIC_INT8 = "dynamic-int8"  # int8 weights, float activations (TFLite dynamic range)
    INT8 = "int8"  # full-integer (TFLite, OpenVINO) or int8 weights (Core ML); float I/O
    INT8_IO = "int8-io"  # full-integer with int8 input and output tensors
    UINT8_IO = "uint8-io"  # full-integer with uint8 input and output tensors
    INT16X8 = "int16x8"  # int16 activations, int8 weights
    PALETTIZE4 = "palettize4"  # Core ML 4-bit k-means weight palette
    PALETTIZE6 = "palettize6"
    PALETTIZE8 = "palettize8"


@dataclass(frozen=True)
class Tolerance:
    """Parity limits for softmax-scale outputs: a max abs error, or agreement for quantized."""

    max_abs: float | None = None
    min_cosine: float | None = None
    min_top1: float | None = None

    def to_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if v is not None}


TOLERANCES = {
    Precision.FP32: Tolerance(max_abs=1e-4),
    Precision.FP16: Tolerance(max_abs=1e-2),
    # bf16 keeps 8 mantissa bits (fp16: 10): ~0.4% relative error per op, compounding
    Precision.BF16: Tolerance(max_abs=5e-2, min_top1=0.95),
    Precision.PALETTIZE8: Tolerance(min_cosine=0.99, min_top1=0.95),
    Precision.PALETTIZE6: Tolerance(min_cosine=0.98, min_top1=0.9),
    Precision.PALETTIZE4: Tolerance(min_cosine=0.9, min_top1=0.8),
}
QUANTIZED = Tolerance(min_cosine=0.98, min_top1=0.95)


def tolerance_for(precision: str) -> Tolerance:
    return TOLERANCES.get(Precision(precision), QUANTIZED)


@dataclass
class Result:
    """What a converter reports besides the file it wrote."""

    tools: dict[str, str]
    notes: list[str] = field(default_factory=list)


class Converter:
    """One output format. Subclasses set the class attributes and implement `write`."""

    name: ClassVar[str]
    suffix: ClassVar[str]
    extra: ClassVar[str] = "convert"
    precisions: ClassVar[tuple[Precision, ...]]
    calibrated: ClassVar[frozenset[Precision]] = frozenset()  # precisions that need data

    def write(
        self,
        source,
        precision: Precision,
        dest: Path,
        *,
        calib: np.ndarray | None,
        metadata: str,
    ) -> Result:
        """Convert `source` (edgekit.source.SourceModel) and write the artifact at `dest`."""
        raise NotImplementedError

    def file_name(self, stem: str, precision: Precision) -> str:
        return f"{stem}_{precision.value}{self.suffix}"
