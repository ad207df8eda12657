"""`--on TARGET`: the options and the printing for commands that run on a device.

Kept beside the commands so they stay short. `@on_options` adds bench's options and
`run_on(...)` does one library call (`edgekit.device.remote.bench_on`) and prints one table;
`@reach_options` are the SSH options every `--on` command shares (demo, doctor, provision),
read back by `ssh_options(...)`.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from edgekit.cli._common import console
from edgekit.errors import ConfigError

ON_OPTIONS = (
    "on",
    "accept_host_key",
    "identity",
    "ssh_option",
    "remote_python",
    "remote_tmp",
    "delegate",
    "benchmark_model",
)


def _reach() -> list:
    return [
        click.option(
            "--accept-host-key",
            is_flag=True,
            help="Record an unknown SSH host key (a changed key is still refused).",
        ),
        click.option("--identity", type=click.Path(path_type=Path), help="SSH private key."),
        click.option("--ssh-option", multiple=True, metavar="KEY=VALUE", help="More ssh -o."),
        click.option(
            "--remote-python", help="The device's Python [the provisioned venv, else python3]."
        ),
        click.option(
            "--remote-tmp", metavar="DIR", help="Folder on the device for copied files [/tmp]."
        ),
    ]


def _apply(fn, opts: list):
    for o in reversed(opts):
        fn = o(fn)
    return fn


def reach_options(fn):
    """How to reach a device over SSH (host keys, key, ssh -o, its Python, its temp folder)."""
    return _apply(fn, _reach())


def ssh_options(reach: dict):
    """The SSHOptions the `@reach_options` values say."""
    from edgekit.device.ssh import SSHOptions

    return SSHOptions(
        accept_host_key=reach["accept_host_key"],
        identity=reach["identity"],
        extra=list(reach["ssh_option"]),
        python=str(reach["remote_python"]) if reach["remote_python"] else None,
        remote_tmp=reach.get("remote_tmp"),
    )


def on_options(fn):
    """The `--on` family of options for `edgekit bench`."""
    opts = [
        click.option(
            "--on",
            "on",
            multiple=True,
            metavar="TARGET",
            help="Benchmark on a device: ssh://user@host[:port], adb or adb:SERIAL "
            "(repeat for several, run at once).",
        ),
        *_reach(),
        click.option(
            "--delegate",
            help="adb: xnnpack, gpu or nnapi; ssh: a TFLite delegate library "
            "(e.g. libedgetpu.so.1).",
        ),
        click.option(
            "--benchmark-model",
            type=click.Path(path_type=Path),
            help="adb: LiteRT's benchmark_model for the phone's ABI [cache].",
        ),
    ]
    return _apply(fn, opts)


def run_on(artifacts, opts: dict, json_path, csv_path, reach: dict) -> None:
    """Benchmark one artifact on every `--on` target; one table; exit 1 if any target failed."""
    from edgekit.device.remote import bench_on

    if len(artifacts) != 1 or Path(artifacts[0]).is_dir():
        raise ConfigError(
            f"--on takes one artifact file; got: {' '.join(map(str, artifacts))}; "
            "run once per artifact"
        )
    adb_options = {"benchmark_model": reach["benchmark_model"]}
    err = console(stderr=True)
    progress = Progress(err)
    kw = {k: v for k, v in opts.items() if v is not None}
    if reach["delegate"]:
        kw["delegate"] = reach["delegate"]
    outcomes = bench_on(
        list(reach["on"]),
        artifacts[0],
        ssh_options=ssh_options(reach),
        adb_options=adb_options,
        on_event=progress.event,
        **kw,
    )
    print_outcomes(outcomes)
    if json_path:
        docs = [o.to_dict() for o in outcomes]
        for doc in docs:  # labelled as a local `bench --json` labels its rows
            doc["results"] = [{**r, "basis": "measured"} for r in doc["results"]]
        Path(json_path).write_text(
            json.dumps(docs[0] if len(docs) == 1 else {"targets": docs}, indent=2)
        )
    if csv_path:
        write_csv(Path(csv_path), outcomes)
    failed = [o for o in outcomes if o.error]
    for o in failed:
        err.print(f"[red]error:[/] {o.error}", soft_wrap=True)
    if failed:
        raise SystemExit(max(o.exit_code for o in failed))


def write_csv(path: Path, outcomes) -> None:
    """One row per target that gave a result, with the device's CPU and OS."""
    import csv

    rows = []
    for o in outcomes:
        if o.result:
            m = o.machine or {}
            row = {k: v for k, v in o.result.to_dict().items() if k not in ("parity", "sustained")}
            rows.append({"target": o.target, **row, "cpu": m.get("cpu"), "os": m.get("os")})
    if rows:
        with open(path, "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)


class Progress:
    """One stderr line per target as it loads and every few seconds of samples."""

    def __init__(self, out) -> None:
        self.out = out
        self.count: dict[str, int] = {}
        self.shown: dict[str, float] = {}

    def event(self, target: str, e: dict) -> None:
        import time

        kind = e.get("event")
        if kind == "loaded":
            self.out.print(f"[dim]{target}: loaded in {e['load_ms']:.0f} ms ({e['runtime']})[/]")
        elif kind == "samples":
            self.count[target] = self.count.get(target, 0) + len(e["ms"])
            if time.monotonic() - self.shown.get(target, 0) > 2:
                self.shown[target] = time.monotonic()
                self.out.print(f"[dim]{target}: {self.count[target]} runs[/]")


def print_outcomes(outcomes) -> None:
    import dataclasses

    from rich.table import Table

    from edgekit.report import TABLE_HEAD, table_row

    t = Table(title="edgekit bench --on")
    for h in ("target", "device", *TABLE_HEAD):
        t.add_column(h, justify="right" if h not in ("target", "device", "artifact") else "left")
    for o in outcomes:
        m = o.machine or {}
        device = m.get("board") or m.get("cpu") or "-"
        if o.result:
            shown = dataclasses.replace(  # adb's benchmark_model may print no percentiles
                o.result,
                **{
                    k: float("nan")
                    for k in ("p50_ms", "p90_ms", "fps", "peak_rss_mb")
                    if getattr(o.result, k) is None
                },
            )
            row = [str(c) for c in table_row(shown)]
            t.add_row(o.target, str(device), *row, style="yellow" if o.partial else None)
        else:
            t.add_row(o.target, str(device), "[red]failed[/]", *["-"] * (len(TABLE_HEAD) - 1))
    console().print(t)


def doctor_on(target, artifact, profile, as_json: bool, reach: dict, show) -> None:
    """`doctor --on`: the device's report (with the profile's expectations), shown as here."""
    from edgekit.device.remote_doctor import doctor_on as run

    report = run(target, artifact, options=ssh_options(reach), profile=profile)
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
    else:
        show(report)
    if report.blocked:
        raise SystemExit(1)
