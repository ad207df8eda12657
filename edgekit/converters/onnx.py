"""ONNX (for ONNX Runtime anywhere and TensorRT on Jetson): fp32, via tf2onnx."""

from __future__ import annotations

import logging
from pathlib import Path

from edgekit._deps import need
from edgekit.converters.base import Converter, Precision, Result
from edgekit.errors import ConversionError
from edgekit.manifest import METADATA_KEY, write_atomic

OPSET = 17  # TensorRT 8.5+ (JetPack 5) and every current ONNX Runtime read opset 17


class ONNXConverter(Converter):
    name = "onnx"
    suffix = ".onnx"
    precisions = (Precision.FP32,)

    def write(self, source, precision, dest, *, calib, metadata) -> Result:
        tf2onnx = need("tf2onnx", what="ONNX conversion")
        logging.getLogger("tf2onnx").setLevel(logging.ERROR)
        onnx = need("onnx", what="ONNX conversion")
        graph = source.frozen.graph.as_graph_def()
        ins = [t.name for t in source.frozen.inputs if t.dtype != "resource"]
        outs = [t.name for t in source.frozen.outputs]
        try:
            proto, _ = tf2onnx.convert.from_graph_def(
                graph, input_names=ins, output_names=outs, opset=OPSET
            )
        except Exception as e:
            raise ConversionError(
                f"ONNX conversion failed: {' '.join(str(e).split())[:300]}; an op tf2onnx "
                f"cannot map at opset {OPSET}? try another format"
            ) from e
        rename(proto, [s.name for s in source.inputs], [s.name for s in source.outputs])
        entry = proto.metadata_props.add()
        entry.key, entry.value = METADATA_KEY, metadata
        proto.producer_name = "edgekit"
        write_atomic(Path(dest), proto.SerializeToString())
        return Result(tools={"tf2onnx": tf2onnx.__version__, "onnx": onnx.__version__})


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
