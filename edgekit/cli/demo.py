"""`edgekit demo`: a model on a camera, file, stream or image folder, live."""

from __future__ import annotations

import json
from pathlib import Path

import click

from edgekit.cli._common import console, escape, guarded
from edgekit.cli._on import reach_options


def _options(values: tuple[str, ...]) -> dict:
    """--option key=value pairs for the runtime; numbers and booleans parsed."""
    out: dict = {}
    for v in values:
        key, sep, raw = v.partition("=")
        if not sep or not key:
            from edgekit.errors import ConfigError

            raise ConfigError(f"--option takes KEY=VALUE; got: {v!r}; e.g. --option xnnpack=false")
        low = raw.lower()
        out[key] = (
            {"true": True, "false": False}.get(low)
            if low in ("true", "false")
            else int(raw)
            if raw.lstrip("-").isdigit()
            else raw
        )
    return out


@click.command("demo")
@click.argument("artifact", required=False, type=click.Path(path_type=Path))
@click.option(
    "--source",
    "-s",
    help="Camera index, /dev/videoN, video file, rtsp:// or "
    "http:// URL, GStreamer pipeline, picamera, or an image folder.",
)
@click.option(
    "--task",
    type=click.Choice(["classify", "detect", "segment"]),
    help="Default: from the manifest, else guessed from the outputs.",
)
@click.option(
    "--preprocess",
    type=click.Choice(["raw", "unit", "tf", "torch"]),
    help="Pixel scaling for models made outside edgekit.",
)
@click.option("--labels", type=click.Path(path_type=Path), help="Labels file, one a line.")
@click.option("--threads", type=int, help="Runtime threads.")
@click.option(
    "--option",
    "runtime_options",
    multiple=True,
    metavar="KEY=VALUE",
    help="Runtime option, e.g. xnnpack=false, delegate=libedgetpu.so.1, device=GPU.",
)
@click.option(
    "--realtime", is_flag=True, help="Play files at their frame rate, dropping late frames."
)
@click.option("--loop", is_flag=True, help="Start a file or image folder over when it ends.")
@click.option("--reconnect", is_flag=True, help="Reopen a camera or stream that stops.")
@click.option("--max-frames", type=int, help="Stop after N frames.")
@click.option("--duration", type=float, help="Stop after S seconds.")
@click.option("--record", type=click.Path(path_type=Path), help="Write the annotated video.")
@click.option("--jsonl", type=click.Path(path_type=Path), help="One JSON line per frame.")
@click.option("--serve", metavar="HOST:PORT", help="Browser view, e.g. 127.0.0.1:8080.")
@click.option(
    "--window/--no-window", default=None, help="OpenCV window (default: if a display exists)."
)
@click.option(
    "--top-k", type=int, default=3, show_default=True, help="Classification labels shown."
)
@click.option("--smooth", type=float, default=0.0, help="Classification score smoothing, 0..0.99.")
@click.option("--threshold", type=float, help="Detection score / mask threshold.")
@click.option(
    "--anchors",
    metavar="FILE.toml|NAME",
    help="Anchor and decode options for an SSD without its post-processing op "
    "(MediaPipe's option names), or a bundled one by name, e.g. blazeface-short.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option(
    "--on",
    "on",
    metavar="ssh://user@host[:port]",
    help="Run it on a device "
    "(after edgekit provision): its camera, its page served here through SSH.",
)
@reach_options
@guarded
def command(
    artifact,
    source,
    task,
    preprocess,
    labels,
    threads,
    runtime_options,
    realtime,
    loop,
    reconnect,
    max_frames,
    duration,
    record,
    jsonl,
    serve,
    window,
    top_k,
    smooth,
    threshold,
    anchors,
    as_json,
    on=None,
    **reach,
):
    """Run a model live over a camera, file, stream or image folder, with the results drawn
    over the frames and per-stage timings. With no arguments: the bundled example model on a
    generated sample video (works without a display). With --on: on the device, over SSH."""
    from edgekit.demo import run_demo

    if on:
        if window:
            from edgekit.errors import ConfigError

            raise ConfigError(
                "--window shows nothing here with --on; got: --window; use --serve "
                "127.0.0.1:8080 and open it in a browser"
            )
        return on_device(
            on, artifact, reach, as_json, source=source, task=task, preprocess=preprocess,
            labels=labels, threads=threads, runtime_options=_options(runtime_options),
            realtime=realtime, loop=loop, reconnect=reconnect, max_frames=max_frames,
            duration=duration, record=record, jsonl=jsonl, serve=serve, top_k=top_k,
            smooth=smooth, threshold=threshold, anchors=anchors,
        )  # fmt: skip
    err = console(stderr=True)

    def started(pipe):
        for sink in pipe.sinks:
            if hasattr(sink, "url"):
                err.print(f"browser view: [bold]{sink.url}[/]")
        err.print(
            f"{pipe.task.name} on {pipe.source.kind} {pipe.source.spec}; Ctrl-C stops",
            soft_wrap=True,
        )

    summary = run_demo(
        artifact,
        source=source,
        task=task,
        preprocess=preprocess,
        labels=labels,
        threads=threads,
        runtime_options=_options(runtime_options),
        realtime=realtime,
        loop=loop,
        reconnect=reconnect,
        max_frames=max_frames,
        duration=duration,
        record=record,
        jsonl=jsonl,
        serve=serve,
        window=window,
        top_k=top_k,
        smooth=smooth,
        threshold=threshold,
        anchors=anchors,
        on_start=started,
    )
    if as_json:
        click.echo(json.dumps(summary.to_dict(), indent=2))
    else:
        print_summary(summary)
    if summary.error:
        err.print(f"[red]error:[/] {summary.error}", soft_wrap=True)
        raise SystemExit(1)


