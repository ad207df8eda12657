"""`edgekit bench`: latency, throughput and memory per artifact, or for a convert folder."""

from __future__ import annotations

import json
import re
from pathlib import Path

import click

from edgekit import formats
from edgekit.cli._common import console, guarded
from edgekit.cli._on import on_options
from edgekit.errors import ConfigError, MissingDependencyError


@click.command("bench")
@click.argument("artifacts", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--threads", type=click.IntRange(min=1), help="Runtime threads.")
@click.option("--runs", type=click.IntRange(min=1), help="Timed runs [100].")
@click.option(
    "--duration", type=click.FloatRange(min=0, min_open=True), help="Seconds instead of runs."
)
@click.option("--warmup", type=click.IntRange(min=0), default=10, show_default=True)
@click.option("--device", help="OpenVINO device, ONNX provider or Core ML compute unit.")
@click.option("--option", "runtime_options", multiple=True, metavar="KEY=VALUE",
              help="A runtime option of edgekit.load (repeatable): api=compiled, "
              "accelerator=cpu|gpu|npu (TFLite), xnnpack=false, hint=throughput...")  # fmt: skip
@click.option("--inputs", type=click.Path(path_type=Path),
              help="An .npz of the model's inputs by name (or arr_0, arr_1 in order) for models "
              "that random values break (a sample rate, token ids, a state) [random].")  # fmt: skip
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
@click.option("--target", "targets", help="Device ids (comma-separated): estimated rows beside "
              "the measured ones (edgekit devices).")  # fmt: skip
@click.option("--budget-ms", type=click.FloatRange(min=0, min_open=True),
              help="Frame budget drawn on the charts, in ms.")  # fmt: skip
@on_options
@guarded
def command(
    artifacts,
    threads,
    runs,
    duration,
    warmup,
    device,
    runtime_options,
    inputs,
    sustained,
    json_path,
    csv_path,
    report_dir,
    targets=None,
    budget_ms=None,
    **reach,
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
        inputs=inputs,
        **parse_options(runtime_options),
    )
    if reach.get("on"):  # on devices: edgekit/cli/_on.py
        from edgekit.cli._on import run_on

        return run_on(artifacts, opts, json_path, csv_path, reach)
    if reach.get("delegate"):
        opts["delegate"] = reach["delegate"]
    out_console = console()
    results, skipped = [], []
    with out_console.status("benchmarking"):
        for a in artifacts:
            if a.is_dir() and not formats.is_artifact(a):
                got, skip = rep.bench_folder(a, **opts)
                results += got
                skipped += skip
                report_dir = report_dir or a
            else:
                results.append(benchmark(a, **opts))
    env = fingerprint()
    out_console.print(bench_table(results))
    for s in skipped:
        out_console.print(f"[yellow]skipped[/] {s}")
    out_console.print(f"[dim]{env['cpu']}, {env['cores']} cores, {env['os']}[/]")
    cross = None
    if targets:  # estimated rows per target beside the measured ones
        cross = cross_report(artifacts, targets, results, report_dir, budget_ms)
        out_console.print(cross_table(cross.rows, budget_ms))
    if json_path:
        json_path.write_text(json.dumps(json_document(env, results, cross), indent=2))
    if csv_path:
        write_csv(csv_path, results, env)
    if report_dir and (results or cross):
        Path(report_dir).mkdir(parents=True, exist_ok=True)
        chart = None
        try:
            chart = rep.chart_png(results, Path(report_dir) / "chart.png") if results else None
        except MissingDependencyError as e:  # the light install: the page without charts
            out_console.print(f"[yellow]no charts:[/] {e}")
        page = rep.html_report(
            results, skipped, env, chart, Path(report_dir) / "report.html",
            cross=cross.rows if cross else None, charts=cross.charts if cross else None,
            budget_ms=budget_ms,
        )  # fmt: skip
        out_console.print(f"chart: {chart}  report: {page}")


def json_document(env: dict, results, cross) -> dict:
    """What the tables show: measured results (`"basis": "measured"`) and, with --target,
    the estimated rows (`"basis": "estimated"`, the estimate's own basis in `estimate_basis`)."""
    doc = {"machine": env, "results": [{**r.to_dict(), "basis": "measured"} for r in results]}
    if cross is not None:
        doc["estimates"] = [
            {**e, "basis": "estimated", "estimate_basis": e.get("basis")} for e in cross.estimates
        ]
    return doc


def parse_options(items) -> dict:
    """`--option KEY=VALUE` pairs as keyword arguments: true/false and numbers as such."""
    out = {}
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key.isidentifier():
            raise ConfigError(
                f"--option takes KEY=VALUE; got: {item!r}; e.g. --option api=compiled"
            )
        low = raw.strip().lower()
        value = {"true": True, "false": False, "none": None}.get(low, raw.strip())
        if isinstance(value, str) and re.fullmatch(r"-?\d+", value):
            value = int(value)
        out[key] = value
    return out


def cross_report(artifacts, targets: str, results, report_dir, budget_ms):
    """Estimates for each target of every artifact folder given (or the artifacts' folder)."""
    from edgekit.report.cross import CrossReport, cross_target

    ids = [t.strip() for t in targets.split(",") if t.strip()]
    folders = [a for a in artifacts if a.is_dir() and not formats.is_artifact(a)]
    merged = CrossReport([], [])
    for folder in folders or sorted({Path(a).parent for a in artifacts}):
        got = cross_target(folder, ids, results, out=report_dir or folder, budget_ms=budget_ms)
        merged.rows += got.rows
        merged.estimates += got.estimates
        merged.charts.update(got.charts)
    return merged


def cross_table(rows, budget_ms):
    from rich.table import Table

    from edgekit.report import CROSS_HEAD

    title = "measured and estimated per target"
    title += f" (budget {budget_ms:g} ms)" if budget_ms else ""
    t = Table(title=title, caption="estimate: not measured; op costs + fit on published rows")
    for h in CROSS_HEAD:
        t.add_column(h, justify="right" if "ms" in h or "interval" in h else "left")
    for r in rows:
        style = "italic" if r[2] == "estimate" else None
        t.add_row(*[str(c) for c in r], style=style)
    return t


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
