"""One format at one precision: try the converter's routes in order and verify each
artifact the same way (its runtime loads it; every output is compared with the source)."""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from edgekit import converters, data
from edgekit.contract import Contract
from edgekit.converters.base import Precision, failed_routes, short
from edgekit.errors import ConversionError, MissingDependencyError, ModelLoadError
from edgekit.manifest import Artifact, embedded_contract, size_of
from edgekit.parity import compare, structural, tolerance_for
from edgekit.source import columns

log = logging.getLogger(__name__)
# a float artifact that misses parity means a broken route: the next route is tried
FLOAT_PRECISIONS = {"fp32", "fp16", "bf16"}


@dataclass
class Job:
    """What every target of one conversion shares."""

    src: object
    contract: Contract
    calib: data.Samples | None
    parity_set: data.Samples
    ref: list
    digest: str
    stem: str
    soc: str | None = None  # the SoC an NPU build is compiled for (conversion.Plan.soc)


def make(
    job: Job, fmt: str, precision: Precision, staging: Path, say: Callable[[str], None]
) -> Artifact:
    """Try the format's routes in order; the first artifact that loads and (for float
    precisions) passes parity wins. A quantized artifact that misses its tolerance is kept
    and shown as FAIL: that is its accuracy, not a broken route."""
    conv = converters.get(fmt)
    meta = embedded_contract(job.contract, precision=precision.value, source_sha256=job.digest)
    calib = job.calib.x if job.calib else None
    errors: dict[str, str] = {}
    best: Artifact | None = None
    npu = {"soc": job.soc} if precision is Precision.NPU else {}  # only tflite takes it
    for route in conv.routes(job.src, precision, calib=calib, metadata=meta, **npu):
        folder = Path(tempfile.mkdtemp(dir=staging, prefix=f"{fmt}-{route.name}-"))
        dest = folder / conv.file_name(job.stem, precision)
        try:
            art = _attempt(route, dest, fmt, precision, job)
        except Exception as e:  # this route's failure; the next route may work
            errors[route.name] = short(e)
            log.debug("%s %s route %s failed", fmt, precision.value, route.name, exc_info=True)
            shutil.rmtree(folder, ignore_errors=True)
            continue
        art.route, art.route_errors = route.name, dict(errors)
        art.file = str(folder.relative_to(staging) / art.file)
        if not _broken(art.parity, precision):
            return art
        errors[route.name] = f"parity: {art.parity['reason']}"
        best = best or art
        say(f"{fmt} {precision.value}: {route.name} missed parity, trying the next route")
    if best is not None:
        best.route_errors = {k: v for k, v in errors.items() if k != best.route}
        return best
    raise ConversionError(failed_routes(fmt, precision, errors))


def _broken(parity: dict, precision: Precision) -> bool:
    """A float artifact far off the source (10x its tolerance, or outputs of another shape)
    means the route mistranslated the model: the next route is tried. A near miss is float
    arithmetic in another order, and a quantized artifact's miss is its accuracy: both are
    kept and shown as FAIL."""
    if parity["passed"] or precision.value not in FLOAT_PRECISIONS:
        return False
    limit = parity["tolerance"].get("max_abs")
    worst = parity["max_abs"]
    return limit is None or not worst <= 10 * limit  # NaN (shape mismatch) counts as broken


def _attempt(route, dest: Path, fmt: str, precision: Precision, job: Job) -> Artifact:
    t = time.perf_counter()
    result = route.write(dest)
    seconds = time.perf_counter() - t
    art = Artifact(
        file=dest.name,
        format=fmt,
        precision=precision.value,
        size_bytes=size_of(dest),
        inputs=[],
        outputs=[],
        tools=result.tools,
        convert_seconds=round(seconds, 3),
        notes=result.notes,
        placement=result.placement,
    )
    _verify(dest, art, job)
    return art


def failure(fmt: str, precision: Precision, e: Exception) -> dict:
    hint = (
        "install the extra it names"
        if isinstance(e, MissingDependencyError)
        else "see the errors per route; try another precision or format, or --verbose"
    )
    error = " ".join(str(e).split())[:1200]
    return {"format": fmt, "precision": precision.value, "error": error, "hint": hint}


def _verify(path: Path, art: Artifact, job: Job) -> None:
    """Load the artifact once: record its I/O as its runtime sees it, and its parity."""
    import platform

    from edgekit.runtimes import load

    src = job.src
    if art.precision == Precision.NPU.value:  # runs on its phone's NPU only: check structure
        from edgekit.converters.npu import structure
        from edgekit.parity import Parity

        art.inputs = [t.to_dict() for t in src.inputs]
        art.outputs = [t.to_dict() for t in src.outputs]
        ok, reason = structure(path, job.soc, src)
        nan = float("nan")
        art.parity = Parity(0, nan, nan, nan, None, None, None, {}, ok, reason, "structural")
        art.parity = art.parity.to_dict()
        return
    if art.format == "coreml" and platform.system() != "Darwin":
        from edgekit.converters.coreml import NOTHING_COMPRESSED, inspect

        art.inputs = [t.to_dict() for t in src.inputs]
        art.outputs = [t.to_dict() for t in src.outputs]
        compressed = NOTHING_COMPRESSED not in art.notes
        art.parity = structural(inspect(path), src, art.precision, compressed=compressed).to_dict()
        return
    try:
        session = load(path, precision=art.precision)
    except ModelLoadError as e:
        cause = (
            "an op or graph construct the runtime lacks; another route or format may work"
            if art.precision in FLOAT_PRECISIONS
            else "activations with near-zero ranges in calibration (an untrained model, "
            "unrepresentative --calib data) or an op the runtime lacks; try better "
            "calibration data or another precision"
        )
        raise ConversionError(
            f"{art.format} {art.precision}: the converter wrote {art.file} but its runtime "
            f"refuses it ({e}); usual causes: {cause}"
        ) from e
    with session:
        art.inputs = [t.to_dict() for t in session.inputs]
        art.outputs = [t.to_dict() for t in session.outputs]
        xs = columns(job.parity_set.x)
        order = _match(session.inputs, src.inputs)
        got = session.predict([xs[i] for i in order])
        got = got if isinstance(got, list) else [got]
        if len(got) == len(src.outputs):  # outputs in the source's order
            aligned = list(got)
            for i, j in enumerate(_match(session.outputs, src.outputs)):
                aligned[j] = got[i]
            got = aligned
        parity = compare(
            job.ref,
            got,
            tolerance=tolerance_for(art.precision),
            y=job.parity_set.y,
            head=job.contract.head,
            names=[t.name for t in src.outputs],
        )
        art.parity = parity.to_dict()
        art.parity["executed_precision"] = session.execution.get("precision")
        art.parity["execution"] = session.execution


def _match(got_specs, want_specs) -> list[int]:
    """For each of the artifact's tensors, the index of the source tensor it is: by name,
    then by a shape no other tensor has, else by position."""
    if len(got_specs) != len(want_specs):
        return list(range(len(got_specs)))
    names = [w.name for w in want_specs]
    order = []
    for i, g in enumerate(got_specs):
        same = [j for j, n in enumerate(names) if n == g.name or n in g.name.split(":")[0]]
        shaped = [j for j, w in enumerate(want_specs) if list(w.shape) == list(g.shape)]
        pick = same[0] if len(same) == 1 else shaped[0] if len(shaped) == 1 else i
        order.append(pick)
    return order if sorted(order) == list(range(len(order))) else list(range(len(order)))
