"""Regenerate tests/data/example: `python tests/data/make.py` (needs the convert extra)."""

from pathlib import Path

from edgekit.conversion import convert

if __name__ == "__main__":
    out = Path(__file__).parent / "example"
    convert(to="tflite:fp32,tflite:int8-io,openvino:fp16,onnx:fp32", out=out)
