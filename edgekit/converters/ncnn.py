"""ncnn (.ncnn.param + .ncnn.bin) through pnnx from the ONNX artifact: fp32, or fp16 weights.

On Raspberry Pi and other Arm CPUs ncnn is often the fastest runtime; it picks fp16 storage and
arithmetic itself on ARMv8.2 cores when the session allows it (edgekit allows it for fp16
artifacts only, so an fp32 artifact computes in f32 everywhere).

The pnnx wheel ships a standalone `pnnx` executable; edgekit runs it directly (importing the
`pnnx` Python module would import torch, which ONNX input does not need).

pnnx writes an op it cannot map into the .param as it is (exit 0), and ncnn then refuses the
file. Before pnnx runs, the constructs that tf2onnx writes and pnnx leaves unmapped are
replaced by exact equivalents it maps (`ncnn_ready`); an op that is still unmapped is named in
the error. The artifact goes through edgekit's parity check against the source like any other.
"""

from __future__ import annotations

import importlib.util
import logging
import re
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

from edgekit._deps import need
from edgekit.converters.base import Converter, Precision, Result, Route
from edgekit.converters.ncnn_onnx import ncnn_ready
from edgekit.errors import ConversionError, MissingDependencyError
from edgekit.manifest import replace_path

P = Precision
log = logging.getLogger(__name__)


class NCNNConverter(Converter):
    name = "ncnn"

    def routes(self, source, precision, *, calib, metadata) -> list[Route]:
        exe = pnnx_executable()
        return [Route("onnx-pnnx", lambda dest: self._convert(exe, source, precision, dest))]

    def _convert(self, exe: Path, source, precision: Precision, dest: Path) -> Result:
        from edgekit.converters.onnx import ONNXConverter

        shapes = [[d if d and d > 0 else 1 for d in s.shape] for s in source.inputs]
        # pnnx runs inside `work` and sees plain file names only: it cannot open a relative
        # path from another folder, and splits its arguments on "=" (any path may hold one)
        work = Path(tempfile.mkdtemp(dir=Path(dest).resolve().parent, prefix=".ncnn-"))
        try:
            ONNXConverter().write(source, P.FP32, work / "model.onnx", calib=None, metadata="{}")
            if done := ncnn_ready(work / "model.onnx"):
                log.info("ONNX rewritten for pnnx: %s", ", ".join(done))
            run_pnnx(exe, shapes, work, fp16=precision is P.FP16)
            param, weights = work / "model.ncnn.param", work / "model.ncnn.bin"
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
            "pip install ncnn && pip install --no-deps pnnx (pnnx declares torch, which "
            "edgekit does not need)"
        )
    return exe


def run_pnnx(exe: Path, shapes: list[list[int]], work: Path, *, fp16: bool) -> None:
    """pnnx `work`/model.onnx -> `work`/model.ncnn.param + .bin, every side output kept in
    `work`. Raises ConversionError with pnnx's own words when it writes no model (pnnx exits
    0 on some failures, e.g. a file it cannot open)."""
    shape_arg = ",".join("[" + ",".join(map(str, s)) + "]f32" for s in shapes)
    outputs = {
        "ncnnparam": "model.ncnn.param",
        "ncnnbin": "model.ncnn.bin",
        "ncnnpy": "ncnn.py",
        "pnnxparam": "model.pnnx.param",
        "pnnxbin": "model.pnnx.bin",
        "pnnxpy": "pnnx.py",
        "pnnxonnx": "pnnx.onnx",
    }
    args = [str(Path(exe).resolve()), "model.onnx", f"inputshape={shape_arg}", f"fp16={int(fp16)}"]
    args += [f"{k}={v}" for k, v in outputs.items()]
    try:
        res = subprocess.run(args, capture_output=True, text=True, cwd=work, timeout=600)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise ConversionError(f"pnnx could not run; got: {e}; reinstall pnnx") from e
    said = res.stdout + "\n" + res.stderr
    if res.returncode != 0 or not all((work / outputs[k]).is_file() for k in NCNN_FILES):
        raise ConversionError(
            f"pnnx wrote no ncnn model ({exit_text(res.returncode)}); pnnx said: "
            f"{pnnx_complaint(said)}"
        )
    unmapped = unmapped_layers((work / outputs["ncnnparam"]).read_text())
    if unmapped:
        raise ConversionError(
            f"pnnx could not map {', '.join(unmapped)} to an ncnn layer (it wrote them as they "
            "are, and ncnn has no such layer): an op ncnn lacks; try another format; pnnx said: "
            f"{pnnx_complaint(said, about=unmapped)}"
        )


def exit_text(code: int) -> str:
    """'exit 0', or the signal that killed pnnx by name (pnnx crashes on some inputs)."""
    if code >= 0:
        return f"exit {code}"
    try:
        return f"killed by {signal.Signals(-code).name}"
    except ValueError:
        return f"killed by signal {-code}"


NCNN_FILES = ("ncnnparam", "ncnnbin")
# pnnx echoes every option as "name = value" before it starts; these lines say nothing
ECHO = re.compile(r"^\w+ = ")
TROUBLE = re.compile(r"fail|error|not supported|unsupported|cannot|invalid", re.IGNORECASE)


def pnnx_complaint(text: str, limit: int = 400, *, about: list[str] = ()) -> str:
    """pnnx's own failure lines, as it wrote them, once each (its last words if none); with
    `about`, its lines on those ops ("todo Pad", "ignore torch.eq torch.eq_0 param ...")."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ECHO.match(ln)]
    picked = [ln for ln in lines if (_names_one_of(ln, about) if about else TROUBLE.search(ln))]
    picked = list(dict.fromkeys(picked)) or lines[-3:]
    said = "; ".join(picked) or "nothing"
    return said if len(said) <= limit else said[: limit - 3] + "..."


def _names_one_of(line: str, ops: list[str]) -> bool:
    """pnnx's lines on an op it left: "todo Pad", "ignore torch.eq torch.eq_0 param ..."."""
    words = line.split()
    return len(words) > 1 and words[0] in ("todo", "ignore") and words[1] in ops


def unmapped_layers(param: str) -> list[str]:
    """Layer types in an ncnn .param that ncnn does not have, once each: the ops pnnx could not
    map and wrote as they are (`Pad`, `torch.eq`), which ncnn refuses when it loads the file."""
    ncnn = need("ncnn", what="checking the ncnn model pnnx wrote")
    types = [ln.split()[0] for ln in param.splitlines()[2:] if ln.split()]
    return [t for t in dict.fromkeys(types) if ncnn.layer_to_index(t) < 0]


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
