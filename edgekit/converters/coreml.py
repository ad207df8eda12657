"""Core ML ML programs (.mlpackage): fp32, fp16, int8 linear weights, 4/6/8-bit palettes.

Conversion works on Linux; running a Core ML model needs macOS, so on Linux the parity
report checks the package's structure (see `inspect`) and says the numbers need a Mac.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections import Counter
from pathlib import Path

from edgekit._deps import need
from edgekit.converters.base import Converter, Precision, Result, Route
from edgekit.manifest import METADATA_KEY, replace_path

P = Precision
PALETTE_BITS = {P.PALETTIZE4: 4, P.PALETTIZE6: 6, P.PALETTIZE8: 8}
WEIGHT_THRESHOLD = 2048  # coremltools' default: smaller tensors stay float
NOTHING_COMPRESSED = f"no weight tensor has over {WEIGHT_THRESHOLD} elements; weights stay float"


class CoreMLConverter(Converter):
    name = "coreml"

    def routes(self, source, precision, *, calib, metadata) -> list[Route]:
        os.environ.setdefault("TQDM_DISABLE", "1")  # coremltools' progress bars flood the CLI
        ct = need("coremltools", what="Core ML conversion")
        logging.getLogger("coremltools").setLevel(logging.ERROR)
        fp16 = precision is P.FP16
        inputs = [ct.TensorType(name=t.name, shape=t.shape) for t in source.inputs]
        options = dict(
            convert_to="mlprogram",
            compute_precision=ct.precision.FLOAT16 if fp16 else ct.precision.FLOAT32,
            minimum_deployment_target=ct.target.iOS16,
        )

        def route(make):
            def write(dest: Path) -> Result:
                model = compress(ct, make(), precision)
                return self._save(ct, model, precision, metadata, Path(dest))

            return write

        routes = [
            Route(
                "frozen-graph",
                route(
                    lambda: ct.convert(
                        [source.frozen], source="tensorflow", inputs=inputs, **options
                    )
                ),
            )
        ]
        if source.keras_model is not None:
            routes.append(
                Route("keras-model", route(lambda: ct.convert(source.keras_model, **options)))
            )
        routes.append(
            Route(
                "saved-model",
                route(
                    lambda: ct.convert(str(source.saved_model()), source="tensorflow", **options)
                ),
            )
        )
        inlined = route(lambda: _from_inlined(ct, source, inputs, options))
        routes.append(Route("inlined-graph", inlined))
        unrolled = route(lambda: _from_unrolled(ct, source, inputs, options))
        routes.append(Route("unrolled", unrolled))
        return routes

    def _save(self, ct, model, precision, metadata: str, dest: Path) -> Result:
        model.user_defined_metadata[METADATA_KEY] = metadata
        model.short_description = "converted by edgekit"
        tmp = Path(tempfile.mkdtemp(dir=dest.parent, prefix=".mlpackage-"))
        try:
            model.save(str(tmp / dest.name))
            replace_path(tmp / dest.name, dest)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        notes = []
        if precision in PALETTE_BITS or precision is P.INT8:
            if not inspect(dest)["compressed_weights"]:
                notes.append(NOTHING_COMPRESSED)
        return Result(tools={"coremltools": ct.__version__}, notes=notes)


def _from_inlined(ct, source, inputs, options):
    """The frozen graph with function calls inlined and Erfc as 1 - Erf (see `_graph`)."""
    from edgekit.converters._graph import inlined_graph_def

    outputs = [t.name.split(":")[0] for t in source.frozen.outputs]
    graph = inlined_graph_def(source)
    return ct.convert(graph, source="tensorflow", inputs=inputs, outputs=outputs, **options)


def _from_unrolled(ct, source, inputs, options):
    """Recurrent layers unrolled (see `_graph.unrolled_function`): no while loops."""
    from edgekit.converters._graph import unrolled_function

    fn = unrolled_function(source)
    return ct.convert([fn], source="tensorflow", inputs=inputs, **options)


def compress(ct, model, precision: Precision):
    """Weight compression after conversion (coremltools.optimize.coreml)."""
    opt = ct.optimize.coreml
    if precision is P.INT8:
        op = opt.OpLinearQuantizerConfig(
            mode="linear_symmetric", dtype="int8", weight_threshold=WEIGHT_THRESHOLD
        )
        return opt.linear_quantize_weights(model, opt.OptimizationConfig(global_config=op))
    if precision in PALETTE_BITS:
        op = opt.OpPalettizerConfig(
            mode="kmeans", nbits=PALETTE_BITS[precision], weight_threshold=WEIGHT_THRESHOLD
        )
        return opt.palettize_weights(model, opt.OptimizationConfig(global_config=op))
    return model


def inspect(path: Path) -> dict:
    """Structure of an .mlpackage, readable without macOS: I/O, op counts, weight storage."""
    ct = need("coremltools", what="reading Core ML models")
    spec = ct.models.MLModel(str(path), skip_model_load=True).get_spec()
    io = {
        "inputs": [_feature(f) for f in spec.description.input],
        "outputs": [_feature(f) for f in spec.description.output],
    }
    ops: Counter = Counter()
    for fn in spec.mlProgram.functions.values():
        for block in fn.block_specializations.values():
            for op in block.operations:
                ops[op.type] += 1
    weights = {k: v for k, v in ops.items() if k.startswith("constexpr_")}
    return {
        **io,
        "op_count": sum(ops.values()),
        "ops": dict(ops),
        "compressed_weights": weights,
        "metadata": dict(spec.description.metadata.userDefined),
    }


def _feature(f) -> dict:
    arr = f.type.multiArrayType
    dtypes = {65568: "float32", 65552: "float16", 131104: "int32", 65600: "float64"}
    return {
        "name": f.name,
        "shape": list(arr.shape),
        "dtype": dtypes.get(arr.dataType, str(arr.dataType)),
    }
