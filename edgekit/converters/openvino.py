"""OpenVINO IR (.xml + .bin): fp32, fp16-compressed weights, int8 by NNCF post-training."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from edgekit._deps import need
from edgekit.converters.base import Converter, Precision, Result, Route
from edgekit.errors import ConversionError
from edgekit.manifest import replace_path

P = Precision


class OpenVINOConverter(Converter):
    name = "openvino"

    def routes(self, source, precision, *, calib, metadata) -> list[Route]:
        ov = need("openvino", what="OpenVINO conversion")

        def finish(model) -> Callable[[Path], Result]:
            return lambda dest: self._finish(ov, model(), source, precision, calib, metadata, dest)

        def from_onnx():
            from edgekit.converters.onnx import ONNXConverter

            path = source.scratch_file("for-openvino.onnx")
            ONNXConverter().write(source, P.FP32, path, calib=None, metadata="{}")
            return ov.convert_model(str(path))

        routes = [Route("frozen-graph", finish(lambda: ov.convert_model(_graph_def(source))))]
        if source.keras_model is not None:
            routes.append(
                Route("keras-model", finish(lambda: ov.convert_model(source.keras_model)))
            )
        routes.append(
            Route("saved-model", finish(lambda: ov.convert_model(str(source.saved_model()))))
        )
        routes.append(Route("onnx", finish(from_onnx)))
        return routes

    def _finish(self, ov, model, source, precision, calib, metadata, dest) -> Result:
        if len(model.inputs) != len(source.inputs) or len(model.outputs) != len(source.outputs):
            raise ConversionError(
                f"converted model has {len(model.inputs)} inputs / {len(model.outputs)} outputs; "
                f"the source has {len(source.inputs)} / {len(source.outputs)}"
            )
        for port, spec in zip(model.inputs, source.inputs):
            port.get_tensor().set_names({spec.name})
        for port, spec in zip(model.outputs, source.outputs):
            port.get_tensor().set_names({spec.name})
        tools = {"openvino": ov.__version__}
        if precision is P.INT8:
            nncf = need("nncf", what="OpenVINO int8 quantization")
            xs = [calib] if isinstance(calib, np.ndarray) else list(calib)
            items = [[x[i : i + 1] for x in xs] for i in range(len(xs[0]))]
            data = nncf.Dataset(items if len(xs) > 1 else [it[0] for it in items])
            model = nncf.quantize(model, data, subset_size=len(items))
            tools["nncf"] = nncf.__version__
        model.set_rt_info(metadata, ["edgekit", "contract"])
        save(ov, model, Path(dest), compress_to_fp16=precision is P.FP16)
        return Result(tools=tools)


def _graph_def(source):
    return source.frozen.graph.as_graph_def()


def save(ov, model, dest: Path, *, compress_to_fp16: bool) -> None:
    """Write .xml and .bin into a temporary folder, then move both into place."""
    tmp = Path(tempfile.mkdtemp(dir=dest.parent, prefix=".ov-"))
    try:
        ov.save_model(model, tmp / dest.name, compress_to_fp16=compress_to_fp16)
        replace_path(tmp / dest.with_suffix(".bin").name, dest.with_suffix(".bin"))
        replace_path(tmp / dest.name, dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
