"""The commands of benchmarks/wild.py: each runs the real `edgekit` (or, for `direct`, the
format's own exporter in benchmarks/_wild_child.py) in the user's folder and gives result rows.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests import wild

FORMATS = ("tflite", "openvino", "coreml", "onnx", "ncnn")
DIRECT = ("tflite", "openvino", "coreml", "onnx")
TARGETS = "rpi5,jetson-orin-nano,pixel4"
TIMEOUT = {"convert": 1800, "int8": 1500, "prune": 900, "direct": 600, "prepare": 600}
EDGEKIT = str(Path(sys.executable).with_name("edgekit"))  # this environment's console script
CHILD = str(Path(__file__).with_name("_wild_child.py"))
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
WARNING = re.compile(r"\b\w*Warning: ")
BOX = re.compile(r"^[\s\u2500-\u257f]*$")  # a table border line


def row(m: wild.Model, step: str, command: str, result: dict, fmt: str = "") -> dict:
    """One results row; every row has the same keys (the CSV needs them)."""
    return {
        "model": m.id,
        "source": m.source,
        "step": step,
        "format": fmt,
        "command": command,
        "outcome": result["outcome"],
        "exit_code": result.get("exit_code"),
        "message": result["message"],
        "seconds": result["seconds"],
        "timed_out": result.get("timed_out", False),
        "warnings": result.get("warnings", []),
        "parity": result.get("parity", {}),
    }


def cli(argv: list[str], cwd: Path, timeout: int) -> dict:
    """The real `edgekit ...` in the user's folder: outcome, exit code, one-line message."""
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    env["COLUMNS"] = "200"  # one error line stays one line
    t = time.perf_counter()
    try:
        proc = subprocess.run(
            [EDGEKIT, *argv[1:]], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env
        )
    except subprocess.TimeoutExpired as e:
        out = _text(e.stdout) + _text(e.stderr)
        return {
            "outcome": "error",
            "message": f"timed out after {timeout} s",
            "timed_out": True,
            "seconds": round(time.perf_counter() - t, 1),
            "warnings": _warnings(out),
        }
    out = ANSI.sub("", proc.stdout + "\n" + proc.stderr)
    result = classify(proc.returncode, out)
    result.update(seconds=round(time.perf_counter() - t, 1), exit_code=proc.returncode)
    result["stdout"] = proc.stdout
    return result


def _text(b) -> str:
    return b.decode(errors="replace") if isinstance(b, bytes) else (b or "")


def classify(code: int, out: str) -> dict:
    """ok / error / crash and the line that says why."""
    lines = [ln.strip() for ln in out.splitlines() if ln.strip()]
    warnings = _warnings(out)
    if code < 0 or code > 128:
        sig = -code if code < 0 else code - 128
        name = signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else sig
        return {
            "outcome": "crash",
            "message": f"killed by {name}; last: {lines[-1:]}",
            "warnings": warnings,
        }
    if "Traceback (most recent call last)" in out:
        at = max(i for i, ln in enumerate(lines) if ln.startswith("Traceback"))
        tail = next(
            (ln for ln in lines[at + 1 :] if re.match(r"^\w+(\.\w+)*(Error|Exception)", ln)),
            lines[-1],
        )
        return {"outcome": "crash", "message": f"traceback: {tail}"[:400], "warnings": warnings}
    if code != 0:
        err = next((ln for ln in lines if ln.startswith("error:")), lines[-1] if lines else "")
        return {"outcome": "error", "message": err[:400], "warnings": warnings}
    said = [ln for ln in lines if not ln.startswith(("INFO:", "WARNING:")) and not BOX.match(ln)]
    return {"outcome": "ok", "message": (said[-1] if said else "")[:200], "warnings": warnings}


def _warnings(out: str) -> list[str]:
    """Python warnings that reached the terminal (file:line: SomethingWarning: ...)."""
    return [ln.strip()[:240] for ln in out.splitlines() if WARNING.search(ln)][:5]


