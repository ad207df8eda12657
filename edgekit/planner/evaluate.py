"""What a worker does for `edgekit plan`: make a model variant (pruned, resized), convert it
with edgekit's own converters, and score the real artifact on the validation set.

Everything here runs in worker processes (or Ray tasks) and is keyed by content hash in the
plan cache (`edgekit.planner.cache`), so nothing is converted twice. Core ML runs on macOS
only: elsewhere its accuracy is the Keras model's with the same weights (the proxy the
`--max-drop` budget uses), labelled "keras-proxy".
"""

from __future__ import annotations

import logging
import platform
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgekit import formats
from edgekit.errors import EdgeKitError
from edgekit.planner import cache
from edgekit.planner.space import BUDGETED

log = logging.getLogger(__name__)
# Core ML off macOS: the precisions whose arithmetic a Keras model can stand in for (float
# weights, or coremltools' linear int8 weights applied to the Keras kernels)
PROXIED = ("fp32", "fp16", "int8", BUDGETED)
LEARNING_RATE = 3e-4  # fine-tuning a pruned variant; see docs/plan.md for the measurement


@dataclass(frozen=True)
class Setup:
    """What every worker job of one plan shares (plain values: it crosses processes)."""

    model: str
    sha: str  # the model file's sha256
    calib: str | None
    val: str | None
    labels: tuple[str, ...] | None
    calib_samples: int = 100
    max_drop: float | None = None
    reference: float | None = None  # the original model's accuracy on val (0..1)
    epochs: int = 4  # fine-tuning epochs after pruning (distillation on the calib images)
    data_key: str = ""  # hash of calib + val + labels
    ship: bool = False  # return the artifact's bytes (Ray: the driver may be another machine)


def accuracy_basis(fmt: str, precision: str) -> str | None:
    """How a candidate's accuracy is measured: on the artifact, through the Keras proxy
    (Core ML off macOS), or not at all (None)."""
    if fmt != "coreml" or platform.system() == "Darwin":
        return "artifact"
    return "keras-proxy" if precision in PROXIED else None


