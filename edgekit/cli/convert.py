"""`edgekit convert`: a Keras model to edge formats, each artifact checked against it."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from edgekit._quiet import Capture
from edgekit.cli._common import console, guarded, import_option, load_imports, warnings_to


def _shape(ctx, param, value):
    if not value:
        return None
    try:
        return [int(v) for v in value.replace("x", ",").split(",") if v.strip()]
    except ValueError:
        raise click.BadParameter(f"expected integers like 1,224,224,3; got: {value}") from None


def _detection(anchors: str | None) -> dict | None:
    """--anchors read and checked (before the model loads), as the contract records it."""
    if not anchors:
        return None
    from edgekit.demo.tasks.anchors import read_spec

    return read_spec(anchors).to_dict()


@click.command("convert")
@click.argument("model", required=False, type=click.Path(path_type=Path))
@click.option("--to", "to", help="Formats: tflite,openvino,coreml,onnx (or fmt:precision).")
@click.option("--precision", "precisions", help="e.g. fp32,fp16,int8 for formats given bare.")
@click.option("--recipe", help="A named recipe from converters/ (see `edgekit recipes`).")
@click.option("--device", "device", help="A target from devices/ (e.g. rpi5): use its recipe.")
@click.option("--calib", type=click.Path(path_type=Path), help="Image folder or .npy/.npz.")
@click.option("--calib-samples", type=click.IntRange(min=1), help="Calibration samples [100].")
@click.option("--random-calib", is_flag=True, help="Calibrate on random data (poor accuracy).")
@click.option("--val", type=click.Path(path_type=Path), help="Labelled folder DIR/<class>/*.")
@click.option("--labels", type=click.Path(path_type=Path), help="Text file, one label a line.")
@click.option("--input-shape", callback=_shape, help="e.g. 1,224,224,3 for dynamic models.")
@click.option(
    "--preprocess",
    type=click.Choice(["raw", "unit", "tf", "torch"]),
    help="Pixel scaling [auto: raw if the model rescales itself, else unit].",
)
@click.option(
    "-o", "--out", type=click.Path(path_type=Path), default=Path("edgekit-out"), show_default=True
)
@click.option("--no-safe-mode", is_flag=True, help="Allow Lambda layers (runs code from the file).")
@click.option("--strict", is_flag=True, help="Exit 1 if any artifact misses its tolerance.")
@click.option(
    "--fail-fast", is_flag=True, help="All or nothing: stop at the first format that fails."
)
@click.option("-v", "--verbose", is_flag=True, help="Show other libraries' output and routes.")
@click.option("--json", "as_json", is_flag=True, help="Print the manifest as JSON.")
@click.option("--prune", "prune_spec", help="Prune first: sparsity=0.5, structured=0.3, m-n=2:4.")
@click.option("--data", "train_data", type=click.Path(path_type=Path), help="--prune data.")
@click.option("--max-drop", type=float, help="int8 within this many accuracy points on --val.")
@click.option("--max-float", type=click.IntRange(min=0), help="--max-drop: most float layers.")
@click.option(
    "--anchors",
    metavar="FILE.toml|NAME",
    help="Record an SSD's anchor and decode options in the contract (see edgekit demo).",
)
@import_option
@guarded
def command(
    model,
    to,
    precisions,
    recipe,
    device,
    calib,
    calib_samples,
    random_calib,
    val,
    labels,
    input_shape,
    preprocess,
    out,
    no_safe_mode,
    strict,
    fail_fast,
    verbose,
    as_json,
    prune_spec,
    train_data,
    max_drop,
    max_float,
    anchors,
    imports,
):
    """Convert MODEL (.keras, .h5 or SavedModel; default: the bundled example) and check
    every artifact against it."""
    from edgekit.conversion import convert as do_convert

    if prune_spec or max_drop is not None:  # optimization steps (edgekit.cli.prune)
        from edgekit.cli.prune import before_convert

        load_imports(imports)  # these steps load the model in this process
        model, labels = before_convert(model, prune_spec, train_data, labels, out)
        if max_drop is not None:
            from edgekit.cli.prune import budget_convert

            return budget_convert(model, to, calib, calib_samples, val, labels, out,
                                  max_drop, max_float, as_json, preprocess)  # fmt: skip
    with Capture(enabled=not verbose) as cap, Steps(cap.terminal) as steps, steps.own_logs():
        report = do_convert(
            model,
            to=to,
            precisions=precisions,
            recipe=recipe,
            calib=calib,
            calib_samples=calib_samples,
            random_calib=random_calib,
            val=val,
            labels=labels,
            input_shape=input_shape,
            preprocess=preprocess,
            out=out,
            safe_mode=not no_safe_mode,
            strict=strict,
            fail_fast=fail_fast,
            detection=_detection(anchors),
            device=device,
            imports=imports,
            progress=steps.start,
            done=steps.finish,
            capture=cap if cap.enabled else None,
            isolate=True,  # a native crash in TensorFlow or a converter is retried, not fatal
        )
    if as_json:
        click.echo(json.dumps(report.manifest.to_dict(), indent=2))
    else:
        out_console = console()
        out_console.print(convert_table(report, verbose=verbose))
        n = len(report.artifacts)
        out_console.print(
            f"wrote {n} artifact{'' if n == 1 else 's'} and edgekit.json to {report.out} "
            f"in {report.seconds:.1f} s"
        )
        if report.failed:
            out_console.print(
                f"[yellow]{len(report.failed)} artifact(s) missed parity (see table)[/]"
            )
    if report.manifest.failures:
        names = ", ".join(f"{f['format']} {f['precision']}" for f in report.manifest.failures)
        console(True).print(
            f"[red]error:[/] {names} failed (causes under the table, --verbose for each "
            f"route); the other {len(report.artifacts)} artifacts were written",
            soft_wrap=True,
        )
        sys.exit(1)


class Steps:
    """One line per artifact with its elapsed time, on the real terminal (other libraries'
    output is captured meanwhile)."""

    def __init__(self, stream) -> None:
        from rich.console import Console
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        self._progress = Progress(
            SpinnerColumn(finished_text=" "),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            console=Console(file=stream, highlight=False),
            transient=False,
        )
        self._task = None

    def __enter__(self) -> Steps:
        self._progress.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop()
        self._progress.stop()

    def own_logs(self):
        """edgekit's own warnings go to the terminal, not into the captured output."""
        return warnings_to(self._progress.console.print)

    def start(self, message: str) -> None:
        if message.startswith(("converting", "loading")):
            self._stop()
            self._task = self._progress.add_task(message, total=1)
        else:
            self._progress.console.print(f"[dim]{message}[/]")

    def finish(self, item) -> None:
        if isinstance(item, dict):  # a failed format
            text = f"[red]x[/] {item['format']} {item['precision']}: failed"
        else:
            verdict = "pass" if (item.parity or {}).get("passed") else "[red]FAIL[/]"
            text = f"[green]✓[/] {item.format} {item.precision} ({item.route}): {verdict}"
        if self._task is not None:
            self._progress.update(self._task, description=text, completed=1)
            self._task = None

    def _stop(self) -> None:
        if self._task is not None:
            self._progress.update(self._task, completed=1)
            self._task = None


