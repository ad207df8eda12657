"""`edgekit.plan`: the fastest artifact that meets a latency budget and an accuracy budget on
each target. Arguments are checked before anything heavy is imported or written; the search
per target is `edgekit.planner.search`, the answer and its files `edgekit.planner.report`."""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from edgekit import formats
from edgekit.errors import ConfigError
from edgekit.planner import cache, evaluate, report, search
from edgekit.planner import space as space_mod
from edgekit.planner.latency import RUNS, Latency, of_artifact, screen
from edgekit.planner.search import Point
from edgekit.planner.space import Candidate, Target

log = logging.getLogger(__name__)
# accuracy points a quantized artifact may, by chance, score above its Keras variant: a
# variant that misses --max-drop by more rules out every precision of it
VARIANT_SLACK = 0.5


@dataclass
class PlanReport:
    """Every target's answer, and where the files went."""

    model: str
    targets: list[report.TargetPlan]
    out: Path | None
    seconds: float
    notes: list[str] = field(default_factory=list)

    @property
    def met(self) -> bool:
        """Whether every target has a pick."""
        return all(t.pick is not None for t in self.targets)

    def to_dict(self) -> dict:
        return {"model": self.model, "targets": [t.to_dict() for t in self.targets],
                "seconds": round(self.seconds, 1), "notes": self.notes}  # fmt: skip


def plan(
    model: str | Path | None = None,
    *,
    targets,
    budget_ms: float,
    max_drop: float | None = None,
    val=None,
    labels=None,
    calib=None,
    on=None,
    out: str | Path | None = "edgekit-out",
    workers: int | None = None,
    ray: str | None = None,
    trials: int | None = None,
    prunes=None,
    sizes=None,
    threads=None,
    only=None,
    epochs: int = 4,
    calib_samples: int | None = None,
    seed: int = 0,
    runs: int = RUNS,
    exhaustive: bool = False,
    quiet: bool = True,
    progress: Callable[[str], None] | None = None,
) -> PlanReport:
    """Search formats, precisions (budgeted int8 mixes too), channel pruning, input sizes and
    threads for the fastest artifact within `budget_ms` and `max_drop` on each target.

    Args:
        model: `.keras`/`.h5`/SavedModel; None for the bundled example and its own data.
        targets: ids ("local" is this machine, measured here; profile ids are estimated,
            or measured over `on`), a list or "local,rpi5".
        budget_ms: the latency budget (an estimate counts by its upper bound).
        max_drop: accuracy points the pick may lose against the model on `val`.
        val: the labelled validation folder (one subfolder per class).
        labels: the class names in the model's output order (a file or a list).
        calib: calibration data; pruned models are also fine-tuned on these images
            (distillation).
        on: `URL` or `ID=URL` (ssh://user@host[:port], adb[:SERIAL]) per reachable target.
        out: folder for OUT/<target>/ (artifact, recipe.toml, front.png) and plan.json;
            None writes nothing.
        workers: conversion processes (default `workers.default_workers()`); ray: a Ray
            cluster address instead (`ray start --head`), or "auto".
        trials: most artifacts converted per target (each timed at every thread count).
        prunes: structured pruning levels to search (fractions of channels).
        sizes: input resolutions to search (fully convolutional models).
        threads: thread counts to search.
        only: "fmt" or "fmt:precision" entries to keep of the search space.
        exhaustive: convert and measure every candidate instead of searching (to check the
            search against; many times slower).

    Returns:
        PlanReport; a target with no pick has `reason` (closest candidate, budget to relax).

    Raises:
        ConfigError: a bad argument, before any work. MissingDependencyError: no optuna.

    Example:
        >>> r = edgekit.plan("model.keras", targets="local,rpi5", budget_ms=20, max_drop=1,
        ...                  val="val/")
        >>> r.targets[0].pick.to_dict()["artifact"]
    """
    t0 = time.perf_counter()
    args = _check(model, targets, budget_ms, max_drop, val, labels, calib, on, out, ray, only)
    say = progress or log.info
    setup = _setup(args, max_drop, epochs, calib_samples, ship=bool(ray))
    from edgekit.planner.workers import Pool

    with Pool(workers, ray=ray, quiet=quiet) as pool:
        pool.warm()  # workers import TensorFlow while this process reads the model
        ev = Evaluator(setup, pool, runs, say)
        say("reading the model: input size, pruning, the reference accuracy")
        info, notes = ev.describe()
        plans = []
        for target in args["targets"]:
            sp = space_mod.space(target, native_size=info["size"], resizable=info["resizable"],
                                 prunable=info["prunable"], calibrated=bool(ev.setup.calib),
                                 max_drop=max_drop, prunes=prunes, sizes=sizes, threads=threads,
                                 only=_split(only))  # fmt: skip
            plans.append(ev.search(target, sp, budget_ms, max_drop, trials, seed, exhaustive))
    result = PlanReport(str(args["model"]), plans, args["out"], 0.0, notes)
    if args["out"] is not None:
        _write(result, ev.setup, {"calib_samples": ev.setup.calib_samples})
    result.seconds = time.perf_counter() - t0
    return result


