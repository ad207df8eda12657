"""`edgekit provision ssh://user@host[:port]`: the light runtime in a venv on the device."""

from __future__ import annotations

import json
from pathlib import Path

import click

from edgekit.cli._common import console, guarded


@click.command("provision")
@click.argument("target")
@click.option("--target", "profile", metavar="ID", help="Device profile whose install line to use.")
@click.option("--install", help='Install line instead, e.g. "pip install numpy ai-edge-litert".')
@click.option(
    "--venv", default="$HOME/.edgekit/venv", show_default=True, help="Venv on the device."
)
@click.option("--remote-python", help="The device's Python that creates the venv [python3].")
@click.option("--accept-host-key", is_flag=True, help="Record an unknown SSH host key.")
@click.option("--identity", type=click.Path(path_type=Path), help="SSH private key.")
@click.option("--ssh-option", multiple=True, metavar="KEY=VALUE", help="More ssh -o.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@guarded
def command(
    target, profile, install, venv, remote_python, accept_host_key, identity, ssh_option, as_json
):
    """Install the light runtime on a device in a venv that `bench --on` then uses."""
    from edgekit.device.provision import provision
    from edgekit.device.ssh import SSHOptions

    options = SSHOptions(
        accept_host_key=accept_host_key,
        identity=identity,
        extra=list(ssh_option),
        python=remote_python,
    )
    err = console(stderr=True)
    report = provision(
        target,
        options=options,
        profile=profile,
        install=install,
        venv=venv,
        on_line=lambda line: err.print(f"[dim]{line}[/]", soft_wrap=True),
    )
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
        return
    out = console()
    versions = ", ".join(f"{k} {v}" for k, v in report.versions.items())
    out.print(f"[green]ready[/] {report.target}: {report.python} ({versions})")
    if report.system_needs:
        out.print(
            f"[yellow]also needs[/] (run it yourself, with sudo): apt install "
            f"{' '.join(report.system_needs)}"
        )
