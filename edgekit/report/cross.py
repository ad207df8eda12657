"""The cross-target report: every artifact of a convert folder, measured where it ran and
estimated on each target, in one table and two charts."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

from edgekit import formats
from edgekit.errors import ConfigError, MissingDependencyError
from edgekit.manifest import MANIFEST_NAME, Manifest
from edgekit.report.tables import cross_rows


@dataclass
class CrossReport:
    """Rows for the table and the charts written (element id -> PNG)."""

    rows: list[tuple]
    estimates: list[dict]
    charts: dict[str, Path] = field(default_factory=dict)


def cross_target(folder: Path, targets: list[str], results, *, out: Path | None = None,
                 budget_ms: float | None = None) -> CrossReport:  # fmt: skip
    """Estimate each artifact of `folder` on each target, beside the measured `results`;
    with `out`, draw latency-per-target and accuracy-against-latency charts there."""
    from edgekit.costmodel.estimator import estimate
    from edgekit.device.profiles import get as profile

    for t in targets:
        profile(t)  # an unknown target id is the user's error, not an artifact's row
    folder = Path(folder)
    parity, files = {}, []
    if (folder / MANIFEST_NAME).exists():
        for a in Manifest.load(folder).artifacts:
            parity[Path(a.file).name] = a.parity
            files.append(folder / a.file)
    else:
        files = formats.artifacts_in(folder)
    estimates = []
    for f in files:
        try:
            got = [e.to_dict() for e in estimate(f, targets)]
        except ConfigError as e:  # e.g. no cost reader for the format: a row, not a failure
            fmt = formats.find(f)
            got = [_unreadable(t, fmt.name if fmt else "", str(e)) for t in targets]
        estimates += [{"artifact": f.name, **e} for e in got]
    report = CrossReport(cross_rows(results, estimates, parity), estimates)
    if out is not None:
        report.charts = _charts(report, results, parity, Path(out), budget_ms)
    return report


def _unreadable(target: str, fmt: str, why: str) -> dict:
    """An estimate row saying why there is no number (the table shows the reason)."""
    return {"target": target, "runtime": None, "precision": None, "format": fmt,
            "error": " ".join(why.split())}  # fmt: skip


def _charts(report: CrossReport, results, parity: dict, out: Path, budget_ms) -> dict:
    from edgekit.report.charts import accuracy_chart, latency_chart

    points = []
    for r in results:
        name = Path(r.artifact).name
        points.append({"target": "this machine", "artifact": name, "kind": "measured",
                       "ms": r.p50_ms, "low": r.p50_ms, "high": r.p50_ms,
                       "acc": _acc(parity.get(name) or r.parity)})  # fmt: skip
    for e in report.estimates:
        if e.get("error"):
            continue
        points.append({"target": e["target"], "artifact": e["artifact"], "kind": "estimate",
                       "ms": e["latency_ms"], "low": e["low_ms"], "high": e["high_ms"],
                       "acc": _acc(parity.get(e["artifact"]))})  # fmt: skip
    if not points:
        return {}
    out.mkdir(parents=True, exist_ok=True)
    try:
        return {
            "latency-chart": latency_chart(points, out / "latency.png", budget_ms=budget_ms),
            "accuracy-chart": accuracy_chart(points, out / "accuracy.png", budget_ms=budget_ms),
        }
    except MissingDependencyError as e:  # the light install: tables and page, no charts
        warnings.warn(str(e), stacklevel=2)
        return {}


def _acc(p: dict | None) -> float | None:
    p = p or {}
    return p.get("accuracy") if p.get("accuracy") is not None else p.get("top1_agreement")
