"""`edgekit recipes`: the named conversion recipes."""

from __future__ import annotations

import click

from edgekit.cli._common import guarded


@click.command("recipes")
@guarded
def command():
    """List the conversion recipes."""
    from edgekit import recipes as rec

    for name in rec.names():
        r = rec.get(name)
        targets = ", ".join(f"{f}:{p}" for f, p in r.targets)
        click.echo(f"{name:16} {targets}\n{'':16} {r.description}")
