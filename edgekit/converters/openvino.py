"""OpenVINO IR (.xml + .bin): fp32, fp16-compressed weights, int8 by NNCF post-training."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from edgekit._deps import need
from edgekit.converters.base import Converter, Precision, Result
from edgekit.errors import ConversionError
from edgekit.manifest import replace_path

P = Precision


class OpenVINOConverter(Converter):
    name = "openvino"
    suffix = ".xml"
    precisions = (P.FP32, P.FP16, P.INT8)
    calibrated = frozenset({P.INT8})

    def write(self, source, precision, dest, *, calib, metadata) -> Result:
        ov = need("openvino", what="OpenVINO conversion")
        try:
            model = ov.convert_model(source.frozen.graph.as_graph_def())
        except Exception as e:
            raise ConversionError(
                f"OpenVINO conversion failed: {' '.join(str(e).split())[:300]}; an op the "
                "OpenVINO TensorFlow frontend lacks? try another format"
            ) from e
        for port, spec in zip(model.inputs, source.inputs):
            port.get_tensor().set_names({spec.name})
        for port, spec in zip(model.outputs, source.outputs):
            port.get_tensor().set_names({spec.name})
        tools = {"openvino": ov.__version__}
        if precision is P.INT8:
            nncf = need("nncf", what="OpenVINO int8 quantization")
            data = nncf.Dataset([x[None] for x in calib])
            model = nncf.quantize(model, data, subset_size=len(calib))
            tools["nncf"] = nncf.__version__
        model.set_rt_info(metadata, ["edgekit", "contract"])
        save(ov, model, Path(dest), compress_to_fp16=precision is P.FP16)
        return Result(tools=tools)


def save(ov, model, dest: Path, *, compress_to_fp16: bool) -> None:
    """Write .xml and .bin into a temporary folder, then move both into place."""
    tmp = Path(tempfile.mkdtemp(dir=dest.parent, prefix=".ov-"))
    try:
        ov.save_model(model, tmp / dest.name, compress_to_fp16=compress_to_fp16)
        replace_path(tmp / dest.with_suffix(".bin").name, dest.with_suffix(".bin"))
        replace_path(tmp / dest.name, dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
