"""Keras files as users have them: `.keras` (from any Keras 3 backend) and Keras 2 `.h5`,
with their own registered classes, KerasHub classes, or layers that only one backend runs.

The model's config (config.json in a `.keras` zip, the `model_config` attribute of an `.h5`)
names every class it needs, so a failure can say which one is missing instead of repeating
Keras' message, and KerasHub can be imported only for the files that name it.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path

from edgekit._deps import need
from edgekit.errors import MissingDependencyError, ModelLoadError, UnsafeModelError

# packages whose classes Keras finds by itself once they are imported -> their pip name
HUB_PACKAGES = {"keras_hub": "keras-hub", "keras_nlp": "keras-nlp", "keras_cv": "keras-cv"}
# layers holding another framework's module: they load only under that Keras backend
BACKEND_LAYERS = {"TorchModuleWrapper": "torch", "JaxLayer": "jax", "FlaxLayer": "jax"}
KERAS_MODULES = ("keras", "tf_keras")
CONTAINERS = {"Functional", "Sequential", "Model"}
# tf.keras 2 layers for raw TensorFlow ops in a functional model: Keras 3 has no such layers
TF_KERAS_ONLY = {"TFOpLambda", "SlicingOpLambda"}


def load_keras(path: Path, kind: str, *, safe_mode: bool = True):
    """A `.keras` or `.h5` model, uncompiled; safe mode refuses code stored in the file.

    Args:
        path: the file. kind: "keras" or "h5" (`edgekit.source.detect_kind`).
        safe_mode: Keras' safe mode (Lambda layers and pickled code refused).

    Returns:
        The keras.Model.

    Raises:
        UnsafeModelError: the file runs code on load and safe mode is on.
        MissingDependencyError: a KerasHub (or KerasCV/NLP) model without that package.
        ModelLoadError: a class it names is not registered (the message names it and says
            `--import`), a layer needs another backend, or the file is broken.
    """
    keras = need("keras", what="loading Keras models")
    config = read_config(path, kind)
    if config is not None:
        _prepare(config, path, keras)
    elif kind == "h5" and _weights_only(path):
        raise ModelLoadError(
            f"{path.name} holds weights only, no model; got: an HDF5 file without model_config; "
            "build the model in code, model.load_weights(file), then model.save('model.keras') "
            "and convert that"
        )
    try:
        return keras.saving.load_model(path, compile=False, safe_mode=safe_mode)
    except Exception as e:  # Keras raises bare ValueError/TypeError/OSError for all of these
        raise explain(e, path, kind, config, keras) from e


def read_config(path: Path, kind: str) -> dict | None:
    """The model's config as saved, or None when it cannot be read (Keras will say why)."""
    try:
        if kind == "keras":
            with zipfile.ZipFile(path) as z:
                return json.loads(z.read("config.json"))
        import h5py

        with h5py.File(path, "r") as f:
            raw = f.attrs.get("model_config")
        if raw is None:
            return None
        return json.loads(raw.decode() if isinstance(raw, bytes) else raw)
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return None


def _weights_only(path: Path) -> bool:
    """An .h5 written by save_weights: layer weights, no model_config to rebuild from."""
    import h5py

    try:
        with h5py.File(path, "r") as f:
            return "model_config" not in f.attrs and bool(len(f.keys()) or "layer_names" in f.attrs)
    except OSError:
        return False


def classes(config) -> Iterator[tuple[str, str]]:
    """(name Keras looks up, module) for every object in a config: `registered_name`
    (`my>Scale`) when the file has one, else `class_name`; module "" in Keras 2 files."""
    if isinstance(config, dict):
        if isinstance(config.get("class_name"), str):
            name = config.get("registered_name") or config["class_name"]
            yield name, config.get("module") or ""
        for value in config.values():
            yield from classes(value)
    elif isinstance(config, list):
        for value in config:
            yield from classes(value)


