"""ONNX (for ONNX Runtime anywhere and TensorRT on Jetson): fp32, via tf2onnx."""

from __future__ import annotations

import logging
from pathlib import Path

from edgekit._deps import need
from edgekit.converters.base import Converter, Result, Route
from edgekit.errors import ConversionError
from edgekit.manifest import METADATA_KEY, write_atomic

OPSET = 17  # TensorRT 8.5+ (JetPack 5) and every current ONNX Runtime read opset 17


class ONNXConverter(Converter):
    name = "onnx"

    def routes(self, source, precision, *, calib, metadata) -> list[Route]:
        tf2onnx = need("tf2onnx", what="ONNX conversion")
        logging.getLogger("tf2onnx").setLevel(logging.ERROR)
        onnx = need("onnx", what="ONNX conversion")
        tools = {"tf2onnx": tf2onnx.__version__, "onnx": onnx.__version__}

        def frozen_graph(dest: Path) -> Result:
            graph = source.frozen.graph.as_graph_def()
            ins = [t.name for t in source.frozen.inputs if t.dtype != "resource"]
            outs = [t.name for t in source.frozen.outputs]
            proto, _ = tf2onnx.convert.from_graph_def(
                graph, input_names=ins, output_names=outs, opset=OPSET
            )
            return _finish(proto, source, metadata, dest, tools)

        def keras_export(dest: Path) -> Result:
            # Keras traces the live model (not the frozen graph): loops such as LSTM/GRU
            # can convert here when the frozen graph's control flow does not
            if source.keras_model is None:
                raise ConversionError("no Keras model (a SavedModel source)")
            tmp = source.scratch_file("keras-export.onnx")
            source.keras_model.export(
                str(tmp),
                format="onnx",
                verbose=False,
                opset_version=OPSET,
                input_signature=source.tf_specs(),
            )
            return _finish(onnx.load(str(tmp)), source, metadata, dest, tools)

        def inlined_graph(dest: Path) -> Result:
            # function calls freezing keeps (grouped convolutions) inlined, Erfc as 1 - Erf
            from edgekit.converters._graph import inlined_graph_def

            outs = [t.name for t in source.frozen.outputs]
            ins = [t.name for t in source.frozen.inputs if t.dtype != "resource"]
            proto, _ = tf2onnx.convert.from_graph_def(
                inlined_graph_def(source), input_names=ins, output_names=outs, opset=OPSET
            )
            return _finish(proto, source, metadata, dest, tools)

        return [
            Route("frozen-graph", frozen_graph),
            Route("keras-export", keras_export),
            Route("inlined-graph", inlined_graph),
        ]


def _finish(proto, source, metadata: str, dest: Path, tools: dict) -> Result:
    rename(proto, [s.name for s in source.inputs], [s.name for s in source.outputs])
    entry = proto.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, metadata
    proto.producer_name = "edgekit"
    write_atomic(Path(dest), proto.SerializeToString())
    return Result(tools=dict(tools))


def rename(proto, inputs: list[str], outputs: list[str]) -> None:
    """Give graph inputs/outputs the contract's names instead of `input:0` / `Identity:0`."""
    mapping = {}
    for vi, name in zip(proto.graph.input, inputs):
        mapping[vi.name], vi.name = name, name
    for vi, name in zip(proto.graph.output, outputs):
        mapping[vi.name], vi.name = name, name
    for node in proto.graph.node:
        node.input[:] = [mapping.get(n, n) for n in node.input]
        node.output[:] = [mapping.get(n, n) for n in node.output]
