"""LiteRT's CompiledModel API: a .tflite compiled for a hardware accelerator (cpu, gpu or npu)
at load, run through tensor buffers. The TFLite session's `api="compiled"` path.

`ai_edge_litert.compiled_model.CompiledModel.from_file(path, options=Options(...))` picks the
accelerator: CPU is XNNPACK; GPU is ML Drift (OpenCL on Android, Metal on Apple, WebGPU
elsewhere), with the CPU taking what the GPU cannot; NPU needs a vendor dispatch library (a
phone, with a model compiled by `edgekit convert --to tflite:npu`). Where the accelerator is
missing, LiteRT says so in its log only: the load captures that log and the error names it.

Example:
    >>> s = edgekit.load("out/m_int8.tflite", api="compiled", accelerator="cpu")
    >>> s.execution["settings"]
    {'api': 'compiled', 'accelerator': 'cpu', 'fully_accelerated': True, ...}
"""

from __future__ import annotations

import numpy as np

from edgekit import flatbuffer
from edgekit._quiet import Capture
from edgekit.contract import TensorSpec
from edgekit.errors import ConfigError, MissingDependencyError, ModelLoadError
from edgekit.fingerprint import isa_flags

APIS = ("interpreter", "compiled")
ACCELERATORS = ("cpu", "gpu", "npu")
# flatbuffer TensorType -> numpy dtype name (the ones LiteRT's tensor buffers take)
_DTYPES = {0: "float32", 1: "float16", 2: "int32", 3: "uint8", 6: "bool", 9: "int8", 7: "int16"}
# words in LiteRT's log lines about each accelerator (the lines that say why it is missing)
_TOPIC = {"gpu": ("GPU", "OpenCL", "Metal", "Vulkan"), "npu": ("NPU", "ispatch"), "cpu": ("",)}


def check_api(api: str, accelerator: str | None, *, delegate=None, xnnpack=True):
    """(api, accelerator) after validation; an accelerator implies the compiled API.

    Raises:
        ConfigError: an unknown value, or an Interpreter-only option with the compiled API.
    """
    api = (api or "interpreter").lower()
    if accelerator is not None:
        accelerator = str(accelerator).lower()
        api = "compiled"
    if api not in APIS:
        raise ConfigError(f"unknown TFLite api; got: {api!r}; choose from {', '.join(APIS)}")
    if api == "interpreter":
        return api, None
    accelerator = accelerator or "cpu"
    if accelerator not in ACCELERATORS:
        raise ConfigError(
            f"unknown accelerator; got: {accelerator!r}; choose from {', '.join(ACCELERATORS)}"
        )
    if delegate or not xnnpack:
        raise ConfigError(
            "delegate and xnnpack are Interpreter options; got: api=compiled with "
            f"{'delegate=' + str(delegate) if delegate else 'xnnpack=False'}; drop them, or "
            "use api=interpreter"
        )
    return api, accelerator


class CompiledRunner:
    """One compiled model with its input and output buffers, made once and reused."""

    def __init__(self, path, flat: bytes, accelerator: str, threads: int | None) -> None:
        cm = _module()
        from edgekit._deps import version

        self.runtime = f"ai-edge-litert {version('ai-edge-litert') or '?'} (CompiledModel)"
        self.accelerator = accelerator
        hw = {"cpu": cm.HardwareAccelerator.CPU, "gpu": cm.HardwareAccelerator.GPU,
              "npu": cm.HardwareAccelerator.NPU}[accelerator]  # fmt: skip
        if accelerator != "cpu":  # what the accelerator cannot take runs on the CPU
            hw = hw | cm.HardwareAccelerator.CPU
        options = cm.Options(hw, cpu_options=cm.CpuOptions(num_threads=int(threads or 0)))
        with Capture() as cap:  # LiteRT logs to fd 2, and only there says why a load failed
            try:
                self._model = cm.CompiledModel.from_file(str(path), options=options)
            except (RuntimeError, ValueError) as e:
                raise ModelLoadError(_refusal(path, accelerator, cap.take(), e)) from e
            said = _reason(cap.take(), accelerator)
        if accelerator == "npu" and "could not be loaded" in said:  # it ran on the CPU instead
            raise ModelLoadError(_refusal(path, accelerator, said, RuntimeError(said)))
        self._names, self._specs = _signature(self._model, flat)
        self._ins = self._model.create_input_buffers(0)
        self._outs = self._model.create_output_buffers(0)
        self.fully_accelerated = bool(self._model.is_fully_accelerated())

    def specs(self) -> tuple[list[TensorSpec], list[TensorSpec]]:
        return self._specs

    def run(self, arrays: list[np.ndarray]) -> list[np.ndarray]:
        for buf, a in zip(self._ins, arrays):
            buf.write(np.ascontiguousarray(a))
        self._model.run_by_index(0, self._ins, self._outs)
        return [
            buf.read(int(np.prod(s.shape)), np.dtype(s.dtype)).reshape(s.shape)
            for buf, s in zip(self._outs, self._specs[1])
        ]

    def close(self) -> None:
        """Release the model and its buffers (LiteRT logs the teardown: kept off the terminal)."""
        with Capture():
            self._ins = self._outs = self._model = None

    def describe(self, computed: str) -> dict:
        """The executed record: the API and accelerator beside what the arithmetic runs in."""
        return {
            "precision": "f16" if self.accelerator == "gpu" and computed == "f32" else computed,
            "settings": {
                "api": "compiled",
                "accelerator": self.accelerator,
                "fully_accelerated": self.fully_accelerated,
                "xnnpack": self.accelerator == "cpu",
            },
            "isa": isa_flags() if self.accelerator == "cpu" else [],
        }


