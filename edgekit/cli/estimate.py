"""`edgekit estimate ARTIFACT|MODEL.keras --target ID[,ID...]`: latency per hardware target
without the device, from the model's op costs and a fit on published measurements.
`--calibrate results.json --target ID` adds your own bench results for that target."""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.console import Console

from edgekit._quiet import Capture
from edgekit.cli._common import console, guarded, import_option, load_imports


def _targets(value: str | None) -> list[str]:
    from edgekit.device.profiles import names

    if not value:
        return []
    ids = [t.strip() for t in value.split(",") if t.strip()]
    return names() if ids == ["all"] else ids


@click.command("estimate")
@click.argument("model", required=False, type=click.Path(path_type=Path))
@click.option("--target", "-t", help="Device ids, comma-separated, or `all` (edgekit devices).")
@click.option("--runtime", "-r", help="Runtime id (default: what the format and target imply).")
@click.option("--precision", "-p", type=click.Choice(["fp32", "fp16", "int8"]),
              help="Precision of a Keras model (default: the target's recipe).")  # fmt: skip
@click.option("--threads", type=click.IntRange(1, 256), help="CPU threads.")
@click.option("--calibrate", type=click.Path(path_type=Path, exists=True, dir_okay=False),
              help="Add an `edgekit bench --json` file as measurements of --target.")  # fmt: skip
@click.option("--clear-calibration", is_flag=True, help="Forget your calibration rows.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@import_option
@guarded
def command(model, target, runtime, precision, threads, calibrate, clear_calibration, as_json,
            imports):  # fmt: skip
    """Estimate latency per hardware target (labelled estimates with an ~80% interval)."""
    from edgekit.costmodel import calibrate as cal
    from edgekit.errors import ConfigError

    targets = _targets(target)
    if clear_calibration:
        cal.clear()
        console(True).print("calibration rows cleared")
        if model is None and calibrate is None:
            return
    if calibrate is not None:
        if len(targets) != 1:
            raise ConfigError(
                f"--calibrate needs exactly one --target (where the results were measured); "
                f"got: {target or 'none'}"
            )
        added = cal.add(calibrate, targets[0], runtime=runtime)
        console(True).print(f"added {len(added)} measurements of {targets[0]} to {cal.cache_dir()}")
        if model is None:
            return
    if model is None or not targets:
        raise ConfigError(
            "estimate needs a model and --target; got: "
            f"{model or 'no model'}, {target or 'no --target'}; e.g. "
            "edgekit estimate out/model_int8.tflite --target rpi5,pixel4"
        )
    from edgekit.costmodel.estimator import estimate

    load_imports(imports)  # a Keras model's costs are read from the model, in this process
    # TensorFlow's C++ logs (reading a Keras model or a SavedModel) stay off the terminal
    debug = click.get_current_context().find_root().params.get("debug")
    with Capture(enabled=not debug) as cap:
        with Console(file=cap.terminal, highlight=False).status("estimating"):
            found = estimate(model, targets, runtime=runtime, precision=precision,
                             threads=threads)  # fmt: skip
    if as_json:
        click.echo(json.dumps([e.to_dict() for e in found], indent=2))
    else:
        show(found, model)
    if all(e.error for e in found):
        raise ConfigError(f"no target could be estimated; got: {found[0].error}")


def show(found, model) -> None:
    from rich.table import Table

    t = Table(title=f"estimated latency: {Path(model).name}", caption="estimates, not measurements")
    for h in ("target", "runtime", "precision", "threads", "estimate ms", "~80% interval", "basis"):
        t.add_column(h, justify="right" if "ms" in h or "interval" in h else "left")
    for e in found:
        if e.error:
            t.add_row(e.target, e.runtime or "-", e.precision or "-", "-", "-", "-",
                      f"[yellow]{e.error}[/]")  # fmt: skip
            continue
        basis = e.basis
        if e.cpu_ops:  # what the accelerator path leaves to the CPU
            basis += f"; on the CPU: {', '.join(e.cpu_ops[:6])}"
        if e.warning:
            basis += f"; [yellow]{e.warning}[/]"
        t.add_row(
            e.target, e.runtime, e.precision, str(e.threads or "-"), f"{e.latency_ms:.3g}",
            f"{e.low_ms:.3g}-{e.high_ms:.3g}", basis,
        )  # fmt: skip
    console().print(t)