def child(argv: list[str], timeout: int) -> dict:
    """benchmarks/_wild_child.py in its own process (TensorFlow stays out of this one)."""
    t = time.perf_counter()
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    try:
        proc = subprocess.run(
            [sys.executable, CHILD, *argv], capture_output=True, text=True, timeout=timeout, env=env
        )
    except subprocess.TimeoutExpired:
        return {
            "outcome": "error",
            "message": f"timed out after {timeout} s",
            "timed_out": True,
            "seconds": round(time.perf_counter() - t, 1),
        }
    result = classify(proc.returncode, proc.stdout + proc.stderr)
    result["seconds"] = round(time.perf_counter() - t, 1)
    result["warnings"] = []  # the exporters' own warnings are not edgekit's terminal
    return result


def _image_model(work: Path) -> bool:
    return (work / "frames").is_dir()


def _inputs(work: Path) -> str:
    return "inputs.npz" if (work / "inputs.npz").exists() else "inputs.npy"


def _shape_args(m: wild.Model) -> list[str]:
    return ["--input-shape", m.input_shape] if m.input_shape else []


def _pre_args(m: wild.Model) -> list[str]:
    return ["--preprocess", m.preprocess] if m.preprocess in ("raw", "unit", "tf", "torch") else []


def step_convert(m: wild.Model, work: Path, local: str) -> list[dict]:
    calib = ["--calib", "calib"] if _image_model(work) else ["--calib", _inputs(work)]
    argv = ["edgekit", "convert", local, "--to", ",".join(FORMATS), *calib, *_shape_args(m)]
    argv += _pre_args(m)
    result = cli(argv, work, TIMEOUT["convert"])
    result["parity"] = _artifacts(m, work, work / "edgekit-out")
    if result["outcome"] == "ok":
        result["message"] = _parity_line(result["parity"])
    return [row(m, "convert", shlex.join(argv), result)]


def _artifacts(m: wild.Model, work: Path, out: Path) -> dict:
    """Per artifact: edgekit's parity from the manifest, and the straight cross-check."""
    manifest = out / "edgekit.json"
    found = _budget(out / "budget.json")  # --max-drop writes this instead of a manifest
    data = json.loads(manifest.read_text()) if manifest.exists() else {}
    for a in data.get("artifacts", []):
        p = a.get("parity") or {}
        found[a["file"]] = {
            "format": a["format"],
            "precision": a["precision"],
            "route": a.get("route"),
            "max_abs": _finite(p.get("max_abs")),
            "passed": p.get("passed"),
            "tolerance": (p.get("tolerance") or {}).get("max_abs"),
            "reason": p.get("reason", ""),
            "accuracy": p.get("accuracy"),
            "reference_accuracy": p.get("reference_accuracy"),
        }
    for f in data.get("failures", []):
        key = f"{f.get('format')}:{f.get('precision', '')}"
        found[key] = {"format": f.get("format"), "error": str(f.get("error", f))[:300]}
    runnable = [f"{out.name}/{n}" for n in found if Path(n).suffix in (".tflite", ".xml", ".onnx")]
    if runnable:
        with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as fh:
            res = Path(fh.name)
        run = child(["xcheck", m.id, str(work), str(res), *runnable], 600)
        checks = json.loads(res.read_text()) if res.stat().st_size else {}
        res.unlink(missing_ok=True)
        for name, check in checks.items():
            found[Path(name).name]["xcheck"] = check
        if run["outcome"] != "ok":
            found["xcheck"] = {"error": run["message"]}
    return found


def _budget(path: Path) -> dict:
    """Per artifact of a --max-drop run: accuracies, the budget met or not, float layers."""
    if not path.exists():
        return {}
    found = {}
    for b in json.loads(path.read_text()):
        found[Path(b["path"]).name] = {
            "format": b["format"],
            "precision": "int8",
            "accuracy": b.get("accuracy"),
            "reference_accuracy": b.get("reference_accuracy"),
            "plain_accuracy": b.get("plain_accuracy"),
            "met": b.get("met"),
            "passed": b.get("met"),
            "float_layers": len(b.get("float_layers") or []),
        }
    return found


