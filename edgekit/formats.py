"""The one table of artifact formats, and the one table of runtime ids.

Every suffix map, precision list, calibration rule, converter and session lookup in edgekit
derives from `FORMATS`; every runtime id (estimate, doctor, device profiles, recipes) from
`RUNTIMES`. Adding a format or a runtime is adding a row here. Nothing heavy is imported: the
converter, session and cost reader are "module:attribute" strings resolved on first use.

`edgekit/device/runner.py` ships alone to devices and keeps a small copy of the suffixes it
runs; `tests/test_formats.py` checks that copy against this table.

Example:
    >>> from edgekit import formats
    >>> formats.of_path("out/m_fp32.ncnn.bin").name
    'ncnn'
    >>> formats.main_file("out/m_fp32.bin")
    PosixPath('out/m_fp32.xml')
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path

from edgekit.errors import ConfigError, ModelLoadError


@dataclass(frozen=True)
class Format:
    """One artifact format: its files, what it can do, and who makes, runs and reads it."""

    name: str
    layouts: tuple[tuple[str, tuple[str, ...]], ...]  # (main suffix, its sidecars), ours first
    precisions: tuple[str, ...]
    calibrated: frozenset[str]  # precisions that need calibration data
    converter: str  # "module:Class"
    session: str  # "module:Class"
    costs: str | None  # "module:function" reading per-op costs from the artifact
    extra: str  # the pip extra of edgekit that brings its runtime
    remote: bool = False  # edgekit's device runner (bench --on) can run it
    folder: bool = False  # the artifact named by `suffix` is a folder (.mlpackage)

    @property
    def suffix(self) -> str:
        """The suffix of the file that names the artifacts edgekit writes."""
        return self.layouts[0][0]

    @property
    def sidecars(self) -> tuple[str, ...]:
        return self.layouts[0][1]

    def file_name(self, stem: str, precision: str) -> str:
        return f"{stem}_{precision}{self.suffix}"

    def files(self, path: str | Path) -> list[Path]:
        """The artifact's files: the main one, then its sidecars."""
        main = main_file(path)
        suffix = _ending(main.name, [m for m, _ in self.layouts])
        base = str(main)[: -len(suffix)]
        return [main] + [Path(base + s) for s in dict(self.layouts)[suffix]]


FORMATS: dict[str, Format] = {
    f.name: f
    for f in (
        Format(
            "tflite",
            ((".tflite", ()),),
            ("fp32", "fp16", "dynamic-int8", "int8", "int8-io", "uint8-io", "int16x8", "npu"),
            # npu: full-integer, then compiled ahead of time for one phone's NPU
            frozenset({"int8", "int8-io", "uint8-io", "int16x8", "npu"}),
            "edgekit.converters.tflite:TFLiteConverter",
            "edgekit.runtimes.tflite:TFLiteSession",
            "edgekit.costmodel.readers:tflite_costs",
            "",
            remote=True,
        ),
        Format(
            "openvino",
            ((".xml", (".bin",)),),
            ("fp32", "fp16", "bf16", "int8"),
            frozenset({"int8"}),
            "edgekit.converters.openvino:OpenVINOConverter",
            "edgekit.runtimes.openvino:OpenVINOSession",
            "edgekit.costmodel.readers:openvino_costs",
            "openvino",
            remote=True,
        ),
        Format(
            "coreml",
            ((".mlpackage", ()), (".mlmodel", ())),
            ("fp32", "fp16", "int8", "palettize4", "palettize6", "palettize8"),
            frozenset(),  # int8 and palettes compress weights: no data needed
            "edgekit.converters.coreml:CoreMLConverter",
            "edgekit.runtimes.coreml:CoreMLSession",
            "edgekit.costmodel.readers:coreml_costs",
            "convert",
            folder=True,
        ),
        Format(
            "onnx",
            ((".onnx", ()),),
            ("fp32",),
            frozenset(),
            "edgekit.converters.onnx:ONNXConverter",
            "edgekit.runtimes.onnx:ONNXSession",
            "edgekit.costmodel.readers:onnx_costs",
            "onnx",
            remote=True,
        ),
        Format(
            "ncnn",
            ((".ncnn.param", (".ncnn.bin",)), (".param", (".bin",))),
            ("fp32", "fp16"),
            frozenset(),
            "edgekit.converters.ncnn:NCNNConverter",
            "edgekit.runtimes.ncnn:NCNNSession",
            None,
            "ncnn",
            remote=True,
        ),
    )
}
DEFAULT_FORMATS = ("tflite", "openvino", "coreml", "onnx")  # `convert` without --to