def convert_table(report, *, verbose: bool = False):
    """One row per artifact and per failed format; routes and their errors with verbose."""
    from rich.table import Table

    from edgekit.report import kb

    t = Table(title=f"edgekit convert: {report.manifest.source['path']}")
    cols = ["format", "precision", "executed", "size", "parity", "max abs", "top-1", "accuracy"]
    for col in [*cols, "time", *(["route"] if verbose else [])]:
        t.add_column(
            col, justify="right" if col not in ("format", "precision") else "left", no_wrap=True
        )
    notes, ref = [], None
    for a in report.artifacts:
        p = a.parity or {}
        verdict = "-" if not p else ("[green]pass[/]" if p["passed"] else "[red]FAIL[/]")
        if p.get("checked") == "structural":
            verdict += "*"
            notes.append("* Core ML: structure checked; the numeric check needs macOS")
        ref = p.get("reference_accuracy", ref)
        notes += [f"{a.format} {a.precision}: {n}" for n in a.notes]
        if a.log:
            notes.append(f"{a.format} {a.precision} converter said: {a.log}")
        if verbose:
            notes += [
                f"{a.format} {a.precision} route {r} failed: {e}" for r, e in a.route_errors.items()
            ]
        elif a.route_errors:
            notes.append(f"{a.format} {a.precision}: made by fallback route {a.route} (--verbose)")
        row = [
            a.format,
            a.precision,
            p.get("executed_precision") or "-",
            kb(a.size_bytes),
            verdict,
            _num(p.get("max_abs"), ".1e"),
            _num(p.get("top1_agreement"), ".1%"),
            _num(p.get("accuracy"), ".1%"),
            f"{a.convert_seconds:.1f} s",
        ]
        t.add_row(*row, *([a.route] if verbose else []))
    for f in report.manifest.failures:
        t.add_row(
            f["format"],
            f["precision"],
            "-",
            "-",
            "[red]failed[/]",
            *["-"] * (len(cols) - 4),
            "-",
            *(["-"] if verbose else []),
        )
        notes.append(f"[red]{f['format']} {f['precision']} failed:[/] {f['error']} ({f['hint']})")
    if ref is not None:
        notes.append(f"Keras model accuracy on the validation set: {ref:.1%}")
    t.caption = "\n".join(dict.fromkeys(notes))
    t.caption_justify = "left"
    return t


def _num(v, fmt: str) -> str:
    return "-" if v is None or v != v else format(v, fmt)
