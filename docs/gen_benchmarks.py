"""The benchmarks page's tables, generated from `benchmarks/results/*.json`.

One function per results file turns its JSON into Markdown; a results file without one gets a
generic rendering of its scalar fields and row lists, so every file that exists shows up and
an absent file is skipped. The docs hook (`docs/hooks.py`) calls `page()` on every build;

    python docs/gen_benchmarks.py            # prints the same Markdown
"""

from __future__ import annotations

import ast
import json
import math
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
FORMAT_COLUMNS = (
    ("tflite", "TFLite"),
    ("openvino", "OpenVINO"),
    ("coreml", "Core ML"),
    ("onnx", "ONNX"),
)


def table(header: list[str], rows: list[list]) -> list[str]:
    """A Markdown table; None cells print as '-'."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        cells = ["-" if c is None else str(c).replace("|", "/") for c in row]
        lines.append("| " + " | ".join(cells) + " |")
    return lines + [""]


def num(value, digits: int = 3) -> str | None:
    """A number in `digits` significant figures; None and NaN as None."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return f"{value:.{digits}g}"


def pct(value, digits: int = 0) -> str | None:
    return None if value is None else f"{100 * value:.{digits}f}%"


def provenance(name: str, data: dict) -> list[str]:
    """What made the file, what it measures, on which machine, when, and its goal."""
    script = ROOT / "benchmarks" / f"{name}.py"
    lines = [f"`benchmarks/results/{name}.json`"]
    if script.exists():
        doc = ast.get_docstring(ast.parse(script.read_text())) or ""
        lines = [
            doc.split("\n\n")[0].replace("\n", " "),
            "",
            f"Made by `python benchmarks/{name}.py`; results in " + lines[0],
        ]
    machine = data.get("machine") or data.get("host_machine") or {}
    if machine:
        lines[-1] += (
            f", on {machine.get('cpu', '?')} ({machine.get('usable_cores', '?')} usable"
            f" cores, {machine.get('machine', '?')})"
        )
    if data.get("date"):
        lines[-1] += f", {data['date']}"
    lines[-1] += "."
    if isinstance(data.get("goal"), str):
        lines += ["", f"Goal: {data['goal']}."]
    return lines + [""]


def convert_time(data: dict) -> list[str]:
    rows = [
        [r["target"], f"{r['edgekit_s']:.1f} s", f"{r['direct_s']:.1f} s", r["ratio"]]
        for r in data["rows"]
    ]
    note = f"Median of {data.get('rounds', '?')} alternating rounds."
    return [note, ""] + table(["target", "edgekit", "direct", "ratio"], rows)


def runtime_overhead(data: dict) -> list[str]:
    rows = [
        [r["artifact"], _tool(r), f"{r['edgekit_p50_ms']} ms", f"{r['tool_p50_ms']} ms", r["ratio"]]
        for r in data["rows"]
    ]
    note = (
        f"{data.get('rounds', '?')} alternating rounds of {data.get('runs', '?')} runs; "
        "the ratio is the median of per-round ratios."
    )
    return [note, ""] + table(["artifact", "tool", "edgekit p50", "tool p50", "ratio"], rows)


def _tool(row: dict) -> str:
    threads = row["threads"]
    return (
        f"{row['tool']} ({threads} threads)"
        if isinstance(threads, int)
        else f"{row['tool']} ({threads})"
    )


def conversion_coverage(data: dict) -> list[str]:
    s = data["summary"]
    lines = [
        f"edgekit {s['edgekit']['succeeded']}/{s['edgekit']['cells']} cells, direct exporters "
        f"{s['direct']['succeeded']}/{s['direct']['cells']}; cells only a direct exporter made: "
        f"{', '.join(s['only_direct']) or 'none'}. Cell: edgekit's route and max abs error "
        "against Keras / the direct exporter's max abs error, or x and the reason "
        "(Core ML: structure only, it runs only on macOS).",
        "",
    ]
    cells = {(r["model"], r["format"], r["tool"]): r for r in data["rows"]}
    reasons: list[str] = []
    rows = []
    for model in dict.fromkeys(r["model"] for r in data["rows"]):
        row = [model]
        for fmt, _ in FORMAT_COLUMNS:
            mine, theirs = cells.get((model, fmt, "edgekit")), cells.get((model, fmt, "direct"))
            row.append(
                f"{_coverage_cell(mine, reasons, True)} / {_coverage_cell(theirs, reasons, False)}"
            )
        rows.append(row)
    lines += table(["model"] + [title for _, title in FORMAT_COLUMNS], rows)
    return lines + [f"({i + 1}) {why}" + "  " for i, why in enumerate(reasons)] + [""]


