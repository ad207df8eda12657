"""TFLite (LiteRT) flatbuffers: float, fp16, dynamic-range, full-integer and int16x8."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgekit import flatbuffer
from edgekit._deps import need
from edgekit.converters.base import Converter, Precision, Result, Route
from edgekit.manifest import METADATA_KEY, write_atomic

P = Precision
FULL_INT = {P.INT8, P.INT8_IO, P.UINT8_IO}
INT16X8_NOTE = (
    "int16x8 runs on LiteRT's reference kernels (no XNNPACK): on CPU expect it many times "
    "slower than int8 (20x on the bundled example)"
)


class TFLiteConverter(Converter):
    name = "tflite"

    def routes(self, source, precision, *, calib, metadata, soc=None) -> list[Route]:
        if precision is P.NPU:  # full-integer by these routes, then compiled for one SoC
            from edgekit.converters import npu

            return npu.compiled(self.routes(source, P.INT8, calib=calib, metadata=metadata), soc)
        tf = need("tensorflow", what="TFLite conversion")

        def frozen_graph(dest: Path) -> Result:
            # the graph every format starts from: traced once, variables folded
            make = tf.lite.TFLiteConverter.from_concrete_functions
            # the function's outputs come out as Identity, Identity_1, ...: give them the
            # model's output names
            names = {
                ("Identity" if i == 0 else f"Identity_{i}"): t.name
                for i, t in enumerate(source.outputs)
            }
            return self._convert(
                make([source.frozen]), precision, calib, metadata, dest, tf, rename=names
            )

        def saved_model(dest: Path) -> Result:
            # Keras' own export: other op lowering (e.g. for recurrent layers)
            make = tf.lite.TFLiteConverter.from_saved_model
            return self._convert(
                make(str(source.saved_model())), precision, calib, metadata, dest, tf
            )

        return [Route("frozen-graph", frozen_graph), Route("saved-model", saved_model)]

    def _convert(
        self, converter, precision, calib, metadata, dest: Path, tf, rename=None
    ) -> Result:
        configure(converter, precision, calib, tf)
        flat = converter.convert()
        write_atomic(Path(dest), add_metadata(flat, {METADATA_KEY: metadata}, rename=rename))
        notes = [INT16X8_NOTE] if precision is P.INT16X8 else []
        return Result(tools={"tensorflow": tf.__version__}, notes=notes)


def configure(converter, precision: Precision, calib: np.ndarray | None, tf) -> None:
    """The TFLiteConverter settings for one precision (shared with the benchmarks)."""
    if precision is P.FP32:
        return
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if precision is P.FP16:
        converter.target_spec.supported_types = [tf.float16]
        return
    if precision is P.DYNAMIC_INT8:
        return

    xs = [calib] if isinstance(calib, np.ndarray) else list(calib)

    def samples():
        for i in range(len(xs[0])):
            yield [x[i : i + 1].astype(np.float32) for x in xs]

    converter.representative_dataset = samples
    if precision is P.INT16X8:
        converter.target_spec.supported_ops = [
            tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8
        ]
        return
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    io = {P.INT8_IO: tf.int8, P.UINT8_IO: tf.uint8}.get(precision)
    if io is not None:
        converter.inference_input_type = io
        converter.inference_output_type = io


def add_metadata(
    flat: bytes, entries: dict[str, str], *, rename: dict[str, str] | None = None
) -> bytes:
    """Append named metadata buffers (TFLite's own mechanism) to a flatbuffer, and rename
    the main subgraph's output tensors (`rename`: old name -> new)."""
    import flatbuffers

    schema = flatbuffer.schema()
    model = schema.ModelT.InitFromPackedBuf(bytearray(flat), 0)
    if rename and model.subgraphs:
        sg = model.subgraphs[0]
        for idx in sg.outputs:
            t = sg.tensors[idx]
            old = t.name.decode() if isinstance(t.name, bytes) else t.name
            if old in rename:
                t.name = rename[old]
    model.metadata = list(model.metadata or [])
    for key, text in entries.items():
        buf = schema.BufferT()
        buf.data = np.frombuffer(text.encode(), np.uint8)
        model.buffers.append(buf)
        md = schema.MetadataT()
        md.name = key
        md.buffer = len(model.buffers) - 1
        model.metadata.append(md)
    builder = flatbuffers.Builder(len(flat) + 4096)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())
