"""`edgekit doctor [--target ID] [ARTIFACT] [--json]`: is this machine or a target ready?"""

from __future__ import annotations

import json
import sys

import click

from edgekit.cli._common import console, guarded

STYLE = {"ok": "green", "info": "dim", "warn": "yellow", "block": "bold red"}


@click.command("doctor")
@click.argument("artifact", required=False, type=click.Path())
@click.option("--target", "-t", help="A device id from `edgekit devices` (default: this machine).")
@click.option("--python", "pythons", multiple=True, help="Python version(s) to ask about (3.11).")
@click.option(
    "--refresh", is_flag=True, help="Ask the package index again (answers are cached a day)."
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@guarded
def command(artifact, target, pythons, refresh, as_json):
    """Check this machine or a target: runtimes, wheels, and whether ARTIFACT can run there.

    Exits 1 when something blocks (no wheel for the recommended runtime, an op the runtime
    cannot take, a float model for the Edge TPU, not enough memory).
    """
    from edgekit.device.doctor import diagnose

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
