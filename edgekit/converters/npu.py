"""Ahead-of-time NPU builds for phones: `edgekit convert --to tflite:npu --device ID`.

The tflite converter writes a full-integer .tflite (float I/O) by its usual routes; LiteRT's
AOT compiler (`ai_edge_litert.aot.aot_compile`) then hands the graph to the vendor's compiler
plugin for one SoC (Qualcomm SM8650, Google Tensor G3, MediaTek MT6989...). What the NPU takes
becomes `DISPATCH_OP` custom ops carrying the vendor's bytecode; what it cannot take stays as
TFLite builtins, which the phone's CPU runs. The artifact runs on that SoC only, through
LiteRT's CompiledModel API with the vendor's dispatch library (`litert-npu`).

The compiler plugins ship inside ai-edge-litert; the compilers themselves come with the vendor
SDK packages (`pip install "edgekit[npu-qualcomm]"`: ai-edge-litert-sdk-qualcomm), which are
source distributions that download the vendor's SDK from its own site when they install.

On Linux nothing can run the compiled graph: `structure()` checks it instead (as Core ML off
macOS): one dispatch op or more, the build stamp names the SoC, inputs and outputs kept.
Numbers need the phone (`edgekit bench --on adb`).
"""

from __future__ import annotations

import importlib
import logging
import shutil
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

from edgekit.errors import ConfigError, ConversionError, MissingDependencyError, ModelLoadError

log = logging.getLogger(__name__)
DISPATCH_OP = "DISPATCH_OP"  # litert/core/build_stamp.h: kLiteRtDispatchOpCustomName
STAMP_KEY = "LiteRtStamp"  # the build stamp metadata entry (SoC manufacturer and model)


@dataclass(frozen=True)
class Vendor:
    """One NPU vendor LiteRT compiles for."""

    name: str  # as `soc = "name:MODEL"` in a device profile
    target: str  # the ai_edge_litert.aot module with its Target and SocModel
    sdk: str  # the SDK module the vendor backend imports
    dist: str  # its PyPI name
    extra: str  # edgekit's extra that installs it
    source: str  # where the SDK package downloads the vendor's SDK from when it installs


VENDORS: dict[str, Vendor] = {
    v.name: v
    for v in (
        Vendor(
            "qualcomm",
            "ai_edge_litert.aot.vendors.qualcomm.target",
            "ai_edge_litert_sdk_qualcomm",
            "ai-edge-litert-sdk-qualcomm",
            "npu-qualcomm",
            "softwarecenter.qualcomm.com (QAIRT)",
        ),
        Vendor(
            "mediatek",
            "ai_edge_litert.aot.vendors.mediatek.target",
            "ai_edge_litert_sdk_mediatek",
            "ai-edge-litert-sdk-mediatek",
            "npu-mediatek",
            "MediaTek's NeuroPilot download (s3.ap-southeast-1.amazonaws.com)",
        ),
        Vendor(
            "google_tensor",
            "ai_edge_litert.aot.vendors.google_tensor.target",
            "ai_edge_litert_sdk_google_tensor",
            "ai-edge-litert-sdk-google-tensor",
            "npu-google-tensor",
            "Google's edgedl storage (redirector.gvt1.com)",
        ),
    )  # fmt: skip
}


@dataclass
class Placement:
    """Where an NPU build's ops landed: what the manifest records for it."""

    soc: str
    npu_ops: dict[str, int]  # op type -> count compiled into NPU partitions
    cpu_ops: dict[str, int]  # op type -> count left to the phone's CPU
    partitions: int  # DISPATCH_OP nodes: each is one hand-over between CPU and NPU

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def summary(self) -> str:
        npu, cpu = sum(self.npu_ops.values()), sum(self.cpu_ops.values())
        left = f"; on the CPU: {', '.join(sorted(self.cpu_ops))}" if self.cpu_ops else ""
        return (
            f"{self.soc}: {npu} ops on the NPU in {self.partitions} partition(s), {cpu} on "
            f"the CPU{left}"
        )


def parse_soc(soc: str) -> tuple[Vendor, str]:
    """("qualcomm:SM8650") -> (the vendor, "SM8650"); ConfigError for anything else."""
    name, _, model = (soc or "").partition(":")
    if name not in VENDORS or not model:
        raise ConfigError(
            f"unknown NPU target; got: {soc!r}; write VENDOR:MODEL with VENDOR one of "
            f"{', '.join(VENDORS)} (a device profile's accelerators.soc)"
        )
    return VENDORS[name], model


