"""Conversion coverage: edgekit against the direct exporters on a zoo of models, fp32.

Per model of `zoo.ZOO` and per format (TFLite, OpenVINO, Core ML, ONNX), both sides start
from the same `.keras` file:
- edgekit: `edgekit.convert(model, to=all four)`; the route that made each artifact and the
  errors of the routes tried before it come from the manifest;
- direct: Keras `model.export(path, format="litert" | "openvino" | "onnx")` and
  `coremltools.convert(keras_model, convert_to="mlprogram")` (fp32 compute precision).

Every artifact, either side's, runs in the same runtime on the same inputs and is compared
with Keras: ai-edge-litert, OpenVINO on CPU with INFERENCE_PRECISION_HINT=f32 (the plugin
runs bf16 by default on AVX512_BF16/AMX CPUs), ONNX Runtime. Core ML cannot run on Linux:
its cells check structure only (the package loads as a spec, inputs and outputs match).
Each model converts in its own subprocess with a timeout, so a hang or a crash costs one
row. Goal: edgekit succeeds wherever a direct exporter does, every fp32 artifact within
1e-4 of Keras.

    python benchmarks/conversion_coverage.py [--models NAME,...] [--timeout 420]
    python benchmarks/conversion_coverage.py --markdown   # the table from the saved results
"""

from __future__ import annotations

import argparse
import json
import os
import re
import tempfile
import time
from pathlib import Path

from _common import RESULTS, save
from coverage_model import FORMATS, SAMPLES, TOLERANCE, cell, run_logged


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--models", default="", help="comma-separated zoo names (default: all)")
    ap.add_argument("--timeout", type=int, default=420, help="seconds per model")
    ap.add_argument("--markdown", action="store_true", help="print the table from results")
    ap.add_argument(
        "--merge", action="store_true", help="replace only these models' rows in the results"
    )
    ap.add_argument("--save-as", default="conversion_coverage", help="results name")
    ap.add_argument("--merge-from", help="merge results NAME.json into the results, no run")
    args = ap.parse_args()
    if args.markdown:
        print(markdown(json.loads((RESULTS / "conversion_coverage.json").read_text())))
        return
    if args.merge_from:
        extra = json.loads((RESULTS / f"{args.merge_from}.json").read_text())
        names = [m["model"] for m in extra["models"]]
        merged = _merged(names, extra["rows"], extra["models"], extra["seconds"])
        _finish("conversion_coverage", *merged)
        return
    import zoo

    names = [n for n in args.models.split(",") if n] or [e.name for e in zoo.ZOO]
    rows, per_model = [], []
    t0 = time.perf_counter()
    for name in names:
        cells, info = _in_subprocess(name, args.timeout)
        rows.extend(cells)
        per_model.append(info)
        _say(name, cells, info)
        (RESULTS / f"{args.save_as}.partial.json").write_text(json.dumps(rows))  # survives a stop
    seconds = round(time.perf_counter() - t0, 1)
    if args.merge:
        rows, per_model, seconds = _merged(names, rows, per_model, seconds)
    _finish(args.save_as, rows, per_model, seconds)


def _finish(name: str, rows: list[dict], per_model: list[dict], seconds: float) -> None:
    payload = {
        "goal": "edgekit succeeds wherever a direct exporter does; fp32 max abs <= 1e-4",
        "tolerance": TOLERANCE,
        "samples": SAMPLES,
        "runtimes": "ai-edge-litert; openvino CPU INFERENCE_PRECISION_HINT=f32; onnxruntime CPU;"
        " coreml: structure only (Linux)",
        "seconds": seconds,
        "models": per_model,
        "summary": summary(rows),
        "rows": rows,
    }
    path = save(name, payload)
    (RESULTS / f"{name}.partial.json").unlink(missing_ok=True)
    print(json.dumps(payload["summary"], indent=2))
    print(markdown(payload))
    print(f"wrote {path}")


def _merged(names, rows, per_model, seconds):
    """The saved results with these models' rows and info replaced, zoo order kept."""
    import zoo

    old = json.loads((RESULTS / "conversion_coverage.json").read_text())
    order = [e.name for e in zoo.ZOO]
    keep = [r for r in old["rows"] if r["model"] not in names] + rows
    keep = [r for r in keep if r["model"] in order]  # models since taken out of the zoo
    keep.sort(key=lambda r: order.index(r["model"]) if r["model"] in order else len(order))
    info = [m for m in old["models"] if m["model"] not in names] + per_model
    info = [m for m in info if m["model"] in order]
    info.sort(key=lambda m: order.index(m["model"]) if m["model"] in order else len(order))
    return keep, info, round(old.get("seconds", 0) + seconds, 1)


