"""`edgekit convert`: a Keras model to edge formats, each artifact checked against it."""

from __future__ import annotations

import json
from pathlib import Path

import click

from edgekit.cli._common import console, guarded


def _shape(ctx, param, value):
    if not value:
        return None
    try:
        return [int(v) for v in value.replace("x", ",").split(",") if v.strip()]
    except ValueError:
        raise click.BadParameter(f"expected integers like 1,224,224,3; got: {value}") from None


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
@click.option("--json", "as_json", is_flag=True, help="Print the manifest as JSON.")
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
    as_json,
):
    """Convert MODEL (.keras, .h5 or SavedModel; default: the bundled example) and check
    every artifact against it."""
    from edgekit.conversion import convert as do_convert

    if device and not recipe:
        from edgekit.devices import get

        recipe = get(device).recipe
    out_console = console(stderr=as_json)
    with out_console.status("starting") as status:
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
            progress=lambda msg: (status.update(msg), out_console.print(f"[dim]{msg}[/]")),
        )
    if as_json:
        click.echo(json.dumps(report.manifest.to_dict(), indent=2))
        return
    out_console.print(convert_table(report))
    out_console.print(
        f"wrote {len(report.artifacts)} artifacts and edgekit.json to {report.out} "
        f"in {report.seconds:.1f} s"
    )
    if report.failed:
        out_console.print(f"[yellow]{len(report.failed)} artifact(s) missed parity (see table)[/]")


def convert_table(report):
    from rich.table import Table

    from edgekit.report import _kb

    t = Table(title=f"edgekit convert: {report.manifest.source['path']}")
    cols = ("format", "precision", "executed", "size", "parity", "max abs", "top-1", "accuracy")
    for col in (*cols, "time"):
        t.add_column(
            col, justify="right" if col not in ("format", "precision") else "left", no_wrap=True
        )
    notes, ref = set(), None
    for a in report.artifacts:
        p = a.parity or {}
        verdict = "-" if not p else ("[green]pass[/]" if p["passed"] else "[red]FAIL[/]")
        if p.get("checked") == "structural":
            verdict += "*"
            notes.add("* Core ML: structure checked; the numeric check needs macOS")
        ref = p.get("reference_accuracy", ref)
        notes.update(f"{a.format} {a.precision}: {n}" for n in a.notes)
        acc = p.get("accuracy")
        t.add_row(
            a.format,
            a.precision,
            p.get("executed_precision") or "-",
            _kb(a.size_bytes),
            verdict,
            _num(p.get("max_abs"), ".1e"),
            _num(p.get("top1_agreement"), ".1%"),
            _num(acc, ".1%"),
            f"{a.convert_seconds:.1f} s",
        )
    if ref is not None:
        notes.add(f"Keras model accuracy on the validation set: {ref:.1%}")
    t.caption = "\n".join(sorted(notes))
    return t


def _num(v, fmt: str) -> str:
    return "-" if v is None or v != v else format(v, fmt)