@dataclass(frozen=True)
class Runtime:
    """A runtime id as device profiles, recipes and estimates name it."""

    id: str
    format: str
    unit: str  # "cpu", the accelerator kind it runs on (gpu, npu, tpu, ane, dsp), or "auto"
    fp16_default: bool = False  # runs float models in fp16 on its unit unless told otherwise
    note: str = ""
    deprecated: str = ""  # why not to pick it any more, and what to use instead
    integer_only: bool = False  # its unit takes full-integer models only (float ops: CPU)
    float_only: bool = False  # its unit takes float models only (an int8 model stays on CPU)


RUNTIMES: dict[str, Runtime] = {
    r.id: r
    for r in (
        Runtime("tflite", "tflite", "cpu", note="LiteRT's Interpreter with XNNPACK"),
        Runtime(
            "tflite-gpu",
            "tflite",
            "gpu",
            fp16_default=True,
            note="the GPU delegate: OpenCL on Android, Metal on iOS",
        ),
        Runtime(
            "litert-gpu",
            "tflite",
            "gpu",
            fp16_default=True,
            note="LiteRT's CompiledModel API with the GPU accelerator (load: api=compiled)",
        ),
        Runtime(
            "litert-npu",
            "tflite",
            "npu",
            note="an ahead-of-time NPU build (convert --to tflite:npu --device ID) run by "
            "LiteRT's CompiledModel API with the vendor's dispatch library",
        ),
        Runtime(
            "tflite-coreml",
            "tflite",
            "ane",
            fp16_default=True,
            float_only=True,
            note="LiteRT's Core ML delegate on iOS (the Neural Engine on A12 and later)",
        ),
        Runtime(
            "nnapi",
            "tflite",
            "npu",
            deprecated="NNAPI is deprecated from Android 15: use LiteRT's GPU path "
            "(litert-gpu) or an NPU build (tflite:npu, litert-npu) instead",
        ),
        Runtime("edgetpu", "tflite", "tpu", integer_only=True),
        Runtime("onnxruntime", "onnx", "cpu", note="the CPU execution provider (any OS)"),
        Runtime(
            "onnxruntime-qnn",
            "onnx",
            "npu",
            note="ONNX Runtime's QNN execution provider (Qualcomm Hexagon NPU)",
        ),
        Runtime(
            "onnxruntime-nnapi",
            "onnx",
            "npu",
            deprecated="NNAPI is deprecated from Android 15: use onnxruntime (CPU) or "
            "onnxruntime-qnn on Snapdragon phones",
        ),
        Runtime("tensorrt", "onnx", "gpu"),
        Runtime("openvino", "openvino", "cpu"),
        Runtime("openvino-gpu", "openvino", "gpu"),
        Runtime("coreml", "coreml", "auto", fp16_default=True),
        Runtime("coreml-cpu", "coreml", "cpu"),
        Runtime("coreml-gpu", "coreml", "gpu", fp16_default=True),
        Runtime("coreml-ane", "coreml", "ane", fp16_default=True),
        Runtime("ncnn", "ncnn", "cpu", fp16_default=True),
        Runtime("ncnn-vulkan", "ncnn", "gpu", fp16_default=True),
    )
}


def get(name: str) -> Format:
    """The format called `name`, or ConfigError listing the known ones."""
    if name not in FORMATS:
        raise ConfigError(f"unknown format; got: {name!r}; choose from {', '.join(FORMATS)}")
    return FORMATS[name]


