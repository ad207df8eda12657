"""Load the source model (Keras 3 `.keras`, legacy `.h5`, SavedModel) and freeze it once.

Every converter starts from the same frozen TensorFlow graph, so the four formats see the
same operations and names, and the model is traced only once per `convert` call.
"""

from __future__ import annotations

import logging
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgekit._deps import need
from edgekit.contract import TensorSpec
from edgekit.errors import ConfigError, ModelLoadError, UnsafeModelError

log = logging.getLogger(__name__)
H5_MAGIC = b"\x89HDF\r\n\x1a\n"
KINDS = ("keras", "h5", "savedmodel")


def detect_kind(path: Path) -> str:
    """Which of KINDS a path is, from its content, or ModelLoadError saying why not."""
    p = Path(path)
    if not p.exists():
        raise ModelLoadError(f"model not found; got: {p}; pass a .keras, .h5 or SavedModel folder")
    if p.is_dir():
        if (p / "saved_model.pb").is_file() or (p / "saved_model.pbtxt").is_file():
            return "savedmodel"
        raise ModelLoadError(f"folder is not a SavedModel (no saved_model.pb); got: {p}")
    with open(p, "rb") as fh:
        head = fh.read(8)
    if head == H5_MAGIC:
        return "h5"
    if p.suffix == ".keras" or head[:2] == b"PK":
        if not zipfile.is_zipfile(p):
            raise ModelLoadError(
                f"{p.name} is not a valid .keras archive (truncated or corrupt?); re-save it "
                "with model.save('model.keras')"
            )
        return "keras"
    raise ModelLoadError(
        f"{p.name} is not a Keras model (expected a .keras zip, an HDF5 .h5 or a SavedModel "
        "folder); convert from the original Keras model"
    )


@dataclass
class SourceModel:
    """A loaded model: its reference `predict`, its frozen graph and its I/O."""

    path: Path
    kind: str
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]
    keras_model: object = None
    frozen: object = None  # tf ConcreteFunction with variables folded into constants
    first_layer: str = ""
    _fn: object = field(default=None, repr=False)

    def predict(self, x: np.ndarray) -> list[np.ndarray]:
        """Reference outputs for a batch, one sample at a time (the artifacts use batch 1)."""
        outs = [self._fn(x[i : i + 1]) for i in range(len(x))]
        return [np.concatenate([o[k] for o in outs]) for k in range(len(self.outputs))]


def load(
    path: Path, *, input_shape: list[int] | None = None, safe_mode: bool = True
) -> SourceModel:
    """Load and freeze a model. Safe mode refuses layers that run code from the file."""
    path = Path(path)
    kind = detect_kind(path)
    tf = need("tensorflow", what="converting models")
    tf.get_logger().setLevel(logging.ERROR)
    if kind == "savedmodel":
        fn, sig_in, names, first = _savedmodel(path, tf)
        keras_model = None
    else:
        keras_model = _keras(path, kind, safe_mode)
        fn, sig_in, names, first = _keras_fn(keras_model, tf)
    shape = _input_shape(sig_in, input_shape, path)
    in_name = _clean(sig_in.name or "input")
    spec = [tf.TensorSpec(shape, tf.float32, name=in_name)]

    def call(x):
        out = fn(x)
        return [out[n] for n in names] if isinstance(out, dict) else _as_list(out)

    traced = tf.function(lambda x: tuple(call(x)), input_signature=spec)
    frozen = _freeze(traced.get_concrete_function())

    def run(x: np.ndarray) -> list[np.ndarray]:
        return [np.asarray(o) for o in frozen(tf.constant(x, tf.float32))]

    out_shapes = [list(t.shape) for t in frozen.structured_outputs]
    outputs = [TensorSpec(_clean(n), s) for n, s in zip(names, out_shapes)]
    return SourceModel(
        path=path,
        kind=kind,
        inputs=[TensorSpec(in_name, list(shape))],
        outputs=outputs,
        keras_model=keras_model,
        frozen=frozen,
        first_layer=first,
        _fn=run,
    )