def sdk_libs(vendor: Vendor, np_version: str | None = None) -> Path:
    """The vendor SDK's library folder; MissingDependencyError naming the pip command when the
    SDK package is absent or installed without its download (no internet at install time)."""
    fix = (
        f'pip install "edgekit[{vendor.extra}]" (the {vendor.dist} package downloads the SDK '
        f"from {vendor.source} while it installs)"
    )
    try:
        mod = importlib.import_module(vendor.sdk)
    except ImportError:
        raise MissingDependencyError(
            f"tflite:npu for {vendor.name} needs the vendor's compiler; got: no {vendor.dist}; "
            f"fix: {fix}"
        ) from None
    try:
        path = mod.path_to_sdk_libs(*([np_version] if np_version else []))
    except (NotImplementedError, OSError) as e:  # only Linux x86-64 hosts compile
        raise MissingDependencyError(f"{vendor.dist} cannot compile on this machine: {e}") from e
    if not path or not Path(path).is_dir():
        raise MissingDependencyError(
            f"tflite:npu for {vendor.name}: {vendor.dist} is installed without its SDK files "
            f"(the download failed when it installed); fix: pip install --force-reinstall "
            f"--no-cache-dir {vendor.dist} with {vendor.source} reachable"
        )
    return Path(path)


def target(soc: str):
    """The ai_edge_litert.aot Target for a "vendor:MODEL" string."""
    vendor, model = parse_soc(soc)
    mod = importlib.import_module(vendor.target)
    models = {m.value.lower(): m for m in mod.SocModel}
    if model.lower() not in models:
        raise ConfigError(
            f"LiteRT cannot compile for this {vendor.name} SoC; got: {model}; it knows "
            f"{', '.join(m.value for m in mod.SocModel if m.value != 'ALL')}"
        )
    return mod.Target(models[model.lower()])


def check(soc: str) -> None:
    """Everything an NPU build needs, before any conversion: a known SoC and its SDK."""
    vendor, _ = parse_soc(soc)
    try:
        found = target(soc)
    except ImportError as e:  # an ai-edge-litert without the AOT module
        raise MissingDependencyError(
            f"tflite:npu needs LiteRT's AOT compiler; got: {e}; fix: pip install -U ai-edge-litert"
        ) from e
    sdk_libs(vendor, getattr(found, "recommended_np_version", None))  # MediaTek: per SoC


def compile_for(src: Path, dest: Path, soc: str) -> Placement:
    """Compile the full-integer `src` for `soc` into `dest`; the op placement it got.

    Raises:
        ConversionError: the vendor compiler failed (its own first error line).
    """
    from ai_edge_litert.aot import aot_compile as aot

    work = dest.parent / f".aot-{dest.stem}"
    try:
        result = aot.aot_compile(str(src), output_dir=str(work), target=target(soc))
    except Exception as e:  # the plugin's own failure, raised when keep_going is off
        raise ConversionError(f"tflite:npu for {soc}: LiteRT's AOT compiler failed: {e}") from e
    if result.failed_backends or not result.models:
        why = result.failed_backends[0][1] if result.failed_backends else "no model written"
        shutil.rmtree(work, ignore_errors=True)
        raise ConversionError(f"tflite:npu for {soc}: the vendor compiler failed: {_why(why)}")
    model = result.models[0]
    if model.in_memory:
        dest.write_bytes(model.model_bytes)
    else:
        shutil.copyfile(model.path, dest)
    shutil.rmtree(work, ignore_errors=True)
    return placement(src, dest, soc)


def _why(message: str) -> str:
    """The first ERROR line of the log file LiteRT's apply-plugin step points at, if any."""
    path = message.rsplit("See ", 1)[-1].split(" for details")[0]
    try:
        lines = Path(path).read_text(errors="replace").splitlines()
    except OSError:
        return message
    errors = [ln.split("] ", 1)[-1] for ln in lines if "ERROR" in ln or "Could not load" in ln]
    return (errors[0] if errors else message)[:300]