def _coverage_cell(row: dict | None, reasons: list[str], route: bool) -> str:
    if row is None:
        return "-"
    if not row["ok"]:
        why = (row.get("error") or "failed").splitlines()[0]
        why = why if len(why) <= 120 else why[:119] + "…"
        if why not in reasons:
            reasons.append(why)
        return f"x ({reasons.index(why) + 1})"
    value = num(row.get("max_abs"), 1) or "ok"
    return f"{row['route']} {value}" if route else value


def compression(data: dict) -> list[str]:
    lines = [f"Settings: {_settings(data.get('settings', {}))}.", ""]
    for model in dict.fromkeys(r["model"] for r in data["rows"]):
        lines += [f"Model `{model}`:", ""] + _compression_model(
            [r for r in data["rows"] if r["model"] == model]
        )
    if data.get("budget"):
        lines += [
            "`--max-drop` on `edgekit.example.outliers` (one outlier channel, which "
            "per-tensor int8 hurts):",
            "",
        ] + _budget(data["budget"])
    return lines


def _compression_model(rows: list[dict]) -> list[str]:
    at = {(r["variant"], r["artifact"]): r for r in rows}
    base = {r["artifact"]: r for r in rows if r["variant"] == "baseline"}
    arts = ["tflite:fp32", "tflite:int8", "openvino:fp32", "onnx:fp32"]
    out = []
    for variant in dict.fromkeys(r["variant"] for r in rows):
        get = lambda a, v=variant: at.get((v, a), {})
        first = get("tflite:fp32")
        out.append(
            [
                variant,
                num(first.get("flops_m")),
                " / ".join(pct(get(a).get("accuracy"), 2) or "-" for a in arts[:2]),
                " / ".join(
                    _gzip(get(a), base.get(a), variant)
                    for a in ("tflite:fp32", "tflite-sparse:fp32", "openvino:fp32", "onnx:fp32")
                ),
                " / ".join(num(get(a).get("latency_ratio")) or "-" for a in arts),
                first.get("m_n_layers_holding"),
            ]
        )
    header = [
        "variant",
        "MFLOPs",
        "accuracy TFLite fp32 / int8",
        "gzip TFLite fp32 / sparse-tensor file / OpenVINO / ONNX",
        "latency ratio TFLite fp32 / int8 / OpenVINO / ONNX",
        "2:4 layers held",
    ]
    return table(header, out)


def _gzip(row: dict, base: dict | None, variant: str) -> str:
    if not row.get("gzip_kb"):
        return "-"
    if variant == "baseline" or not base:
        return f"{row['gzip_kb']:.0f} KB"
    return f"{row['gzip_kb'] / base['gzip_kb']:.2f}x"


def _budget(rows: list[dict]) -> list[str]:
    out = []
    for r in rows:
        kept = len(r["float_layers"])
        out.append(
            [
                r["format"],
                pct(r["reference_accuracy"], 1),
                pct(r["plain_accuracy"], 1),
                pct(r["accuracy"], 1),
                f"{kept} of {kept + r['quantized_layers']}",
                "met" if r["met"] else "not met",
            ]
        )
    header = ["format", "float", "plain int8", "budgeted", "kept in float", "budget"]
    return table(header, out)


def compression_latency(data: dict) -> list[str]:
    """Baseline, uniform, kernel-grid and latency-aware channel pruning: p50 and ratios."""
    rows = [
        [
            r["size"],
            r["artifact"],
            r["threads"],
            r["variant"],
            num(r["p50_ms"]),
            r["latency_ratio"],
            r["flops_ratio"],
            pct(r["accuracy"], 1),
        ]
        for r in data["rows"]
    ]
    header = ["input", "artifact", "threads", "variant", "p50 ms", "latency ratio", "FLOPs ratio"]
    return [f"Settings: {_settings(data.get('settings', {}))}.", ""] + table(
        header + ["accuracy"], rows
    )