class Evaluator:
    """Conversions (through the pool) and latencies (here, one at a time), each made once."""

    def __init__(self, setup: evaluate.Setup, pool, runs: int, say) -> None:
        self.setup, self.pool, self.runs, self.say = setup, pool, runs, say
        self.builds: dict[tuple, dict] = {}
        self.latencies: dict[tuple, Latency] = {}
        self.costs: dict[tuple, object] = {}

    def describe(self) -> tuple[dict, list[str]]:
        info, notes = evaluate.describe(self.setup), []
        if not self.setup.val:
            info |= {"resizable": False, "prunable": False}
            notes.append("no --val: pruning and input sizes are not searched (their accuracy "
                         "cannot be measured), nor is accuracy reported")  # fmt: skip
        return info, notes

    def search(self, target: Target, sp, budget_ms, max_drop, trials, seed,
               exhaustive: bool = False) -> report.TargetPlan:  # fmt: skip
        first = next(iter(sp.precisions))
        ref = Candidate(
            first,
            "fp32" if "fp32" in sp.precisions[first] else sp.precisions[first][0],
            threads=max(sp.threads, key=lambda t: t or 0),
        )
        self._reference(ref)
        self.say(f"{target.id}: {len(sp.candidates())} candidates ({target.basis})")
        if exhaustive:
            cands = sp.candidates()
            outcome = search.Outcome(self.points(target, cands), 0, len(cands))
            return report.decide(report.TargetPlan(target.id, target.basis, budget_ms, max_drop,
                                                   outcome.points, 0, outcome.space))  # fmt: skip
        scale = self._scale(target, ref)
        outcome = search.run(
            sp, screen=lambda c: self._screen(target, c, scale),
            evaluate=lambda cs: self.points(target, cs), budget_ms=budget_ms,
            max_drop=max_drop, trials=trials, batch=self.pool.workers, seed=seed,
            reference=ref, measured=target.basis == "measured",
            built=lambda build: build in self.builds,
            variant_miss=lambda c: self._variant_miss(c, max_drop),
        )  # fmt: skip
        tp = report.TargetPlan(target.id, target.basis, budget_ms, max_drop, outcome.points,
                               outcome.screened, outcome.space)  # fmt: skip
        return report.decide(tp)

    def _reference(self, ref: Candidate) -> None:
        """The original model's accuracy, from the first artifact of it (its Keras score)."""
        if self.setup.reference is not None or not self.setup.val:
            return
        r = self._built([ref.build])[ref.build]
        if r.get("variant_accuracy") is None:
            raise ConfigError(f"the reference conversion failed; got: {r.get('error')}")
        self.setup = dataclasses.replace(self.setup, reference=r["variant_accuracy"])

    def _variant_miss(self, c: Candidate, max_drop: float | None) -> tuple | None:
        """(accuracy, drop) of the candidate's pruned/resized Keras variant when a build of
        it has scored the variant and it lost more than `max_drop` (with VARIANT_SLACK)."""
        ref = self.setup.reference
        if max_drop is None or ref is None or not (c.prune or c.input_size):
            return None
        for b, r in self.builds.items():
            acc = r.get("variant_accuracy")
            if b[2:] == (c.prune, c.input_size) and acc is not None:
                drop = 100 * (ref - acc)
                return (acc, drop) if drop > max_drop + VARIANT_SLACK else None
        return None

    def _scale(self, target: Target, ref: Candidate) -> float:
        """Measured over estimated for the reference: estimates of a measured target (this
        machine's generic profile, or the device's) in its own milliseconds."""
        if target.basis != "measured":
            return 1.0
        measured = self.points(target, [ref])[0].latency.ms
        est = self._screen(target, ref, 1.0).ms
        return measured / est if measured and est else 1.0

    def _screen(self, target: Target, c: Candidate, scale: float) -> Latency:
        from edgekit.costmodel import model_costs
        from edgekit.planner.latency import arithmetic

        key = (c.prune, c.input_size, arithmetic(c.precision))
        if key not in self.costs:
            path = evaluate.variant(self.setup, c.prune, c.input_size, tuned=False)
            self.costs[key] = model_costs(path, precision=key[2])
        e = screen(target, c, self.costs[key])
        if scale != 1.0 and e.ms is not None:
            why = f"{e.detail}; scaled x{scale:.3g} to the reference's measurement"
            e = Latency(e.ms * scale, e.low_ms * scale, e.high_ms * scale, e.basis, why)
        return e

    def points(self, target: Target, cands: list[Candidate]) -> list[Point]:
        built = self._built([c.build for c in cands])
        return [self._point(target, c, built[c.build]) for c in cands]

    def _built(self, builds: list[tuple]) -> dict[tuple, dict]:
        todo = list(dict.fromkeys(b for b in builds if b not in self.builds))
        for b, r in zip(todo, self.pool.map(evaluate.build, [(self.setup, *b) for b in todo])):
            if r.get("blobs") is not None:  # from another machine: into this cache
                r = cache.store(cache.folder(self.setup.sha) / r["entry"], r.pop("blobs"))
            self.builds[b] = r
        return {b: self.builds[b] for b in builds}

    def _point(self, target: Target, c: Candidate, r: dict) -> Point:
        if r.get("error"):
            return Point(c, Latency(None, None, None, target.basis), error=r["error"])
        key = (target.id, c)
        acc, ref = r.get("accuracy"), self.setup.reference
        if key not in self.latencies:
            lat = self.latencies[key] = of_artifact(target, c, r["artifact"], runs=self.runs)
            self.say(f"{target.id}: {c.label()}: " + (f"{lat.ms:.3g} ms" if lat.ms else "-")
                     + (f", accuracy {100 * acc:.2f}%" if acc is not None else ""))  # fmt: skip
        lat = self.latencies[key]
        drop = 100 * (ref - acc) if acc is not None and ref is not None else None
        return Point(
            c,
            lat,
            acc,
            drop,
            r.get("accuracy_basis"),
            r["artifact"],
            error=lat.error,
            variant=r.get("variant"),
        )


