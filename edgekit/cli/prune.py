"""`edgekit prune`: magnitude, M:N or structured channel pruning, then fine-tuning."""

from __future__ import annotations

import json
from pathlib import Path

import click

from edgekit._quiet import Capture
from edgekit.cli._common import console, guarded


@click.command("prune")
@click.argument("model", type=click.Path(path_type=Path))
@click.option("--sparsity", type=float, help="Fraction of kernel weights set to zero, e.g. 0.5.")
@click.option("--m-n", "m_n", help="N:M sparsity, e.g. 2:4 (2 of every 4 input weights kept).")
@click.option("--structured", type=float, help="Fraction of channels removed, e.g. 0.3.")
@click.option(
    "--data",
    type=click.Path(path_type=Path),
    help="Fine-tuning data: DIR/<class>/<image> or .npz (x, y).",
)
@click.option(
    "--val",
    type=click.Path(path_type=Path),
    help="Labelled data for accuracy (default: 10% of --data).",
)
@click.option(
    "--labels", type=click.Path(path_type=Path), help="Class names in output order, one a line."
)
@click.option("--epochs", type=int, default=2, show_default=True, help="Fine-tuning epochs.")
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
    type=click.Choice(["l2", "l1", "sensitivity"]),
    default="l2",
    show_default=True,
    help="Channel ranking for --structured.",
)
@click.option("--learning-rate", type=float, help="Fine-tuning learning rate.")
@click.option(
    "-o", "--out", type=click.Path(path_type=Path), default=Path("pruned.keras"), show_default=True
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@guarded
def command(model, sparsity, m_n, structured, data, val, labels, epochs, schedule, scope, exclude,
            min_weights, criterion, learning_rate, out, as_json):  # fmt: skip
    """Prune MODEL and fine-tune it on --data; writes a plain Keras model to -o."""
    from edgekit.errors import ConfigError

    chosen = [
        o for o, v in (("--sparsity", sparsity), ("--m-n", m_n), ("--structured", structured)) if v
    ]
    if len(chosen) != 1:
        raise ConfigError(
            f"pick one of --sparsity, --m-n, --structured; got: {chosen or 'none'}; "
            "e.g. edgekit prune model.keras --sparsity 0.5 --data train/"
        )
    if out.suffix != ".keras":
        raise ConfigError(f"-o must end in .keras; got: {out}")
    # TensorFlow's C++ logs and Keras' own output stay off the terminal (`--debug` shows them)
    debug = click.get_current_context().find_root().params.get("debug")
    with Capture(enabled=not debug) as cap:
        result = _run(cap, model, sparsity, m_n, structured, data, val, labels, epochs, schedule,
                      scope, exclude, min_weights, criterion, learning_rate)  # fmt: skip
    _save(result.model, out)
    payload = {"out": str(out), **result.to_dict()}
    if as_json:
        click.echo(json.dumps(payload, indent=2))
    else:
        _table(payload, structured is not None)


def _run(cap, model, sparsity, m_n, structured, data, val, labels, epochs, schedule, scope,
         exclude, min_weights, criterion, learning_rate):  # fmt: skip
    from rich.console import Console

    say = Console(file=cap.terminal, highlight=False).print
    if structured:
        from edgekit.optimize.structured import prune_channels

        kw = {"learning_rate": learning_rate} if learning_rate else {}
        result = prune_channels(
            model, data, ratio=structured, criterion=criterion, epochs=epochs, val=val,
            labels=labels, progress=say, **kw,
        )  # fmt: skip
    else:
        from edgekit.optimize.prune import PruneConfig, parse_m_n, prune

        config = PruneConfig(
            sparsity=sparsity or 0.5, schedule=schedule, scope=scope,
            m_n=parse_m_n(m_n) if m_n else None, exclude=list(exclude),
            min_weights=min_weights, epochs=epochs,
            **({"learning_rate": learning_rate} if learning_rate else {}),
        )  # fmt: skip
        result = prune(model, data, config=config, val=val, labels=labels, progress=say)
    return result


def _save(model, out: Path) -> None:
    """Write next to the destination, then move into place: no half-written file."""
    import os
    import tempfile

    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=".prune-", suffix=".keras")
    os.close(fd)
    try:
        model.save(tmp)
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


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
    if p.get("accuracy_before") is not None:
        c.print(f"accuracy {100 * p['accuracy_before']:.2f}% -> {100 * p['accuracy_after']:.2f}%")
    c.print(f"wrote {p['out']}")


def before_convert(model, prune_spec, train_data, labels, out: Path):
    """`edgekit convert --prune SPEC --data DIR`: prune into OUT first, convert that.
    Returns (model path, labels); no MODEL means the bundled example and its labels."""
    if model is None:
        from edgekit.example import LABELS, MODEL

        model, labels = MODEL, labels or LABELS
    if not prune_spec:
        return model, labels
    from edgekit.optimize.pipeline import apply_prune

    say = console(stderr=True).print
    path, summary = apply_prune(
        model, prune_spec, data=train_data, labels=labels, folder=out, progress=say
    )
    before, after = summary.get("accuracy_before"), summary.get("accuracy_after")
    acc = f"; accuracy {100 * before:.2f}% -> {100 * after:.2f}%" if before is not None else ""
    say(f"pruned ({prune_spec}) into {path}{acc}")
    return path, labels


def budget_convert(model, to, calib, calib_samples, val, labels, out, max_drop, max_float,
                   as_json):  # fmt: skip
    """`edgekit convert --precision int8 --max-drop D --val DIR`: one budgeted int8 artifact
    per format (tflite, openvino); exit 1 with the best artifacts kept if any misses."""
    from edgekit.errors import BudgetNotMetError
    from edgekit.optimize.pipeline import convert_to_budget

    formats = [t.split(":")[0].strip() for t in (to or "tflite,openvino").split(",") if t.strip()]
    say = console(stderr=True).print
    try:
        results = convert_to_budget(
            model, formats=formats, calib=calib or val, val=val, labels=labels, out=out,
            max_drop=max_drop, max_float=max_float, calib_samples=calib_samples or 100,
            progress=lambda m: say(f"[dim]{m}[/]"),
        )  # fmt: skip
    except BudgetNotMetError:
        _budget_table(json.loads((out / "budget.json").read_text()), as_json)
        raise
    _budget_table([r.to_dict() for r in results], as_json)


def _budget_table(rows: list[dict], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    from rich.table import Table

    t = Table("format", "float", "plain int8", "budgeted", "drop", "met", "layers kept in float")
    for r in rows:
        t.add_row(
            r["format"], f"{100 * r['reference_accuracy']:.2f}%",
            f"{100 * r['plain_accuracy']:.2f}%", f"{100 * r['accuracy']:.2f}%",
            f"{r['drop']:.2f} (max {r['max_drop']})", "yes" if r["met"] else "[red]no[/]",
            "\n".join(r["float_layers"]) or "none",
        )  # fmt: skip
    console().print(t)
    for r in rows:
        console().print(f"wrote {r['path']}")
