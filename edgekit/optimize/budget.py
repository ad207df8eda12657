"""int8 quantization held to an accuracy budget (`--max-drop`): the most sensitive layers stay
in float until the accuracy on the validation set is within `max_drop` points of the float
model.

- TFLite: the converter's QuantizationDebugger measures each op's quantization error
  (RMSE over the quantization step, on the calibration data); the worst ops are denylisted
  (kept float) a few at a time, each candidate is converted and scored on the validation set.
- OpenVINO: NNCF's `quantize_with_accuracy_control` ranks and reverts quantized ops itself;
  the ops it reverted are read back from the graph (their weights no longer fake-quantized).
- Core ML (int8 weights): see `budget_coreml`; accuracy measured on the Keras model with the
  same int8 weights, since Core ML runs only on macOS.

When no mix fits, the best artifact found is still written and `BudgetNotMetError` says so.
"""

from __future__ import annotations

import csv
import io
import logging
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from edgekit._deps import need
from edgekit.errors import BudgetNotMetError, ConfigError

log = logging.getLogger(__name__)
FORMATS = ("tflite", "openvino", "coreml")
Progress = Callable[[str], None]




@dataclass
class BudgetResult:
    """What the search reached for one format."""

    format: str
    path: str
    max_drop: float  # accuracy points
    reference_accuracy: float  # the float model on the validation set
    plain_accuracy: float  # every layer int8
    accuracy: float  # the artifact written
    float_layers: list[str]
    quantized_layers: int
    met: bool
    tries: list[dict] = field(default_factory=list)

    @property
    def drop(self) -> float:
        return 100 * (self.reference_accuracy - self.accuracy)

    def to_dict(self) -> dict:
        return {**asdict(self), "drop": round(self.drop, 3)}


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
        max_float: most layers kept in float (default: half of the quantizable ones).

    Raises:
        BudgetNotMetError: no mix met the budget; the best artifact is at `dest` anyway.
    """
    if fmt not in FORMATS:
        raise ConfigError(f"--max-drop works for {', '.join(FORMATS)}; got: {fmt}")
    if max_drop < 0:
        raise ConfigError(f"--max-drop is in accuracy points and >= 0; got: {max_drop}")
    say = progress or log.info
    ref = float(np.mean(np.argmax(source.predict(val_x)[0], -1) == val_y))
    search = {"tflite": _tflite, "openvino": _openvino, "coreml": _coreml}[fmt]
    result = search(source, Path(dest), calib, val_x, val_y, ref, max_drop, max_float, say)
    result.path = str(dest)
    if metadata:
        _embed(fmt, Path(dest), metadata)
    if not result.met:
        raise BudgetNotMetError(
            f"{fmt}: no mix of float and int8 layers met --max-drop {max_drop}; got: best "
            f"accuracy {100 * result.accuracy:.2f}% vs float {100 * ref:.2f}% with "
            f"{len(result.float_layers)} layers in float (limit {max_float}); kept the best "
            f"artifact at {dest}; raise --max-drop or --max-float, or use --precision fp16",
            result,
        )
    return result


def accuracy_of(path: Path, x: np.ndarray, y: np.ndarray) -> float:
    """Top-1 accuracy of an artifact through edgekit's own runtime session."""
    from edgekit.runtimes import load

    with load(path) as session:
        out = session.predict(x)
    out = out[0] if isinstance(out, list) else out
    return float(np.mean(np.argmax(out, -1) == y))


def _met(ref: float, acc: float, max_drop: float) -> bool:
    return 100 * (ref - acc) <= max_drop + 1e-9


# ---------------------------------------------------------------- TFLite


def _tflite(source, dest, calib, val_x, val_y, ref, max_drop, max_float, say) -> BudgetResult:
    tf = need("tensorflow", what="TFLite quantization")
    say("tflite: measuring per-op quantization error")
    ranked = _tflite_ranking(tf, source, calib)
    limit = len(ranked) // 2 if max_float is None else min(max_float, len(ranked))
    chosen = _grow(ranked, limit)
    tries, best = [], None
    with tempfile.TemporaryDirectory(prefix="edgekit-budget-") as tmp:
        for k in chosen:
            path = Path(tmp) / f"k{k}.tflite"
            path.write_bytes(_tflite_convert(tf, source, calib, chosen[k]))
            acc = accuracy_of(path, val_x, val_y)
            tries.append({"float_layers": len(chosen[k]), "accuracy": acc})
            say(f"tflite: {len(chosen[k])} ops in float -> accuracy {100 * acc:.2f}%")
            if best is None or acc > best[1]:
                best = (k, acc, path.read_bytes())
            if _met(ref, acc, max_drop):
                break
        dest.write_bytes(best[2])
    k, acc = best[0], best[1]
    return BudgetResult(
        "tflite", "", max_drop, ref, tries[0]["accuracy"], acc, chosen[k],
        len(ranked) - len(chosen[k]), _met(ref, acc, max_drop), tries,
    )  # fmt: skip