def _finite(v):
    """A number for JSON: NaN (Core ML's unchecked max_abs on Linux) becomes None."""
    return v if isinstance(v, (int, float)) and v == v else None


def _parity_line(parity: dict) -> str:
    parts = []
    for name, a in parity.items():
        if "error" in a and "file" not in a and "max_abs" not in a:
            parts.append(f"{name} FAILED")
            continue
        x = (a.get("xcheck") or {}).get("max_abs")
        state = "pass" if a.get("passed") else "FAIL"
        parts.append(
            f"{a.get('format')} {state} {_num(a.get('max_abs'))}"
            + (f" (real data {_num(x)})" if x is not None else "")
        )
    return "; ".join(parts)


def _num(v) -> str:
    return "-" if v is None else f"{v:.1e}"


def step_direct(m: wild.Model, work: Path, local: str) -> list[dict]:
    rows = []
    for fmt in DIRECT:
        with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as fh:
            res = Path(fh.name)
        run = child(["direct", m.id, fmt, str(work), str(res)], TIMEOUT["direct"])
        if run["outcome"] == "ok" and res.stat().st_size:
            run = {**run, **json.loads(res.read_text())}
            x = (run.get("parity") or {}).get("max_abs")
            run["message"] += f"; real data max abs {x:.1e}" if x is not None else ""
        res.unlink(missing_ok=True)
        rows.append(row(m, "direct", run.get("tool", f"direct {fmt}"), run, fmt))
    return rows


def step_int8(m: wild.Model, work: Path, local: str) -> list[dict]:
    budget = (work / "val").is_dir()
    # the int8 formats edgekit has that run here (Core ML int8 is checked only on macOS)
    argv = ["edgekit", "convert", local, "--to", "tflite,openvino", "--precision", "int8"]
    if budget:
        argv += ["--calib", "calib", "--val", "val", "--labels", "labels.txt", "--max-drop", "1.0"]
    else:
        argv += ["--calib", _inputs(work)]
    argv += [*_shape_args(m), *_pre_args(m), "-o", "edgekit-int8"]
    result = cli(argv, work, TIMEOUT["int8"])
    result["parity"] = _artifacts(m, work, work / "edgekit-int8")
    if result["outcome"] == "ok":
        result["message"] = _accuracy_line(result["parity"]) or _parity_line(result["parity"])
    return [row(m, "int8", shlex.join(argv), result)]


def _accuracy_line(parity: dict) -> str:
    parts = [
        f"{a['format']} {100 * a['accuracy']:.1f}% (float {100 * a['reference_accuracy']:.1f}%)"
        for a in parity.values()
        if a.get("accuracy") is not None and a.get("reference_accuracy") is not None
    ]
    return "; ".join(parts)


def _artifact(m: wild.Model, work: Path, local: str) -> str:
    """What bench/demo/info run: edgekit's fp32 TFLite for a Keras model, else the file."""
    if not m.keras:
        return local
    found = sorted((work / "edgekit-out").glob("*.tflite"))
    return f"edgekit-out/{found[0].name}" if found else "edgekit-out/missing.tflite"


def step_bench(m: wild.Model, work: Path, local: str) -> list[dict]:
    target = "edgekit-out" if m.keras else local
    argv = ["edgekit", "bench", target, "--runs", "20", "--warmup", "3", "--json", "bench.json"]
    argv += ["--inputs", "bench.npz"] if m.bench_inputs else []  # as a user of such a model
    result = cli(argv, work, 600)
    if result["outcome"] == "ok" and (work / "bench.json").exists():
        result["message"] = _bench_line(json.loads((work / "bench.json").read_text()))
    return [row(m, "bench", shlex.join(argv), result)]


def _bench_line(data) -> str:
    parts = []
    for r in data.get("results", []):
        name = Path(str(r.get("artifact", "?"))).name
        ms = r.get("p50_ms")
        parts.append(f"{name} p50 {ms:.2f} ms" if isinstance(ms, (int, float)) else name)
    return "; ".join(parts)[:400] or "ok"


