"""TFLite sessions: ai-edge-litert, else tflite-runtime (older Pi OS), else TensorFlow."""

from __future__ import annotations

import logging
import os

import numpy as np

from edgekit.contract import TensorSpec
from edgekit.errors import ConfigError, MissingDependencyError, ModelLoadError
from edgekit.fingerprint import isa_flags
from edgekit.isolate import XNNPACK_ENV
from edgekit.manifest import METADATA_KEY
from edgekit.runtimes.base import Session
from edgekit.runtimes.compiled import CompiledRunner, check_api

log = logging.getLogger(__name__)
BACKENDS = (  # module, distribution
    ("ai_edge_litert.interpreter", "ai-edge-litert"),
    ("tflite_runtime.interpreter", "tflite-runtime"),
    ("tensorflow.lite.python.interpreter", "tensorflow"),
)


def interpreter_module(prefer: str | None = None):
    """The first importable interpreter module, and its distribution name."""
    import importlib

    from edgekit._deps import version

    order = [b for b in BACKENDS if prefer in (None, b[1])]
    if not order:
        raise ConfigError(
            f"unknown TFLite backend {prefer!r}; choose from {[b[1] for b in BACKENDS]}"
        )
    for module, dist in order:
        try:
            mod = importlib.import_module(module)
        except ImportError:
            continue
        return mod, f"{dist} {version(dist) or '?'}"
    raise MissingDependencyError(
        "no TFLite interpreter found; fix: pip install ai-edge-litert "
        "(or tflite-runtime on Python <= 3.11 devices)"
    )


class TFLiteSession(Session):
    format = "tflite"

    def __init__(
        self,
        path,
        *,
        threads: int | None = None,
        xnnpack: bool = True,
        delegate: str | None = None,
        backend: str | None = None,
        api: str = "interpreter",
        accelerator: str | None = None,
        **_: object,
    ) -> None:
        super().__init__(path)
        self.api, self.accelerator = check_api(api, accelerator, delegate=delegate, xnnpack=xnnpack)
        # edgekit.isolate's safe retry after a native crash turns XNNPACK off
        xnnpack = xnnpack and os.environ.get(XNNPACK_ENV) != "0"
        self._xnnpack = xnnpack and not delegate
        self._flat = self.path.read_bytes()
        self._metadata = validate(self._flat, self.path.name)
        if self.api == "compiled":  # LiteRT's CompiledModel API, on a hardware accelerator
            self._cm = CompiledRunner(self.path, self._flat, self.accelerator, threads)
            self.runtime, self.inputs, self.outputs = self._cm.runtime, *self._cm.specs()
            return
        mod, self.runtime = interpreter_module(backend)
        kwargs: dict = {"model_content": self._flat, "num_threads": threads}
        if delegate:
            kwargs["experimental_delegates"] = [_delegate(mod, delegate)]
        if not xnnpack:
            kwargs["experimental_op_resolver_type"] = (
                mod.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
            )
        try:
            self._it = mod.Interpreter(**kwargs)
            self._it.allocate_tensors()
        except (ValueError, RuntimeError) as e:
            raise ModelLoadError(f"cannot load {self.path.name}: {_first(e)}") from e
        ins, outs = self._it.get_input_details(), self._it.get_output_details()
        self._in_idx = [d["index"] for d in ins]
        self._out_idx = [d["index"] for d in outs]
        self.inputs = [_spec(d) for d in ins]
        self.outputs = [_spec(d) for d in outs]

    def _invoke(self, arrays):
        if self.api == "compiled":
            return self._cm.run(arrays)
        it = self._it
        for idx, a in zip(self._in_idx, arrays):
            it.set_tensor(idx, a)
        it.invoke()
        return [it.get_tensor(idx) for idx in self._out_idx]

    def embedded_metadata(self):
        return self._metadata.get(METADATA_KEY)

    def describe_execution(self) -> dict:
        # LiteRT's XNNPACK runs float graphs in f32 (fp16 weights are dequantized at load)
        # unless the model asks for reduced precision, which edgekit never does.
        computed = EXECUTED.get(self.precision or "", None)
        if computed is None:
            computed = "int8" if any(t.quantized for t in self.inputs + self.outputs) else "f32"
        if self.api == "compiled":
            return self._cm.describe(computed)
        return {
            "precision": computed,
            "settings": {"api": "interpreter", "xnnpack": self._xnnpack, "xnnpack_fp16": False},
            "isa": isa_flags(),
        }

    def close(self):
        if getattr(self, "_cm", None) is not None:
            self._cm.close()
        self._it = self._cm = None