def _grow(units: list[list[str]], limit: int) -> dict[int, list[str]]:
    """Op sets to try, keyed by how many units: the first k units, deduplicated, capped."""
    out: dict[int, list[str]] = {}
    for k in _steps(len(units)):
        ops = list(dict.fromkeys(n for unit in units[:k] for n in unit))
        if len(ops) > limit:
            break
        out[k] = ops
    return out


def _steps(limit: int) -> list[int]:
    """0, 1, 2, 3, 4, 6, 8, 12, 16, ... up to and including `limit`."""
    out, k = [0], 1
    while k < limit:
        out.append(k)
        k = k + 1 if k < 4 else int(k * 1.5)
    return sorted(set(out + [limit]))


def _tflite_converter(tf, source, calib):
    from edgekit.converters.base import Precision
    from edgekit.converters.tflite import configure

    conv = tf.lite.TFLiteConverter.from_concrete_functions([source.frozen])
    configure(conv, Precision.INT8, calib, tf)
    return conv


def _tflite_ranking(tf, source, calib) -> list[list[str]]:
    """Units of ops to keep in float, worst first. An op's error is measured per channel
    (RMS error over RMS value, averaged over channels), so one outlier channel that wipes
    out the others shows; a unit is the op plus the ops reading its output (through pooling
    and padding), since a tensor stays float only when its readers are float too."""
    debugger = tf.lite.experimental.QuantizationDebugger(
        converter=_tflite_converter(tf, source, calib),
        debug_dataset=_dataset(calib),
        debug_options=tf.lite.experimental.QuantizationDebugOptions(
            layer_direct_compare_metrics={"channel_error": _channel_error}
        ),
    )
    debugger.run()
    buf = io.StringIO()
    debugger.layer_statistics_dump(buf)
    rows = list(csv.DictReader(io.StringIO(buf.getvalue())))
    known = {r["tensor_name"] for r in rows}
    readers = _readers(tf, source, known)
    scored = sorted(((float(r["channel_error"]), r["tensor_name"]) for r in rows), reverse=True)
    return [[name, *readers.get(name, [])] for _, name in scored]


def _channel_error(float_t, quant_t, scale, zero_point) -> float:
    f = np.concatenate([np.asarray(t, np.float64).reshape(-1, t.shape[-1]) for t in float_t])
    q = np.concatenate([np.asarray(t, np.float64).reshape(-1, t.shape[-1]) for t in quant_t])
    q = (q - float(np.ravel(zero_point)[0])) * float(np.ravel(scale)[0])
    rms = np.sqrt(np.mean(f**2, 0))
    live = rms > 1e-6 * (rms.max() + 1e-12)
    if not live.any():
        return 0.0
    err = np.sqrt(np.mean((f - q) ** 2, 0))
    return float(np.mean(err[live] / rms[live]))


PASS_OPS = {"MAX_POOL_2D", "AVERAGE_POOL_2D", "PAD", "RESHAPE", "MEAN"}


def _readers(tf, source, known: set[str]) -> dict[str, list[str]]:
    """Output tensor name -> output names of the ops that read it, through pooling/padding."""
    flat = tf.lite.TFLiteConverter.from_concrete_functions([source.frozen]).convert()
    interp = tf.lite.Interpreter(model_content=flat)
    names = {t["index"]: t["name"] for t in interp.get_tensor_details()}
    ops = interp._get_ops_details()
    by_input: dict[int, list[dict]] = {}
    for op in ops:
        for i in op["inputs"]:
            by_input.setdefault(int(i), []).append(op)

    def walk(tensor: int, depth: int = 0) -> list[str]:
        out = []
        for op in by_input.get(tensor, []):
            for o in op["outputs"]:
                if names.get(int(o)) in known:
                    out.append(names[int(o)])
                if op["op_name"] in PASS_OPS and depth < 4:
                    out += walk(int(o), depth + 1)
        return out

    return {
        names[int(o)]: walk(int(o)) for op in ops for o in op["outputs"] if names[int(o)] in known
    }