def on_device(target, artifact, reach: dict, as_json: bool, *, record, jsonl, serve, **kw):
    """`--on`: local outputs checked first, one library call, the same printing as here."""
    from edgekit.cli._on import ssh_options
    from edgekit.demo import check_limits
    from edgekit.demo.pipeline import Summary
    from edgekit.demo.record import FOURCC, check_output
    from edgekit.demo.serve import parse_address
    from edgekit.device.remote_demo import demo_on, free_local
    from edgekit.errors import ConfigError

    check_limits(kw["max_frames"], kw["duration"])
    if record and Path(check_output(record, "--record")).suffix.lower() not in FOURCC:
        raise ConfigError(f"unknown recording format; got: {record.name}; use one of "
                          f"{sorted(FOURCC)}")  # fmt: skip
    if jsonl:
        check_output(jsonl, "--jsonl")
    err = console(stderr=True)

    def event(e: dict) -> None:
        if e.get("event") == "started":
            if serve:
                err.print(f"browser view: [bold]{local_url}[/] (the device's, through SSH)")
            err.print(f"{e['task']} on {target}: {e['kind']} {escape(e['source'])}; Ctrl-C stops",
                      soft_wrap=True)  # fmt: skip
        elif e.get("event") == "kept":
            err.print(f"[yellow]the recording is kept on the device:[/] {e['path']}")

    address = free_local(parse_address(serve)) if serve else None  # port 0: a free one now
    host = address and (f"[{address[0]}]" if ":" in address[0] else address[0])
    local_url = f"http://{host}:{address[1]}/" if address else None
    result = demo_on(
        target, artifact, options=ssh_options(reach), record=record, jsonl=jsonl,
        serve=address, on_event=event,
        on_log=lambda line: err.print(f"[dim]device: {escape(line)}[/]", soft_wrap=True), **kw,
    )  # fmt: skip
    known = Summary.__dataclass_fields__
    summary = Summary(**{k: v for k, v in result.summary.items() if k in known})
    if as_json:
        click.echo(json.dumps({**result.summary, "target": result.target}, indent=2))
    else:
        print_summary(summary)
        if result.record:
            err.print(f"recording copied back: {result.record}")
    if summary.error:
        err.print(f"[red]error:[/] {escape(summary.error)}", soft_wrap=True)
        raise SystemExit(1)


def print_summary(summary) -> None:
    from rich.table import Table

    out = console()
    out.print(
        f"{summary.frames} frames in {summary.seconds:.1f} s, {summary.fps:.1f} FPS "
        f"({summary.dropped} of {summary.captured} captured frames dropped); "
        f"stopped: {summary.stopped}",
        soft_wrap=True,
    )
    table = Table("stage", "p50 ms", "p90 ms", "mean ms")
    for name, s in summary.stages_ms.items():
        table.add_row(name, f"{s['p50']:.2f}", f"{s['p90']:.2f}", f"{s['mean']:.2f}")
    out.print(table)