EXECUTED = {  # artifact precision -> what LiteRT computes in
    "fp32": "f32",
    "fp16": "f32",
    "dynamic-int8": "int8-dynamic",  # activations quantized per call, int8 weights
    "int8": "int8",
    "int8-io": "int8",
    "uint8-io": "int8",
    "int16x8": "int16x8",
    "npu": "int8",  # what the NPU build was quantized to; on its phone the vendor decides
}


def _spec(d: dict) -> TensorSpec:
    scale, zp = d.get("quantization", (0.0, 0))
    dtype = np.dtype(d["dtype"]).name
    quant = dtype in ("int8", "uint8", "int16") and scale
    return TensorSpec(
        d["name"],
        [int(v) for v in d["shape"]],
        dtype,
        float(scale) if quant else None,
        int(zp) if quant else None,
    )


def _delegate(mod, path: str):
    loader = getattr(mod, "load_delegate", None)
    if loader is None:
        raise ConfigError("this TFLite backend cannot load external delegates")
    try:
        return loader(path)
    except (ValueError, OSError) as e:
        raise ModelLoadError(
            f"cannot load delegate {path}: {_first(e)}; is the library (e.g. libedgetpu.so.1) "
            "installed and the device attached?"
        ) from e


def validate(flat: bytes, name: str) -> dict[str, str]:
    """Walk the flatbuffer in Python (bounds-checked) before the C++ interpreter sees it, so a
    truncated or corrupt file is an error, not a crash. Returns the text metadata entries."""
    bad = f"{name} is not a valid .tflite model"
    if len(flat) < 16 or flat[4:8] != b"TFL3":
        raise ModelLoadError(f"{bad} (no TFL3 identifier; truncated or another format?)")
    from edgekit.flatbuffer import schema as flatbuffer_schema

    schema = flatbuffer_schema()
    try:
        model = schema.Model.GetRootAs(flat, 0)
        n_buf, n_codes = model.BuffersLength(), model.OperatorCodesLength()
        if model.SubgraphsLength() < 1:
            raise ValueError("no subgraphs")
        for s in range(model.SubgraphsLength()):
            _check_subgraph(model.Subgraphs(s), n_buf, n_codes)
        metadata = {}
        for i in range(model.BuffersLength()):
            b = model.Buffers(i)
            if b.Offset() and b.Offset() + b.Size() > len(flat):
                raise ValueError(f"buffer {i} ends past the file")
            b.DataLength()
        for i in range(model.MetadataLength()):
            md = model.Metadata(i)
            if md.Buffer() >= n_buf:
                raise ValueError("metadata buffer out of range")
            data = model.Buffers(md.Buffer()).DataAsNumpy()
            if isinstance(data, np.ndarray):
                metadata[md.Name().decode(errors="replace")] = bytes(data).decode(errors="replace")
    except ModelLoadError:
        raise
    except Exception as e:  # struct.error, IndexError, ...: the file lies about its layout
        raise ModelLoadError(f"{bad} (corrupt or truncated: {_first(e)}); re-export it") from e
    return metadata


def _check_subgraph(sg, n_buf: int, n_codes: int) -> None:
    n_t = sg.TensorsLength()
    for t in range(n_t):
        if sg.Tensors(t).Buffer() >= n_buf:
            raise ValueError(f"tensor {t} points at a missing buffer")
    for idx in list(sg.InputsAsNumpy()) + list(sg.OutputsAsNumpy()):
        if not 0 <= idx < n_t:
            raise ValueError("subgraph input/output index out of range")
    for o in range(sg.OperatorsLength()):
        op = sg.Operators(o)
        if op.OpcodeIndex() >= n_codes:
            raise ValueError(f"operator {o} has an unknown opcode")
        for idx in list(_arr(op.InputsAsNumpy())) + list(_arr(op.OutputsAsNumpy())):
            if not -1 <= idx < n_t:
                raise ValueError(f"operator {o} refers to a missing tensor")


def _arr(x):
    return x if isinstance(x, np.ndarray) else []


def _first(e: Exception) -> str:
    return " ".join(str(e).split())[:200] or type(e).__name__
