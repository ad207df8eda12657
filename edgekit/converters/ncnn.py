"""ncnn (.ncnn.param + .ncnn.bin) through pnnx from the ONNX artifact: fp32, or fp16 weights.

On Raspberry Pi and other Arm CPUs ncnn is often the fastest runtime; it picks fp16 storage and
arithmetic itself on ARMv8.2 cores when the session allows it (edgekit allows it for fp16
artifacts only, so an fp32 artifact computes in f32 everywhere).

The pnnx wheel ships a standalone `pnnx` executable; edgekit runs it directly (importing the
`pnnx` Python module would import torch, which ONNX input does not need).
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from edgekit.converters.base import Converter, Precision, Result, Route
from edgekit.errors import ConversionError, MissingDependencyError
from edgekit.manifest import replace_path

P = Precision


class NCNNConverter(Converter):
    name = "ncnn"

    def routes(self, source, precision, *, calib, metadata) -> list[Route]:
        exe = pnnx_executable()
        return [Route("onnx-pnnx", lambda dest: self._convert(exe, source, precision, dest))]

    def _convert(self, exe: Path, source, precision: Precision, dest: Path) -> Result:
        from edgekit.converters.onnx import ONNXConverter

        onnx_path = source.scratch_file("for-ncnn.onnx")
        ONNXConverter().write(source, P.FP32, onnx_path, calib=None, metadata="{}")
        shapes = [[d if d and d > 0 else 1 for d in s.shape] for s in source.inputs]
        work = Path(tempfile.mkdtemp(dir=dest.parent, prefix=".ncnn-"))
        try:
            param, weights = work / "model.ncnn.param", work / "model.ncnn.bin"
            run_pnnx(exe, onnx_path, shapes, param, weights, work, fp16=precision is P.FP16)
            param.write_text(with_input_shapes(param.read_text(), shapes))
            replace_path(weights, dest.with_suffix(".bin"))
            replace_path(param, dest)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        return Result(tools={"pnnx": _version("pnnx")})


def pnnx_executable() -> Path:
    spec = importlib.util.find_spec("pnnx")
    exe = Path(spec.origin).parent / "pnnx" if spec and spec.origin else None
    if exe is None or not exe.is_file():
        raise MissingDependencyError(
            "ncnn conversion needs the pnnx converter; got: not installed; "
            "pip install pnnx ncnn (the ncnn extra)"
        )
    return exe


def run_pnnx(exe, onnx_path, shapes, param, weights, work: Path, *, fp16: bool) -> None:
    """pnnx ONNX -> ncnn, every side output kept inside `work`."""
    shape_arg = ",".join("[" + ",".join(map(str, s)) + "]f32" for s in shapes)
    outputs = {
        "ncnnparam": param,
        "ncnnbin": weights,
        "ncnnpy": work / "ncnn.py",
        "pnnxparam": work / "model.pnnx.param",
        "pnnxbin": work / "model.pnnx.bin",
        "pnnxpy": work / "pnnx.py",
        "pnnxonnx": work / "pnnx.onnx",
    }
    args = [str(exe), str(onnx_path), f"inputshape={shape_arg}", f"fp16={int(fp16)}"]
    args += [f"{k}={v}" for k, v in outputs.items()]
    res = subprocess.run(args, capture_output=True, text=True, cwd=work, timeout=600)
    if res.returncode != 0 or not param.is_file() or not weights.is_file():
        tail = " ".join((res.stderr or res.stdout).split())[-300:]
        raise ConversionError(
            f"pnnx could not convert the ONNX model to ncnn (exit {res.returncode}): {tail}; "
            "an op pnnx cannot map? try another format"
        )


def with_input_shapes(param: str, shapes: list[list[int]]) -> str:
    """Record each input's shape in its Input layer (0=w 1=h 2=c, batch dropped), so a session
    knows the shapes without the manifest. ncnn reads and ignores these for planning."""
    lines, k = param.splitlines(), 0
    for i, line in enumerate(lines):
        if line.startswith("Input ") and k < len(shapes):
            dims = list(reversed(shapes[k][1:]))  # ncnn: w, h, c, (d)
            keys = ["0", "1", "2", "11"][: len(dims)]
            head = re.sub(r"\s+\d+=\S+", "", line)
            lines[i] = head + "".join(f" {key}={d}" for key, d in zip(keys, dims))
            k += 1
    return "\n".join(lines) + "\n"


def _version(dist: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "unknown"
