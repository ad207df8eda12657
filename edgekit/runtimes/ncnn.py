"""ncnn sessions (Tencent ncnn's Python binding): CPU, or Vulkan with `device="vulkan"`.

An fp32 artifact computes in f32 (ncnn's fp16/bf16 shortcuts off), an fp16 artifact lets ncnn
use fp16 storage and arithmetic where the CPU has them (ARMv8.2 asimdhp), as on a Pi 5.
"""

from __future__ import annotations

import numpy as np

from edgekit import formats
from edgekit._deps import need
from edgekit.contract import TensorSpec
from edgekit.errors import ConfigError, DeviceUnavailableError, ModelLoadError
from edgekit.fingerprint import isa_flags
from edgekit.runtimes.base import Session

FLAGS = ("use_fp16_packed", "use_fp16_storage", "use_fp16_arithmetic", "use_bf16_storage")


class NCNNSession(Session):
    format = "ncnn"

    def __init__(
        self, path, *, threads: int | None = None, device: str | None = None, **_: object
    ) -> None:
        super().__init__(path)
        self._ncnn = need("ncnn", what="running ncnn models")
        self.runtime = f"ncnn {getattr(self._ncnn, '__version__', '')}".strip()
        if device not in (None, "cpu", "vulkan", "gpu"):
            raise ConfigError(f"unknown ncnn device; got: {device!r}; choose from cpu, vulkan")
        self.vulkan = device in ("vulkan", "gpu")
        if self.vulkan and self._ncnn.get_gpu_count() == 0:
            raise DeviceUnavailableError("ncnn sees no Vulkan GPU here; use device='cpu'")
        self.threads = int(threads) if threads else None
        text = self.path.read_text(errors="replace") if self.path.is_file() else ""
        if not text.startswith("7767517"):
            raise ModelLoadError(f"{self.path.name} is not an ncnn .param file (no 7767517 magic)")
        self.inputs = [TensorSpec(n, s) for n, s in _input_layers(text)]
        self._fp16 = False
        self._build()
        outs = self._invoke([np.zeros(s.shape, np.float32) for s in self.inputs])
        self.outputs = [TensorSpec(n, list(o.shape)) for n, o in zip(self._out_names, outs)]

    def _build(self) -> None:
        net = self._ncnn.Net()
        for flag in FLAGS:
            setattr(net.opt, flag, self._fp16 and "bf16" not in flag)
        net.opt.use_vulkan_compute = self.vulkan
        if self.threads:
            net.opt.num_threads = self.threads
        weights = formats.files_of(self.path)[1]
        if net.load_param(str(self.path)) != 0 or net.load_model(str(weights)) != 0:
            raise ModelLoadError(
                f"ncnn cannot load {self.path.name} with {weights.name}; truncated, or the .bin "
                "is missing? re-export it"
            )
        self._net = net
        self._in_names, self._out_names = list(net.input_names()), list(net.output_names())

    def _invoke(self, arrays):
        ex = self._net.create_extractor()
        for name, x in zip(self._in_names, arrays):
            ex.input(name, self._ncnn.Mat(np.ascontiguousarray(x[0], np.float32)).clone())
        outs = []
        for name in self._out_names:
            code, mat = ex.extract(name)
            if code != 0:
                raise ModelLoadError(f"ncnn failed to compute output {name} (code {code})")
            outs.append(np.array(mat)[None])
        return outs

    def describe_execution(self) -> dict:
        if self.precision == "fp16" and not self._fp16:  # let ncnn use fp16 where it can
            self._fp16 = True
            self._build()
        return {
            "precision": "f16" if self._fp16 else "f32",
            "settings": {
                "vulkan": self.vulkan,
                **{f: self._fp16 and "bf16" not in f for f in FLAGS},
            },
            "isa": isa_flags(),
        }

    def close(self):
        self._net = None


def _input_layers(text: str) -> list[tuple[str, list[int]]]:
    """(blob name, shape with batch 1) of each Input layer; dims from 0=w 1=h 2=c 11=d."""
    found = []
    for line in text.splitlines():
        parts = line.split()
        if not parts or parts[0] != "Input" or len(parts) < 5:
            continue
        n_in, n_out = int(parts[2]), int(parts[3])
        params = dict(p.split("=", 1) for p in parts[4 + n_in + n_out :] if "=" in p)
        dims = [int(params[k]) for k in ("11", "2", "1", "0") if k in params]
        found.append((parts[4 + n_in], [1, *dims]))
    return found
