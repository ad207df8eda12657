"""`edgekit info`: an artifact's inputs, outputs and contract."""

from __future__ import annotations

import json
from pathlib import Path

import click

from edgekit.cli._common import guarded


@click.command("info")
@click.argument("artifact", type=click.Path(path_type=Path))
@guarded
def command(artifact):
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
