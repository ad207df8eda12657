"""Conversion time of MobileNetV2 through edgekit against calling each converter directly.

Both sides start from the same .keras file and write the artifact to disk; edgekit's side is
`edgekit.source.load` + the format's converter (parity check excluded), the direct side is the
documented one-call route of each tool. Rounds alternate the order, and the ratio compares
medians from the same run. Goal: ratio <= 1.15.

    python benchmarks/convert_time.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from _common import calibration, median, mobilenet_v2, save, timed

TARGETS = [
    ("tflite", "fp32"),
    ("tflite", "int8"),
    ("openvino", "int8"),
    ("coreml", "fp16"),
    ("onnx", "fp32"),
]


def via_edgekit(model: Path, fmt: str, precision: str, out: Path, calib) -> None:
    from edgekit import converters, source
    from edgekit.converters.base import Precision

    src = source.load(model)
    conv = converters.get(fmt)
    p = Precision(precision)
    conv.write(src, p, out / conv.file_name("m", p), calib=calib, metadata="{}")


def direct(model: Path, fmt: str, precision: str, out: Path, calib) -> None:
    import keras
    import tensorflow as tf

    m = keras.saving.load_model(model, compile=False)
    if fmt == "tflite":
        c = tf.lite.TFLiteConverter.from_keras_model(m)
        if precision == "int8":
            c.optimizations = [tf.lite.Optimize.DEFAULT]
            c.representative_dataset = lambda: ([x[None]] for x in calib)
            c.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        (out / "d.tflite").write_bytes(c.convert())
    elif fmt == "openvino":
        import nncf
        import openvino as ov

        om = ov.convert_model(m)
        om = nncf.quantize(om, nncf.Dataset([x[None] for x in calib]), subset_size=len(calib))
        ov.save_model(om, out / "d.xml")
    elif fmt == "coreml":
        import coremltools as ct

        ml = ct.convert(
            m,
            convert_to="mlprogram",
            compute_precision=ct.precision.FLOAT16,
            inputs=[ct.TensorType(shape=(1, 224, 224, 3))],
            minimum_deployment_target=ct.target.iOS16,
        )
        ml.save(str(out / "d.mlpackage"))
    else:
        import tf2onnx

        spec = (tf.TensorSpec((1, 224, 224, 3), tf.float32, name="input"),)
        tf2onnx.convert.from_keras(
            m, input_signature=spec, opset=17, output_path=str(out / "d.onnx")
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    import logging

    logging.disable(logging.WARNING)
    calib = calibration(16)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        model = mobilenet_v2(Path(tmp))
        for fmt, precision in TARGETS:  # warm imports and caches once, untimed
            via_edgekit(model, fmt, precision, Path(tmp), calib)
            direct(model, fmt, precision, Path(tmp), calib)
        for fmt, precision in TARGETS:
            ek, dr = [], []
            for r in range(args.rounds):
                pair = [(ek, via_edgekit), (dr, direct)]
                for bucket, fn in pair if r % 2 == 0 else pair[::-1]:
                    args_ = (model, fmt, precision, Path(tmp), calib)
                    bucket.append(timed(lambda fn=fn, a=args_: fn(*a)))
            row = {
                "target": f"{fmt}-{precision}",
                "edgekit_s": round(median(ek), 3),
                "direct_s": round(median(dr), 3),
                "ratio": round(median(ek) / median(dr), 3),
                "edgekit_runs_s": [round(v, 3) for v in ek],
                "direct_runs_s": [round(v, 3) for v in dr],
            }
            print(row, flush=True)
            rows.append(row)
    path = save("convert_time", {"goal": "ratio <= 1.15", "rounds": args.rounds, "rows": rows})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
