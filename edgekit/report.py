"""Benchmark every artifact of a convert output folder; chart and HTML report.

The chart (latency against size, coloured by accuracy) is drawn with OpenCV, which the light
install already has, and embedded in the HTML, so the report is one self-contained file.
"""

from __future__ import annotations

import base64
import html
import json
import platform
from pathlib import Path

import numpy as np

from edgekit.bench import BenchResult, benchmark
from edgekit.errors import ConfigError, MissingDependencyError
from edgekit.manifest import MANIFEST_NAME, Manifest

MODEL_SUFFIXES = (".tflite", ".xml", ".onnx", ".mlpackage", ".mlmodel")

W, H, M, PLOT_W = 1000, 440, 70, 720  # chart size, margin, plot width (legend beyond)


def bench_folder(folder: Path, **options) -> tuple[list[BenchResult], list[str]]:
    """Benchmark each artifact in the folder's manifest (or, without one, each model file in
    it); returns the results and the skipped files with the reason."""
    folder = Path(folder)
    if (folder / MANIFEST_NAME).exists():
        entries = [(folder / a.file, a.parity) for a in Manifest.load(folder).artifacts]
    else:
        entries = [(f, None) for f in sorted(folder.iterdir()) if f.suffix in MODEL_SUFFIXES]
    if not entries:
        raise ConfigError(f"no artifacts in {folder}; pass a convert output folder or files")
    results, skipped = [], []
    for path, parity in entries:
        if path.suffix in (".mlpackage", ".mlmodel") and platform.system() != "Darwin":
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


def chart_png(results: list[BenchResult], path: Path) -> Path:
    """Scatter of p50 latency against file size (both log scale), colour from red (low
    accuracy) to green (high), grey without one. Points are numbered; the legend on the right
    names them, as nearby artifacts would overwrite each other's labels."""
    import cv2

    img = np.full((H, W, 3), 255, np.uint8)
    sizes = np.log10([max(r.size_bytes, 1) for r in results])
    lat = np.log10([max(r.p50_ms, 1e-6) for r in results])
    right = PLOT_W - 20
    sx, sy = _scale(sizes, M, right), _scale(lat, H - M, 30)
    font, ink = cv2.FONT_HERSHEY_SIMPLEX, (60, 60, 60)
    cv2.rectangle(img, (M, 30), (right, H - M), (200, 200, 200), 1)
    cv2.putText(img, "file size (log)", (PLOT_W // 2 - 60, H - 20), font, 0.5, ink, 1)
    cv2.putText(img, "p50 ms (log)", (5, 20), font, 0.5, ink, 1)
    for v, y in ((lat.min(), H - M), (lat.max(), 30)):
        cv2.putText(img, f"{10**v:.3g}", (5, int(y) + 5), font, 0.4, ink, 1)
    for v, x in ((sizes.min(), M), (sizes.max(), right)):
        cv2.putText(img, _kb(10**v), (int(x) - 25, H - M + 18), font, 0.4, ink, 1)
    for i, (r, x, y) in enumerate(zip(results, sx, sy), 1):
        acc = accuracy_of(r)
        color = (160, 160, 160) if acc is None else (0, int(200 * acc), int(230 * (1 - acc)))
        cv2.circle(img, (int(x), int(y)), 7, color, -1, cv2.LINE_AA)
        cv2.putText(img, str(i), (int(x) + 8, int(y) - 6), font, 0.4, (30, 30, 30), 1, cv2.LINE_AA)
        label = f"{i:2d} {r.format} {r.precision or ''}  {r.p50_ms:.3g} ms"
        cv2.putText(img, label, (PLOT_W + 5, 40 + 18 * i), font, 0.42, (30, 30, 30), 1, cv2.LINE_AA)
    if not cv2.imwrite(str(path), img):
        raise ConfigError(f"cannot write the chart to {path}; is the folder writable?")
    return path


def html_report(
    results: list[BenchResult], skipped: list[str], env: dict, chart: Path, path: Path
) -> Path:
    rows = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in table_row(r)) + "</tr>"
        for r in results
    )
    head = "".join(f"<th>{h}</th>" for h in TABLE_HEAD)
    img = base64.b64encode(Path(chart).read_bytes()).decode()
    notes = "".join(f"<li>{html.escape(s)}</li>" for s in skipped)
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>edgekit bench</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}}th{{background:#eee}}</style>
</head><body><h1>edgekit bench</h1>
<p>{html.escape(str(env.get("cpu")))} &middot; {env.get("cores")} cores &middot;
{html.escape(str(env.get("os")))}</p>
<table id="results"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>
<h2>Latency against size</h2><img id="chart" alt="p50 latency against file size"
src="data:image/png;base64,{img}"><ul>{notes}</ul>
<details><summary>machine</summary><pre>{html.escape(json.dumps(env, indent=2))}</pre></details>
</body></html>"""
    Path(path).write_text(page, encoding="utf-8")
    return Path(path)


TABLE_HEAD = (
    "artifact",
    "format",
    "precision",
    "executed",
    "size",
    "parity",
    "accuracy",
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
        _kb(r.size_bytes),
        parity,
        f"{acc:.1%}" if acc is not None else "-",
        f"{r.p50_ms:.3f}",
        f"{r.p90_ms:.3f}",
        f"{r.fps:.1f}",
        f"{r.peak_rss_mb:.0f}",
    )


def _scale(v: np.ndarray, lo: float, hi: float) -> np.ndarray:
    span = v.max() - v.min()
    return np.full(len(v), (lo + hi) / 2) if span == 0 else lo + (v - v.min()) / span * (hi - lo)


def _kb(n: float) -> str:
    return f"{n / 2**20:.1f} MB" if n >= 2**20 else f"{n / 1024:.1f} KB"
