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
    _exports: dict = field(default_factory=dict, repr=False)

    def predict(self, x: np.ndarray | list[np.ndarray]) -> list[np.ndarray]:
        """Reference outputs for a batch (one array per input, or one array for a single
        input), one sample at a time: the artifacts use batch 1."""
        xs = columns(x)
        outs = [self._fn([a[i : i + 1] for a in xs]) for i in range(len(xs[0]))]
        return [np.concatenate([o[k] for o in outs]) for k in range(len(self.outputs))]

    def saved_model(self) -> Path:
        """A TensorFlow SavedModel of the source (Keras' own export, made once), for the
        converters' fallback routes; a SavedModel source is its own."""
        if self.kind == "savedmodel":
            return self.path
        if "savedmodel" not in self._exports:
            folder = self._scratch() / "savedmodel"
            self.keras_model.export(
                str(folder), format="tf_saved_model", verbose=False, input_signature=self.tf_specs()
            )
            self._exports["savedmodel"] = folder
        return self._exports["savedmodel"]

    def tf_specs(self) -> list:
        """The inputs as fixed-shape tf.TensorSpecs (batch 1), for Keras' exporters."""
        import tensorflow as tf

        return [tf.TensorSpec(t.shape, tf.float32, name=t.name) for t in self.inputs]

    def scratch_file(self, name: str) -> Path:
        """A path in this source's scratch folder (removed with the source)."""
        return self._scratch() / name

    def _scratch(self) -> Path:
        if "scratch" not in self._exports:
            import shutil
            import tempfile
            import weakref

            folder = Path(tempfile.mkdtemp(prefix="edgekit-src-"))
            weakref.finalize(self, shutil.rmtree, folder, True)
            self._exports["scratch"] = folder
        return self._exports["scratch"]


def columns(x) -> list[np.ndarray]:
    """Inputs as one array per model input: a lone array is a single-input batch."""
    return [x] if isinstance(x, np.ndarray) else list(x)


def load(
    path: Path, *, input_shape: list[int] | None = None, safe_mode: bool = True
) -> SourceModel:
    """Load and freeze a model. Safe mode refuses layers that run code from the file."""
    path = Path(path)
    kind = detect_kind(path)
    tf = need("tensorflow", what="converting models")
    tf.get_logger().setLevel(logging.ERROR)
    if kind == "savedmodel":
        fn, sig_ins, names, first = _savedmodel(path, tf)
        keras_model = None
    else:
        keras_model = _keras(path, kind, safe_mode)
        fn, sig_ins, names, first = _keras_fn(keras_model, tf)
    in_names = _unique([_clean(s.name or f"input_{i}") for i, s in enumerate(sig_ins)])
    shapes = _input_shapes(sig_ins, input_shape, path)
    specs = [tf.TensorSpec(sh, tf.float32, name=n) for sh, n in zip(shapes, in_names)]

    def call(*xs):
        out = fn(list(xs))
        return [out[n] for n in names] if isinstance(out, dict) else _as_list(out)

    traced = tf.function(lambda *xs: tuple(call(*xs)), input_signature=specs)
    frozen = _freeze(traced.get_concrete_function())

    def run(xs: list[np.ndarray]) -> list[np.ndarray]:
        return [np.asarray(o) for o in frozen(*[tf.constant(a, tf.float32) for a in xs])]

    out_shapes = [list(t.shape) for t in frozen.structured_outputs]
    outputs = [TensorSpec(_clean(n), s) for n, s in zip(names, out_shapes)]
    return SourceModel(
        path=path,
        kind=kind,
        inputs=[TensorSpec(n, list(sh)) for n, sh in zip(in_names, shapes)],
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
    layer_names = list(getattr(model, "output_names", None) or [])
    if len(layer_names) != len(model.outputs):  # Keras 3 names outputs by their layers
        layer_names = [getattr(t, "name", "") for t in model.outputs]
    names = _unique([_clean(n or f"output_{i}") for i, n in enumerate(layer_names)])
    first = type(model.layers[1]).__name__ if len(model.layers) > 1 else ""
    _check_float(model.inputs)

    def fn(xs):
        return dict(zip(names, _as_list(model(xs if len(xs) > 1 else xs[0], training=False))))

    sigs = [tf.TensorSpec(t.shape, tf.float32, name=_clean(t.name or "in")) for t in model.inputs]
    return fn, sigs, names, first


def _check_float(tensors) -> None:
    for t in tensors:
        dtype = str(getattr(t, "dtype", "float32"))
        if "float" not in dtype:
            raise ConfigError(
                f"input {getattr(t, 'name', '?')!r} is {dtype}; edgekit converts models with "
                "float inputs; feed token ids or indices through a float input and cast inside"
            )


def _savedmodel(path: Path, tf):
    try:
        loaded = tf.saved_model.load(str(path))
    except Exception as e:
        raise ModelLoadError(f"cannot load SavedModel {path}: {_first_line(str(e))}") from e
    sig = loaded.signatures.get("serving_default")
    if sig is None:
        raise ModelLoadError(f"SavedModel {path} has no serving_default signature; re-export it")
    args = sig.structured_input_signature[1]
    arg_names = sorted(args)
    _check_float([args[n] for n in arg_names])
    names = sorted(sig.structured_outputs)

    def fn(xs, _keep=loaded):  # the default keeps the variables alive with the function
        return sig(**dict(zip(arg_names, xs)))

    sigs = [tf.TensorSpec(args[n].shape, tf.float32, name=n) for n in arg_names]
    return fn, sigs, names, ""


def _input_shapes(sigs, override, path) -> list[list[int]]:
    if override and len(sigs) > 1:
        raise ConfigError(
            f"--input-shape sets one input but {path.name} has {len(sigs)}; save the model "
            "with fixed input shapes instead"
        )
    return [_input_shape(s, override, path) for s in sigs]


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
