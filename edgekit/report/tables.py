"""Benchmark every artifact of a convert output folder; the rows of its tables, measured and
estimated."""

from __future__ import annotations

import platform
from pathlib import Path

from edgekit import formats
from edgekit.bench import BenchResult, benchmark
from edgekit.errors import ConfigError, MissingDependencyError
from edgekit.manifest import MANIFEST_NAME, Manifest


def bench_folder(folder: Path, **options) -> tuple[list[BenchResult], list[str]]:
    """Benchmark each artifact in the folder's manifest (or, without one, each model file in
    it); returns the results and the skipped files with the reason."""
    folder = Path(folder)
    if (folder / MANIFEST_NAME).exists():
        entries = [(folder / a.file, a.parity) for a in Manifest.load(folder).artifacts]
    else:
        entries = [(f, None) for f in formats.artifacts_in(folder)]
    if not entries:
        raise ConfigError(f"no artifacts in {folder}; pass a convert output folder or files")
    results, skipped = [], []
    for path, parity in entries:
        if formats.of_path(path).name == "coreml" and platform.system() != "Darwin":
            skipped.append(f"{path.name}: Core ML runs on macOS only")
            continue
        try:
            r = benchmark(path, **options)
        except MissingDependencyError as e:  # e.g. a device with only the TFLite runtime
            skipped.append(f"{path.name}: {e}")
            continue
        r.parity = parity
        results.append(r)
    return results, skipped


def accuracy_of(r: BenchResult) -> float | None:
    p = r.parity or {}
    return p.get("accuracy") if p.get("accuracy") is not None else p.get("top1_agreement")


TABLE_HEAD = (
    "artifact",
    "format",
    "precision",
    "executed",
    "size",
    "parity",
    "accuracy",
    "macro F1",
    "p50 ms",
    "p90 ms",
    "FPS",
    "peak MB",
)


def table_row(r: BenchResult) -> tuple:
    p = r.parity or {}
    parity = "-" if not p else ("pass" if p.get("passed") else "FAIL")
    acc = p.get("accuracy")
    return (
        Path(r.artifact).name,
        r.format,
        r.precision or "-",
        r.executed_precision or "-",
        kb(r.size_bytes),
        parity,
        f"{acc:.1%}" if acc is not None else "-",
        _macro_f1(p),
        f"{r.p50_ms:.3f}",
        f"{r.p90_ms:.3f}",
        f"{r.fps:.1f}",
        f"{r.peak_rss_mb:.0f}",
    )


def _macro_f1(p: dict) -> str:
    """Mean F1 over the classes of --val (per-class numbers are in the JSON/manifest)."""
    m = (p.get("per_class") or {}).get("macro_f1")
    return f"{m:.3f}" if m is not None else "-"


def kb(n: float) -> str:
    return f"{n / 2**20:.1f} MB" if n >= 2**20 else f"{n / 1024:.1f} KB"


CROSS_HEAD = (
    "artifact", "target", "kind", "runtime", "precision", "p50 / estimate ms", "~80% interval",
    "parity", "accuracy", "basis",
)  # fmt: skip


def cross_rows(results: list[BenchResult], estimates: list[dict], parity: dict) -> list[tuple]:
    """Measured and estimated rows side by side, each labelled, grouped by artifact.

    `estimates` are dicts with `artifact` plus the fields of an `Estimate`; `parity` maps an
    artifact file name to its manifest parity.
    """
    rows = []
    names = list(dict.fromkeys([Path(r.artifact).name for r in results]
                               + [e["artifact"] for e in estimates]))  # fmt: skip
    for name in names:
        p = parity.get(name) or {}
        par = "-" if not p else ("pass" if p.get("passed") else "FAIL")
        acc = f"{p['accuracy']:.1%}" if p.get("accuracy") is not None else "-"
        for r in (r for r in results if Path(r.artifact).name == name):
            where = r.execution.get("target") or "this machine"
            rows.append((name, where, "measured", r.runtime, r.precision or "-",
                         f"{r.p50_ms:.3f}", "-", par, acc, f"{r.runs} runs"))  # fmt: skip
        for e in (e for e in estimates if e["artifact"] == name):
            if e.get("error"):
                rt, prec = e.get("runtime") or "-", e.get("precision") or "-"
                rows.append((name, e["target"], "estimate", rt, prec, "-", "-", par, acc,
                             e["error"].split(";")[0]))  # fmt: skip
                continue
            rows.append((name, e["target"], "estimate", e["runtime"], e["precision"],
                         f"{e['latency_ms']:.3g}", f"{e['low_ms']:.3g}-{e['high_ms']:.3g}",
                         par, acc, e["basis"]))  # fmt: skip
    return rows
