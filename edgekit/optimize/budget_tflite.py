"""TFLite int8 with the most sensitive ops kept float, to an accuracy budget.

Candidate units come from the converter's QuantizationDebugger: each op's quantization error
(RMS error over RMS value per channel, on the calibration data) orders them for the measured
ranking (`mix.Search`), and a unit is the op plus the ops reading its output (through pooling
and padding), since a tensor stays float only when its readers are float too. Each mix is
converted with those ops denylisted (float) and scored through edgekit's LiteRT session.
"""

from __future__ import annotations

import csv
import io
import tempfile
from pathlib import Path

import numpy as np

from edgekit._deps import need
from edgekit.optimize.mix import BudgetResult, Search, Trial, met, most_evaluations, scores


def search(source, dest: Path, calib, val_x, val_y, ref, max_drop, max_float, say) -> BudgetResult:
    """Write the chosen TFLite mix to `dest`; see the module docstring."""
    tf = need("tensorflow", what="TFLite quantization")
    from edgekit.runtimes import load

    say("tflite: measuring per-op quantization error (the ranking's first order)")
    units = ranking(tf, source, calib)
    reference = np.asarray(source.predict(val_x)[0], np.float64)
    with tempfile.TemporaryDirectory(prefix="edgekit-budget-") as tmp:

        def evaluate(floats: list[str]) -> Trial:
            blob = convert(tf, source, calib, floats)
            path = Path(tmp) / "mix.tflite"
            path.write_bytes(blob)
            with load(path) as session:
                acc, err = scores(session.predict(val_x), val_y, reference)
            return Trial(floats, acc, err, blob)

        say(f"tflite: at most {most_evaluations(len(units), max_float)} conversions")
        s = Search(units, evaluate, ref, max_drop, max_float, say, "tflite")
        best = s.run()
        dest.write_bytes(best.artifact)
    ops = len({n for u in units for n in u})
    return BudgetResult(
        "tflite", "", max_drop, ref, s.trials[0].accuracy, best.accuracy, best.floats,
        ops - len(best.floats), met(ref, best.accuracy, max_drop), s.tries, len(val_y),
        s.evaluations, "measured ranking + bisection (QuantizationDebugger denylist)",
    )  # fmt: skip


def _converter(tf, source, calib):
    from edgekit.converters.base import Precision
    from edgekit.converters.tflite import configure

    conv = tf.lite.TFLiteConverter.from_concrete_functions([source.frozen])
    configure(conv, Precision.INT8, calib, tf)
    return conv


def ranking(tf, source, calib) -> list[list[str]]:
    """Units of ops to keep in float, worst first. An op's error is measured per channel
    (RMS error over RMS value, averaged over channels), so one outlier channel that wipes
    out the others shows; a unit is the op plus the ops reading its output (through pooling
    and padding), since a tensor stays float only when its readers are float too."""
    debugger = tf.lite.experimental.QuantizationDebugger(
        converter=_converter(tf, source, calib),
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


def convert(tf, source, calib, denylist: list[str]) -> bytes:
    """The int8 model with the ops in `denylist` left float."""
    if not denylist:
        return _converter(tf, source, calib).convert()
    options = tf.lite.experimental.QuantizationDebugOptions(denylisted_nodes=list(denylist))
    try:
        debugger = tf.lite.experimental.QuantizationDebugger(
            converter=_converter(tf, source, calib),
            debug_dataset=_dataset(calib),
            debug_options=options,
        )
    except ValueError as e:
        if "debug mode" not in str(e):
            raise
        # every op denylisted: nothing is quantized, which is the float model (the far end)
        return tf.lite.TFLiteConverter.from_concrete_functions([source.frozen]).convert()
    return debugger.get_nondebug_quantized_model()


def _dataset(calib):
    def gen():
        for x in calib:
            yield [x[None].astype(np.float32)]

    return gen