def prune_layers(data: dict) -> list[str]:
    """OpenVINO's own per-layer times of each variant: channels, kernel, measured and
    estimated microseconds."""
    known = ("baseline", "uniform", "grid", "latency")
    variants = [k for k in known if f"{k}_us" in data["rows"][0]]
    header = ["layer"] + [f"{v} {c}" for v in variants for c in ("channels", "us", "est. us")]
    rows = [
        [r["layer"]] + [r[f"{v}_{c}"] for v in variants for c in ("channels", "us", "estimated_us")]
        for r in data["rows"]
    ]
    totals = data.get("openvino_total_us", {})
    total = ", ".join(f"{k} {v:.0f} us" for k, v in totals.items())
    return [f"Whole model (sum of executed nodes): {total}.", ""] + table(header, rows)


def estimate_accuracy(data: dict) -> list[str]:
    """Held-out error per split (leave one model / device / runtime out), then per group."""
    splits = data.get("splits") or {
        "model": {k: data.get(k) for k in ("method", "overall", "by_device", "by_runtime")}
    }
    goals = ", ".join(f"{k}: {'met' if v else 'not met'}" for k, v in data["goal"].items())
    rows = [
        [
            s.get("method") or name,
            s["overall"]["rows"],
            pct(s["overall"]["mdape"], 1),
            pct(s["overall"]["coverage"], 1),
        ]
        for name, s in splits.items()
    ]
    lines = [f"Goals: {goals}.", ""]
    lines += table(["held out", "rows", "median error", "in 80% interval"], rows)
    names = " / ".join(splits)
    for key in ("device", "runtime"):
        groups = {g[key]: g["rows"] for s in splits.values() for g in s.get(f"by_{key}", [])}
        per = {name: {g[key]: g for g in s.get(f"by_{key}", [])} for name, s in splits.items()}
        rows = [
            [group, n]
            + [
                " / ".join(pct(per[name].get(group, {}).get(m)) or "-" for name in splits)
                for m in ("mdape", "coverage")
            ]
            for group, n in groups.items()
        ]
        lines += table([key, "rows", f"median error ({names})", f"in interval ({names})"], rows)
    return lines


def demo_pipeline(data: dict) -> list[str]:
    rows = []
    for s in data["summary"]:
        stages = " / ".join(
            num(s["stage_ms"].get(k)) or "-" for k in ("capture", "infer", "output", "record")
        )
        rows.append(
            [
                s["task"],
                s["pipelined_fps"],
                s["sequential_fps"],
                s["speedup"],
                stages,
                s["fps_over_bound"],
                s["parallel_capacity"],
                "passed" if s["passed"] else "not met",
            ]
        )
    header = [
        "task",
        "pipelined FPS",
        "loop FPS",
        "speedup",
        "stage ms: capture / infer / output / record",
        "FPS / slowest-stage bound",
        "cores got",
        "goals",
    ]
    note = (
        f"{data.get('rounds', '?')} alternating rounds; the speedup is the median of "
        "per-round ratios."
    )
    if data.get("note"):
        note += f" Note: {data['note']}."
    return [note, ""] + table(header, rows)


def demo_soak(data: dict) -> list[str]:
    r = data["result"]
    lines = [
        f"{r['minutes']:g} minutes, {r['frames']:,} frames ({r['fps']:.0f} FPS); RSS "
        f"{r['rss_start_mb']} MiB at the start, {r['rss_after_warmup_mb']} after the warm-up, "
        f"{r['rss_end_mb']} at the end: {r['growth_pct']:+.2f}% (goal: {r['goal']}; "
        f"{'passed' if r['passed'] else 'not met'}).",
        "",
    ]
    rows = [
        [stage, v.get("p50"), v.get("p90"), v.get("mean")]
        for stage, v in r.get("stages_ms", {}).items()
    ]
    lines += table(["stage", "p50 ms", "p90 ms", "mean ms"], rows)
    if (RESULTS / "demo_soak.png").exists():
        lines += ["![RSS over the soak](results/demo_soak.png)", ""]
    return lines


