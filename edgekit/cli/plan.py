"""`edgekit plan`: the fastest artifact that meets a latency and an accuracy budget per target."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from edgekit.cli._common import console, escape, guarded


def _numbers(kind):
    def parse(ctx, param, value):
        if not value:
            return None
        try:
            return [kind(v) for v in value.split(",") if v.strip()]
        except ValueError:
            raise click.BadParameter(f"expected numbers like 0,0.25; got: {value}") from None

    return parse


@click.command("plan")
@click.argument("model", required=False, type=click.Path(path_type=Path))
@click.option(
    "--target",
    "targets",
    required=True,
    help="Ids: local (this machine, measured), or devices/ ids (estimated).",
)
@click.option("--budget-ms", type=float, required=True, help="Latency budget per inference.")
@click.option("--max-drop", type=float, help="Accuracy points the pick may lose on --val.")
@click.option("--val", type=click.Path(path_type=Path), help="Labelled folder DIR/<class>/*.")
@click.option("--labels", type=click.Path(path_type=Path), help="Text file, one label a line.")
@click.option(
    "--calib",
    type=click.Path(path_type=Path),
    help="Calibration images (and the fine-tuning data of pruned candidates).",
)
@click.option(
    "--on",
    "on",
    multiple=True,
    metavar="[ID=]URL",
    help="Measure a target on the device: ssh://user@host[:port], adb[:SERIAL].",
)
@click.option(
    "-o", "--out", type=click.Path(path_type=Path), default=Path("edgekit-out"), show_default=True
)
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
@click.option("--trials", type=click.IntRange(min=1), help="Most artifacts converted per target.")
@click.option("--workers", type=click.IntRange(min=1), help="Conversion processes [2 or cores].")
@click.option("--ray", "ray", metavar="ADDRESS", help="Convert on a Ray cluster (host:port|auto).")
@click.option("--only", help="Keep these formats or fmt:precision entries, e.g. tflite,onnx.")
@click.option("--prune", "prunes", callback=_numbers(float), help="Pruning levels [0,0.25,0.5].")
@click.option("--sizes", callback=_numbers(int), help="Input sizes in px [own, 0.75x, 0.5x].")
@click.option("--threads", callback=_numbers(int), help="Thread counts [1, 2, 4 .. cores].")
@click.option("--seed", type=int, default=0, show_default=True)
@guarded
def command(model, targets, budget_ms, max_drop, val, labels, calib, on, out, as_json, trials,
            workers, ray, only, prunes, sizes, threads, seed):  # fmt: skip
    """Search formats, precisions, pruning, input sizes and threads for the fastest artifact
    of MODEL (default: the bundled example) within --budget-ms (and --max-drop) per target.
    Exits 1 when a target has no candidate within the budgets (the closest is named)."""
    from edgekit.planner import plan

    debug = click.get_current_context().find_root().params.get("debug")
    err = console(True)
    with err.status("planning") as status:
        result = plan(
            model, targets=targets, budget_ms=budget_ms, max_drop=max_drop, val=val,
            labels=labels, calib=calib, on=list(on), out=out, workers=workers, ray=ray,
            trials=trials, only=only, prunes=prunes, sizes=sizes, threads=threads, seed=seed,
            quiet=not debug, progress=lambda m: status.update(escape(m)),
        )  # fmt: skip
    if as_json:
        click.echo(json.dumps({"targets": [t.to_dict() for t in result.targets]}, indent=2))
    else:
        _print(result)
    missed = [t for t in result.targets if t.pick is None]
    for t in missed:
        err.print(f"[red]error:[/] {escape(t.reason)}", soft_wrap=True)
    if missed:
        sys.exit(1)


def _print(result) -> None:
    out = console()
    for tp in result.targets:
        out.print(front_table(tp))
        if tp.pick is not None:
            out.print(f"[green]pick for {tp.target}:[/] {escape(tp.pick.candidate.label())} "
                      f"-> {tp.files.get('artifact')}", soft_wrap=True)  # fmt: skip
            out.print(f"  reproduce: edgekit convert {tp.files.get('model')} --recipe "
                      f"{tp.files.get('recipe')}", soft_wrap=True)  # fmt: skip
    if result.out is not None:
        out.print(f"wrote {result.out / 'plan.json'} in {result.seconds:.0f} s")


def front_table(tp):
    """The Pareto front of one target, the pick marked."""
    from rich.table import Table

    drop = f", max drop {tp.max_drop:g}" if tp.max_drop is not None else ""
    t = Table(title=f"edgekit plan: {tp.target} (budget {tp.budget_ms:g} ms{drop})")
    for col in ("", "format", "precision", "prune", "size", "threads", "latency ms", "interval",
                "basis", "accuracy", "drop"):  # fmt: skip
        t.add_column(col, justify="left" if col in ("format", "precision", "basis") else "right")
    for p in tp.front:
        d = p.to_dict()
        mark = "[green]pick[/]" if p is tp.pick else ("ok" if p.meets(tp.budget_ms, tp.max_drop)
                                                      else "")  # fmt: skip
        acc = "-" if d["accuracy"] is None else f"{100 * d['accuracy']:.2f}%"
        if d["accuracy_basis"] == "keras-proxy":
            acc += "*"
        t.add_row(mark, d["format"], d["precision"], f"{d['prune']:.0%}",
                  str(d["input_size"] or "own"), str(d["threads"] or "default"),
                  f"{d['latency_ms']:.3g}", f"{d['latency_low_ms']:.3g}-{d['latency_high_ms']:.3g}",
                  d["basis"], acc, "-" if d["accuracy_drop"] is None
                  else f"{d['accuracy_drop']:.2f}")  # fmt: skip
    t.caption = (f"{tp.space} candidates, {tp.screened} ruled out by estimate, "
                 f"{len(tp.evaluated)} converted and timed"
                 + ("; * Core ML accuracy through the Keras proxy" if any(
                     p.accuracy_basis == "keras-proxy" for p in tp.front) else ""))  # fmt: skip
    return t