def describe(setup: Setup) -> dict:
    """The model's square input size (None otherwise) and whether it can be resized (fully
    convolutional) and channel-pruned."""
    keras = _keras()
    model = keras.models.load_model(setup.model, compile=False)
    shape = list(model.inputs[0].shape) if len(model.inputs) == 1 else []
    size = shape[1] if len(shape) == 4 and shape[1] and shape[1] == shape[2] else None
    resizable = False
    if size:
        try:
            small = resized(model, max(8, size // 2))
            resizable = list(small.outputs[0].shape) == list(model.outputs[0].shape)
        except Exception as e:  # a Flatten/Reshape ties the model to its size
            log.debug("%s cannot be resized: %s", setup.model, e)
    from edgekit.optimize import prune_channels

    try:
        prune_channels(model, None, ratio=0.25, epochs=0)
        prunable = True
    except EdgeKitError:
        prunable = False
    return {"size": size, "resizable": resizable, "prunable": prunable}


def resized(model, size: int):
    """The same Keras model and weights at a size x size input."""
    keras = _keras()
    c = model.inputs[0].shape[-1]
    inp = keras.Input((size, size, c), name=model.inputs[0].name.split(":")[0])
    clone = keras.models.clone_model(model, input_tensors=inp)
    clone.set_weights(model.get_weights())
    return clone


def variant(setup: Setup, prune: float, size: int | None, *, tuned: bool = True) -> Path:
    """The model pruned by `prune` (fine-tuned on the calibration images when `tuned`) at
    `size`, saved once in the cache; the model itself when neither applies."""
    if not prune and not size:
        return Path(setup.model)
    stem = Path(setup.model).stem + (f"-p{round(prune * 100)}" if prune else "")
    stem += f"-s{size}" if size else ""
    key = {"variant": [prune, size], "tuned": tuned and bool(prune), "epochs": setup.epochs,
           "learning_rate": LEARNING_RATE}  # fmt: skip
    entry = cache.entry(setup, key)
    path = entry / f"{stem}.keras"
    if path.exists():
        return path
    with cache.exclusive(entry):  # another worker may be making it: wait, then take it
        if not path.exists():
            _make_variant(setup, prune, size, tuned, entry, path)
    return path


def _make_variant(setup: Setup, prune, size, tuned: bool, entry: Path, path: Path) -> None:
    keras = _keras()
    if prune and size:  # pruned (and fine-tuned) once at the model's own size, for every size
        model = keras.models.load_model(variant(setup, prune, None, tuned=tuned), compile=False)
        prune = 0
    else:
        model = keras.models.load_model(setup.model, compile=False)
    if prune:
        from edgekit.optimize import prune_channels

        data = setup.calib if tuned else None
        labels = list(setup.labels) if setup.labels else None
        keras.utils.set_random_seed(0)  # the same variant from the same inputs, run to run
        model = prune_channels(model, data, ratio=prune, epochs=setup.epochs if data else 0,
                               learning_rate=LEARNING_RATE, labels=labels).model  # fmt: skip
    if size:
        model = resized(model, size)
    with cache.writing(entry) as tmp:
        model.save(tmp / path.name)


def build(setup: Setup, fmt: str, precision: str, prune: float, size: int | None) -> dict:
    """Convert one candidate's artifact (cached) and score it. Returns a plain dict: the
    artifact path (and its files' bytes with `setup.ship`), accuracy, its basis, or the
    error (failures are not cached: a missing runtime installed later is tried again)."""
    key = {"build": [fmt, precision, prune, size], "epochs": setup.epochs}
    if precision == BUDGETED:
        key |= {"max_drop": setup.max_drop, "reference": setup.reference}
    entry = cache.entry(setup, key)
    if not entry.exists():
        t = time.perf_counter()
        try:
            with cache.writing(entry) as tmp:
                result = _make(setup, fmt, precision, prune, size, tmp)
                result["convert_s"] = round(time.perf_counter() - t, 2)
                cache.save_result(tmp, result)
        except EdgeKitError as e:
            return {"error": " ".join(str(e).split())[:400]}
        except Exception as e:  # a converter's own failure: this candidate fails, not the plan
            log.debug("plan: %s %s failed", fmt, precision, exc_info=True)
            return {"error": f"{type(e).__name__}: {' '.join(str(e).split())[:400]}"}
    result = cache.result(entry) | {"entry": entry.name}
    if setup.ship:
        result["blobs"] = cache.blobs(entry)
    return result


def _make(setup: Setup, fmt, precision, prune, size, folder: Path) -> dict:
    basis = accuracy_basis(fmt, precision) if setup.val else None
    source = variant(setup, prune, size)
    proxy_int8 = basis == "keras-proxy" and precision == "int8"
    if precision == BUDGETED or proxy_int8:  # proxy int8: the budget with nothing in float
        name, acc, var_acc = _budgeted(setup, source, fmt, folder, precision,
                                       max_drop=100.0 if proxy_int8 else None)  # fmt: skip
    else:
        name, acc, var_acc = _converted(setup, source, fmt, precision, folder)
        if basis == "keras-proxy":  # float Core ML: the Keras model computes the same
            acc = var_acc
    if source != Path(setup.model):  # the Keras variant travels with its artifact
        shutil.copy2(source, folder / source.name)
    return {
        "file": name,
        "variant": source.name if source != Path(setup.model) else None,
        "accuracy": acc if basis else None,
        "variant_accuracy": var_acc,
        "accuracy_basis": basis,
    }


def _converted(setup: Setup, source: Path, fmt: str, precision: str, folder: Path):
    """edgekit.convert of one format and precision; its files moved into `folder`."""
    from edgekit.conversion import convert

    with tempfile.TemporaryDirectory(dir=folder, prefix=".convert-") as out:
        report = convert(source, to=f"{fmt}:{precision}", calib=setup.calib, val=setup.val,
                         labels=list(setup.labels) if setup.labels else None, out=out,
                         calib_samples=setup.calib_samples)  # fmt: skip
        art = report.artifacts[0]
        for f in formats.files_of(Path(out) / art.file):
            shutil.move(str(f), folder / f.name)
    parity = art.parity or {}
    var_acc = parity.get("reference_accuracy")
    if var_acc is None and setup.val:
        var_acc = keras_accuracy(setup, source)
    return Path(art.file).name, parity.get("accuracy"), var_acc


def _budgeted(setup: Setup, source: Path, fmt: str, folder: Path, name_as: str, *,
              max_drop: float | None = None):  # fmt: skip
    """int8 with the most sensitive layers kept float, to what is left of --max-drop after
    the variant's own loss (edgekit.optimize.quantize_to_budget)."""
    from edgekit.contract import Contract
    from edgekit.errors import BudgetNotMetError
    from edgekit.manifest import embedded_contract
    from edgekit.optimize import quantize_to_budget

    src, pre, val = _source_and_val(setup, source)
    from edgekit import data

    calib = data.read(setup.calib or setup.val, shape=src.inputs[0].shape, preprocess=pre,
                      count=setup.calib_samples)  # fmt: skip
    if max_drop is None:
        var_acc = float(np.mean(np.argmax(src.predict(val.x)[0], -1) == val.y))
        left = (setup.max_drop or 0.0) - 100 * ((setup.reference or var_acc) - var_acc)
        # a variant that spent the budget already cannot meet it with any mix: no search
        # (NNCF's accuracy control would revert op after op toward a drop of zero)
        max_drop = left if left > 0 else 100.0
    labels = list(setup.labels) if setup.labels else val.classes
    meta = embedded_contract(Contract(src.inputs, src.outputs, pre, labels), precision="int8",
                             source_sha256=setup.sha)  # fmt: skip
    dest = folder / formats.get(fmt).file_name(source.stem, name_as)
    try:
        r = quantize_to_budget(src, fmt, dest, calib=calib.x, val_x=val.x, val_y=val.y,
                               max_drop=max_drop, metadata=meta)  # fmt: skip
    except BudgetNotMetError as e:  # the best mix is written anyway: its accuracy says
        r = e.result
    return dest.name, r.accuracy, r.reference_accuracy


def keras_accuracy(setup: Setup, source: Path) -> float:
    """Top-1 accuracy of a Keras model on the validation set, preprocessed as convert does."""
    src, _, val = _source_and_val(setup, source)
    return float(np.mean(np.argmax(src.predict(val.x)[0], -1) == val.y))


def _source_and_val(setup: Setup, source: Path):
    from edgekit import data
    from edgekit import source as source_mod
    from edgekit.contract import Preprocess
    from edgekit.conversion import RESCALING_LAYERS

    src = source_mod.load(source)
    preset = "raw" if src.first_layer in RESCALING_LAYERS else "unit"
    pre = Preprocess.for_shape(src.inputs[0].shape, preset)
    labels = list(setup.labels) if setup.labels else None
    return src, pre, data.read_labelled(setup.val, preprocess=pre, labels=labels)


def _keras():
    from edgekit._deps import need

    return need("keras", what="edgekit plan")
