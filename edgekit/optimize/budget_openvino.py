"""OpenVINO int8 with the most sensitive ops kept float, to an accuracy budget.

First NNCF's own `quantize_with_accuracy_control`: it ranks the quantized ops by their
measured effect on the metric and reverts them to float until the drop fits. When it stops
short (its groups leave quantizers it cannot revert, or its iterations run out), the search
goes on with `mix.Search` over the weighted ops, each mix quantized by NNCF with those ops in
its ignored scope, up to the all-float end (bounded by `--max-float`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgekit._deps import need
from edgekit.optimize.mix import BudgetResult, Search, Trial, met, most_evaluations, scores

WEIGHTED = {"Convolution", "GroupConvolution", "MatMul", "ConvolutionBackpropData"}
# ops whose inputs NNCF may quantize besides the weighted ones: floated too on the way to the
# all-float end
ACTIVATIONS = {"Add", "Multiply", "Subtract", "Divide", "AvgPool", "MaxPool", "Concat",
               "ReduceMean", "MVN", "Interpolate"}  # fmt: skip


def search(source, dest: Path, calib, val_x, val_y, ref, max_drop, max_float, say) -> BudgetResult:
    """Write the chosen OpenVINO mix to `dest` (.xml + .bin); see the module docstring."""
    ov = need("openvino", what="OpenVINO quantization")
    nncf = need("nncf", what="OpenVINO int8 quantization")
    from edgekit.converters.openvino import save

    model = ov.convert_model(source.frozen.graph.as_graph_def())
    for port, spec in zip(model.inputs, source.inputs):
        port.get_tensor().set_names({spec.name})
    calib_ds = nncf.Dataset([x[None] for x in calib])
    reference = np.asarray(source.predict(val_x)[0], np.float64)
    core = ov.Core()

    def score(m) -> tuple[float, float]:
        compiled = m if hasattr(m, "create_infer_request") else core.compile_model(m, "CPU")
        request, out = compiled.create_infer_request(), compiled.output(0)
        preds = np.concatenate([request.infer([x[None]])[out] for x in val_x])
        return scores(preds, val_y, reference)

    def evaluate(floats: list[str]) -> Trial:
        scope = nncf.IgnoredScope(names=list(floats), validate=False) if floats else None
        q = nncf.quantize(model.clone(), calib_ds, subset_size=len(calib),
                          **({"ignored_scope": scope} if scope else {}))  # fmt: skip
        acc, err = score(q)
        return Trial(floats, acc, err, q)

    say("openvino: plain int8")
    plain = evaluate([])
    tries = [{"float_layers": 0, "accuracy": plain.accuracy, "error": plain.error,
              "phase": "plain int8"}]  # fmt: skip
    best, method, evals = plain, "plain int8", 1
    if not met(ref, plain.accuracy, max_drop):
        best, tries, evals, method = _accuracy_control(
            nncf, model, calib_ds, len(calib), val_x, val_y, score, plain, max_drop, max_float,
            say, tries,
        )  # fmt: skip
    if not met(ref, best.accuracy, max_drop):
        units = [[name] for name in weighted_ops(model, WEIGHTED | ACTIVATIONS)]
        say(f"openvino: NNCF stopped at {100 * best.accuracy:.2f}%; measured search over "
            f"{len(units)} weighted ops, at most {most_evaluations(len(units), max_float)} "
            "quantizations")  # fmt: skip
        s = Search(units, evaluate, ref, max_drop, max_float, say, "openvino")
        found = s.run()
        tries += s.tries
        evals += s.evaluations
        if (met(ref, found.accuracy, max_drop), found.accuracy) > (False, best.accuracy):
            best, method = found, "measured ranking + bisection (NNCF ignored scope)"
    save(ov, best.artifact, dest, compress_to_fp16=False)
    return BudgetResult(
        "openvino", "", max_drop, ref, plain.accuracy, best.accuracy, best.floats,
        len(weighted_ops(model)) - len(best.floats), met(ref, best.accuracy, max_drop),
        tries, len(val_y), evals, method,
    )  # fmt: skip


def _accuracy_control(nncf, model, calib_ds, subset, val_x, val_y, score, plain, max_drop,
                      max_float, say, tries):  # fmt: skip
    say("openvino: NNCF accuracy control (reverting the most sensitive ops to float)")
    val_ds = nncf.Dataset(list(zip(val_x, val_y)), lambda item: item[0][None])
    params = nncf.quantization.advanced_parameters.AdvancedAccuracyRestorerParameters(
        max_num_iterations=max_float if max_float is not None else 2**31 - 1
    )
    q = nncf.quantize_with_accuracy_control(
        model.clone(),
        calibration_dataset=calib_ds,
        validation_dataset=val_ds,
        validation_fn=lambda compiled, data: score(compiled)[0],
        max_drop=max_drop / 100,
        drop_type=nncf.DropType.ABSOLUTE,
        subset_size=subset,
        advanced_accuracy_restorer_parameters=params,
    )
    acc, err = score(q)
    reverted = sorted(_quantized(plain.artifact) - _quantized(q))
    tries = tries + [{"float_layers": len(reverted), "accuracy": acc, "error": err,
                      "phase": "NNCF accuracy control"}]  # fmt: skip
    if acc < plain.accuracy:
        return plain, tries, 2, "plain int8"
    return Trial(reverted, acc, err, q), tries, 2, "NNCF accuracy control"


def weighted_ops(model, kinds: set[str] = WEIGHTED) -> list[str]:
    """Friendly names of the ops of these types (default: those NNCF quantizes weights of),
    in graph order."""
    return [op.get_friendly_name() for op in model.get_ordered_ops()
            if op.get_type_name() in kinds]  # fmt: skip


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
