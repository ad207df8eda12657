"""`edgekit demo`: a model on a live camera (or a file, stream or image folder), with results
drawn over the frames, per-stage timings, a browser view, recordings and JSON lines.

    from edgekit.demo import run_demo
    summary = run_demo(source="0", task="detect", serve="127.0.0.1:8080", duration=60)
"""

from __future__ import annotations

import logging
from pathlib import Path

from edgekit.errors import ConfigError

log = logging.getLogger(__name__)


def run_demo(
    artifact: str | Path | None = None,
    *,
    source: str | int | None = None,
    task: str | None = None,
    preprocess: str | None = None,
    labels: str | Path | list[str] | None = None,
    threads: int | None = None,
    runtime_options: dict | None = None,
    realtime: bool = False,
    loop: bool = False,
    reconnect: bool = False,
    max_frames: int | None = None,
    duration: float | None = None,
    record: str | Path | None = None,
    jsonl: str | Path | None = None,
    serve: str | None = None,
    window: bool | None = None,
    top_k: int = 3,
    smooth: float = 0.0,
    threshold: float | None = None,
    anchors: str | Path | None = None,
    on_start=None,
):
    """Run a model over a source until it ends, a limit is reached, or Ctrl-C / SIGTERM.

    Args:
        artifact: a .tflite/.xml/.onnx/.mlpackage; None for the bundled model of the task
            (the shapes classifier, or the in-repo detector with task="detect").
        source: camera index, /dev/videoN, video file, rtsp:// or http:// URL, GStreamer
            pipeline, "picamera" or an image folder; None: the sample video when no artifact
            is given, else the first camera here, else the sample video.
        task: "classify", "detect" or "segment"; None: from the manifest, else the outputs.
        preprocess: for files made outside edgekit, as `edgekit.load` takes it.
        labels: class names for files made outside edgekit, as `edgekit.load` takes them.
        threads: runtime threads, passed to `edgekit.load`.
        runtime_options: runtime options, passed to `edgekit.load`.
        realtime: pace a video file at its frame rate, dropping frames that come late.
        loop: start a file or image folder over when it ends (stop with a limit or Ctrl-C).
        reconnect: reopen a camera or stream that stops delivering frames.
        max_frames: stop after N output frames.
        duration: stop after S seconds.
        record: write the annotated video to this file.
        jsonl: write one JSON line per frame to this file.
        serve: "HOST:PORT" (or ":PORT", bound to 127.0.0.1) for the browser view.
        window: show an OpenCV window; None: when a display and GUI support exist.
        top_k: classification: how many classes to show.
        smooth: classification: score smoothing over frames.
        threshold: detection or mask threshold.
        anchors: for SSD detectors without their post-processing op: a TOML file of
            MediaPipe's anchor and decode options, or a bundled name ("blazeface-short");
            implies task="detect". None: the contract's, if it records them.
        on_start: called with the Pipeline once it runs (e.g. to read the server address).

    Returns:
        Summary: frames, FPS, per-stage p50/p90/mean, dropped frames, why it stopped.

    Raises:
        ConfigError: a bad argument or a source that cannot be opened (before any output is
            written); ModelLoadError: the artifact cannot be loaded.
    """
    from edgekit.demo import tasks
    from edgekit.demo.capture import open_source
    from edgekit.demo.pipeline import Pipeline
    from edgekit.demo.sample import default_artifact, sample_video

    check_limits(max_frames, duration)
    spec = read_anchors(anchors, task)  # a bad file fails before anything is opened
    src = open_source(source) if source is not None else None  # a bad source fails first
    sinks: list = []
    try:
        if artifact is None:
            artifact = default_artifact(task or "classify")
        session = load_session(artifact, threads, preprocess, runtime_options or {})
        name = tasks.task_of(session, task or ("detect" if spec else None))
        options = {"labels": read_labels(labels), "top_k": top_k, "smooth": smooth}
        the_task = tasks.make(session, name, threshold=threshold, anchors=spec, **options)
        where = source if source is not None else default_source(artifact, name, sample_video)
        src = src or open_source(where)
        sinks = make_sinks(src.fps, record=record, jsonl=jsonl, serve=serve, window=window)
        pipe = Pipeline(
            the_task,
            src,
            sinks=sinks,
            realtime=realtime,
            reopen=(lambda: open_source(where)) if reconnect else None,
            max_frames=max_frames,
            duration=duration,
            loop=loop,
        )
    except BaseException:
        for s in sinks:
            s.close()
        if src is not None:
            src.close()
        raise
    for s in sinks:
        if hasattr(s, "attach"):
            s.attach(pipe.stats, the_task.name)
    if on_start:
        on_start(pipe)
    summary = pipe.run()
    summary.info = {
        "artifact": str(artifact),
        "task": name,
        "source": str(where),
        "runtime": getattr(session, "runtime", ""),
        "outputs": [
            str(getattr(s, "path", "")) or s.url
            for s in sinks
            if hasattr(s, "path") or hasattr(s, "url")
        ],
    }
    return summary