def step_estimate(m: wild.Model, work: Path, local: str) -> list[dict]:
    """On the file the user holds, and for a Keras model also on edgekit's TFLite."""
    rows = []
    for target, fmt in [(local, "")] + ([(_artifact(m, work, local), "tflite")] if m.keras else []):
        argv = ["edgekit", "estimate", target, "--target", TARGETS]
        result = cli(argv, work, 300)
        if result["outcome"] == "ok":
            result["message"] = _estimate_line(result["stdout"]) or result["message"]
        rows.append(row(m, "estimate", shlex.join(argv), result, fmt))
    return rows


def _estimate_line(stdout: str) -> str:
    """`rpi5 29.3 ms` per target, from the table's first and estimate-ms columns."""
    parts = []
    for ln in stdout.splitlines():
        cells = [c.strip() for c in re.split(r"[│|]", ln) if c.strip()]
        if len(cells) >= 5 and cells[0] in TARGETS.split(","):
            parts.append(f"{cells[0]} {cells[4]} ms ({cells[1]})")
    return "; ".join(parts)


def step_prune(m: wild.Model, work: Path, local: str) -> list[dict]:
    data = (
        ["--data", "val", "--labels", "labels.txt"]
        if (work / "val").is_dir()
        else ["--data", "train.npz"]
    )
    argv = ["edgekit", "prune", local, "--sparsity", "0.5", *data]
    return [row(m, "prune", shlex.join(argv), cli(argv, work, TIMEOUT["prune"]))]


def step_demo(m: wild.Model, work: Path, local: str) -> list[dict]:
    argv = ["edgekit", "demo", _artifact(m, work, local), "--source", "frames"]
    argv += ["--max-frames", "30", "--no-window", "--json"]
    if m.task in ("classify", "detect", "segment"):
        argv += ["--task", m.task]
    if (work / "labels.txt").exists():
        argv += ["--labels", "labels.txt"]
    if not m.keras:
        argv += _pre_args(m)
    if m.anchors and "--anchors" in cli(["edgekit", "demo", "--help"], work, 120)["stdout"]:
        _write_anchors(m.anchors, work / "anchors.toml")
        argv += ["--anchors", "anchors.toml"]
    result = cli(argv, work, 600)
    if result["outcome"] == "ok":
        result["message"] = _demo_line(result["stdout"]) or result["message"]
    return [row(m, "demo", shlex.join(argv), result)]


def _demo_line(stdout: str) -> str:
    try:
        d = json.loads(stdout[stdout.index("{") :])
    except ValueError:
        return ""
    return f"{d.get('frames')} frames at {d.get('fps')} fps"


def _write_anchors(table: dict, path: Path) -> None:
    lines = []
    for section, values in table.items():
        lines.append(f"[{section}]")
        lines += [f"{k} = {json.dumps(v)}" for k, v in values.items()]
    path.write_text("\n".join(lines) + "\n")  # JSON scalars and lists are TOML too


def step_info(m: wild.Model, work: Path, local: str) -> list[dict]:
    argv = ["edgekit", "info", _artifact(m, work, local)]
    result = cli(argv, work, 300)
    if result["outcome"] == "ok":  # its first line names the artifact and its runtime
        said = [ln for ln in result["stdout"].splitlines() if ln.strip()]
        result["message"] = said[0][:200] if said else result["message"]
    return [row(m, "info", shlex.join(argv), result)]


def step_doctor(m: wild.Model, work: Path, local: str) -> list[dict]:
    argv = ["edgekit", "doctor", _artifact(m, work, local), "--target", "rpi5"]
    return [row(m, "doctor", shlex.join(argv), cli(argv, work, 300))]


STEPS = {
    "convert": step_convert,
    "direct": step_direct,
    "int8": step_int8,
    "bench": step_bench,
    "estimate": step_estimate,
    "prune": step_prune,
    "demo": step_demo,
    "info": step_info,
    "doctor": step_doctor,
}