def ops_of(path: Path) -> tuple[Counter, dict[str, str]]:
    """Op types of a .tflite (customs as their code) and its metadata entries."""
    from edgekit import flatbuffer
    from edgekit.runtimes.tflite import validate

    flat = Path(path).read_bytes()
    metadata = validate(flat, Path(path).name)
    schema = flatbuffer.schema()
    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    model = schema.Model.GetRootAs(flat, 0)
    ops: Counter = Counter()
    for s in range(model.SubgraphsLength()):
        sg = model.Subgraphs(s)
        for i in range(sg.OperatorsLength()):
            code = model.OperatorCodes(sg.Operators(i).OpcodeIndex())
            name = names.get(max(code.BuiltinCode(), code.DeprecatedBuiltinCode()), "CUSTOM")
            if name == "CUSTOM":
                name = (code.CustomCode() or b"").decode(errors="replace")
            ops[name] += 1
    return ops, metadata


def placement(src: Path, compiled: Path, soc: str) -> Placement:
    """Which of `src`'s ops the compiled file hands to the NPU: the builtins it still has run
    on the CPU, the rest went into its dispatch ops."""
    before, _ = ops_of(src)
    after, _ = ops_of(compiled)
    partitions = after.pop(DISPATCH_OP, 0)
    npu = before - after  # Counter subtraction keeps positive counts only
    return Placement(soc, dict(sorted(npu.items())), dict(sorted(after.items())), partitions)


def structure(path: Path, soc: str, source) -> tuple[bool, str]:
    """What can be checked of an NPU build off the phone: dispatch ops present, the build
    stamp names `soc`'s vendor and model, inputs and outputs as the source's. (ok, reason)."""
    try:
        ops, metadata = ops_of(path)
    except ModelLoadError as e:
        return False, str(e)
    misses = []
    if not ops.get(DISPATCH_OP):
        misses.append("no NPU partition (DISPATCH_OP) in the compiled file")
    vendor, model = parse_soc(soc)
    stamp = metadata.get(STAMP_KEY, "")
    if stamp and model.lower() not in stamp.lower():
        misses.append(f"build stamp names another SoC ({stamp[:60]!r})")
    io = io_shapes(path)
    want = [list(t.shape) for t in source.inputs], [list(t.shape) for t in source.outputs]
    if io != want:
        misses.append(f"inputs/outputs {io} differ from the source's {want}")
    if misses:
        return False, "; ".join(misses)
    return True, f"structure ok for {soc}; numbers need the phone (edgekit bench --on adb)"


def io_shapes(path: Path) -> tuple[list, list]:
    """The main subgraph's input and output shapes, read from the flatbuffer."""
    from edgekit import flatbuffer

    model = flatbuffer.schema().Model.GetRootAs(Path(path).read_bytes(), 0)
    sg = model.Subgraphs(0)

    def shape(i: int) -> list:
        t = sg.Tensors(int(i))
        return [int(d) for d in t.ShapeAsNumpy()] if t.ShapeLength() else []

    return [shape(i) for i in sg.InputsAsNumpy()], [shape(i) for i in sg.OutputsAsNumpy()]


def compiled(routes: list, soc: str | None) -> list:
    """The tflite converter's int8 routes, each followed by the AOT compile for `soc`.

    Raises:
        ConfigError: no SoC (convert without --device); MissingDependencyError: no SDK.
    """
    from edgekit.converters.base import Route

    if not soc:
        raise ConfigError(
            "tflite:npu is compiled for one phone's NPU; got: no --device; pass --device ID of "
            "a phone whose profile names its SoC (edgekit devices: galaxy-s24, pixel8, ...)"
        )
    check(soc)  # before any conversion: a missing SDK is one line, not a TensorFlow run

    def then_compile(route):
        def write(dest: Path):
            plain = dest.with_name(f"{dest.stem}.int8.tflite")
            result = route.write(plain)
            try:
                placed = compile_for(plain, dest, soc)
            finally:
                plain.unlink(missing_ok=True)
            result.placement = placed.to_dict()
            result.notes.append(placed.summary)
            result.tools["ai-edge-litert"] = _version("ai-edge-litert")
            return result

        return Route(f"{route.name}+aot", write)

    return [then_compile(r) for r in routes]


def _version(dist: str) -> str:
    from edgekit._deps import version

    return version(dist) or "?"
