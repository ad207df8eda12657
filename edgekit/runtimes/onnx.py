"""ONNX Runtime sessions: CPU, plus CUDA and TensorRT providers where the build has them."""

from __future__ import annotations

from edgekit._deps import need
from edgekit.contract import TensorSpec
from edgekit.errors import ConfigError, DeviceUnavailableError, ModelLoadError
from edgekit.fingerprint import isa_flags
from edgekit.manifest import METADATA_KEY
from edgekit.runtimes.base import Session

PROVIDERS = {
    "cpu": "CPUExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
}
DTYPES = {
    "tensor(float)": "float32",
    "tensor(float16)": "float16",
    "tensor(int8)": "int8",
    "tensor(uint8)": "uint8",
    "tensor(int32)": "int32",
    "tensor(int64)": "int64",
}


class ONNXSession(Session):
    format = "onnx"

    def __init__(
        self, path, *, threads: int | None = None, device: str | None = None, **_: object
    ) -> None:
        super().__init__(path)
        ort = need("onnxruntime", what="running ONNX models")
        self.runtime = f"onnxruntime {ort.__version__}"
        providers = _providers(ort, device)
        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = int(threads)
        try:
            self._s = ort.InferenceSession(str(self.path), opts, providers=providers)
        except Exception as e:
            raise ModelLoadError(
                f"cannot load {self.path.name}: {' '.join(str(e).split())[:200]}; truncated or "
                "not an ONNX model? re-export it"
            ) from e
        self.providers = self._s.get_providers()
        self._opts = opts
        self.inputs = [_spec(a) for a in self._s.get_inputs()]
        self.outputs = [_spec(a) for a in self._s.get_outputs()]
        self._in_names = [a.name for a in self._s.get_inputs()]

    def _invoke(self, arrays):
        return self._s.run(None, dict(zip(self._in_names, arrays)))

    def embedded_metadata(self):
        return self._s.get_modelmeta().custom_metadata_map.get(METADATA_KEY)

    def describe_execution(self) -> dict:
        # ORT's CPU provider computes float graphs in f32; its default graph optimisations
        # (ORT_ENABLE_ALL) fuse ops, which reorders float sums but keeps the precision.
        fp16 = any(t.dtype == "float16" for t in self.inputs + self.outputs)
        return {
            "precision": "f16" if fp16 else "f32",
            "settings": {
                "providers": self.providers,
                "graph_optimization_level": str(self._opts.graph_optimization_level).split(".")[-1],
            },
            "isa": isa_flags(),
        }

    def close(self):
        self._s = None


def _providers(ort, device: str | None) -> list[str]:
    available = ort.get_available_providers()
    if device is None:
        return ["CPUExecutionProvider"]
    key = device.lower()
    if key not in PROVIDERS:
        raise ConfigError(
            f"unknown ONNX Runtime device; got: {device!r}; choose from {list(PROVIDERS)}"
        )
    if PROVIDERS[key] not in available:
        raise DeviceUnavailableError(
            f"ONNX Runtime here has no {PROVIDERS[key]} (available: {available}); install "
            "onnxruntime-gpu on a CUDA machine or a Jetson build of onnxruntime"
        )
    order = [PROVIDERS[key]] + (["CUDAExecutionProvider"] if key == "tensorrt" else [])
    return order + ["CPUExecutionProvider"]


def _spec(arg) -> TensorSpec:
    shape = [d if isinstance(d, int) else 1 for d in arg.shape]
    return TensorSpec(arg.name, shape, DTYPES.get(arg.type, arg.type))
