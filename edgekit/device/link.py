"""What travels over a link to a device and back: the files an artifact needs there, and the
device runner's event stream read back into a BenchResult (keeping every sample that arrived,
so a lost link still leaves a partial result). Shared by the ssh and adb paths."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from edgekit import formats
from edgekit.bench import BenchResult
from edgekit.errors import ConfigError, EdgeKitError, ModelLoadError


def local_files(artifact: str | Path) -> tuple[list[Path], str | None]:
    """The files a device needs for `artifact` (an IR's .bin too) and its recorded precision."""
    p = Path(artifact)
    if not p.exists():
        raise ModelLoadError(f"artifact not found; got: {p}")
    fmt = formats.find(p)
    if fmt is None or not fmt.remote:
        raise ConfigError(
            f"a device runs {', '.join(formats.main_suffixes(remote=True))} artifacts; got: "
            f"{p.name} (Core ML runs on Apple devices through an app, not over SSH)"
        )
    if not p.is_file():
        raise ModelLoadError(f"not an artifact file; got: {p} (a folder)")
    files = fmt.files(p)
    p = files[0]
    missing = [f.name for f in files if not f.is_file()]
    if missing:
        raise ModelLoadError(f"{missing[0]} is missing beside {p.name}; copy them together")
    return files, recorded_precision(p)


def recorded_precision(p: Path) -> str | None:
    """The precision edgekit's manifest beside the artifact records, if there is one."""
    from edgekit.manifest import sibling_manifest

    try:
        manifest = sibling_manifest(p)
        return manifest.find(p).precision if manifest else None
    except (EdgeKitError, KeyError, ValueError, AttributeError):
        return None


def to_result(fields: dict, artifact, precision: str | None) -> BenchResult:
    """A runner's result dict as a BenchResult naming the local artifact."""
    known = BenchResult.__dataclass_fields__
    data = {k: v for k, v in fields.items() if k in known}
    data.update(artifact=str(artifact), precision=precision or fields.get("precision"))
    return BenchResult(**data)


class Collector:
    """Reads the runner's JSON lines as they come; keeps every sample that arrived."""

    def __init__(self, artifact, precision, on_event: Callable[[dict], None] | None) -> None:
        self.artifact, self.precision, self.on_event = artifact, precision, on_event
        self.machine: dict | None = None
        self.loaded: dict = {}
        self.samples: list[float] = []
        self.sustained: list[dict] = []
        self.result: BenchResult | None = None
        self.error: str | None = None

    def feed(self, line: str) -> None:
        line = line.strip()
        if not line.startswith("{"):
            return  # runtime chatter
        try:
            event = json.loads(line)
        except ValueError:
            return  # a line cut by the link
        kind = event.get("event")
        if kind == "machine":
            self.machine = event["machine"]
        elif kind == "loaded":
            self.loaded = event
        elif kind == "samples":
            self.samples += event["ms"]
        elif kind == "sustained":
            self.sustained.append(event["row"])
        elif kind == "result":
            self.result = to_result(event["result"], self.artifact, self.precision)
        elif kind == "error":
            self.error = event["error"]
        if self.on_event:
            self.on_event(event)

    def partial(self) -> BenchResult | None:
        """A BenchResult of the samples so far (None before the first)."""
        from edgekit.device.runner import summarize

        if not self.samples or not self.loaded:
            return None
        p = Path(self.artifact)
        fields = {
            "format": formats.of_path(p).name,
            "size_bytes": sum(f.stat().st_size for f in local_files(p)[0]),
            "runtime": self.loaded.get("runtime", ""),
            "executed_precision": None,
            "threads": None,
            "load_ms": self.loaded.get("load_ms", 0.0),
            "first_ms": self.loaded.get("first_ms", 0.0),
            **summarize(self.samples),
            "peak_rss_mb": 0.0,
            "rss_growth_mb": 0.0,
            "sustained": self.sustained,
        }
        return to_result(fields, self.artifact, self.precision)