def _keras(path: Path, kind: str, safe_mode: bool):
    keras = need("keras", what="loading Keras models")
    try:
        return keras.saving.load_model(path, compile=False, safe_mode=safe_mode)
    except Exception as e:  # Keras raises bare ValueError/TypeError/OSError for all of these
        text = str(e)
        if "safe_mode" in text or "Lambda" in text and "unsafe" in text.lower():
            raise UnsafeModelError(
                f"{path.name} contains a Lambda layer or other code that would run on load; "
                "safe mode refused it. If you trust this file, pass --no-safe-mode "
                "(Python: safe_mode=False)"
            ) from e
        if "Unknown layer" in text or "Could not locate" in text or "custom" in text.lower():
            raise ModelLoadError(
                f"{path.name} uses a custom layer that is not registered: {_first_line(text)}; "
                "import the module that defines it (keras.saving.register_keras_serializable)"
            ) from e
        raise ModelLoadError(
            f"cannot load {path.name} as a {kind} model: {_first_line(text)}; is the file "
            "complete? re-save it from Keras"
        ) from e


def _keras_fn(model, tf):
    if len(model.inputs) != 1:
        raise ConfigError(
            f"edgekit converts single-input models; got {len(model.inputs)} inputs; "
            "wrap the model so it takes one image tensor"
        )
    names = [_clean(getattr(t, "name", "") or f"output_{i}") for i, t in enumerate(model.outputs)]
    names = _unique(names)
    first = type(model.layers[1]).__name__ if len(model.layers) > 1 else ""

    def fn(x):
        return dict(zip(names, _as_list(model(x, training=False))))

    inp = model.inputs[0]
    sig = tf.TensorSpec(inp.shape, tf.float32, name=_clean(inp.name or "input"))
    return fn, sig, names, first


def _savedmodel(path: Path, tf):
    try:
        loaded = tf.saved_model.load(str(path))
    except Exception as e:
        raise ModelLoadError(f"cannot load SavedModel {path}: {_first_line(str(e))}") from e
    sig = loaded.signatures.get("serving_default")
    if sig is None:
        raise ModelLoadError(f"SavedModel {path} has no serving_default signature; re-export it")
    args = sig.structured_input_signature[1]
    if len(args) != 1:
        raise ConfigError(f"edgekit converts single-input models; got inputs {sorted(args)}")
    ((arg_name, arg),) = args.items()
    names = sorted(sig.structured_outputs)

    def fn(x, _keep=loaded):  # the default keeps the variables alive with the function
        return sig(**{arg_name: x})

    sig_in = tf.TensorSpec(arg.shape, tf.float32, name=arg_name)
    return fn, sig_in, names, ""


def _input_shape(sig, override, path) -> list[int]:
    if override:
        shape = [int(v) for v in override]
        if len(shape) == len(sig.shape) - 1:
            shape = [1, *shape]
        if len(shape) != len(sig.shape):
            raise ConfigError(
                f"--input-shape has {len(shape)} dims but the model input has {len(sig.shape)}; "
                f"got: {override}; model says {list(sig.shape)}"
            )
        return shape
    dims = list(sig.shape)
    shape = [1 if (i == 0 and d is None) else d for i, d in enumerate(dims)]
    if any(d is None for d in shape):
        raise ConfigError(
            f"{path.name} has an input with unknown size {dims}; pass --input-shape, "
            "e.g. --input-shape 1,224,224,3"
        )
    return [int(d) for d in shape]


def _freeze(concrete):
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2,
    )

    return convert_variables_to_constants_v2(concrete)


def _as_list(out) -> list:
    return list(out) if isinstance(out, (list, tuple)) else [out]


def _clean(name: str) -> str:
    name = re.sub(r"[^A-Za-z0-9_]", "_", name.split(":")[0]) or "tensor"
    return name if not name[0].isdigit() else f"t_{name}"


def _unique(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for n in names:
        seen[n] = seen.get(n, 0) + 1
        out.append(n if seen[n] == 1 else f"{n}_{seen[n] - 1}")
    return out


def _first_line(text: str) -> str:
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "unknown error")
    return line[:200]