def _check(model, targets, budget_ms, max_drop, val, labels, calib, on, out, ray, only) -> dict:
    """Every argument checked, nothing imported that is heavy, nothing written."""
    from edgekit._deps import need

    if not isinstance(budget_ms, (int, float)) or not math.isfinite(budget_ms) or budget_ms <= 0:
        raise ConfigError(f"--budget-ms must be a positive number of ms; got: {budget_ms}")
    if max_drop is not None and not (math.isfinite(max_drop) and max_drop >= 0):
        raise ConfigError(f"--max-drop is in accuracy points and >= 0; got: {max_drop}")
    tlist = space_mod.targets(_split(targets), list(on or ()))
    for item in _split(only):  # --only tflite or tflite:int8: names the registry knows
        fmt, _, prec = item.partition(":")
        known = (*formats.get(fmt).precisions, space_mod.BUDGETED)
        if prec and prec not in known:
            raise ConfigError(f"--only: {fmt} has no precision {prec!r}; got: {item}; "
                              f"choose from {', '.join(known)}")  # fmt: skip
    if model is not None:
        from edgekit.source import detect_kind

        detect_kind(Path(model))
        if max_drop is not None and val is None:
            raise ConfigError(
                f"--max-drop needs --val DIR (DIR/<class>/<image>) to measure accuracy; got: "
                f"--max-drop {max_drop:g} without --val; pass --val, or drop --max-drop"
            )
    for path, flag in ((val, "--val"), (calib, "--calib")):
        if path is not None and not Path(path).exists():
            raise ConfigError(f"{flag} path not found; got: {path}")
    if out is not None and Path(out).exists() and not Path(out).is_dir():
        raise ConfigError(f"output path exists and is not a folder; got: {out}")
    need("optuna", what="edgekit plan")
    if ray:
        need("ray", what="edgekit plan --ray")
    return {"model": model, "targets": tlist, "val": val, "labels": labels, "calib": calib,
            "out": Path(out) if out is not None else None}  # fmt: skip


def _setup(args: dict, max_drop, epochs, calib_samples, *, ship: bool) -> evaluate.Setup:
    from edgekit.contract import read_labels
    from edgekit.manifest import sha256

    model, val, calib, labels = args["model"], args["val"], args["calib"], args["labels"]
    if model is None:  # the bundled example, with its own calibration and validation images
        from edgekit.example import LABELS, MODEL

        model, labels = MODEL, labels or LABELS
        calib, val = calib or _example_data("calib", 200), val or _example_data("val", 400)
        calib_samples = calib_samples or 200
        args["model"] = model
    names = read_labels(labels) if isinstance(labels, (str, Path)) else labels
    names = tuple(names) if names else None
    return evaluate.Setup(
        str(Path(model).resolve()), sha256(Path(model)),
        str(Path(calib).resolve()) if calib else None, str(Path(val).resolve()) if val else None,
        names, calib_samples or 100, max_drop, epochs=epochs,
        data_key=cache.data_key(calib, val, labels=names), ship=ship,
    )  # fmt: skip


def _example_data(split: str, count: int) -> Path:
    """The example's images, rendered once into the cache (fixed seeds: always the same)."""
    from edgekit.example.shapes import write_folder

    path = cache.folder("example") / f"{split}-{count}"
    if not path.exists():
        with cache.writing(path) as tmp:
            write_folder(tmp / "images", split, count)
    return path / "images"


def _split(v) -> list[str]:
    if v is None:
        return []
    parts = v.split(",") if isinstance(v, str) else [x for s in v for x in str(s).split(",")]
    return [p.strip() for p in parts if p.strip()]


def _write(result: PlanReport, setup: evaluate.Setup, options: dict) -> None:
    out = result.out
    out.mkdir(parents=True, exist_ok=True)
    for tp in result.targets:
        variant = tp.pick.variant if tp.pick else None
        report.write(tp, out, source=setup.model, sha=setup.sha,
                     options=options | {"variant": variant})  # fmt: skip
    (out / "plan.json").write_text(json.dumps(result.to_dict(), indent=2))
