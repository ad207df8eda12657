"""`edgekit plan`: real conversions of the bundled example, real runtimes, real estimates,
Optuna's real search, and a real local Ray instance; spaces kept to a few candidates."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import artifacts_in, run_cli
from tests.test_bad_input import check_refused

# a few candidates: two precisions of TFLite and ONNX fp32, the model's own size, no pruning
SMALL = ("--only", "tflite:fp32,tflite:int8,onnx", "--prune", "0", "--sizes", "64")
DEVICES = "rpi5,jetson-orin-nano,pixel4"


@pytest.fixture(scope="module", autouse=True)
def plan_cache(tmp_path_factory):
    """One plan cache for this module (the CLI's subprocesses inherit it): conversions made
    by one test are reused by the next, as they are for a user."""
    old = os.environ.get("EDGEKIT_CACHE")
    os.environ["EDGEKIT_CACHE"] = str(tmp_path_factory.mktemp("plan-cache"))
    yield Path(os.environ["EDGEKIT_CACHE"])
    if old is None:
        os.environ.pop("EDGEKIT_CACHE")
    else:
        os.environ["EDGEKIT_CACHE"] = old


@pytest.mark.parametrize(
    "args, words",
    [
        (("--target", "rpi9", "--budget-ms", "5"), ("unknown device", "rpi9", "rpi5")),
        (("--target", "rpi5", "--budget-ms", "0"), ("--budget-ms", "got: 0")),
        (("--target", "rpi5", "--budget-ms", "-3"), ("--budget-ms", "got: -3")),
        (("--target", "rpi5", "--budget-ms", "5", "--on", "pi@host"), ("--on", "pi@host")),
        (("--target", "rpi5,pixel4", "--budget-ms", "5", "--on", "ssh://pi@h"),
         ("--on ID=URL", "rpi5, pixel4")),
        (("--target", "rpi5", "--budget-ms", "5", "--only", "tflite:int4"),
         ("tflite has no precision", "int4")),
        (("--target", "local", "--budget-ms", "5", "--only", "tensorrt"),
         ("unknown format", "tensorrt")),
    ],
)  # fmt: skip
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, args, words):
    out = tmp_path / "out"
    check_refused(run_cli("plan", *args, "-o", out), out, words=words)


def test_max_drop_without_val_for_a_model_of_ones_own(tiny_keras, tmp_path):
    out = tmp_path / "out"
    r = run_cli("plan", tiny_keras, "--target", "rpi5", "--budget-ms", "5", "--max-drop", "1",
                "-o", out)  # fmt: skip
    check_refused(r, out, words=("--max-drop needs --val", "got: --max-drop 1"))


def test_space_derives_from_the_registry_and_the_profiles():
    from edgekit import formats
    from edgekit.device.profiles import get
    from edgekit.planner import space

    for tid in ("rpi5", "pixel4", "jetson-orin-nano", "local"):
        t = space.targets([tid])[0]
        sp = space.space(t, native_size=64, resizable=True, prunable=True, calibrated=True,
                         max_drop=1.0)  # fmt: skip
        runs = {formats.runtime(r).format for r in t.profile.runtimes}
        assert set(sp.precisions) <= runs, (tid, sp.precisions)
        for fmt, precs in sp.precisions.items():
            assert "npu" not in precs
            assert set(precs) - {space.BUDGETED} <= set(formats.get(fmt).precisions)
        assert sp.sizes == [None, 48, 32] and sp.prunes == list(space.PRUNE_LEVELS)
        assert all(space.BUDGETED in precs for f, precs in sp.precisions.items()
                   if f in ("tflite", "openvino"))  # fmt: skip
    local = space.targets(["local"])[0]
    cpu = {formats.runtime(r).format for r in local.profile.runtimes
           if formats.runtime(r).unit == "cpu"}  # fmt: skip
    bare = space.space(local, native_size=None, resizable=False, prunable=False,
                       calibrated=False, max_drop=None)  # fmt: skip
    assert set(bare.precisions) == cpu and bare.sizes == [None] and bare.prunes == [0.0]
    assert not any(formats.needs_calibration(f, p) for f, ps in bare.precisions.items()
                   for p in ps)  # fmt: skip
    assert get("pixel4").id == "pixel4"


def test_devices_without_a_device_are_estimated_with_interval_and_basis(tmp_path):
    out = tmp_path / "edgekit-out"
    r = run_cli("plan", "--target", DEVICES, "--budget-ms", "50", "--threads", "4", *SMALL,
                "--trials", "3", "--json", "-o", out, timeout=900)  # fmt: skip
    assert r.returncode == 0, r.stderr[-3000:]
    doc = json.loads(r.stdout)
    assert [t["target"] for t in doc["targets"]] == DEVICES.split(",")
    for t in doc["targets"]:
        assert t["pick"] is not None or t["reason"], t
        rows = t["front"] + ([t["pick"]] if t["pick"] else [])
        assert rows, t
        for row in rows:
            assert row["basis"] == "estimated"
            assert row["latency_low_ms"] <= row["latency_ms"] <= row["latency_high_ms"]
            assert row["latency_basis"]  # what the estimate rests on
            for key in ("format", "precision", "prune", "input_size", "threads",
                        "accuracy", "accuracy_drop", "artifact"):  # fmt: skip
                assert key in row
        if t["pick"]:
            assert t["pick"]["latency_high_ms"] <= 50  # the upper bound meets the budget
            assert Path(t["pick"]["artifact"]).is_file()
            assert t["pick"]["accuracy"] > 0.9  # no --max-drop, but the example's val scores it
            assert str(out) in t["pick"]["artifact"]
            assert (out / t["target"] / "recipe.toml").is_file()


def test_nothing_meets_the_budget_exits_1_naming_the_closest(tmp_path):
    out = tmp_path / "out"
    r = run_cli("plan", "--target", "rpi5", "--budget-ms", "0.001", "--max-drop", "1",
                "--threads", "4", *SMALL, "--trials", "2", "-o", out, timeout=900)  # fmt: skip
    assert r.returncode == 1, r.stderr[-3000:]
    assert "Traceback" not in r.stderr + r.stdout
    err = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
    assert len(err) == 1 and ("closest: tflite" in err[0] or "closest: onnx" in err[0]), err
    assert "relax --budget-ms to" in err[0]
    assert not (out / "rpi5" / "recipe.toml").exists()  # no pick, no artifact
    assert json.loads((out / "plan.json").read_text())["targets"][0]["pick"] is None


def test_local_pick_is_measured_and_its_recipe_reproduces_it(tmp_path):
    import edgekit

    rel = Path("plan-out")
    os.chdir(tmp_path)  # a relative output folder, as users type it
    try:
        r = edgekit.plan(targets="local", budget_ms=1000, max_drop=1.0, out=rel,
                         only="tflite:fp32,tflite:int8", prunes=[0], sizes=[64], threads=[1],
                         trials=2)  # fmt: skip
        # out=None: a second plan into `rel` may pick the other of two close latencies
        again = edgekit.plan(targets="local", budget_ms=1000, max_drop=1.0, out=None,
                             only="tflite:fp32,tflite:int8", prunes=[0], sizes=[64],
                             threads=[1], trials=2)  # fmt: skip
    finally:
        os.chdir(Path(__file__).parent.parent)
    tp = r.targets[0]
    assert tp.pick is not None and tp.pick.latency.basis == "measured"
    assert tp.pick.drop <= 1.0 and tp.pick.candidate.format == "tflite"
    picked = tmp_path / tp.files["artifact"]
    assert picked.is_file() and (tmp_path / rel / "local" / "front.png").stat().st_size > 1000
    # the second call reads every conversion from the cache: the same artifacts and scores
    assert [p.artifact for p in again.targets[0].front] == [p.artifact for p in tp.front]
    assert [p.accuracy for p in again.targets[0].front] == [p.accuracy for p in tp.front]
    recipe = tmp_path / tp.files["recipe"]
    conv = run_cli("convert", "--recipe", recipe, "--calib", _example_calib(), "-o",
                   tmp_path / "again", timeout=600)  # fmt: skip
    assert conv.returncode == 0, conv.stderr[-2000:]
    remade = [n for n in artifacts_in(tmp_path / "again") if n.endswith(".tflite")]
    assert remade == [picked.name]
    x = np.random.default_rng(0).uniform(0, 255, (4, 64, 64, 3)).astype("float32")
    with edgekit.load(picked) as a, edgekit.load(tmp_path / "again" / remade[0]) as b:
        np.testing.assert_allclose(a.predict(x), b.predict(x), atol=0.02)


def test_recipe_path_that_does_not_exist_is_one_line(tmp_path):
    out = tmp_path / "out"
    r = run_cli("convert", "--recipe", tmp_path / "nope.toml", "-o", out)
    check_refused(r, out, words=("recipe file not found", "nope.toml"))


def _example_calib() -> Path:
    from edgekit.planner.cache import folder

    return folder("example") / "calib-200" / "images"


@pytest.fixture()
def ray_local(tmp_path):
    """A local Ray instance (2 CPUs, 127.0.0.1) started by this test; its workers keep their
    own plan cache, so what they convert has to travel back to the planning process."""
    import tempfile

    import ray

    temp = tempfile.mkdtemp(prefix="ekray-", dir="/tmp")  # Ray's socket paths must be short
    workers_cache = tmp_path / "ray-workers-cache"
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, _temp_dir=temp,
             _node_ip_address="127.0.0.1",
             runtime_env={"env_vars": {"EDGEKIT_CACHE": str(workers_cache),
                                       "TF_CPP_MIN_LOG_LEVEL": "3"}})  # fmt: skip
    try:
        yield workers_cache
    finally:
        ray.shutdown()
        import shutil

        shutil.rmtree(temp, ignore_errors=True)


def test_ray_cluster_gives_the_same_front_as_local_workers(ray_local, tmp_path, monkeypatch):
    import edgekit

    address, worker_cache = "auto", ray_local
    opts = dict(targets="rpi5", budget_ms=50, max_drop=1.0, only="tflite:fp32,tflite:int8",
                prunes=[0], sizes=[64], threads=[1, 4], trials=4)  # fmt: skip
    monkeypatch.setenv("EDGEKIT_CACHE", str(tmp_path / "local-cache"))
    here = edgekit.plan(out=tmp_path / "local", **opts).targets[0]
    monkeypatch.setenv("EDGEKIT_CACHE", str(tmp_path / "driver-cache"))
    there = edgekit.plan(out=tmp_path / "ray", ray=address, **opts).targets[0]
    assert any(worker_cache.rglob("*.tflite")), "nothing was converted on the Ray workers"
    assert all(str(tmp_path / "driver-cache") in p.artifact for p in there.front)

    def key(tp):
        return [(p.candidate, p.latency.ms, p.latency.high_ms, p.accuracy) for p in tp.front]

    assert key(here) and key(here) == key(there)
    assert here.pick.candidate == there.pick.candidate


def test_worker_crash_and_a_script_without_main_guard_say_which(tmp_path):
    """Workers are spawned: a script that calls edgekit.plan at its top level makes each
    worker re-import it and exit at start-up; that is said as such, not as a native crash.
    A worker killed by a signal still reads as a native crash."""
    import subprocess
    import sys

    from edgekit.planner.workers import _why_broken

    script = tmp_path / "go.py"
    script.write_text(
        "import edgekit\n"
        "edgekit.plan(targets='local', budget_ms=1000, only='tflite:fp32', prunes=[0],\n"
        "             threads=[1], out=None, trials=1)\n"
    )
    r = subprocess.run([sys.executable, script.name], cwd=tmp_path, capture_output=True,
                       text=True, timeout=600)  # fmt: skip
    assert r.returncode != 0
    assert '`if __name__ == "__main__":`' in r.stderr and "native crash" not in r.stderr

    assert "native crash" in _why_broken([-11])  # a worker a segfault ended


def test_a_variant_that_lost_more_than_max_drop_rules_out_its_other_precisions():
    """The search itself, with the conversions stood in by a table: pruning loses 5 points
    whatever the precision, so once one pruned build is scored, the other pruned candidates
    are ruled out unconverted and the conversions go to the unpruned ones."""
    from edgekit.planner import search
    from edgekit.planner.latency import Latency
    from edgekit.planner.space import Candidate, Space

    sp = Space({"tflite": ["fp32", "fp16", "int8"], "openvino": ["fp32", "fp16", "int8"]},
               prunes=[0.0, 0.25, 0.5], sizes=[None], threads=[1])  # fmt: skip
    speed = {"fp32": 1.0, "fp16": 0.8, "int8": 0.5}

    def ms(c):
        return speed[c.precision] * (1 - c.prune)

    def screen(c):
        return Latency(ms(c), ms(c) * 0.9, ms(c) * 1.1, "measured")

    scored = {}

    def evaluate(cands):
        out = []
        for c in cands:
            scored[(c.prune, c.input_size)] = 0.95 if c.prune else 1.0
            acc = scored[(c.prune, c.input_size)]
            out.append(search.Point(c, Latency(ms(c), None, None, "measured"), acc,
                                    100 * (1 - acc)))  # fmt: skip
        return out

    def variant_miss(c):
        acc = scored.get((c.prune, c.input_size))
        return (acc, 100 * (1 - acc)) if acc is not None and c.prune else None

    ref = Candidate("tflite", "fp32", threads=1)
    common = dict(screen=screen, evaluate=evaluate, budget_ms=0.9, max_drop=1.0, trials=6,
                  reference=ref, measured=True)  # fmt: skip
    ruled = search.run(sp, variant_miss=variant_miss, **common)
    pruned = {
        p.candidate.prune for p in ruled.points if p.stage == "evaluated" and p.candidate.prune
    }
    assert len(pruned) <= 2  # one scored build per pruning level at most
    assert any(p.stage == "screened" and p.drop == pytest.approx(5.0) for p in ruled.points)
    best = min((p for p in ruled.points if p.meets(0.9, 1.0)), key=lambda p: p.latency.ms)
    assert best.candidate.precision == "int8" and not best.candidate.prune
    scored.clear()
    blind = search.run(sp, **common)  # without the rule: conversions spent on pruned builds
    spent = [p for p in blind.points if p.stage == "evaluated" and p.candidate.prune]
    assert len(spent) > len(
        [p for p in ruled.points if p.stage == "evaluated" and p.candidate.prune]
    )
