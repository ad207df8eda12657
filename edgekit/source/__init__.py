"""Load the source model (Keras 3 `.keras`, Keras 2 `.h5`, SavedModel) and freeze it once.

Every converter starts from the same frozen TensorFlow graph, so the formats see the same
operations and names, and the model is traced only once per `convert` call. How each kind is
read lives beside this file: `keras_file` (custom classes, KerasHub, other backends),
`savedmodel` (signatures and variables, with a graph-level loader where Python objects cannot
be revived), `user_code` (`--import`).
"""

from __future__ import annotations

import logging
import re
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgekit._deps import need
from edgekit.contract import TensorSpec
from edgekit.errors import ConfigError, ModelLoadError
from edgekit.source.keras_file import load_keras
from edgekit.source.user_code import import_user_code

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
        if (p / "config.json").is_file() and (p / "model.weights.h5").is_file():
            raise ModelLoadError(
                f"{p} is a KerasHub preset folder, not a model file; got: config.json and "
                "model.weights.h5; load it with keras_hub (e.g. keras_hub.models.Backbone"
                ".from_preset(folder)), save it with model.save('model.keras') and convert that"
            )
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
    loader: str = ""  # how it was read: "keras", "tf-saved-model-signatures", "tf1-session"
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
    path: Path,
    *,
    input_shape: list[int] | None = None,
    safe_mode: bool = True,
    imports: Sequence[str | Path] = (),
) -> SourceModel:
    """Load a model and freeze it.

    Args:
        path: a `.keras` file, a Keras 2 `.h5` or a SavedModel folder.
        input_shape: the input's shape where the model leaves sizes open (one input only).
        safe_mode: Keras' safe mode: layers that run code from the file are refused.
        imports: the user's modules or .py files to import first (`import_user_code`), so
            the custom classes they register resolve.

    Returns:
        SourceModel: reference `predict`, the frozen graph, I/O specs and how it was read.

    Raises:
        ModelLoadError, UnsafeModelError, ConfigError, MissingDependencyError.
    """
    path = Path(path)
    kind = detect_kind(path)
    for spec in imports:
        import_user_code(spec)
    tf = need("tensorflow", what="converting models")
    tf.get_logger().setLevel(logging.ERROR)
    read = _read(path, kind, safe_mode, tf)
    in_names = _unique([_clean(s.name or f"input_{i}") for i, s in enumerate(read.inputs)])
    shapes = _input_shapes(read.inputs, input_shape, path)
    specs = [tf.TensorSpec(sh, tf.float32, name=n) for sh, n in zip(shapes, in_names)]
    sig = read.signature
    if sig is not None and sig.graph_def is not None:  # already frozen: wrapped as it is
        frozen = sig.function(specs, _unique([_clean(n) for n in read.names]), tf)
    else:
        frozen = _trace(read.fn, read.names, specs, tf)

    def run(xs: list[np.ndarray]) -> list[np.ndarray]:
        return [np.asarray(o) for o in frozen(*[tf.constant(a, tf.float32) for a in xs])]

    out_shapes = _output_shapes(frozen, run, shapes)
    return SourceModel(
        path=path,
        kind=kind,
        inputs=[TensorSpec(n, list(sh)) for n, sh in zip(in_names, shapes)],
        outputs=[TensorSpec(_clean(n), s) for n, s in zip(read.names, out_shapes)],
        keras_model=read.keras_model,
        frozen=frozen,
        first_layer=read.first_layer,
        loader=read.loader,
        _fn=run,
    )


@dataclass
class _Read:
    """A model as read, before freezing: `fn(list of tensors)` -> outputs (dict by name or
    list), its input specs and output names."""

    fn: object
    inputs: list
    names: list[str]
    loader: str
    first_layer: str = ""
    keras_model: object = None
    signature: object = None  # savedmodel.Signature


def _read(path: Path, kind: str, safe_mode: bool, tf) -> _Read:
    if kind == "savedmodel":
        from edgekit.source import savedmodel

        sig = savedmodel.load(path, tf)
        _check_float(sig.inputs)
        return _Read(sig.fn, sig.inputs, sig.outputs, sig.loader, signature=sig)
    model = load_keras(path, kind, safe_mode=safe_mode)
    fn, inputs, names, first = _keras_fn(model, tf)
    return _Read(fn, inputs, names, "keras", first_layer=first, keras_model=model)


def _trace(fn, names: list[str], specs: list, tf):
    """`fn` traced at the fixed input shapes, variables folded into constants."""

    def call(*xs):
        out = fn(list(xs))
        return [out[n] for n in names] if isinstance(out, dict) else _as_list(out)

    traced = tf.function(lambda *xs: tuple(call(*xs)), input_signature=specs)
    return freeze_graph(traced.get_concrete_function())


def _output_shapes(frozen, run, in_shapes: list[list[int]]) -> list[list[int]]:
    """The outputs' shapes as traced, else as computed (an imported graph can hold ops whose
    output shapes TensorFlow does not infer, e.g. calls of functions it did not inline)."""
    static = [t.shape for t in frozen.structured_outputs]
    if all(s.rank is not None and None not in s.as_list() for s in static):
        return [s.as_list() for s in static]
    got = run([np.zeros(sh, np.float32) for sh in in_shapes])
    return [list(g.shape) for g in got]


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
        example = ",".join("<size>" if d is None else str(d) for d in shape)
        raise ConfigError(
            f"{path.name} has an input with unknown size; got: {dims}; pass --input-shape "
            f"with the sizes you will run, e.g. --input-shape {example}"
        )
    return [int(d) for d in shape]


def freeze_graph(concrete):
    """A concrete function with its variables folded into constants (a frozen graph)."""
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


__all__ = ["SourceModel", "load", "detect_kind", "columns", "import_user_code", "load_keras"]