def missing(config, keras) -> list[tuple[str, str]]:
    """The classes in `config` this process cannot resolve: (name, module), in file order."""
    found: dict[str, str] = {}
    for name, module in classes(config):
        top = module.split(".")[0]
        if top in KERAS_MODULES or top in HUB_PACKAGES or module == "builtins":
            continue
        if name.startswith("__"):  # Keras' own markers: __keras_tensor__, __numpy__, ...
            continue
        if keras.saving.get_registered_object(name) is not None or _builtin(name, keras):
            continue
        found.setdefault(name, module)
    return list(found.items())


def _builtin(name: str, keras) -> bool:
    """A Keras 2 `.h5` names built-ins by class name only: look them up where Keras 3 does."""
    if ">" in name:
        return False
    spaces = (keras.layers, keras.initializers, keras.regularizers, keras.constraints,
              keras.losses, keras.metrics, keras.optimizers, keras.activations)  # fmt: skip
    return name in CONTAINERS or any(hasattr(space, name) for space in spaces)


def _prepare(config: dict, path: Path, keras) -> None:
    """Import the KerasHub family when the file names it; refuse other backends' layers."""
    for name, module in classes(config):
        top = module.split(".")[0] or name.split(">")[0]
        if top in HUB_PACKAGES:
            _import_hub(top, name, path)
        need_backend = BACKEND_LAYERS.get(name.split(">")[-1])
        if need_backend and keras.backend.backend() != need_backend:
            raise ModelLoadError(
                f"{path.name} holds a {need_backend} module ({name}), which loads only under "
                f"KERAS_BACKEND={need_backend}; edgekit converts through TensorFlow; got "
                f"backend {keras.backend.backend()}; rewrite that layer with keras.ops, or "
                f"export the {need_backend} model to ONNX with its own exporter"
            )


def _import_hub(top: str, name: str, path: Path) -> None:
    if importlib.util.find_spec(top) is None:
        raise MissingDependencyError(
            f"{path.name} is a {top} model ({name}) and {top} is not installed; "
            f"fix: pip install {HUB_PACKAGES[top]}"
        )
    importlib.import_module(top)  # registers its classes


def explain(e: Exception, path: Path, kind: str, config, keras) -> Exception:
    """edgekit's one-line error for a Keras load failure."""
    text = str(e)
    if "safe_mode" in text or "Lambda" in text and "unsafe" in text.lower():
        return UnsafeModelError(
            f"{path.name} contains a Lambda layer or other code that would run on load; "
            "safe mode refused it. If you trust this file, pass --no-safe-mode "
            "(Python: safe_mode=False)"
        )
    absent = missing(config, keras) if config is not None else []
    if any(n in TF_KERAS_ONLY for n, _ in absent):
        return ModelLoadError(
            f"{path.name} calls TensorFlow ops directly (tf.keras 2's TFOpLambda layers), which "
            "Keras 3 cannot rebuild; got: a tf.keras 2 file; save it from tf.keras 2 as a "
            "SavedModel (model.save('folder')) and convert the folder"
        )
    if absent:
        names = ", ".join(n for n, _ in absent)
        modules = [m for _, m in absent if m and m != "__main__" and not m.startswith("edgekit_")]
        example = f", e.g. --import {modules[0]}" if modules else ""
        return ModelLoadError(
            f"{path.name} uses a class that is not registered; got: {names}; pass --import "
            "MODULE|FILE.py with the code that registers it "
            f"(@keras.saving.register_keras_serializable){example}; Python: imports=[...]"
        )
    return ModelLoadError(
        f"cannot load {path.name} as a {kind} model: {first_line(text)}; is the file "
        "complete? re-save it from Keras"
    )


def first_line(text: str, limit: int = 240) -> str:
    """The first non-empty line, cut at a word boundary."""
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "unknown error")
    return line if len(line) <= limit else line[:limit].rsplit(" ", 1)[0] + " ..."