def _in_subprocess(name: str, timeout: int) -> tuple[list[dict], dict]:
    """Convert one model in a child process (multiprocessing, spawned: a fresh interpreter,
    no re-run of this script); a timeout or crash gives failed cells."""
    import multiprocessing

    with tempfile.TemporaryDirectory(prefix="coverage-") as tmp:
        result, log = Path(tmp) / "result.json", Path(tmp) / "child.log"
        os.environ.update(TF_CPP_MIN_LOG_LEVEL="3", TQDM_DISABLE="1")
        child = multiprocessing.get_context("spawn").Process(
            target=run_logged, args=(name, result, log), daemon=True
        )
        t = time.perf_counter()
        child.start()
        child.join(timeout)
        if child.is_alive():
            child.kill()
            child.join()
            why = f"timed out after {timeout} s"
        else:
            why = "" if result.exists() else f"child exited {child.exitcode}: {_tail(log)}"
        seconds = round(time.perf_counter() - t, 1)
        if result.exists():
            out = json.loads(result.read_text())
            out["info"]["seconds"] = seconds
            return out["rows"], out["info"]
    cells = [
        cell(name, fmt, tool, ok=False, error=why)
        for fmt in FORMATS
        for tool in ("edgekit", "direct")
    ]
    return cells, {"model": name, "seconds": seconds, "error": why}


def _tail(log: Path) -> str:
    lines = [ln.strip() for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
    return lines[-1][:240] if lines else "no output"


def summary(rows: list[dict]) -> dict:
    """Counts per tool and the cells where exactly one side works."""
    out: dict = {}
    for tool in ("edgekit", "direct"):
        mine = [r for r in rows if r["tool"] == tool]
        out[tool] = {
            "cells": len(mine),
            "succeeded": sum(r["ok"] for r in mine),
            "within_1e-4": sum(bool(r["within_tol"]) for r in mine),
        }
    cells = {(r["model"], r["format"]): {} for r in rows}
    for r in rows:
        cells[(r["model"], r["format"])][r["tool"]] = r
    only = {"edgekit": [], "direct": [], "neither": []}
    for (model, fmt), pair in cells.items():
        e, d = pair.get("edgekit", {}).get("ok"), pair.get("direct", {}).get("ok")
        key = "edgekit" if e and not d else "direct" if d and not e else None
        key = key or ("neither" if not e and not d else None)
        if key:
            only[key].append(f"{model} {fmt}")
    out["only_edgekit"], out["only_direct"], out["neither"] = (
        only["edgekit"],
        only["direct"],
        only["neither"],
    )
    return out


def markdown(payload: dict) -> str:
    """Model x format: edgekit route / direct, max abs error (Core ML: structure only)."""
    rows = payload["rows"]
    head = "| model | " + " | ".join(FORMATS) + " |"
    lines = [head, "|" + "---|" * (len(FORMATS) + 1)]
    models = list(dict.fromkeys(r["model"] for r in rows))
    for m in models:
        cells = []
        for fmt in FORMATS:
            pair = {r["tool"]: r for r in rows if r["model"] == m and r["format"] == fmt}
            cells.append(f"{_md(pair.get('edgekit'), True)} / {_md(pair.get('direct'), False)}")
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _md(r: dict | None, edgekit: bool) -> str:
    if r is None or not r["ok"]:
        return "fail" if r is None or not r["error"] else f"fail ({_why(r['error'])})"
    what = r["route"] if edgekit else "ok"
    if r["max_abs"] is None:
        return f"{what} (structure)"
    missed = not r["within_tol"] or r.get("own_parity_passed") is False
    mark = " (!)" if missed else ""
    return f"{what} {r['max_abs']:.0e}{mark}"


def _why(error: str) -> str:
    """The first route's own error, short enough for a table cell."""
    found = re.search(r"every route failed \((?:[\w-]+: )?(.*)", error)
    text = (found.group(1) if found else error).replace("|", "/")
    return text[:70] + ("..." if len(text) > 70 else "")


def _say(name: str, cells: list[dict], info: dict) -> None:
    parts = []
    for fmt in FORMATS:
        pair = {r["tool"]: r for r in cells if r["format"] == fmt}
        e, d = pair.get("edgekit", {}), pair.get("direct", {})
        parts.append(
            f"{fmt} ek={'ok' if e.get('ok') else 'FAIL'} direct={'ok' if d.get('ok') else 'FAIL'}"
        )
    print(f"{name} ({info.get('seconds')} s): " + "; ".join(parts), flush=True)


if __name__ == "__main__":
    main()
