"""`bench --on`: several targets benchmarked at once, each over ssh or adb.

A target is `ssh://user@host[:port]`, `adb` or `adb:SERIAL`. Results have the schema of a
local `edgekit bench`, with the device's own fingerprint.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from edgekit.bench import BenchResult
from edgekit.errors import ConfigError, EdgeKitError


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
