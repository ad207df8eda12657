"""`edgekit doctor [--target ID] [ARTIFACT] [--json]`: is this machine or a target ready?"""

from __future__ import annotations

import json
import sys

import click

from edgekit.cli._common import console, guarded
from edgekit.cli._on import reach_options

STYLE = {"ok": "green", "info": "dim", "warn": "yellow", "block": "bold red"}


@click.command("doctor")
@click.argument("artifact", required=False, type=click.Path())
@click.option("--target", "-t", help="A device id from `edgekit devices` (default: this machine).")
@click.option("--python", "pythons", multiple=True, help="Python version(s) to ask about (3.11).")
@click.option(
    "--refresh", is_flag=True, help="Ask the package index again (answers are cached a day)."
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--on", metavar="ssh://user@host[:port]", help="Ask the device itself (edgekit "
              "on it: edgekit provision); with --target, beside that profile.")  # fmt: skip
@reach_options
@guarded
def command(artifact, target, pythons, refresh, as_json, on=None, **reach):
    """Check this machine or a target: runtimes, wheels, and whether ARTIFACT can run there.

    Exits 1 when something blocks (no wheel for the recommended runtime, an op the runtime
    cannot take, a float model for the Edge TPU, not enough memory).
    """
    from edgekit.device.doctor import diagnose

    if on:  # the remote part: edgekit/cli/_on.py, edgekit/device/remote_doctor.py
        from edgekit.cli._on import doctor_on

        return doctor_on(on, artifact, target, as_json, reach, show)
    report = diagnose(artifact, target=target, pythons=list(pythons) or None, refresh=refresh)
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
    else:
        show(report)
    if report.blocked:
        sys.exit(1)


def show(report) -> None:
    from rich.table import Table

    title = f"edgekit doctor: {report.target or 'this machine'}"
    table = Table("area", "item", "status", "detail", title=title)
    for c in report.checks:
        style = STYLE.get(c.status, "")
        table.add_row(c.area, c.item, f"[{style}]{c.status}[/]", c.detail)
    out = console()
    out.print(table)
    if report.blocked:
        out.print("[bold red]blocked:[/] fix the 'block' rows above")
