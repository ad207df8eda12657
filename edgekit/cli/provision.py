"""`edgekit provision ssh://user@host[:port]`: edgekit and its runtimes in a venv on the device."""

from __future__ import annotations

import json
from pathlib import Path

import click

from edgekit.cli._common import console, escape, guarded
from edgekit.cli._on import reach_options, ssh_options


@click.command("provision")
@click.argument("target")
@click.option("--target", "profile", metavar="ID", help="Device profile: its runtimes, camera "
              "and install line (edgekit devices).")  # fmt: skip
@click.option("--runtime", "runtimes", multiple=True, metavar="ID",
              help="A runtime to install (repeatable), e.g. ncnn, onnxruntime, openvino "
              "[the profile's; none: LiteRT only].")  # fmt: skip
@click.option("--install", help='More pip packages as an install line, e.g. "pip install tqdm".')
@click.option(
    "--venv", default="$HOME/.edgekit/venv", show_default=True, help="Venv on the device."
)
@click.option("--wheel", type=click.Path(path_type=Path, exists=True, dir_okay=False),
              help="edgekit's wheel to install [built from this checkout or install].")  # fmt: skip
@click.option("--runtime-only", is_flag=True, help="Only the install line's packages (enough "
              "for bench --on; for Pythons edgekit does not support), not edgekit.")  # fmt: skip
@reach_options
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@guarded
def command(target, profile, runtimes, install, venv, wheel, runtime_only, as_json, **reach):
    """Install edgekit's light package (no TensorFlow) and the runtimes on a device, in the venv
    that `demo --on`, `doctor --on` and `bench --on` then use. A second run with nothing new
    installs nothing and says so."""
    from edgekit.device import package
    from edgekit.device.provision import provision

    err = console(stderr=True)
    if not runtime_only and wheel is None:
        err.print("[dim]building edgekit's wheel (cached while the source is unchanged)[/]")
    report = provision(
        target,
        options=ssh_options(reach),
        profile=profile,
        install=install,
        runtimes=list(runtimes) or None,
        venv=venv,
        wheel=package.read(wheel, f"file {wheel}") if wheel else None,
        runtime_only=runtime_only,
        on_line=lambda line: err.print(f"[dim]{escape(line)}[/]", soft_wrap=True),
    )
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
        return
    show(report)


def show(report) -> None:
    out = console()
    versions = ", ".join(f"{k} {v}" for k, v in report.versions.items())
    if report.changed:
        got = ", ".join(report.installed) or "nothing new (pip found it all)"
        out.print(f"[green]ready[/] {report.target}: installed {got}", soft_wrap=True)
    else:
        out.print(
            f"[green]nothing changed[/] on {report.target}: the same edgekit wheel and every "
            "requirement are there already",
            soft_wrap=True,
        )
    if report.edgekit:
        out.print(f"edgekit {report.edgekit}", soft_wrap=True)
    out.print(f"{report.python}: {versions}", soft_wrap=True)
    if report.system_needs:
        out.print(
            f"[yellow]left to you[/] (system packages, with sudo): sudo apt install "
            f"{' '.join(report.system_needs)}",
            soft_wrap=True,
        )
    for note in report.notes:
        out.print(f"[yellow]note:[/] {escape(note)}", soft_wrap=True)
