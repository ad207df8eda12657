"""Fine-tuning in a child process: the public pruning functions never die from a signal.

TensorFlow's compiled train step segfaults on some CPUs with some trained models (oneDNN's
kernels; seen on AVX-512 Zen 5 and Sapphire Rapids machines, fixed by TF_ENABLE_ONEDNN_OPTS=0,
which TensorFlow reads once, at import). In the caller's process that kills their Python
without a word. So `prune`, `prune_channels` and `prune_to_budget`, when they fine-tune, run
in a spawned child (`edgekit.isolate`: a crash is retried once with oneDNN off, then one
NativeCrashError); the child writes the resulting model to a temporary `.keras` file and
this process loads it back, so the caller gets the same result object as before. Without
fine-tuning (no data, or zero epochs) nothing is trained and the call runs here.

An in-memory model goes to the child as a `.keras` file; the modules that define its custom
classes (named in the file's config) are imported there from this process' `sys.path`.
"""

from __future__ import annotations

import importlib
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from edgekit import isolate
from edgekit._deps import need
from edgekit.errors import BudgetNotMetError

RESULT = "result.keras"


def run(fn: Callable, model, data, *, trains: bool, progress=None, **kwargs):
    """`fn(model, data, progress=..., **kwargs)`, in a child when it `trains` (and this is
    not already an isolated child); its result's `model` is loaded back here."""
    if not trains or isolate.in_child():
        return fn(model, data, progress=progress, **kwargs)
    keras = need("keras", what="pruning")
    with tempfile.TemporaryDirectory(prefix="edgekit-finetune-") as tmp:
        if not isinstance(model, (str, Path)):
            path = Path(tmp) / "model.keras"
            model.save(path)
            model = path
        try:
            result = isolate.call(
                _in_child, fn, str(model), data, tmp, _modules(Path(model)), list(sys.path),
                stage="fine-tuning", callbacks={"progress": progress or (lambda message: None)},
                **kwargs,
            )  # fmt: skip
        except BudgetNotMetError as e:  # the closest result comes back with its model too
            if e.result is not None:
                e.result.model = keras.models.load_model(Path(tmp) / RESULT, compile=False)
            raise
        result.model = keras.models.load_model(Path(tmp) / RESULT, compile=False)
    return result


def _in_child(fn, model, data, tmp, modules, path, *, progress, **kwargs):
    """The child's side: the caller's import path and custom-class modules, `fn`, and the
    model written to `tmp` (what crosses back is the result without its model)."""
    sys.path[:] = path + [p for p in sys.path if p not in path]
    for module in modules:
        try:
            importlib.import_module(module)
        except Exception:  # loading then names the class that is missing, in one line
            continue
    try:
        result = fn(model, data, progress=progress, **kwargs)
    except BudgetNotMetError as e:
        _hand_back(e.result, tmp)
        raise
    return _hand_back(result, tmp)


def _hand_back(result, tmp: str):
    """The result's model to `tmp`; the rest (figures, notes) is pickled back."""
    if result is not None and result.model is not None:
        result.model.save(Path(tmp) / RESULT)
        result.model = None
    return result


def _modules(path: Path) -> list[str]:
    """Modules that define the custom classes a Keras file's config names (not Keras')."""
    from edgekit.source import detect_kind
    from edgekit.source.keras_file import KERAS_MODULES, classes, read_config

    try:
        kind = detect_kind(path)
    except Exception:  # the child's loader says what is wrong with the file
        return []
    config = read_config(path, kind) if kind in ("keras", "h5") else None
    found = {module for _, module in classes(config or {}) if module}
    return sorted(m for m in found if m.split(".")[0] not in KERAS_MODULES and m != "builtins")