def check_limits(max_frames: int | None, duration: float | None) -> None:
    if max_frames is not None and max_frames < 1:
        raise ConfigError(f"--max-frames must be at least 1; got: {max_frames}")
    if duration is not None and duration <= 0:
        raise ConfigError(f"--duration must be positive seconds; got: {duration}")


def read_anchors(anchors, task: str | None):
    """The anchor options, read and checked; only a detector takes them."""
    if anchors is None:
        return None
    if task not in (None, "detect"):
        raise ConfigError(f"--anchors is for detection; got: --task {task}; drop one of them")
    from edgekit.demo.tasks.anchors import read_spec

    return read_spec(anchors)


def load_session(artifact, threads, preprocess, options: dict):
    from edgekit.contract import Preprocess
    from edgekit.runtimes import load

    session = load(artifact, threads=threads, **options)
    if preprocess:
        base = (
            session.contract.preprocess
            if session.contract and session.contract.preprocess
            else None
        )
        guess = base or Preprocess.for_shape(session.inputs[0].shape)
        if guess is None:
            raise ConfigError(f"the model's input is not an image; got: {session.inputs[0].shape}")
        fresh = Preprocess.from_preset(
            preprocess, size=guess.size, resize=guess.resize, color=guess.color, layout=guess.layout
        )
        from edgekit.contract import Contract

        if session.contract is None:
            session.contract = Contract(session.inputs, session.outputs, fresh)
        else:
            session.contract.preprocess = fresh
    return session


def read_labels(labels) -> list[str] | None:
    from edgekit.contract import read_labels as read

    if labels is None or isinstance(labels, list):
        return labels
    return read(labels)


def default_source(artifact, task: str, sample_video) -> str:
    """The sample video for the bundled models; a camera for the user's model when one is
    plugged in, else the sample video."""
    from edgekit.demo.capture import cameras
    from edgekit.demo.sample import default_artifact

    bundled = {str(default_artifact(t)) for t in ("classify", "detect")}
    if str(artifact) not in bundled:
        cams = [c for c in cameras() if c.startswith("/dev/video")]
        if cams:
            return cams[0]
        log.warning("no camera found; running on the sample video")
    return str(sample_video(task))


def make_sinks(fps: float, *, record, jsonl, serve, window) -> list:
    """Outputs, each checked before the run starts."""
    from edgekit.demo.overlay import WindowSink, has_display
    from edgekit.demo.record import JsonlSink, VideoSink

    sinks: list = []
    try:
        if window and not has_display():
            raise ConfigError(
                "--window needs a display and OpenCV with GUI support; got: none here; "
                "use --serve 127.0.0.1:8080 and open it in a browser"
            )
        if serve:  # first: binding the port is what fails most, before files are created
            from edgekit.demo.serve import ServeSink

            sinks.append(ServeSink(serve))
        if window or (window is None and has_display()):
            sinks.append(WindowSink())
        if record:
            sinks.append(VideoSink(Path(record), fps))
        if jsonl:
            sinks.append(JsonlSink(Path(jsonl)))
    except BaseException:
        for s in sinks:
            s.close()
        raise
    return sinks


__all__ = ["run_demo"]
