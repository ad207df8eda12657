"""What `edgekit plan` answers per target: the Pareto front (latency against accuracy), the
pick (the fastest candidate meeting both budgets; an estimate counts by its upper bound), or
the closest candidate and which budget to relax by how much; and the files it writes: the
artifact, a recipe TOML that reproduces it, a chart, plan.json."""

from __future__ import annotations

import json
import math
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from edgekit import formats
from edgekit.planner.search import Point
from edgekit.planner.space import BUDGETED


@dataclass
class TargetPlan:
    """One target's answer."""

    target: str
    basis: str  # measured | estimated
    budget_ms: float
    max_drop: float | None
    points: list[Point]
    screened: int = 0
    space: int = 0
    pick: Point | None = None
    front: list[Point] = field(default_factory=list)
    reason: str | None = None
    files: dict[str, str] = field(default_factory=dict)  # artifact, recipe, chart

    @property
    def evaluated(self) -> list[Point]:
        return [p for p in self.points if p.stage == "evaluated"]

    def to_dict(self) -> dict:
        return {
            "target": self.target,
            "pick": self.pick.to_dict() | {"artifact": self.files.get("artifact")}
            if self.pick else None,
            "front": [p.to_dict() for p in self.front],
            "reason": self.reason,
            "basis": self.basis,
            "budget_ms": self.budget_ms,
            "max_drop": self.max_drop,
            "space": self.space,
            "screened": self.screened,
            "evaluated": len(self.evaluated),
            "files": self.files,
        }  # fmt: skip


def decide(tp: TargetPlan) -> TargetPlan:
    """Fill in the front, the pick, and the reason when there is none."""
    scored = [p for p in tp.evaluated if not p.error and p.latency.ms is not None]
    tp.front = front(scored)
    meeting = [p for p in scored if p.meets(tp.budget_ms, tp.max_drop)]
    tp.pick = min(meeting, key=lambda p: p.latency.ms) if meeting else None
    if tp.pick is None:
        tp.reason = _reason(tp, scored)
    return tp


def front(points: list[Point]) -> list[Point]:
    """The candidates no other is both faster than and at least as accurate as, fastest
    first (accuracy unknown counts as lowest)."""

    def acc(p):
        return p.accuracy if p.accuracy is not None else -math.inf

    out = []
    for p in sorted(points, key=lambda p: (p.latency.ms, -acc(p))):
        if not out or acc(p) > acc(out[-1]):
            out.append(p)
    return out


def _reason(tp: TargetPlan, scored: list[Point]) -> str:
    budgets = f"--budget-ms {tp.budget_ms:g}" + (
        f" and --max-drop {tp.max_drop:g}" if tp.max_drop is not None else ""
    )
    if not scored:  # all ruled out by the screening estimate: the closest of those
        scored = [p for p in tp.points if p.stage == "screened" and p.latency.high_ms]
    if not scored:
        errors = [p.error or p.latency.error for p in tp.points if p.error or p.latency.error]
        why = f"; first error: {errors[0]}" if errors else ""
        return f"no candidate could be converted and timed for {tp.target}{why}"
    best = min(scored, key=lambda p: _shortfall(p, tp))
    need = []
    bound = best.latency.bound_ms
    if bound > tp.budget_ms:
        what = "its estimate's upper bound" if best.latency.basis == "estimated" else "measured"
        need.append(f"--budget-ms to {math.ceil(bound * 100) / 100:g} ({what})")
    unknown = best.stage == "screened"  # never converted: its accuracy is not known
    if tp.max_drop is not None and not unknown and (best.drop is None or best.drop > tp.max_drop):
        need.append(
            f"--max-drop to {math.ceil(best.drop * 100) / 100:g}" if best.drop is not None
            else "--max-drop: its accuracy cannot be measured here"
        )  # fmt: skip
    how = " (by the screening estimate, not converted)" if best.stage == "screened" else ""
    return (
        f"nothing met {budgets} on {tp.target}; closest: {best.candidate.label()} at "
        f"{_ms(best)}{_acc(best)}{how}; relax {' and '.join(need)}"
    )


def _shortfall(p: Point, tp: TargetPlan) -> float:
    """How far a candidate is from both budgets, each as a fraction of its budget."""
    lat = max(0.0, p.latency.bound_ms / tp.budget_ms - 1)
    if tp.max_drop is None:
        return lat
    if p.stage == "screened":
        return lat
    drop = 100.0 if p.drop is None else max(0.0, p.drop - tp.max_drop)
    return lat + drop / max(tp.max_drop, 1.0)


