"""`edgekit prune`: magnitude, M:N or structured channel pruning, then fine-tuning by
distillation from the original; the work is `edgekit.optimize.pipeline.prune_to_file`."""

from __future__ import annotations

import json
from pathlib import Path

import click

from edgekit._quiet import Capture
from edgekit.cli._common import console, guarded, import_option, warnings_to


@click.command("prune")
@click.argument("model", type=click.Path(path_type=Path))
@click.option("--sparsity", type=float, help="Fraction of kernel weights set to zero, e.g. 0.5.")
@click.option("--m-n", "m_n", help="N:M sparsity, e.g. 2:4 (2 of every 4 input weights kept).")
@click.option("--structured", type=float, help="Fraction of channels removed, e.g. 0.3.")
@click.option(
    "--data",
    type=click.Path(path_type=Path),
    help="Fine-tuning data: a folder of images (labels not needed), DIR/<class>/<image>, "
    "or .npz (x[, y]).",
)
@click.option(
    "--val",
    type=click.Path(path_type=Path),
    help="Data to score on (default: the 15% of --data held out).",
)
@click.option(
    "--labels", type=click.Path(path_type=Path), help="Class names in output order, one a line."
)
@click.option("--epochs", type=click.IntRange(min=0), help="Fine-tuning epochs [8].")
@click.option(
    "--schedule",
    type=click.Choice(["polynomial", "constant"]),
    default="polynomial",
    show_default=True,
)
@click.option("--scope", type=click.Choice(["layer", "global"]), default="layer", show_default=True)
@click.option(
    "--exclude", multiple=True, help="Layer name or class to leave dense (repeatable, globs)."
)
@click.option(
    "--min-weights", type=int, default=1024, show_default=True, help="Smaller kernels stay dense."
)
@click.option(
    "--criterion",
    type=click.Choice(["l2", "l1", "sensitivity", "latency"]),
    default="l2",
    show_default=True,
    help="Channel ranking for --structured (latency: shares by estimated latency saved).",
)
@click.option(
    "--target",
    help="Device id (edgekit devices) whose kernel width and latency --structured prunes for "
    "[this machine].",
)
@click.option("--learning-rate", type=float, help="Fine-tuning learning rate.")
@click.option(
    "--preprocess",
    type=click.Choice(["raw", "unit", "tf", "torch"]),
    help="Pixel scaling of image folders [auto: raw if the model rescales itself, else unit].",
)
@click.option(
    "--max-drop",
    type=float,
    help="Most points lost (accuracy, or top-1 agreement without labels): --sparsity is "
    "searched downward until the result holds it.",
)
@click.option(
    "-o", "--out", type=click.Path(path_type=Path), default=Path("pruned.keras"), show_default=True
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@import_option
@guarded
def command(model, sparsity, m_n, structured, data, val, labels, epochs, schedule, scope, exclude,
            min_weights, criterion, target, learning_rate, preprocess, max_drop, out, as_json,
            imports):  # fmt: skip
    """Prune MODEL and fine-tune it on --data (images are enough: it learns from the original
    model's outputs); writes a plain Keras model to -o."""
    from edgekit.errors import BudgetNotMetError
    from edgekit.optimize.pipeline import prune_to_file_isolated

    method = _method_options(structured, schedule, scope, exclude, min_weights, criterion,
                             learning_rate, target)  # fmt: skip
    options = {"sparsity": sparsity, "m_n": m_n, "structured": structured, "val": val,
               "labels": labels, "epochs": epochs, "preprocess": preprocess,
               "max_drop": max_drop, **method}  # fmt: skip
    # TensorFlow's C++ logs and Keras' own output stay off the terminal (`--debug` shows them)
    debug = click.get_current_context().find_root().params.get("debug")
    with Capture(enabled=not debug) as cap:
        from rich.console import Console

        say = Console(file=cap.terminal, highlight=False).print
        missed = None
        try:  # in a child process: a native crash in TensorFlow is retried, not fatal
            with warnings_to(say):
                result = prune_to_file_isolated(model, out, data, imports=imports, progress=say,
                                                **options)  # fmt: skip
        except BudgetNotMetError as e:  # the closest model is written: show its figures
            missed, result = e, e.result
    _show(result, out, structured is not None, as_json)
    if missed is not None:
        raise missed


def _method_options(structured, schedule, scope, exclude, min_weights, criterion, lr,
                    target) -> dict:  # fmt: skip
    if target and not structured:
        from edgekit.errors import ConfigError

        raise ConfigError(f"--target applies to --structured pruning; got: --target {target}")
    if structured:
        return {"criterion": criterion, "learning_rate": lr, "target": target}
    return {"schedule": schedule, "scope": scope, "exclude": list(exclude),
            "min_weights": min_weights, **({"learning_rate": lr} if lr else {})}  # fmt: skip


def _show(result, out: Path, structured: bool, as_json: bool) -> None:
    payload = {"out": str(out), **result.to_dict()}
    if as_json:
        click.echo(json.dumps(payload, indent=2))
    else:
        _table(payload, structured)


def _table(p: dict, structured: bool) -> None:
    from rich.table import Table

    c = console()
    if structured:
        t = Table("layer", "channels before", "after")
        for name, (a, b) in p["channels"].items():
            t.add_row(name, str(a), str(b))
        c.print(t)
        c.print(f"FLOPs {p['flops_before'] / 1e6:.1f}M -> {p['flops_after'] / 1e6:.1f}M "
                f"({p['flops_after'] / p['flops_before']:.2f}x)")  # fmt: skip
    else:
        t = Table("layer", "sparsity")
        for name, s in p["layers"].items():
            t.add_row(name, f"{100 * s:.1f}%")
        for name, why in p["skipped"].items():
            t.add_row(f"[dim]{name}[/]", f"[dim]dense: {why}[/]")
        c.print(t)
        c.print(f"sparsity over pruned kernels: {100 * p['sparsity']:.1f}%")
    for row in p.get("tried") or []:
        c.print(f"tried sparsity {100 * row['sparsity']:.1f}%: lost {row['drop']:.2f} points"
                f"{'' if row['met'] else ' [red](over budget)[/]'}")  # fmt: skip
    _figures(c, p)
    for note in p.get("notes") or []:
        console(stderr=True).print(f"[yellow]warning:[/] {note}", soft_wrap=True)
    c.print(f"wrote {p['out']}")


def _figures(c, p: dict) -> None:
    if p.get("agreement") is not None:
        c.print(f"top-1 agreement with the original: {100 * p['agreement']:.2f}% "
                f"on {p['scored_on']}")  # fmt: skip
    if p.get("accuracy_before") is not None:
        c.print(f"accuracy {100 * p['accuracy_before']:.2f}% -> {100 * p['accuracy_after']:.2f}%")


def before_convert(model, prune_spec, train_data, labels, out: Path):
    """`edgekit convert --prune SPEC --data DIR`: prune into OUT first, convert that.
    Returns (model path, labels); no MODEL means the bundled example and its labels."""
    if model is None:
        from edgekit.example import LABELS, MODEL

        model, labels = MODEL, labels or LABELS
    if not prune_spec:
        return model, labels
    from edgekit.optimize.pipeline import before_convert as prune_step

    say = console(stderr=True).print
    step = prune_step(model, prune_spec, data=train_data, labels=labels, out=out, progress=say)
    agreement, acc = step.summary.get("agreement"), step.summary.get("accuracy_after")
    figures = f"; top-1 agreement with the original {100 * agreement:.2f}%" if agreement else ""
    figures += f"; accuracy {100 * acc:.2f}%" if acc is not None else ""
    say(f"pruned ({prune_spec}) into {step.path}{figures}")
    for note in step.summary.get("notes") or []:
        say(f"[yellow]warning:[/] {note}", soft_wrap=True)
    return step.path, labels


def budget_convert(model, to, calib, calib_samples, val, labels, out, max_drop, max_float,
                   as_json, preprocess=None):  # fmt: skip
    """`edgekit convert --precision int8 --max-drop D --val DIR`: one budgeted int8 artifact
    per format (tflite, openvino by default); exit 1 with the best artifacts kept if any
    misses."""
    from rich.console import Console

    from edgekit.errors import BudgetNotMetError
    from edgekit.optimize.pipeline import convert_to_budget

    formats = [t.split(":")[0].strip() for t in (to or "tflite,openvino").split(",") if t.strip()]
    debug = click.get_current_context().find_root().params.get("debug")
    missed = None
    # the converters' and TensorFlow's own output stays off the terminal (`--debug` shows it)
    with Capture(enabled=not debug) as cap:
        say = Console(file=cap.terminal, highlight=False).print
        try:
            report = convert_to_budget(
                model, formats=formats, calib=calib or val, val=val, labels=labels, out=out,
                max_drop=max_drop, max_float=max_float, calib_samples=calib_samples or 100,
                preprocess=preprocess, progress=lambda m: say(f"[dim]{m}[/]"),
            )  # fmt: skip
        except BudgetNotMetError as e:  # the best artifacts are written: show their figures
            missed, report = e, e.result
    _budget_table(report, as_json)
    if missed is not None:
        raise missed


def _budget_table(report, as_json: bool) -> None:
    rows = report.to_dict()
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    from rich.table import Table

    t = Table("format", "float", "plain int8", "budgeted", "drop", "met", "ops kept in float")
    for r in rows:
        t.add_row(
            r["format"], f"{100 * r['reference_accuracy']:.2f}%",
            f"{100 * r['plain_accuracy']:.2f}%", f"{100 * r['accuracy']:.2f}%",
            f"{r['drop']:.2f} (max {r['max_drop']})", "yes" if r["met"] else "[red]no[/]",
            _float_list(r["float_layers"]),
        )  # fmt: skip
    c = console()
    c.print(t)
    for r in rows:
        curve = ", ".join(f"{t['float_layers']}: {100 * t['accuracy']:.1f}%"
                          for t in r["tries"] if t["phase"] != "ranking")  # fmt: skip
        c.print(f"{r['format']}: accuracy by ops in float: {curve}; chosen "
                f"{len(r['float_layers'])}: {100 * r['accuracy']:.1f}% ({r['evaluations']} "
                f"evaluations, {r['method']}); one point = {r['samples_per_point']:g} "
                "validation images", soft_wrap=True)  # fmt: skip
    if report.label_warning:
        console(stderr=True).print(f"[yellow]warning:[/] {report.label_warning}", soft_wrap=True)
    for r in rows:
        c.print(f"wrote {r['path']}")
    c.print(f"wrote {report.out / 'budget.json'}")


def _float_list(names: list[str], most: int = 8) -> str:
    if not names:
        return "none"
    shown = "\n".join(names[:most])
    return shown + (f"\n... {len(names) - most} more" if len(names) > most else "")