def qemu_aarch64(data: dict) -> list[str]:
    rows = [
        [
            r["runtime"],
            r["artifact"],
            r["machine"],
            f"{r['python']} / {r['numpy']}",
            r["executed_precision"],
            pct(r["top1_agreement"]),
            num(r["max_abs_diff"], 2),
            r["tolerance"],
            "passed" if r["passed"] else "failed",
        ]
        for r in data["rows"]
    ]
    header = [
        "runtime",
        "artifact",
        "machine",
        "Python / numpy",
        "executed",
        "top-1 vs x86",
        "max abs diff",
        "tolerance",
        "check",
    ]
    lines = [data.get("note", ""), "", f"Emulator: {data['emulator']['version']}.", ""]
    lines += table(header, rows)
    return lines + [f"- {issue}" for issue in data.get("known_issues", [])] + [""]


def wild(data: dict) -> list[str]:
    s = data["summary"]
    lines = [
        f"{len(data['models'])} models; outcomes: {s['ok']} ok, {s['error']} error, "
        f"{s['crash']} crash ({s['tracebacks']} tracebacks). Convert cells only a direct "
        f"exporter made: {', '.join(s['only_direct']) or 'none'}. Artifacts whose parity "
        f"failed: {', '.join(s['parity_failed']) or 'none'}.",
        "",
    ]
    steps = Counter((r["step"], r["outcome"]) for r in data["rows"])
    names = sorted({o for _, o in steps})
    rows = [
        [step] + [steps.get((step, o), 0) for o in names]
        for step in dict.fromkeys(r["step"] for r in data["rows"])
    ]
    lines += table(["command"] + names, rows)
    if (ROOT / "docs" / "wild.md").exists():
        lines += ["Every model and command: [the wild corpus](wild.md).", ""]
    return lines


def generic(data) -> list[str]:
    """Any results file without its own function: scalar fields, then each list of rows."""
    if isinstance(data, list):
        data = {"rows": data}
    scalars = [f"{k}: {v}" for k, v in data.items() if isinstance(v, (str, int, float, bool))]
    lines = ["; ".join(scalars) + ".", ""] if scalars else []
    for key, value in data.items():
        if isinstance(value, list) and value and isinstance(value[0], dict):
            cols = [c for c, v in value[0].items() if not isinstance(v, (dict, list))]
            lines += [f"`{key}`:", ""] + table(cols, [[r.get(c) for c in cols] for r in value])
    return lines


def _settings(settings: dict) -> str:
    return ", ".join(f"{k} {v}" for k, v in settings.items() if k != "cache")


RENDERERS = {
    f.__name__: f
    for f in (
        convert_time,
        runtime_overhead,
        conversion_coverage,
        compression,
        compression_latency,
        prune_layers,
        estimate_accuracy,
        demo_pipeline,
        demo_soak,
        qemu_aarch64,
        wild,
    )
}
TITLES = {"qemu_aarch64": "qemu aarch64"}


def page(results: Path = RESULTS) -> str:
    """Markdown for every results file present: the known ones first, in RENDERERS' order."""
    present = {p.stem: p for p in sorted(results.glob("*.json"))}
    names = [n for n in RENDERERS if n in present]
    names += [n for n in present if n not in RENDERERS and not n.endswith(".partial")]
    lines: list[str] = []
    for name in names:
        data = json.loads(present[name].read_text())
        title = TITLES.get(name, name.replace("_", " ").capitalize())
        lines += [f"## {title}", ""]
        if isinstance(data, dict):
            lines += provenance(name, data)
        lines += _render(name, data)
    return "\n".join(lines)


def _render(name: str, data) -> list[str]:
    """The file's own function; if the file's layout changed under it, the generic table
    with a note saying so (one results file must not take the whole docs build down)."""
    if name not in RENDERERS:
        return generic(data)
    try:
        return RENDERERS[name](data)
    except (KeyError, TypeError, IndexError, AttributeError) as e:
        note = (
            f"*`{name}.json` no longer has the layout `docs/gen_benchmarks.py:{name}` reads "
            f"({type(e).__name__}: {e}); shown generically until that function follows.*"
        )
        return [note, ""] + generic(data)


if __name__ == "__main__":
    print(page())
