"""Optimization as library steps: what `edgekit prune` and `edgekit convert --prune SPEC
--data DIR` / `--max-drop D` do, for Python users too (`edgekit.convert(model, prune=...,
data=..., max_drop=...)` calls these; the CLI only parses and prints).

- `prune_model`: one of magnitude (`sparsity`), M:N (`m_n`) or channel (`structured`)
  pruning, fine-tuned by distillation; with `max_drop`, the sparsity search.
- `prune_to_file`: the same, written atomically; a budget miss still writes the closest.
- `prune_to_file_isolated`: the same in a child process (what `edgekit prune` runs), so a
  native crash is retried once with safe settings instead of killing the caller.
- `before_convert`: the `--prune SPEC` step of convert, into OUT/<stem>_pruned.keras.
- `convert_to_budget`: one int8 artifact per format held to `max_drop` (see `budget`).
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from edgekit.errors import BudgetNotMetError, ConfigError

log = logging.getLogger(__name__)
KINDS = ("sparsity", "structured", "m-n")
Progress = Callable[[str], None]


def parse_prune(spec: str) -> dict:
    """'sparsity=0.5' | 'structured=0.3' | 'm-n=2:4' -> keyword arguments of prune_model."""
    kind, _, value = spec.partition("=")
    if kind not in KINDS or not value:
        raise ConfigError(
            f"--prune takes sparsity=F, structured=F or m-n=N:M; got: {spec!r}; "
            "e.g. --prune sparsity=0.5 --data train/"
        )
    if kind == "m-n":
        return {"m_n": value}
    try:
        return {kind: float(value)}
    except ValueError:
        raise ConfigError(f"--prune {kind} takes a fraction; got: {value!r}") from None


def prune_model(
    model,
    data=None,
    *,
    sparsity: float | None = None,
    m_n: str | tuple[int, int] | None = None,
    structured: float | None = None,
    val=None,
    labels=None,
    preprocess: str | None = None,
    epochs: int | None = None,
    max_drop: float | None = None,
    progress: Progress | None = None,
    **options,
):
    """Prune `model` one way, fine-tuned on `data` (images are enough: distillation).

    Args:
        sparsity / m_n / structured: exactly one: a weight fraction, "N:M", a channel fraction.
        data, val, labels, preprocess: see `edgekit.optimize.prune`.
        epochs: fine-tuning epochs (default: the method's).
        max_drop: points the result may lose; magnitude pruning then searches the sparsity
            (`prune_to_budget`), the other methods check it.
        options: PruneConfig fields (schedule, scope, exclude, min_weights, learning_rate)
            or, for structured, criterion / learning_rate / target (a device id).

    Returns:
        PruneResult or StructuredResult; `notes` holds the warnings.

    Raises:
        ConfigError: not exactly one method, or bad settings; BudgetNotMetError: `max_drop`
            missed (`result` holds the closest model).
    """
    chosen = [n for n, v in (("sparsity", sparsity), ("m-n", m_n), ("structured", structured)) if v]
    if len(chosen) != 1:
        raise ConfigError(
            f"pick one of --sparsity, --m-n, --structured; got: {chosen or 'none'}; "
            "e.g. edgekit prune model.keras --sparsity 0.5 --data train/"
        )
    common = {"val": val, "labels": labels, "preprocess": preprocess, "progress": progress}
    if structured:
        return _structured(model, data, structured, epochs, max_drop, common, options)
    from edgekit.optimize.prune import PruneConfig, parse_m_n, prune
    from edgekit.optimize.prune_search import prune_to_budget

    pairs = parse_m_n(m_n) if isinstance(m_n, str) else m_n
    extra = {"epochs": epochs} if epochs is not None else {}
    config = PruneConfig(sparsity=sparsity or 0.5, m_n=pairs, **extra, **options)
    if max_drop is not None:
        return prune_to_budget(model, data, config=config, max_drop=max_drop, **common)
    return prune(model, data, config=config, **common)


def _structured(model, data, ratio, epochs, max_drop, common, options):
    from edgekit.optimize.structured import prune_channels

    names = ("criterion", "learning_rate", "target")
    kw = {k: v for k, v in options.items() if k in names and v}
    if epochs is not None:
        kw["epochs"] = epochs
    result = prune_channels(model, data, ratio=ratio, **common, **kw)
    if max_drop is not None and result.drop is not None and result.drop > max_drop:
        raise BudgetNotMetError(
            f"structured pruning lost {result.drop:.2f} points, more than --max-drop "
            f"{max_drop}; got: {result.scored_on}; lower --structured or add --data",
            result,
        )
    return result


def prune_to_file(model, out: str | Path, data=None, **options):
    """`prune_model`, written to `out` (.keras) atomically. A budget miss writes the
    closest model all the same, then raises BudgetNotMetError (its `path` says where)."""
    out = Path(out)
    if out.suffix != ".keras":
        raise ConfigError(f"-o must end in .keras; got: {out}")
    try:
        result = prune_model(model, data, **options)
    except BudgetNotMetError as e:
        save_model(e.result.model, out)
        e.path = out
        raise
    save_model(result.model, out)
    return result


@dataclass
class Figures:
    """A pruning result as a child process sends it back: its figures, not the model."""

    figures: dict

    def to_dict(self) -> dict:
        return dict(self.figures)


def prune_to_file_isolated(
    model, out: str | Path, data=None, *, imports=(), progress: Progress | None = None, **options
) -> Figures:
    """`prune_to_file` in a child process (`edgekit.isolate`): a native crash while loading
    or fine-tuning (a SIGSEGV in TensorFlow's train step on some CPUs) is retried once with
    safe settings; the crashed attempt's temporary file is removed.

    Args:
        model, out, data, options: as for `prune_to_file` (picklable: paths, numbers).
        imports: the user's modules or .py files that register custom classes, imported in
            the child before loading (`edgekit.source.import_user_code`).
        progress: called with a line per step, in this process.

    Returns:
        Figures: the result's `to_dict()` (the model is in `out`).

    Raises:
        BudgetNotMetError: as `prune_to_file` (its `result` is Figures); NativeCrashError:
            the child crashed twice; what `prune_to_file` raises otherwise.
    """
    from edgekit import isolate

    out = Path(out)
    if out.suffix != ".keras":  # before a child starts
        raise ConfigError(f"-o must end in .keras; got: {out}")
    return isolate.call(
        _prune_in_child, str(model), str(out), None if data is None else str(data),
        list(imports), stage=f"loading {model}",
        callbacks={"progress": progress or (lambda message: None)},
        leftovers=[(out.parent, ".prune-*")], **options,
    )  # fmt: skip


def _prune_in_child(model, out, data, imports, *, progress, **options) -> Figures:
    """What the child of `prune_to_file_isolated` runs: only picklable figures go back."""
    from edgekit.source import import_user_code

    for spec in imports:
        import_user_code(spec)
    progress(f"loading {model}")
    try:
        result = prune_to_file(model, out, data, progress=progress, **options)
    except BudgetNotMetError as e:  # the closest model is written; its figures go back
        raise BudgetNotMetError(str(e), Figures(e.result.to_dict())) from None
    return Figures(result.to_dict())


def save_model(model, out: Path) -> None:
    """Write next to the destination, then move into place: no half-written file."""
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=".prune-", suffix=".keras")
    os.close(fd)
    try:
        model.save(tmp)
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


@dataclass
class PruneStep:
    """What convert's `--prune` step made: the pruned model's path and its figures."""

    spec: str
    path: Path
    summary: dict = field(default_factory=dict)


def before_convert(
    model, spec: str, *, data, labels=None, out: Path, epochs: int | None = None,
    preprocess: str | None = None, progress: Progress | None = None,
) -> PruneStep:  # fmt: skip
    """`convert --prune SPEC --data DIR`: prune into OUT/<stem>_pruned.keras first."""
    kw = parse_prune(spec)
    if data is None:
        raise ConfigError(
            "--prune needs --data DIR (images, or DIR/<class>/<image>) to fine-tune on"
        )
    path = Path(out) / f"{Path(model).stem}_pruned.keras"
    result = prune_to_file(model, path, data, labels=labels, epochs=epochs,
                           preprocess=preprocess, progress=progress, **kw)  # fmt: skip
    return PruneStep(spec, path, {"spec": spec, **result.to_dict()})


@dataclass
class BudgetReport:
    """The budgeted int8 artifacts of `convert(..., max_drop=D)`, one per format."""

    out: Path
    results: list = field(default_factory=list)  # BudgetResult
    label_warning: str | None = None

    @property
    def met(self) -> bool:
        return all(r.met for r in self.results)

    def to_dict(self) -> list[dict]:
        return [r.to_dict() for r in self.results]


def convert_to_budget(
    model: Path,
    *,
    formats: list[str],
    calib,
    val,
    labels=None,
    out: Path,
    max_drop: float,
    max_float: int | None = None,
    calib_samples: int = 100,
    preprocess: str | None = None,
    progress: Progress | None = None,
) -> BudgetReport:
    """int8 artifacts of `model` for each format in `formats`, each within `max_drop`
    accuracy points of the float model on `val`; writes OUT/<stem>_int8-budget.<ext> and
    OUT/budget.json. Raises BudgetNotMetError (after writing all; `result` is the report)
    if any format missed."""
    from edgekit.optimize.budget import FORMATS, prepare_data, quantize_to_budget, suffix_of

    bad = [f for f in formats if f not in FORMATS]
    if bad:
        raise ConfigError(f"--max-drop works for {', '.join(FORMATS)}; got: {', '.join(bad)}")
    if val is None:
        raise ConfigError("--max-drop needs --val DIR (DIR/<class>/<image>) to measure accuracy")
    src, c, v, contract, meta, warning = prepare_data(model, calib, val, labels, calib_samples,
                                                      preprocess)  # fmt: skip
    if warning:
        log.warning(warning)
    Path(out).mkdir(parents=True, exist_ok=True)
    report, missed = BudgetReport(Path(out), label_warning=warning), []
    for fmt in formats:
        dest = Path(out) / f"{Path(model).stem}_int8-budget{suffix_of(fmt)}"
        try:
            r = quantize_to_budget(src, fmt, dest, calib=c.x, val_x=v.x, val_y=v.y,
                                   max_drop=max_drop, max_float=max_float, metadata=meta,
                                   progress=progress)  # fmt: skip
        except BudgetNotMetError as e:
            r = e.result
            missed.append(str(e))
        report.results.append(r)
    (Path(out) / "budget.json").write_text(json.dumps(report.to_dict(), indent=2))
    _manifest(Path(out), Path(model), src, contract, c.record(), report.results)
    if missed:
        raise BudgetNotMetError("; ".join(missed), report)
    return report


def optimize_then_convert(
    model,
    convert: Callable,
    *,
    prune: str | None = None,
    data=None,
    max_drop: float | None = None,
    max_float: int | None = None,
    options: dict,
    hooks: dict,
):
    """What `edgekit.convert(model, prune=..., data=..., max_drop=..., max_float=...)` does:
    the prune step into OUT, then either the budgeted int8 search (BudgetReport) or the
    plain conversion of the pruned model through `convert` (ConvertReport)."""
    say = hooks.get("progress") or log.info
    labels = options.get("labels")
    if model is None:
        from edgekit.example import LABELS, MODEL

        model, labels = MODEL, labels or LABELS
    out = Path(options.get("out") or "edgekit-out")
    if prune:
        step = before_convert(model, prune, data=data, labels=labels, out=out,
                              preprocess=options.get("preprocess"), progress=say)  # fmt: skip
        model = step.path
    if max_drop is None:
        return convert(model, **{**options, "labels": labels}, **hooks)
    to = options.get("to") or "tflite,openvino"
    parts = to.split(",") if isinstance(to, str) else [str(t) for t in to]
    formats = [t.split(":")[0].strip() for t in parts if t.strip()]
    val = options.get("val")
    return convert_to_budget(
        Path(model), formats=formats, calib=options.get("calib") or val, val=val,
        labels=labels, out=out, max_drop=max_drop, max_float=max_float,
        calib_samples=options.get("calib_samples") or 100,
        preprocess=options.get("preprocess"), progress=say,
    )  # fmt: skip


def _manifest(out: Path, model: Path, src, contract, calib: dict, results: list) -> None:
    """edgekit.json beside the budgeted artifacts: one entry each, the budget in its notes
    (so `edgekit bench`/`info` and the demo read them like any converted artifact)."""
    from edgekit import __version__
    from edgekit.manifest import Artifact, Manifest, sha256, size_of

    arts = [
        Artifact(
            file=Path(r.path).name,
            format=r.format,
            precision="int8",
            size_bytes=size_of(Path(r.path)),
            inputs=[t.to_dict() for t in contract.inputs],
            outputs=[t.to_dict() for t in contract.outputs],
            tools={},
            convert_seconds=0.0,
            route=f"max-drop: {r.method}",
            notes=[
                f"--max-drop {r.max_drop}: accuracy {100 * r.accuracy:.2f}% vs float "
                f"{100 * r.reference_accuracy:.2f}% (plain int8 {100 * r.plain_accuracy:.2f}%)"
                f", {len(r.float_layers)} ops in float, {'met' if r.met else 'NOT met'}; "
                f"{r.evaluations} evaluations on {r.samples} images (budget.json)"
            ],
        )  # fmt: skip
        for r in results
    ]
    source = {"path": str(model), "kind": src.kind, "sha256": sha256(model)}
    Manifest(contract, source, calib, arts, edgekit_version=__version__).save(out)
