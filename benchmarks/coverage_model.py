"""One model of `conversion_coverage.py`, run in its own process: both sides convert, every artifact
runs in the same runtime on the same inputs and is compared with Keras."""

from __future__ import annotations

import itertools
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from edgekit import formats

FORMATS = ("tflite", "openvino", "coreml", "onnx")
TOLERANCE = 1e-4
SAMPLES = 16
CORE_ML_CHECK = "structure only: Core ML runs only on macOS"


def run_one(name: str, result: Path) -> None:
    """Build the zoo model, convert it both ways, write the cells as JSON to `result`."""
    import keras
    import zoo

    from edgekit.converters.base import short

    entry = zoo.get(name)
    with tempfile.TemporaryDirectory(prefix=f"coverage-{name}-") as tmp:
        path = Path(tmp) / f"{name.replace('-', '_')}.keras"
        zoo.build(entry).save(path)
        model = keras.saving.load_model(path, compile=False)
        xs = zoo.inputs(model, entry, SAMPLES, seed=2)
        ref = reference(model, xs)
        names = [t.name for t in model.inputs]
        rows = edgekit_side(name, path, Path(tmp) / "edgekit", xs, ref, names, short)
        rows += direct_side(name, model, Path(tmp) / "direct", xs, ref, names, short)
    info = {
        "model": name,
        "kind": entry.kind,
        "note": entry.note,
        "params": int(model.count_params()),
        "inputs": [list(t.shape) for t in model.inputs],
        "outputs": [list(t.shape) for t in model.outputs],
    }
    result.write_text(json.dumps({"rows": rows, "info": info}))


def run_logged(name: str, result: Path, log: Path) -> None:
    """In the child: its output (and the converters' C++ logs) go to `log`, fd level."""
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    run_one(name, result)


def reference(model, xs: list[np.ndarray]) -> list[np.ndarray]:
    """Keras outputs, one sample at a time (the artifacts run batch 1)."""
    outs = []
    for i in range(len(xs[0])):
        one = [x[i : i + 1] for x in xs]
        got = model(one if len(one) > 1 else one[0], training=False)
        outs.append([np.asarray(o) for o in (got if isinstance(got, (list, tuple)) else [got])])
    return [np.concatenate([o[k] for o in outs]) for k in range(len(outs[0]))]


def edgekit_side(name, path: Path, out: Path, xs, ref, names, short) -> list[dict]:
    """`edgekit.convert` to every format; each artifact evaluated like the direct ones."""
    import edgekit

    finished: dict[str, object] = {}
    try:
        edgekit.convert(path, to=",".join(FORMATS), out=out, done=lambda a: _keep(finished, a))
    except Exception as e:  # every format failed, or the model did not load
        for fmt in FORMATS:
            finished.setdefault(fmt, {"format": fmt, "error": short(e)})
    rows = []
    for fmt in FORMATS:
        item = finished.get(fmt, {"format": fmt, "error": "not attempted"})
        if isinstance(item, dict):
            rows.append(cell(name, fmt, "edgekit", error=_one_line(item["error"])))
            continue
        fallback = "; ".join(f"{k}: {v}" for k, v in (item.route_errors or {}).items())
        parity = item.parity or {}
        got = cell(
            name,
            fmt,
            "edgekit",
            route=item.route,
            convert_s=item.convert_seconds,
            fallback_errors=fallback[:600],
            own_parity_max_abs=parity.get("max_abs"),
            own_parity_passed=parity.get("passed"),
        )
        rows.append(_evaluate(got, fmt, out / item.file, xs, ref, names, short))
    return rows


def _keep(finished: dict, item) -> None:
    fmt = item["format"] if isinstance(item, dict) else item.format
    finished[fmt] = item


def _one_line(text: str) -> str:
    return " ".join(str(text).split())[:600]


def direct_side(name, model, out: Path, xs, ref, names, short) -> list[dict]:
    """Each tool's documented one call on the Keras model."""
    out.mkdir(parents=True)
    rows = []
    for fmt in FORMATS:
        dest = out / f"m{formats.get(fmt).suffix}"
        route = "keras-export" if fmt != "coreml" else "coremltools.convert"
        t = time.perf_counter()
        try:
            _export(model, fmt, dest)
        except Exception as e:
            rows.append(cell(name, fmt, "direct", route=route, error=short(e)))
            continue
        got = cell(name, fmt, "direct", route=route, convert_s=round(time.perf_counter() - t, 3))
        rows.append(_evaluate(got, fmt, dest, xs, ref, names, short))
    return rows


def _export(model, fmt: str, dest: Path) -> None:
    if fmt == "coreml":
        import coremltools as ct

        ml = ct.convert(model, convert_to="mlprogram", compute_precision=ct.precision.FLOAT32)
        ml.save(str(dest))
        return
    model.export(str(dest), format={"tflite": "litert"}.get(fmt, fmt), verbose=False)


