"""Core ML sessions (macOS only): CPU, GPU or Neural Engine compute units."""

from __future__ import annotations

import platform

from edgekit._deps import need
from edgekit.contract import TensorSpec
from edgekit.errors import ConfigError, DeviceUnavailableError
from edgekit.manifest import METADATA_KEY
from edgekit.runtimes.base import Session

UNITS = {"all": "ALL", "cpu": "CPU_ONLY", "gpu": "CPU_AND_GPU", "ane": "CPU_AND_NE"}


class CoreMLSession(Session):
    format = "coreml"

    def __init__(self, path, *, device: str | None = None, **_: object) -> None:
        super().__init__(path)
        unit = (device or "all").lower()
        if unit not in UNITS:
            raise ConfigError(
                f"unknown Core ML compute unit; got: {device!r}; choose from {list(UNITS)}"
            )
        if platform.system() != "Darwin":
            raise DeviceUnavailableError(
                f"Core ML models run on macOS/iOS only; this is {platform.system()}. Copy "
                f"{self.path.name} to a Mac or an iPhone app, or use the tflite/onnx artifact here"
            )
        ct = need("coremltools", what="running Core ML models")
        self.runtime = f"coremltools {ct.__version__}"
        self._m = ct.models.MLModel(
            str(self.path), compute_units=getattr(ct.ComputeUnit, UNITS[unit])
        )
        desc = self._m.get_spec().description
        self.inputs = [_spec(f) for f in desc.input]
        self.outputs = [_spec(f) for f in desc.output]

    def _invoke(self, arrays):
        res = self._m.predict({t.name: a for t, a in zip(self.inputs, arrays)})
        return [res[t.name] for t in self.outputs]

    def embedded_metadata(self):
        return self._m.user_defined_metadata.get(METADATA_KEY)


def _spec(f) -> TensorSpec:
    return TensorSpec(f.name, list(f.type.multiArrayType.shape), "float32")