def runtime(rid: str) -> Runtime:
    if rid not in RUNTIMES:
        raise ConfigError(f"unknown runtime; got: {rid}; valid: {', '.join(RUNTIMES)}")
    return RUNTIMES[rid]


def _ending(name: str, suffixes) -> str:
    """The longest of `suffixes` that `name` ends with ('' if none): .ncnn.bin before .bin."""
    lower = name.lower()
    return max((x for x in suffixes if lower.endswith(x)), key=len, default="")


def _candidates(path: Path) -> list[tuple[Format, str, str]]:
    """(format, main suffix, matched suffix) for every layout a file name fits, the longest
    match first."""
    found = [
        (f, main, x)
        for f in FORMATS.values()
        for main, sidecars in f.layouts
        for x in (main, *sidecars)
        if path.name.lower().endswith(x)
    ]
    return sorted(found, key=lambda c: -len(c[2]))


def _pick(path: Path) -> tuple[Format, str, str] | None:
    """The layout a file belongs to. A shared sidecar name (model.bin: OpenVINO's or a plain
    ncnn pair's) goes to the layout whose main file is there, else to the first listed."""
    found = _candidates(path)
    if not found:
        return None
    longest = [c for c in found if len(c[2]) == len(found[0][2])]
    for fmt, main, x in longest:
        if x == main or path.with_name(path.name[: -len(x)] + main).exists():
            return fmt, main, x
    return longest[0]


def find(path: str | Path) -> Format | None:
    """The format of any file of an artifact (model.bin is OpenVINO's, model.ncnn.bin
    ncnn's), or None."""
    picked = _pick(Path(path))
    return picked[0] if picked else None


def of_path(path: str | Path) -> Format:
    """Like `find`, but ModelLoadError naming what edgekit reads when the file is unknown."""
    fmt = find(path)
    if fmt is None:
        raise ModelLoadError(
            f"unknown artifact type; got: {Path(path).name}; edgekit reads "
            f"{', '.join(main_suffixes())}"
        )
    return fmt


def main_file(path: str | Path) -> Path:
    """The file that names the artifact, whichever of its files `path` is."""
    p = Path(path)
    picked = _pick(p)
    if picked is None:
        of_path(p)  # raises the one-line error
    _, main, matched = picked
    return p if matched == main else p.with_name(p.name[: -len(matched)] + main)


def files_of(path: str | Path) -> list[Path]:
    """An artifact's files (an IR's .bin, ncnn's .ncnn.bin); a non-artifact path alone."""
    fmt = find(path)
    return fmt.files(path) if fmt else [Path(path)]


def main_suffixes(*, remote: bool = False) -> list[str]:
    """The suffixes that name artifacts (`remote`: only those the device runner runs)."""
    return [m for f in FORMATS.values() if f.remote or not remote for m, _ in f.layouts]


def artifacts_in(folder: str | Path) -> list[Path]:
    """The artifacts in a folder, one path each (its main file), sorted."""
    out = []
    for f in sorted(Path(folder).iterdir()):
        picked = _pick(f)
        if picked is None or picked[1] != picked[2]:  # not a file of an artifact, or a sidecar
            continue
        fmt, main, _ = picked
        if f.is_dir() == (fmt.folder and main == fmt.suffix):
            out.append(f)
    return out


def is_artifact(path: str | Path) -> bool:
    """Whether `path` names an artifact (a file of one, or a .mlpackage), not a plain folder."""
    fmt = find(path)
    return fmt is not None and (not Path(path).is_dir() or fmt.folder)


def needs_calibration(fmt: str, precision: str) -> bool:
    return precision in get(fmt).calibrated


def resolve(spec: str):
    """Import a "module:attribute" string of the table."""
    module, attr = spec.split(":")
    return getattr(importlib.import_module(module), attr)


__all__ = [
    "Format",
    "Runtime",
    "FORMATS",
    "RUNTIMES",
    "DEFAULT_FORMATS",
    "get",
    "runtime",
    "find",
    "of_path",
    "main_file",
    "files_of",
    "main_suffixes",
    "artifacts_in",
    "is_artifact",
    "needs_calibration",
    "resolve",
]
