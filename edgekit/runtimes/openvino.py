"""OpenVINO sessions: IR (.xml + .bin) on CPU, GPU, NPU or AUTO with a latency/throughput hint."""

from __future__ import annotations

import numpy as np

from edgekit import formats
from edgekit._deps import need
from edgekit.contract import TensorSpec
from edgekit.errors import ConfigError, DeviceUnavailableError, ModelLoadError
from edgekit.runtimes.base import Session

HINTS = ("latency", "throughput")
# INFERENCE_PRECISION_HINT values edgekit accepts, and how OpenVINO's element types read back
INFERENCE_PRECISIONS = {"f32": "f32", "bf16": "bf16", "f16": "f16"}
READ_BACK = {"float32": "f32", "f32": "f32", "bfloat16": "bf16", "bf16": "bf16", "float16": "f16"}


class OpenVINOSession(Session):
    format = "openvino"

    def __init__(
        self,
        path,
        *,
        threads: int | None = None,
        device: str | None = None,
        hint: str = "latency",
        inference_precision: str | None = None,
        **_: object,
    ) -> None:
        super().__init__(path)
        if hint not in HINTS:
            raise ConfigError(f"unknown OpenVINO hint; got: {hint!r}; choose from {HINTS}")
        ov = need("openvino", what="running OpenVINO IR")
        self.runtime = f"openvino {ov.__version__}"
        xml, weights = formats.files_of(self.path)
        if not weights.is_file():
            raise ModelLoadError(
                f"{weights.name} is missing beside {xml.name}; copy the .xml and .bin together"
            )
        core = ov.Core()
        try:
            self._model = core.read_model(str(xml))
        except Exception as e:
            raise ModelLoadError(f"cannot read {xml.name}: {_first(e)}; re-export the IR") from e
        device = (device or "CPU").upper()
        config = {"PERFORMANCE_HINT": hint.upper()}
        wanted = inference_precision or _default_precision(self._embedded_precision(), device)
        if wanted:
            if wanted not in INFERENCE_PRECISIONS:
                raise ConfigError(
                    f"unknown OpenVINO inference precision; got: {wanted!r}; choose from "
                    f"{', '.join(INFERENCE_PRECISIONS)}"
                )
            config["INFERENCE_PRECISION_HINT"] = INFERENCE_PRECISIONS[wanted]
        if threads:
            config["INFERENCE_NUM_THREADS"] = int(threads)
        try:
            self._compiled = core.compile_model(self._model, device, config)
        except Exception as e:
            if device.split(":")[0] not in core.available_devices and device != "AUTO":
                raise DeviceUnavailableError(
                    f"OpenVINO device {device} is not available here; available: "
                    f"{core.available_devices}"
                ) from e
            raise ModelLoadError(f"cannot compile {xml.name} for {device}: {_first(e)}") from e
        self.execution = _execution(self._compiled, config, device)
        if any(op.get_type_name() == "FakeQuantize" for op in self._model.get_ops()):
            # NNCF's int8 IR: quantized ops run in int8, the rest in the hinted precision
            self.execution["precision"] = f"int8+{self.execution['precision']}"
        self._request = self._compiled.create_infer_request()
        self._ov = ov
        self._bound: list = [None] * len(self._compiled.inputs)
        self.inputs = [_spec(p) for p in self._compiled.inputs]
        self.outputs = [_spec(p) for p in self._compiled.outputs]

    def _invoke(self, arrays):
        # Inputs are bound as shared-memory tensors, and re-bound only when a different array
        # comes in: a loop that refills one array pays no copy and no rebinding (3% at 5 ms).
        for i, a in enumerate(arrays):
            if a is not self._bound[i]:
                a = np.ascontiguousarray(a)
                self._request.set_input_tensor(i, self._ov.Tensor(a, shared_memory=True))
                self._bound[i] = a
        self._request.infer()
        return [self._request.get_output_tensor(i).data.copy() for i in range(len(self.outputs))]

    def embedded_metadata(self):
        rt = self._model.get_rt_info()
        if "edgekit" in rt:
            try:
                return self._model.get_rt_info(["edgekit", "contract"]).astype(str)
            except RuntimeError:
                return None
        return None

    def _embedded_precision(self) -> str | None:
        import json

        try:
            return json.loads(self.embedded_metadata() or "{}").get("precision")
        except (ValueError, AttributeError):
            return None

    def close(self):
        self._request = self._compiled = None


def _default_precision(artifact_precision: str | None, device: str) -> str | None:
    """f32 unless the artifact asks for bf16: OpenVINO's CPU plugin otherwise picks bf16 on
    CPUs with AVX512_BF16 or AMX, and its GPU plugin f16, for an fp32 IR, silently."""
    if artifact_precision == "bf16":
        return "bf16"
    if device.startswith("CPU") or artifact_precision in (None, "fp32"):
        return "f32"
    return None  # fp16/int8 IR on GPU/NPU: the device's own choice, read back below


def _execution(compiled, config: dict, device: str) -> dict:
    from edgekit.fingerprint import isa_flags

    try:
        got = str(compiled.get_property("INFERENCE_PRECISION_HINT"))
    except Exception:  # a plugin without the property (e.g. some NPUs)
        got = "unknown"
    name = got.split("'")[1] if "'" in got else got
    return {
        "precision": READ_BACK.get(name.lower(), name),
        "settings": {
            "device": device,
            **{k: str(v) for k, v in config.items()},
        },
        "isa": isa_flags() if device.startswith("CPU") else [],
    }


def _spec(port) -> TensorSpec:
    names = port.get_names()
    name = sorted(names)[0] if names else port.get_any_name()
    shape = (
        [int(d) for d in port.get_partial_shape().to_shape()]
        if port.get_partial_shape().is_static
        else [(d.get_length() if d.is_static else -1) for d in port.get_partial_shape()]
    )
    return TensorSpec(name, shape, port.get_element_type().to_dtype().name)


def _first(e: Exception) -> str:
    return " ".join(str(e).split())[:200]
