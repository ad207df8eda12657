"""`edgekit devices [ID] [--json]`: list the hardware-target profiles, or show one."""

from __future__ import annotations

import json

import click

from edgekit.cli._common import console, guarded


@click.command("devices")
@click.argument("device_id", required=False)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@guarded
def command(device_id: str | None, as_json: bool) -> None:
    """List the hardware-target profiles, or show one (e.g. `edgekit devices rpi5`)."""
    from edgekit.device import profiles

    if device_id:
        profile = profiles.get(device_id)
        if as_json:
            click.echo(json.dumps(profile.to_dict(), indent=2))
        else:
            show(profile)
        return
    found = profiles.all_profiles()
    if as_json:
        click.echo(json.dumps([p.to_dict() for p in found], indent=2))
    else:
        listing(found)


def listing(found) -> None:
    from rich.table import Table

    table = Table("id", "name", "cpu", "peak fp32", "accelerators", "reach", "recommended")
    for p in found:
        accs = ", ".join(a.name.split(" (")[0] for a in p.accelerators) or "-"
        r = p.recommended
        table.add_row(
            p.id,
            p.name,
            cpu_line(p),
            f"{p.cpu.peak_gflops.get('fp32', 0):.0f} GFLOPS",
            accs,
            p.reach,
            f"{r.format} {r.precision} on {r.runtime}",
        )
    console().print(table)


def cpu_line(p) -> str:
    return " + ".join(f"{c.cores}x {c.core} @{c.ghz:g} GHz" for c in p.cpu.clusters)


def peaks(figures: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:g}" for k, v in figures.items()) or "not published"


def show(p) -> None:
    from rich.table import Table

    sw, r, cam = p.software, p.recommended, p.camera
    rows = [
        ("kind / reach", f"{p.kind}, reached by {p.reach}"),
        ("cpu", f"{cpu_line(p)} ({p.cpu.arch})"),
        ("isa", " ".join(p.cpu.isa)),
        ("cpu peak GFLOPS", peaks(p.cpu.peak_gflops)),
        ("memory", f"{p.memory.gb:g} GB, {p.memory.bandwidth_gbs:g} GB/s"),
    ]
    for a in p.accelerators:
        where = f" via {', '.join(a.runtimes)}" if a.runtimes else ""
        soc = f"; NPU builds for {a.soc} (convert --to tflite:npu --device {p.id})" if a.soc else ""
        rows.append((f"{a.kind}", f"{a.name}: {peaks(a.peak_gflops)}{where}{soc}"))
    rows += [
        ("runtimes", ", ".join(_marked(r) for r in p.runtimes)),
        ("os", sw.os),
        ("python", ", ".join(sw.pythons) or "none on the device"),
        ("wheel platform", sw.platform or "-"),
        ("install", sw.install),
        ("recipe", p.recipe),
        ("recommended", f"{r.format} {r.precision} on {r.runtime} {r.delegate} x{r.threads}"),
        ("camera", f"--source {cam.source}: {cam.note}"),
    ]
    rows += [("note", text) for text in (p.note, sw.note) if text]
    table = Table("", p.name, show_header=True, box=None)
    for key, value in rows:
        table.add_row(key, value)
    out = console()
    out.print(table)
    out.print("[dim]sources:[/]")
    for key, value in p.sources.items():
        out.print(f"  [dim]{key}:[/] {value}", soft_wrap=True)


def _marked(runtime: str) -> str:
    """A runtime id, flagged when it is on its way out (NNAPI from Android 15)."""
    from edgekit import formats

    return f"{runtime} (deprecated)" if formats.runtime(runtime).deprecated else runtime