def _tflite_convert(tf, source, calib, denylist: list[str]) -> bytes:
    if not denylist:
        return _tflite_converter(tf, source, calib).convert()
    options = tf.lite.experimental.QuantizationDebugOptions(denylisted_nodes=list(denylist))
    debugger = tf.lite.experimental.QuantizationDebugger(
        converter=_tflite_converter(tf, source, calib),
        debug_dataset=_dataset(calib),
        debug_options=options,
    )
    return debugger.get_nondebug_quantized_model()


def _dataset(calib):
    def gen():
        for x in calib:
            yield [x[None].astype(np.float32)]

    return gen


# ---------------------------------------------------------------- OpenVINO


def _openvino(source, dest, calib, val_x, val_y, ref, max_drop, max_float, say) -> BudgetResult:
    ov = need("openvino", what="OpenVINO quantization")
    nncf = need("nncf", what="OpenVINO int8 quantization")
    from edgekit.converters.openvino import save

    model = ov.convert_model(source.frozen.graph.as_graph_def())
    for port, spec in zip(model.inputs, source.inputs):
        port.get_tensor().set_names({spec.name})
    calib_ds = nncf.Dataset([x[None] for x in calib])
    val_ds = nncf.Dataset(list(zip(val_x, val_y)), lambda item: item[0][None])
    core = ov.Core()

    def score(m) -> float:
        compiled = m if hasattr(m, "create_infer_request") else core.compile_model(m, "CPU")
        request, out = compiled.create_infer_request(), compiled.output(0)
        preds = [np.argmax(request.infer([x[None]])[out]) for x in val_x]
        return float(np.mean(np.array(preds) == val_y))

    say("openvino: plain int8")
    plain = nncf.quantize(model.clone(), calib_ds, subset_size=len(calib))
    plain_acc = score(plain)
    best, reverted = plain, []
    if not _met(ref, plain_acc, max_drop):
        say("openvino: NNCF accuracy control (reverting the most sensitive ops to float)")
        params = nncf.quantization.advanced_parameters.AdvancedAccuracyRestorerParameters(
            max_num_iterations=max_float if max_float is not None else 2**31 - 1
        )
        best = nncf.quantize_with_accuracy_control(
            model.clone(),
            calibration_dataset=calib_ds,
            validation_dataset=val_ds,
            validation_fn=lambda compiled, data: score(compiled),
            max_drop=max_drop / 100,
            drop_type=nncf.DropType.ABSOLUTE,
            subset_size=len(calib),
            advanced_accuracy_restorer_parameters=params,
        )
        reverted = sorted(_quantized(plain) - _quantized(best))
    acc = score(best) if best is not plain else plain_acc
    if acc < plain_acc:
        best, acc, reverted = plain, plain_acc, []
    save(ov, best, dest, compress_to_fp16=False)
    tries = [{"float_layers": 0, "accuracy": plain_acc}]
    if reverted:
        tries.append({"float_layers": len(reverted), "accuracy": acc})
    return BudgetResult(
        "openvino", "", max_drop, ref, plain_acc, acc, reverted,
        len(_quantized(best)), _met(ref, acc, max_drop), tries,
    )  # fmt: skip


def _quantized(model) -> set[str]:
    """Weighted ops (conv, matmul) whose weights NNCF quantized, named with the TF layer
    their output feeds (OpenVINO renames convolutions)."""
    weighted = {"Convolution", "GroupConvolution", "MatMul"}
    out = set()
    for op in model.get_ops():
        if op.get_type_name() not in weighted:
            continue
        srcs = [op.input_value(i).get_node() for i in range(op.get_input_size())]
        if any(
            s.get_type_name() == "FakeQuantize" and i > 0 or "fq_weights" in s.get_friendly_name()
            for i, s in enumerate(srcs)
        ):
            out.add(_ov_name(op))
    return out


def _ov_name(op) -> str:
    """OpenVINO renames convolutions; name them after the first TF-named op downstream."""
    name, node = op.get_friendly_name(), op
    for _ in range(4):
        if "/" in node.get_friendly_name():
            return name if node is op else f"{name} ({node.get_friendly_name()})"
        readers = list(node.output(0).get_target_inputs())
        if not readers:
            break
        node = readers[0].get_node()
    return name


def _coreml(source, dest, calib, val_x, val_y, ref, max_drop, max_float, say) -> BudgetResult:
    from edgekit.optimize import budget_coreml

    if source.keras_model is None:
        raise ConfigError("--max-drop for coreml needs a Keras model (.keras/.h5)")
    return budget_coreml.search(source, dest, val_x, val_y, ref, max_drop, max_float, say)


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
