"""What `bench --on` shares between targets: the files to send, the runner's event stream
turned into a BenchResult, and several targets benchmarked at once.

A target is `ssh://user@host[:port]`, `adb` or `adb:SERIAL`. Results have the schema of a
local `edgekit bench`, with the device's own fingerprint.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from edgekit import formats
from edgekit.bench import BenchResult
from edgekit.errors import ConfigError, EdgeKitError, ModelLoadError


def local_files(artifact: str | Path) -> tuple[list[Path], str | None]:
    """The files a device needs for `artifact` (an IR's .bin too) and its recorded precision."""
    p = Path(artifact)
    if not p.is_file():
        raise ModelLoadError(f"artifact not found; got: {p}")
    fmt = formats.find(p)
    if fmt is None or not fmt.remote:
        raise ConfigError(
            f"a device runs {', '.join(formats.main_suffixes(remote=True))} artifacts; got: "
            f"{p.name} (Core ML runs on Apple devices through an app, not over SSH)"
        )
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


@dataclass
class Outcome:
    """One target's answer: its fingerprint and result, or the error (with partial samples)."""

    target: str
    machine: dict | None = None
    result: BenchResult | None = None
    error: str | None = None
    partial: bool = False
    exit_code: int = 0  # the CLI's: 2 for usage/configuration (e.g. a refused host key), else 1

    def to_dict(self) -> dict:
        return {
            "target": self.target,
            "machine": self.machine,
            "results": [self.result.to_dict()] if self.result else [],
            "error": self.error,
            "partial": self.partial,
        }


def bench_on(
    targets: list[str],
    artifact: str | Path,
    *,
    ssh_options=None,
    adb_options: dict | None = None,
    on_event: Callable[[str, dict], None] | None = None,
    **bench_options,
) -> list[Outcome]:
    """Benchmark `artifact` on every target at once (one thread each); outcomes in order.

    A failing target does not stop the others: its Outcome carries the one-line error and,
    for a link lost mid-run, a result of the samples gathered so far (`partial=True`).
    """
    for t in targets:
        kind(t)  # bad spellings fail before anything starts

    def one(target: str) -> Outcome:
        events = (lambda e: on_event(target, e)) if on_event else None
        try:
            if kind(target) == "ssh":
                from edgekit.device import ssh

                machine, result = ssh.bench(
                    artifact, target, options=ssh_options, on_event=events, **bench_options
                )
            else:
                from edgekit.device import adb

                machine, result = adb.bench(
                    artifact, target, on_event=events, **(adb_options or {}), **bench_options
                )
            return Outcome(target, machine, result)
        except EdgeKitError as e:
            partial = getattr(e, "partial", None)
            machine = getattr(e, "machine", None)
            message = " ".join(str(e).split())
            return Outcome(target, machine, partial, message, partial is not None, e.exit_code)

    if len(targets) == 1:
        return [one(targets[0])]
    with ThreadPoolExecutor(max_workers=len(targets)) as pool:
        return list(pool.map(one, targets))


def kind(target: str) -> str:
    """'ssh' or 'adb' for a `--on` value; ConfigError for anything else."""
    if target.startswith("ssh://"):
        return "ssh"
    if target == "adb" or target.startswith("adb:"):
        return "adb"
    raise ConfigError(
        f"unknown --on target; got: {target!r}; use ssh://user@host[:port] or adb[:SERIAL]"
    )
