"""int8 quantization held to an accuracy budget (`--max-drop`): the most sensitive layers stay
in float until the accuracy on the validation set is within `max_drop` points of the float
model, or the all-float end (bounded by `--max-float`) is reached.

The search (`mix.Search`) is the same for every format: plain int8, a ranking of the units by
their measured effect, the far end, bisection over the ranked prefix, greedy refinement.
Each format supplies its units and how a mix is made and scored:

- TFLite (`budget_tflite`): QuantizationDebugger denylists, scored through LiteRT;
- OpenVINO (`budget_openvino`): NNCF's accuracy control first, then NNCF ignored scopes;
- Core ML (`budget_coreml`): int8 weights per layer, scored on the Keras model with the same
  weights, since Core ML runs only on macOS.

When no mix fits, the best artifact found is still written and `BudgetNotMetError` says so.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from edgekit._deps import need
from edgekit.errors import BudgetNotMetError, ConfigError
from edgekit.optimize import budget_coreml, budget_openvino, budget_tflite
from edgekit.optimize.mix import BudgetResult

log = logging.getLogger(__name__)
FORMATS = ("tflite", "openvino", "coreml")
Progress = Callable[[str], None]
__all__ = ["FORMATS", "BudgetNotMetError", "BudgetResult", "accuracy_of", "prepare_data",
           "quantize_to_budget", "suffix_of"]  # fmt: skip


def quantize_to_budget(
    source,
    fmt: str,
    dest: str | Path,
    *,
    calib: np.ndarray,
    val_x: np.ndarray,
    val_y: np.ndarray,
    max_drop: float = 1.0,
    max_float: int | None = None,
    metadata: str = "",
    progress: Progress | None = None,
) -> BudgetResult:
    """Write an int8 artifact of `source` (edgekit.source.SourceModel) to `dest` whose top-1
    accuracy on (val_x, val_y) is at most `max_drop` points below the float model.

    Args:
        max_float: most units (ops, or op groups) kept in float; default: no limit (the
            search may go to the all-float end).
        metadata: the contract to embed in the artifact.

    Returns:
        BudgetResult (accuracy per mix tried, the float ops, evaluations, samples per point).

    Raises:
        ConfigError: a format without a budget search, or a negative max_drop.
        BudgetNotMetError: no mix met the budget; the best artifact is at `dest` anyway.
    """
    if fmt not in FORMATS:
        raise ConfigError(f"--max-drop works for {', '.join(FORMATS)}; got: {fmt}")
    if max_drop < 0:
        raise ConfigError(f"--max-drop is in accuracy points and >= 0; got: {max_drop}")
    if fmt == "coreml" and source.keras_model is None:
        raise ConfigError("--max-drop for coreml needs a Keras model (.keras/.h5)")
    say = progress or log.info
    ref = float(np.mean(np.argmax(source.predict(val_x)[0], -1) == val_y))
    dest = Path(dest)
    if fmt == "tflite":
        result = budget_tflite.search(source, dest, calib, val_x, val_y, ref, max_drop,
                                      max_float, say)  # fmt: skip
    elif fmt == "openvino":
        result = budget_openvino.search(source, dest, calib, val_x, val_y, ref, max_drop,
                                        max_float, say)  # fmt: skip
    else:
        result = budget_coreml.search(source, dest, val_x, val_y, ref, max_drop, max_float, say)
    result.path = str(dest)
    if metadata:
        _embed(fmt, dest, metadata)
    if not result.met:
        raise BudgetNotMetError(
            f"{fmt}: no mix of float and int8 layers met --max-drop {max_drop}; got: best "
            f"accuracy {100 * result.accuracy:.2f}% vs float {100 * ref:.2f}% with "
            f"{len(result.float_layers)} ops in float (limit {max_float}) after "
            f"{result.evaluations} evaluations; kept the best artifact at {dest}; raise "
            "--max-drop or --max-float, or use --precision fp16",
            result,
        )
    return result


def suffix_of(fmt: str) -> str:
    """The artifact suffix of a budgeted format (from the format registry)."""
    from edgekit import formats

    return formats.get(fmt).suffix


def accuracy_of(path: Path, x: np.ndarray, y: np.ndarray) -> float:
    """Top-1 accuracy of an artifact through edgekit's own runtime session."""
    from edgekit.runtimes import load

    with load(path) as session:
        out = session.predict(x)
    out = out[0] if isinstance(out, list) else out
    return float(np.mean(np.argmax(out, -1) == y))


def prepare_data(model, calib, val, labels, calib_samples: int, preprocess: str | None = None):
    """The float model, calibration and validation samples, the contract (and its JSON to
    embed), and the label-order warning (or None): what `convert --max-drop` reads once for
    every format."""
    from edgekit import data as data_mod
    from edgekit import source
    from edgekit.contract import Contract, Preprocess, read_labels
    from edgekit.manifest import embedded_contract

    src = source.load(Path(model))
    first = preprocess or ("raw" if src.first_layer in ("Rescaling", "Normalization") else "unit")
    pre = Preprocess.for_shape(src.inputs[0].shape, first)
    names = read_labels(labels) if isinstance(labels, (str, Path)) else labels
    v = data_mod.read_labelled(val, preprocess=pre, labels=names)
    c = data_mod.read(calib, shape=src.inputs[0].shape, preprocess=pre, count=calib_samples)
    warning = None
    if names is None:
        predicted = np.argmax(src.predict(v.x)[0], -1)
        warning = data_mod.label_order_warning(v.y, predicted, v.classes, flag="--val")
    contract = Contract(src.inputs, src.outputs, pre, names or v.classes)
    meta = embedded_contract(contract, precision="int8", source_sha256="")
    return src, c, v, contract, meta, warning


def _embed(fmt: str, dest: Path, metadata: str) -> None:
    from edgekit.manifest import METADATA_KEY

    if fmt == "coreml":
        import shutil

        ct = need("coremltools")
        model = ct.models.MLModel(str(dest), skip_model_load=True)
        model.user_defined_metadata[METADATA_KEY] = metadata
        with tempfile.TemporaryDirectory(dir=dest.parent) as tmp:
            model.save(str(Path(tmp) / dest.name))
            shutil.rmtree(dest)
            shutil.move(str(Path(tmp) / dest.name), dest)
    elif fmt == "tflite":
        from edgekit.converters.tflite import add_metadata

        dest.write_bytes(add_metadata(dest.read_bytes(), {METADATA_KEY: metadata}))
    else:
        ov = need("openvino")
        from edgekit.converters.openvino import save

        model = ov.Core().read_model(dest)
        model.set_rt_info(metadata, ["edgekit", "contract"])
        with tempfile.TemporaryDirectory(dir=dest.parent) as tmp:
            staged = Path(tmp) / dest.name
            save(ov, model, staged, compress_to_fp16=False)
            model = None
            from edgekit.manifest import replace_path

            replace_path(staged.with_suffix(".bin"), dest.with_suffix(".bin"))
            replace_path(staged, dest)
