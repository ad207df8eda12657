"""`edgekit devices`: the hardware-target profiles."""

from __future__ import annotations

import click

from edgekit.cli._common import guarded


@click.command("devices")
@guarded
def command():
    """List the hardware-target profiles."""
    from edgekit import devices as dev

    for name in dev.names():
        d = dev.get(name)
        click.echo(f"{name:18} {d.name}: {d.cpu}; recipe {d.recipe}; reached by {d.reach}")
