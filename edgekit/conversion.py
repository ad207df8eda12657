"""`edgekit.convert`: one Keras model -> artifacts per format and precision, with parity.

Everything is checked before any work starts; artifacts are written into a staging folder
and moved into OUT only when every one of them converted, so a failure leaves nothing behind.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from edgekit import _quiet, converters, data, formats, recipes, targets
from edgekit._quiet import Capture
from edgekit.contract import Contract, Preprocess, read_labels
from edgekit.converters.base import Precision
from edgekit.errors import (
    ConfigError,
    ConversionError,
    MissingDependencyError,
    OutputMismatchError,
)
from edgekit.manifest import (
    Artifact,
    Manifest,
    files_of,
    replace_path,
    sha256,
)
from edgekit.parity import head_of

if TYPE_CHECKING:
    from edgekit.optimize.pipeline import BudgetReport

log = logging.getLogger(__name__)
Progress = Callable[[str], None]
RESCALING_LAYERS = {"Rescaling", "Normalization"}


@dataclass
class Plan:
    """Everything `convert` will do, validated before the first import of TensorFlow."""

    model: Path
    targets: list[tuple[str, Precision]]
    out: Path
    calib: Path | None = None
    calib_samples: int = 100
    random_calib: bool = False
    val: Path | None = None
    labels: list[str] | None = None
    input_shape: list[int] | None = None
    preprocess: str | Preprocess | None = None
    safe_mode: bool = True
    imports: list[str] = field(default_factory=list)  # --import: user code, before loading
    strict: bool = False
    fail_fast: bool = False  # all or nothing: the first failing format stops the run
    detection: dict | None = None  # raw SSD anchor/decode options, recorded in the contract
    device: str | None = None  # a device profile id (--device)
    soc: str | None = None  # what tflite:npu compiles for: the device's NPU ("qualcomm:SM8650")

    @property
    def needs_calibration(self) -> bool:
        return any(formats.needs_calibration(f, p.value) for f, p in self.targets)


@dataclass
class ConvertReport:
    out: Path
    manifest: Manifest
    seconds: float
    notes: list[str] = field(default_factory=list)

    @property
    def artifacts(self) -> list[Artifact]:
        return self.manifest.artifacts

    @property
    def failed(self) -> list[Artifact]:
        return [a for a in self.artifacts if a.parity and not a.parity["passed"]]


def plan(
    model: str | Path,
    *,
    to=None,
    precisions=None,
    recipe: str | None = None,
    out: str | Path = "edgekit-out",
    calib=None,
    calib_samples: int | None = None,
    random_calib: bool = False,
    val=None,
    labels=None,
    input_shape=None,
    preprocess=None,
    safe_mode: bool = True,
    imports=None,
    strict: bool = False,
    fail_fast: bool = False,
    detection: dict | None = None,
    device: str | None = None,
) -> Plan:
    """Check every argument and expand formats x precisions; raises ConfigError on the first
    problem. Nothing heavy is imported here."""
    from edgekit.source import detect_kind
    from edgekit.source.user_code import check as check_import

    detect_kind(Path(model))
    if device and not recipe:  # the device profile's recipe, unless one is named
        from edgekit.device.profiles import get as profile

        recipe = profile(device).recipe
    targets = _targets(to, precisions, recipe)
    options = recipes.get(recipe).options if recipe else {}
    n = calib_samples or int(options.get("calib_samples", 100))
    if n < 1:
        raise ConfigError(f"--calib-samples must be at least 1; got: {n}")
    p = Plan(
        model=Path(model),
        targets=targets,
        out=Path(out),
        calib=Path(calib) if calib else None,
        calib_samples=n,
        random_calib=random_calib,
        val=Path(val) if val else None,
        input_shape=input_shape,
        preprocess=preprocess or options.get("preprocess"),
        safe_mode=safe_mode,
        imports=[str(i) for i in imports or ()],
        strict=strict,
        fail_fast=fail_fast,
        detection=detection,
        device=device,
    )
    if any(prec is Precision.NPU for _, prec in targets):  # compiled for the device's NPU
        from edgekit.converters.npu import check as check_npu
        from edgekit.device.profiles import npu_soc

        p.soc = npu_soc(device)
        check_npu(p.soc)  # the vendor SDK, before the model loads
    if isinstance(labels, (str, Path)):
        p.labels = read_labels(labels)
    elif labels:
        p.labels = list(labels)
    for spec in p.imports:
        check_import(spec)
    for path, what in ((p.calib, "--calib"), (p.val, "--val")):
        if path is not None and not path.exists():
            raise ConfigError(f"{what} path not found; got: {path}")
    if p.needs_calibration and p.calib is None and p.val is None and not random_calib:
        raise ConfigError(
            "int8/int16x8 quantization needs calibration data; pass --calib DIR (images) or "
            "a .npy/.npz, or --random-calib to accept random data (poor accuracy)"
        )
    if p.out.exists() and not p.out.is_dir():
        raise ConfigError(f"output path exists and is not a folder; got: {p.out}")
    return p


def _targets(to, precisions, recipe) -> list[tuple[str, Precision]]:
    items: list[tuple[str, str]] = list(recipes.get(recipe).targets) if recipe else []
    if to:
        items = [recipes.parse_target(t) for t in _split(to)]
    if not items:
        items = [(f, "") for f in formats.DEFAULT_FORMATS]
    precs = [p.lower() for p in _split(precisions)] if precisions else []
    out: list[tuple[str, Precision]] = []
    for fmt, prec in items:
        for pr in [prec] if prec else (precs or ["fp32"]):
            converters.check_pair(fmt, pr)
            if (fmt, Precision(pr)) not in out:
                out.append((fmt, Precision(pr)))
    return out


def _split(v) -> list[str]:
    parts = v.split(",") if isinstance(v, str) else [x for s in v for x in str(s).split(",")]
    return [p.strip() for p in parts if p.strip()]


def run(
    p: Plan,
    *,
    progress: Progress | None = None,
    done: Callable[[Artifact | dict], None] | None = None,
    capture: Capture | None = None,
) -> ConvertReport:
    """Carry out a Plan; see `convert`. `done` is called with each finished Artifact (or
    failure dict); `capture` collects what other libraries print, summarised per artifact."""
    from edgekit import source as source_mod

    say = progress or (lambda msg: log.info(msg))
    t0 = time.perf_counter()
    say(f"loading {p.model}")
    src = source_mod.load(
        p.model, input_shape=p.input_shape, safe_mode=p.safe_mode, imports=p.imports
    )
    contract = Contract(src.inputs, src.outputs, _preprocess(p.preprocess, src), p.labels)
    if p.detection:
        contract.task, contract.detection = "detection", p.detection
    calib, val = _data(p, src, contract)
    contract.head = head_of(src.outputs, contract.labels)
    parity_set = val or calib  # _data always gives calibration (or parity-only) inputs
    ref = src.predict(parity_set.x)
    if val is not None and p.labels is None:  # classes in folder order: check they fit
        warning = data.label_order_warning(val.y, ref[contract.head or 0].argmax(-1), val.classes)
        if warning:
            log.warning(warning)
    digest = sha256(p.model)
    manifest = Manifest(
        contract,
        {"path": str(p.model), "kind": src.kind, "loader": src.loader, "sha256": digest},
        calib.record() if calib else None,
        edgekit_version=_version(),
    )
    job = targets.Job(src, contract, calib, parity_set, ref, digest, p.model.stem, p.soc)
    p.out.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=p.out, prefix=".staging-"))
    try:
        for fmt, precision in p.targets:
            say(f"converting {fmt} {precision.value}")
            try:
                art = targets.make(job, fmt, precision, staging, say)
            except (ConversionError, MissingDependencyError) as e:
                if p.fail_fast:
                    raise
                failure = targets.failure(fmt, precision, e)
                manifest.failures.append(failure)
                _notify(done, failure)
                continue
            finally:
                text = capture.take() if capture else ""
            art.log = _quiet.summary(text)
            manifest.artifacts.append(art)
            if not p.fail_fast:  # each verified artifact is published as soon as it is done
                _publish(staging, p.out, manifest, [art])
            _notify(done, art)
        if manifest.failures and not manifest.artifacts:
            first = manifest.failures[0]
            raise ConversionError(f"{first['error']}")
        if p.fail_fast:
            _publish(staging, p.out, manifest, manifest.artifacts)
        else:
            manifest.save(p.out)  # with the failures after the last artifact
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    report = ConvertReport(p.out, manifest, time.perf_counter() - t0)
    if p.strict and report.failed:
        worst = report.failed[0]
        raise OutputMismatchError(
            f"{len(report.failed)} artifact(s) missed parity, first {worst.file}: "
            f"{worst.parity['reason']}",
            max_diff=worst.parity["max_abs"],
            tolerance=worst.parity["tolerance"].get("max_abs", float("nan")),
        )
    return report


def convert(
    model: str | Path | None = None,
    *,
    to: str | list[str] | None = None,
    precisions: str | list[str] | None = None,
    recipe: str | None = None,
    out: str | Path = "edgekit-out",
    calib: str | Path | None = None,
    calib_samples: int | None = None,
    random_calib: bool = False,
    val: str | Path | None = None,
    labels: str | Path | list[str] | None = None,
    input_shape: tuple[int, ...] | None = None,
    preprocess: str | Preprocess | None = None,
    safe_mode: bool = True,
    imports: list[str] | None = None,
    strict: bool = False,
    fail_fast: bool = False,
    detection: dict | None = None,
    device: str | None = None,
    prune: str | None = None,
    data: str | Path | None = None,
    max_drop: float | None = None,
    max_float: int | None = None,
    isolate: bool = False,
    progress: Progress | None = None,
    done: Callable[[Artifact | dict], None] | None = None,
    capture: Capture | None = None,
) -> ConvertReport | BudgetReport:
    """Convert a Keras model to edge formats and check each artifact against it.

    Args:
        model: `.keras`, legacy `.h5` or SavedModel folder; None for the bundled example.
        to: formats, e.g. "tflite,onnx" or ["openvino:int8"]; default all four.
        precisions: e.g. "fp32,fp16,int8", applied to formats given without one.
        recipe: a name from `converters/*.toml`, e.g. "rpi5-int8".
        out: output folder (default "edgekit-out"); gets the artifacts and edgekit.json.
        calib: calibration data: an image folder or a .npy/.npz (see edgekit.data).
        calib_samples: how many calibration samples to use (default: the recipe's, or 100).
        random_calib: accept random calibration data when there is none (poor accuracy).
        val: labelled folder (one subfolder per class) for accuracy.
        labels: the class names, a file (one per line) or a list, in the model's output order.
        input_shape: a shape for a model whose input shape is dynamic.
        preprocess: a preset name or a Preprocess; None reads the model's own layers.
        safe_mode: Keras safe mode while loading (default on: no code from the file runs).
        strict: raise OutputMismatchError when an artifact misses its parity tolerance.
        fail_fast: stop at the first failed artifact (and publish nothing).
        device: a device profile id; tflite:npu compiles for its NPU's SoC.
        imports: the user's modules or .py files that register the model's custom classes,
            imported before loading (`edgekit.source.import_user_code`).
        isolate: run in a child process (`edgekit.isolate`), so that a native crash cannot
            kill the caller: retried once with safe settings, NativeCrashError if it crashes
            again. The CLI always isolates; off here by default, because classes the caller
            registered in this process (a notebook) do not exist in the child: pass imports.
        prune: a pruning step first ("sparsity=0.5", "structured=0.3", "m-n=2:4"); the
            pruned model is written to OUT and converted (`edgekit.optimize.pipeline`).
        data: the images the pruned model is fine-tuned on, by distillation (no labels
            needed).
        max_drop: int8 held to this many accuracy points on `val`; returns a BudgetReport
            instead (budget.json in OUT).
        max_float: with max_drop, the most ops left in float.
        detection: anchor/decode options of an SSD without its post-processing op, as
            `edgekit.demo.tasks.anchors.SsdSpec.to_dict()` gives them; recorded in the
            contract (task "detection") for the demo and `Detector`.
        progress: called with a line per step (the CLI's progress display).
        done: called with each finished Artifact, or a failure dict.
        capture: collects what other libraries print, summarised per artifact.

    Returns:
        ConvertReport with the manifest (artifacts, parity, sizes, times).

    Raises:
        ConfigError: a bad argument (before any work); ConversionError: a converter failed;
        OutputMismatchError: with strict=True, an artifact missed its tolerance;
        NativeCrashError: with isolate=True, the child crashed twice.

    Example:
        >>> report = edgekit.convert("model.keras", to="tflite", precisions="int8", calib="imgs/")
    """
    options = dict(
        to=to, precisions=precisions, recipe=recipe, out=out, calib=calib,
        calib_samples=calib_samples, random_calib=random_calib, val=val, labels=labels,
        input_shape=input_shape, preprocess=preprocess, safe_mode=safe_mode, imports=imports,
        strict=strict, fail_fast=fail_fast, detection=detection, device=device,
    )  # fmt: skip
    hooks = {"progress": progress, "done": done, "capture": capture}
    steps = {"prune": prune, "data": data, "max_drop": max_drop, "max_float": max_float}
    if prune or max_drop is not None:  # edgekit.optimize.pipeline
        from edgekit.optimize.pipeline import optimize_then_convert

        return optimize_then_convert(model, convert, **steps, options=options, hooks=hooks)
    if isolate:
        from edgekit import isolate

        return isolate.call(
            convert, model, stage=f"loading {model or 'the bundled example'}",
            callbacks={k: hooks[k] for k in ("progress", "done") if hooks[k]},
            capture=hooks["capture"] is not None,
            leftovers=[(Path(options.get("out") or "edgekit-out"), ".staging-*")], **options,
        )  # fmt: skip
    if model is None:
        return convert_example(**hooks, **options)
    return run(plan(model, **options), **hooks)


def convert_example(
    *, progress: Progress | None = None, done=None, capture=None, **options
) -> ConvertReport:
    """The bundled shapes model, its generated calibration and validation splits, every format
    and precision unless told otherwise."""
    from edgekit.example import LABELS, MODEL
    from edgekit.example.shapes import write_folder

    with tempfile.TemporaryDirectory(prefix="edgekit-example-") as tmp:
        say = progress or (lambda m: None)
        say("rendering the example's calibration and validation images")
        if options.get("calib") is None:
            options["calib"] = write_folder(Path(tmp) / "calib", "calib", 200)
        if options.get("val") is None:
            options["val"] = write_folder(Path(tmp) / "val", "val", 400)
        options["labels"] = options.get("labels") or LABELS
        if not options.get("to") and not options.get("recipe"):
            options["recipe"] = "all"
        options["calib_samples"] = options.get("calib_samples") or 200
        return run(plan(MODEL, **options), progress=progress, done=done, capture=capture)


def _notify(done, item) -> None:
    if done is not None:
        done(item)


def _publish(staging: Path, out: Path, manifest: Manifest, arts: list[Artifact]) -> None:
    """Move finished artifacts from staging into OUT, then (re)write the manifest, so the
    manifest always lists exactly what is in place."""
    for art in arts:
        for f in files_of(staging / art.file):
            replace_path(f, out / f.name)
        art.file = Path(art.file).name
    manifest.save(out)


def _preprocess(choice, src) -> Preprocess | None:
    if isinstance(choice, Preprocess):
        return choice
    if choice is None:
        # a model that rescales inside itself wants raw 0..255 pixels
        choice = "raw" if src.first_layer in RESCALING_LAYERS else "unit"
    if len(src.inputs) > 1:
        return None  # several inputs: tensors in, no single image contract
    return Preprocess.for_shape(src.inputs[0].shape, choice)


def _data(p: Plan, src, contract: Contract):
    if len(src.inputs) > 1:
        return _data_multi(p, src), None
    shape, pre = src.inputs[0].shape, contract.preprocess
    val = None
    if p.val:
        val = data.read_labelled(p.val, preprocess=pre, labels=p.labels)
        if p.labels is None:
            contract.labels = val.classes
    if p.calib:
        calib = data.read(p.calib, shape=shape, preprocess=pre, count=p.calib_samples)
    elif val is not None:
        # no --calib: calibrate on the validation images, and say so in the manifest
        calib = data.Samples(val.x[: p.calib_samples], "validation-images", str(p.val))
    else:
        calib = data.random(
            shape=shape,
            count=min(p.calib_samples, 32) if not p.needs_calibration else p.calib_samples,
            preprocess=pre,
        )
        if not (p.random_calib or p.needs_calibration):
            calib.kind = "random-parity-only"
    return calib, val


def _data_multi(p: Plan, src) -> data.Samples:
    """Calibration/parity inputs for a model with several inputs: an .npz, else random."""
    if p.val:
        raise ConfigError(
            f"--val takes labelled images, but {p.model.name} has {len(src.inputs)} inputs; "
            "pass --calib FILE.npz with one array per input instead"
        )
    shapes = {t.name: t.shape for t in src.inputs}
    if p.calib:
        return data.read_inputs(p.calib, shapes=shapes, count=p.calib_samples)
    count = p.calib_samples if p.needs_calibration else min(p.calib_samples, 32)
    samples = data.random_inputs(shapes=list(shapes.values()), count=count)
    if not (p.random_calib or p.needs_calibration):
        samples.kind = "random-parity-only"
    return samples


def _version() -> str:
    from edgekit import __version__

    return __version__
