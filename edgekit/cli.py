"""The `edgekit` command. Each command parses, makes one library call, prints.

Errors: an EdgeKitError is one red line and exit 2 (usage/config) or 1 (runtime); anything
else is one line too, with `--debug` for the traceback.
"""

from __future__ import annotations

import functools
import json
import logging
import sys
from pathlib import Path

import click

from edgekit.errors import EdgeKitError


def _console(stderr: bool = False):
    from rich.console import Console

    console = Console(stderr=stderr, highlight=False)
    if not console.is_terminal:  # piped or logged: wide enough for the tables
        console.width = max(console.width, 160)
    return console


def guarded(fn):
    """Turn every failure into one line and an exit code; never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        debug = click.get_current_context().find_root().params.get("debug")
        try:
            return fn(*args, **kwargs)
        except EdgeKitError as e:
            if debug:
                raise
            _console(True).print(f"[red]error:[/] {_one_line(e)}", soft_wrap=True)
            sys.exit(e.exit_code)
        except BrokenPipeError:  # `edgekit recipes | head`
            sys.stderr.close()
            sys.exit(0)
        except KeyboardInterrupt:
            _console(True).print("[red]interrupted[/]")
            sys.exit(130)
        except Exception as e:  # a bug or an unwrapped third-party failure
            if debug:
                raise
            _console(True).print(
                f"[red]error:[/] {type(e).__name__}: {_one_line(e)} "
                "(run with --debug for the traceback)",
                soft_wrap=True,
            )
            sys.exit(1)

    return wrapper


def _one_line(e: Exception) -> str:
    return " ".join(str(e).split())[:500]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show tracebacks and debug logs.")
@click.version_option(package_name="edgekit")
def main(debug: bool) -> None:
    """Take a trained Keras model to edge devices and prove it works there."""
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )


def _shape(ctx, param, value):
    if not value:
        return None
    try:
        return [int(v) for v in value.replace("x", ",").split(",") if v.strip()]
    except ValueError:
        raise click.BadParameter(f"expected integers like 1,224,224,3; got: {value}") from None


@main.command()
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
def convert(
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
    console = _console(stderr=as_json)
    with console.status("starting") as status:
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
            progress=lambda msg: (status.update(msg), console.print(f"[dim]{msg}[/]")),
        )
    if as_json:
        click.echo(json.dumps(report.manifest.to_dict(), indent=2))
        return
    console.print(convert_table(report))
    console.print(
        f"wrote {len(report.artifacts)} artifacts and edgekit.json to {report.out} "
        f"in {report.seconds:.1f} s"
    )
    if report.failed:
        console.print(f"[yellow]{len(report.failed)} artifact(s) missed parity (see table)[/]")


def convert_table(report):
    from rich.table import Table

    from edgekit.report import _kb

    t = Table(title=f"edgekit convert: {report.manifest.source['path']}")
    for col in ("format", "precision", "size", "parity", "max abs", "top-1", "accuracy", "time"):
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


@main.command()
@click.argument("artifacts", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--threads", type=click.IntRange(min=1), help="Runtime threads.")
@click.option("--runs", type=click.IntRange(min=1), help="Timed runs [100].")
@click.option(
    "--duration", type=click.FloatRange(min=0, min_open=True), help="Seconds instead of runs."
)
@click.option("--warmup", type=click.IntRange(min=0), default=10, show_default=True)
@click.option("--device", help="OpenVINO device, ONNX provider or Core ML compute unit.")
@click.option(
    "--sustained",
    type=click.FloatRange(min=0, min_open=True),
    help="Also log latency/temperature/clock each second for S seconds.",
)
@click.option("--json", "json_path", type=click.Path(path_type=Path), help="Write results as JSON.")
@click.option("--csv", "csv_path", type=click.Path(path_type=Path), help="Write results as CSV.")
@click.option(
    "--report",
    "report_dir",
    type=click.Path(path_type=Path),
    help="Folder for chart.png and report.html [the output folder when given one].",
)
@guarded
def bench(
    artifacts, threads, runs, duration, warmup, device, sustained, json_path, csv_path, report_dir
):
    """Benchmark artifacts, or every artifact of a convert output folder."""
    from edgekit import report as rep
    from edgekit.bench import benchmark
    from edgekit.fingerprint import fingerprint

    opts = dict(
        threads=threads,
        runs=runs,
        duration=duration,
        warmup=warmup,
        device=device,
        sustained=sustained,
    )
    console = _console()
    results, skipped = [], []
    with console.status("benchmarking"):
        for a in artifacts:
            if a.is_dir() and a.suffix != ".mlpackage":
                got, skip = rep.bench_folder(a, **opts)
                results += got
                skipped += skip
                report_dir = report_dir or a
            else:
                results.append(benchmark(a, **opts))
    env = fingerprint()
    console.print(bench_table(results))
    for s in skipped:
        console.print(f"[yellow]skipped[/] {s}")
    console.print(f"[dim]{env['cpu']}, {env['cores']} cores, {env['os']}[/]")
    if json_path:
        json_path.write_text(
            json.dumps({"machine": env, "results": [r.to_dict() for r in results]}, indent=2)
        )
    if csv_path:
        write_csv(csv_path, results, env)
    if report_dir and results:
        Path(report_dir).mkdir(parents=True, exist_ok=True)
        chart = rep.chart_png(results, Path(report_dir) / "chart.png")
        page = rep.html_report(results, skipped, env, chart, Path(report_dir) / "report.html")
        console.print(f"chart: {chart}  report: {page}")


def bench_table(results):
    from rich.table import Table

    from edgekit.report import TABLE_HEAD, table_row

    t = Table(title="edgekit bench")
    for h in TABLE_HEAD:
        t.add_column(
            h, justify="left" if h in ("artifact", "format", "precision") else "right", no_wrap=True
        )
    for r in results:
        t.add_row(*[str(c) for c in table_row(r)])
    return t


def write_csv(path: Path, results, env: dict) -> None:
    import csv

    rows = [
        {k: v for k, v in r.to_dict().items() if k not in ("parity", "sustained")} for r in results
    ]
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=[*rows[0], "cpu", "os"])
        w.writeheader()
        for row in rows:
            w.writerow({**row, "cpu": env["cpu"], "os": env["os"]})


@main.command()
@click.argument("artifact", type=click.Path(path_type=Path))
@guarded
def info(artifact):
    """Show an artifact's inputs, outputs and contract."""
    from edgekit.runtimes import load

    with load(artifact) as s:
        click.echo(repr(s))
        for kind, specs in (("input", s.inputs), ("output", s.outputs)):
            for t in specs:
                q = f" scale={t.scale} zero_point={t.zero_point}" if t.quantized else ""
                click.echo(f"  {kind} {t.name} {t.shape} {t.dtype}{q}")
        if s.contract:
            click.echo(json.dumps(s.contract.to_dict(), indent=2))
        else:
            click.echo("  no edgekit contract (made outside edgekit)")


@main.command()
@guarded
def devices():
    """List the hardware-target profiles."""
    from edgekit import devices as dev

    for name in dev.names():
        d = dev.get(name)
        click.echo(f"{name:18} {d.name}: {d.cpu}; recipe {d.recipe}; reached by {d.reach}")


@main.command()
@guarded
def recipes():
    """List the conversion recipes."""
    from edgekit import recipes as rec

    for name in rec.names():
        r = rec.get(name)
        targets = ", ".join(f"{f}:{p}" for f, p in r.targets)
        click.echo(f"{name:16} {targets}\n{'':16} {r.description}")


if __name__ == "__main__":
    main()