def _ms(p: Point) -> str:
    lat = p.latency
    if lat.basis == "estimated":
        return f"{lat.ms:.3g} ms estimated ({lat.low_ms:.3g}-{lat.high_ms:.3g})"
    return f"{lat.ms:.3g} ms measured"


def _acc(p: Point) -> str:
    if p.accuracy is None:
        return ""
    return f", accuracy {100 * p.accuracy:.2f}% (drop {p.drop:.2f})"


def write(tp: TargetPlan, out: Path, *, source: str, sha: str, options: dict) -> None:
    """The pick's artifact, its Keras variant when pruned or resized, a recipe and a chart
    into OUT/<target>/ (replaced whole, so no stale files remain)."""
    folder = out / tp.target
    staging = out / f".{tp.target}-plan"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        if tp.pick is not None:
            _pick_files(tp, staging, folder, source, sha, options)
        chart(tp, staging / "front.png")
        tp.files["chart"] = str(folder / "front.png")
        shutil.rmtree(folder, ignore_errors=True)
        staging.rename(folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _pick_files(tp, staging: Path, folder: Path, source: str, sha: str, options: dict) -> None:
    pick = tp.pick
    for f in formats.files_of(pick.artifact):
        copy = shutil.copytree if f.is_dir() else shutil.copy2
        copy(f, staging / f.name)
    tp.files["artifact"] = str(folder / Path(pick.artifact).name)
    model = source
    variant = options.get("variant")
    if variant and Path(variant) != Path(source):
        shutil.copy2(variant, staging / Path(variant).name)
        model = str(folder / Path(variant).name)
    tp.files["recipe"] = str(folder / "recipe.toml")
    tp.files["model"] = model
    (staging / "recipe.toml").write_text(recipe(tp, model, sha, options))


def recipe(tp: TargetPlan, model: str, sha: str, options: dict) -> str:
    """A recipe for `edgekit convert MODEL --recipe FILE`: the format and precision, the
    calibration options; the [plan] table records the rest (not read by convert)."""
    c = tp.pick.candidate
    prec = "int8" if c.precision == BUDGETED else c.precision
    lines = [
        f"description = {json.dumps(f'edgekit plan pick for {tp.target}: {c.label()}')}",
        f"targets = [{json.dumps(f'{c.format}:{prec}')}]",
        "",
        "[options]",
        f"calib_samples = {int(options.get('calib_samples', 100))}",
    ]
    if c.precision == BUDGETED:
        lines.append(f"max_drop = {float(tp.max_drop):g}")
    cmd = f"edgekit convert {model} --recipe {tp.files['recipe']}"
    cmd += " --calib DIR" if formats.needs_calibration(c.format, prec) else ""
    if c.precision == BUDGETED:
        cmd = f"edgekit convert {model} --to {c.format} --max-drop {tp.max_drop:g} --val DIR"
    p = tp.pick.to_dict()
    lines += ["", "[plan]", f"model = {json.dumps(model)}", f"source_sha256 = {json.dumps(sha)}"]
    for key in ("prune", "input_size", "threads", "latency_ms", "latency_low_ms",
                "latency_high_ms", "basis", "accuracy", "accuracy_drop"):  # fmt: skip
        if p[key] is not None:
            lines.append(f"{key} = {json.dumps(p[key])}")
    lines.append(f"command = {json.dumps(cmd)}")
    return "\n".join(lines) + "\n"


def chart(tp: TargetPlan, path: Path) -> None:
    """Latency against accuracy: every evaluated candidate, the front, the budgets, the pick."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pts = [p for p in tp.evaluated if p.latency.ms is not None]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for basis, marker in (("measured", "o"), ("estimated", "s")):
        sel = [p for p in pts if p.latency.basis == basis and p.accuracy is not None]
        if sel:
            ax.scatter([p.latency.ms for p in sel], [100 * p.accuracy for p in sel], marker=marker,
                       alpha=0.5, label=f"{basis}")  # fmt: skip
    fr = [p for p in tp.front if p.accuracy is not None]
    if fr:
        ax.step([p.latency.ms for p in fr], [100 * p.accuracy for p in fr], where="post",
                color="tab:red", label="Pareto front")  # fmt: skip
    ax.axvline(tp.budget_ms, color="grey", ls="--", label=f"budget {tp.budget_ms:g} ms")
    if tp.pick is not None and tp.pick.accuracy is not None:
        ax.scatter([tp.pick.latency.ms], [100 * tp.pick.accuracy], s=160, facecolors="none",
                   edgecolors="black", label=f"pick: {tp.pick.candidate.label()}")  # fmt: skip
    ax.set_xlabel("latency (ms)")
    ax.set_ylabel("accuracy on --val (%)")
    ax.set_title(f"edgekit plan: {tp.target} ({tp.basis})")
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
