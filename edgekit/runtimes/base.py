"""One session API over every runtime: float in, float out, the contract applied the same way.

Thread safety: a session serialises its own calls with a lock, so sharing one session between
threads is correct (calls run one at a time). For parallel throughput, load one session per
thread; runtimes already use several cores inside one call.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import ClassVar

import numpy as np

from edgekit.contract import Contract, Preprocess, TensorSpec
from edgekit.errors import ConfigError, InputError

log = logging.getLogger(__name__)
INT_RANGES = {"int8": (-128, 127), "uint8": (0, 255), "int16": (-32768, 32767)}


class Session:
    """A loaded artifact. Subclasses fill `inputs`/`outputs` and implement `_invoke`."""

    format: ClassVar[str]
    runtime: str = ""  # e.g. "ai-edge-litert 2.3.0"

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.inputs: list[TensorSpec] = []
        self.outputs: list[TensorSpec] = []
        self.contract: Contract | None = None
        self.precision: str | None = None
        # what the runtime computes in and the settings and CPU features that decide it,
        # e.g. {"precision": "f32", "settings": {...}, "isa": [...]}
        self.execution: dict = {}
        self._lock = threading.Lock()

    # -- what subclasses provide -------------------------------------------------------
    def _invoke(self, arrays: list[np.ndarray]) -> list[np.ndarray]:
        raise NotImplementedError

    def embedded_metadata(self) -> str | None:
        """The contract JSON stored inside the artifact, if any."""
        return None

    def describe_execution(self) -> dict:
        """What the runtime computes in, for sessions that can only tell once the artifact's
        precision is known (called by `load` after the contract is attached)."""
        return {}

    # -- public API ----------------------------------------------------------------------
    def run_raw(self, arrays: list[np.ndarray]) -> list[np.ndarray]:
        """Run with tensors in the model's native dtypes and shapes; no checks, no copies
        beyond what the runtime makes. For hot loops that prepare inputs themselves."""
        with self._lock:
            return self._invoke(arrays)

    def predict(self, x: np.ndarray | dict | list) -> np.ndarray | list[np.ndarray]:
        """Float inputs -> float outputs. Quantized I/O is scaled with the artifact's own
        scale/zero-point. A batch larger than the model's runs one sample at a time.
        Returns one array for a single-output model, else a list in output order."""
        arrays = self._arrange(x)
        batch = self._batch_of(arrays)
        if batch is None:
            outs = self._predict_one(arrays)
        else:
            parts = [self._predict_one([a[i : i + 1] for a in arrays]) for i in range(batch)]
            outs = [np.concatenate(p) for p in zip(*parts)]
        return outs[0] if len(outs) == 1 else outs

    def predict_image(self, image: np.ndarray) -> np.ndarray | list[np.ndarray]:
        """A BGR uint8 image (OpenCV's layout) through the model's preprocessing contract."""
        return self.predict(self.preprocess.apply(image))

    @property
    def preprocess(self) -> Preprocess:
        if self.contract and self.contract.preprocess:
            return self.contract.preprocess
        if not hasattr(self, "_guessed"):
            self._guessed = guess_preprocess(self.inputs[0])
            # one plain line through logging: a Python warning shows a source path and a
            # code line on the user's terminal
            log.warning(
                "%s carries no preprocessing contract; assuming %s, RGB, pixels/255 (edgekit "
                "demo takes --preprocess; converting with edgekit records it)",
                self.path.name,
                self._guessed.layout.value,
            )
        return self._guessed

    @property
    def labels(self) -> list[str] | None:
        return self.contract.labels if self.contract else None

    def close(self) -> None:
        """Release the runtime's memory."""

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        ins = ", ".join(f"{t.name}{t.shape}:{t.dtype}" for t in self.inputs)
        return f"<{type(self).__name__} {self.path.name} ({ins}) {self.runtime}>"

    # -- helpers -------------------------------------------------------------------------
    def _predict_one(self, arrays: list[np.ndarray]) -> list[np.ndarray]:
        native = [quantize(a, spec) for a, spec in zip(arrays, self.inputs)]
        outs = self.run_raw(native)
        return [dequantize(o, spec) for o, spec in zip(outs, self.outputs)]

    def _arrange(self, x) -> list[np.ndarray]:
        if isinstance(x, dict):
            missing = [t.name for t in self.inputs if t.name not in x]
            if missing:
                raise InputError(
                    f"missing inputs {missing}; model inputs are {[t.name for t in self.inputs]}"
                )
            x = [x[t.name] for t in self.inputs]
        elif not isinstance(x, (list, tuple)):
            x = [x]
        if len(x) != len(self.inputs):
            raise InputError(f"model takes {len(self.inputs)} inputs; got {len(x)}")
        return [self._check(np.asarray(a), spec) for a, spec in zip(x, self.inputs)]

    def _check(self, a: np.ndarray, spec: TensorSpec) -> np.ndarray:
        if a.dtype.kind not in "fiub":
            raise InputError(f"input {spec.name!r} must be numeric; got dtype {a.dtype}")
        want = list(spec.shape)
        if a.ndim == len(want) - 1 and list(a.shape) == want[1:]:
            a = a[None]
        if a.ndim != len(want) or list(a.shape[1:]) != want[1:]:
            raise InputError(
                f"input {spec.name!r} expects shape {want} (batch first); got {list(a.shape)}"
            )
        return a

    def _batch_of(self, arrays: list[np.ndarray]) -> int | None:
        n = arrays[0].shape[0]
        model_batch = self.inputs[0].shape[0]
        return n if n != model_batch and model_batch == 1 else None


def quantize(a: np.ndarray, spec: TensorSpec) -> np.ndarray:
    """Float -> the tensor's native dtype, with its scale/zero-point when it is quantized."""
    if spec.quantized:
        if a.dtype.kind == "f":
            lo, hi = INT_RANGES[spec.dtype]
            a = np.clip(np.round(a / spec.scale + spec.zero_point), lo, hi)
        return a.astype(spec.dtype)
    return a.astype(spec.dtype, copy=False)


def dequantize(a: np.ndarray, spec: TensorSpec) -> np.ndarray:
    if spec.quantized:
        return (a.astype(np.float32) - spec.zero_point) * np.float32(spec.scale)
    return a.astype(np.float32, copy=False) if a.dtype != np.float32 else a


def guess_preprocess(spec: TensorSpec) -> Preprocess:
    pre = Preprocess.for_shape(spec.shape)
    if pre is None:
        raise ConfigError(f"cannot feed an image to input {spec.name!r} of shape {spec.shape}")
    return pre
