"""`edgekit demo`: a model on a camera, file, stream or image folder, live."""

from __future__ import annotations

import json
from pathlib import Path

import click

from edgekit.cli._common import console, guarded


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
):
    """Run a model live over a camera, file, stream or image folder, with the results drawn
    over the frames and per-stage timings. With no arguments: the bundled example model on a
    generated sample video (works without a display)."""
    from edgekit.demo import run_demo

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