def _module():
    try:
        from ai_edge_litert import compiled_model
    except ImportError as e:
        raise MissingDependencyError(
            f"api=compiled needs LiteRT's CompiledModel API; got: {e}; fix: pip install -U "
            "'ai-edge-litert>=2' (tflite-runtime and TensorFlow have only the Interpreter)"
        ) from e
    return compiled_model


def _refusal(path, accelerator: str, log: str, e: Exception) -> str:
    """One line for a refused load: LiteRT's own reason from its log when it gave one."""
    reason = _reason(log, accelerator) or " ".join(str(e).split())[:160]
    if accelerator == "cpu":
        return f"cannot load {path.name} with LiteRT's CompiledModel API: {reason}"
    where = "a GPU (OpenCL, Metal or WebGPU)" if accelerator == "gpu" else "its vendor dispatch"
    return (
        f"LiteRT's {accelerator.upper()} accelerator is not available here ({reason}); got: "
        f"accelerator={accelerator} for {path.name}; use accelerator=cpu, or run it on a device "
        f"with {where}"
    )


def _reason(log: str, accelerator: str) -> str:
    """LiteRT's own words on the accelerator: its first error about it, else a warning."""
    lines = [ln.strip() for ln in log.splitlines()]
    about = [ln for ln in lines if any(w in ln for w in _TOPIC[accelerator])]
    for level in ("ERROR", "WARNING"):
        said = [ln for ln in about if ln.startswith(level) and "] " in ln]
        if said:
            return said[0].split("] ", 1)[1][:160]
    return ""


def _signature(model, flat: bytes):
    """Input and output names in buffer order, and their specs in the graph's own order."""
    sig = model.get_signature_list()
    key = next(iter(sig))
    ins = model.get_input_tensor_details(key)
    outs = model.get_output_tensor_details(key)
    tensors = _tensors(flat)
    in_specs = [_spec(name, tensors[ins[name]["index"]]) for name in sig[key]["inputs"]]
    out_specs = [_spec(name, tensors[outs[name]["index"]]) for name in sig[key]["outputs"]]
    return (sig[key]["inputs"], sig[key]["outputs"]), (in_specs, out_specs)


def _tensors(flat: bytes):
    schema = flatbuffer.schema()
    sg = schema.Model.GetRootAs(flat, 0).Subgraphs(0)
    return [sg.Tensors(i) for i in range(sg.TensorsLength())]


def _spec(name: str, t) -> TensorSpec:
    """A tensor's spec as the Interpreter reports it: its scale and zero point when quantized."""
    dtype = _DTYPES.get(t.Type(), "float32")
    shape = [int(d) for d in t.ShapeAsNumpy()] if t.ShapeLength() else []
    q = t.Quantization()
    scale = float(q.ScaleAsNumpy()[0]) if q is not None and q.ScaleLength() else 0.0
    zero = int(q.ZeroPointAsNumpy()[0]) if q is not None and q.ZeroPointLength() else 0
    quant = dtype in ("int8", "uint8", "int16") and scale
    return TensorSpec(name, shape, dtype, scale if quant else None, zero if quant else None)