def _evaluate(row: dict, fmt: str, path: Path, xs, ref, names, short) -> dict:
    """Run the artifact on `xs`; ok when it runs with the model's inputs and outputs."""
    try:
        if fmt == "coreml":
            _coreml_structure(path, len(xs), len(ref))
            row.update(ok=True, checked=CORE_ML_CHECK)
            return row
        run, specs, precision = _runner(fmt, path)
        order = _input_order(specs, xs, names)
        got = [run([xs[j][i : i + 1] for j in order]) for i in range(len(xs[0]))]
        if len(got[0]) != len(ref):  # e.g. intermediate tensors exposed as outputs
            raise RuntimeError(
                f"the artifact has {len(got[0])} outputs; the Keras model has {len(ref)}"
            )
        outs = [np.concatenate([g[k] for g in got]) for k in range(len(got[0]))]
        err = _max_abs(ref, outs)
    except Exception as e:
        row.update(ok=False, error=short(e))
        return row
    row.update(
        ok=True,
        max_abs=float(err),
        within_tol=bool(err <= TOLERANCE),
        checked="numeric",
        executed_precision=precision,
    )
    return row


def _runner(fmt: str, path: Path):
    """(run(list of arrays) -> list of arrays, input specs [(name, shape)], precision)."""
    if fmt == "tflite":
        from ai_edge_litert.interpreter import Interpreter

        it = Interpreter(model_path=str(path))
        ins, outs = it.get_input_details(), it.get_output_details()

        def run(arrs):
            for d, a in zip(ins, arrs):
                if list(d["shape"]) != list(a.shape):
                    it.resize_tensor_input(d["index"], a.shape)
            it.allocate_tensors()
            for d, a in zip(ins, arrs):
                it.set_tensor(d["index"], a)
            it.invoke()
            return [it.get_tensor(d["index"]).copy() for d in outs]

        return run, [(d["name"], list(d["shape_signature"])) for d in ins], "f32"
    if fmt == "openvino":
        import openvino as ov

        cm = ov.Core().compile_model(str(path), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
        specs = [(p.get_any_name(), _dims(p.get_partial_shape())) for p in cm.inputs]
        hint = str(cm.get_property("INFERENCE_PRECISION_HINT"))  # "<Type: 'float32'>"
        precision = "f32" if "float32" in hint or hint == "f32" else hint
        req = cm.create_infer_request()

        def run(arrs):
            res = req.infer({i: a for i, a in enumerate(arrs)})
            return [np.asarray(res[p]) for p in cm.outputs]

        return run, specs, precision
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    ins = sess.get_inputs()

    def run(arrs):
        return sess.run(None, {d.name: a for d, a in zip(ins, arrs)})

    return run, [(d.name, list(d.shape)) for d in ins], "f32"


def _dims(shape) -> list:
    return [d.get_length() if d.is_static else -1 for d in shape]


def _fits(shape: list, arr: np.ndarray) -> bool:
    want = list(arr.shape[1:])
    dims = list(shape[1:])
    return len(dims) == len(want) and all(
        not isinstance(d, int) or d < 0 or d == w for d, w in zip(dims, want)
    )


def _input_order(specs, xs, names) -> list[int]:
    """For each artifact input, which model input feeds it: by name, then by shape."""
    if len(specs) != len(xs):
        raise RuntimeError(f"the artifact has {len(specs)} inputs; the Keras model has {len(xs)}")
    order = []
    for i, (name, shape) in enumerate(specs):
        by_name = [j for j, n in enumerate(names) if n and n in str(name)]
        by_shape = [j for j, x in enumerate(xs) if _fits(shape, x)]
        pick = by_name if len(by_name) == 1 else by_shape if len(by_shape) == 1 else [i]
        order.append(pick[0])
    if sorted(order) != list(range(len(xs))):
        raise RuntimeError(f"cannot match the artifact's inputs {specs} to the model's")
    return order


def _max_abs(ref: list[np.ndarray], got: list[np.ndarray]) -> float:
    """Worst error over outputs, outputs paired by the best shape-compatible assignment."""
    if len(got) != len(ref):
        raise RuntimeError(f"the artifact has {len(got)} outputs; the Keras model has {len(ref)}")
    best = None
    for perm in itertools.permutations(range(len(got))):
        pairs = [(r, got[p]) for r, p in zip(ref, perm)]
        if all(r.size == g.size for r, g in pairs):
            err = max(float(np.max(np.abs(r - g.reshape(r.shape)))) for r, g in pairs)
            best = err if best is None else min(best, err)
    if best is None:
        raise RuntimeError(f"output shapes {[g.shape for g in got]} differ from the model's")
    return best


def _coreml_structure(path: Path, n_in: int, n_out: int) -> None:
    import coremltools as ct

    spec = ct.models.MLModel(str(path), skip_model_load=True).get_spec()
    ins, outs = len(spec.description.input), len(spec.description.output)
    if (ins, outs) != (n_in, n_out):
        raise RuntimeError(
            f"the package has {ins} inputs / {outs} outputs; Keras: {n_in} / {n_out}"
        )


def cell(model: str, fmt: str, tool: str, **kw) -> dict:
    """One CSV row: a (model, format, tool) cell."""
    row = {
        "model": model,
        "format": fmt,
        "tool": tool,
        "ok": False,
        "route": "",
        "max_abs": None,
        "within_tol": None,
        "checked": "",
        "convert_s": None,
        "error": "",
        "fallback_errors": "",
        "executed_precision": "",
        "own_parity_max_abs": None,  # edgekit's own parity check (its 32 random inputs)
        "own_parity_passed": None,
    }
    row.update(kw)
    return row
