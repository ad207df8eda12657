"""Native crashes contained: a stage that dies from a signal is retried once with safe
settings, and a second death is one line and exit 1 with nothing half-written.

The crashes are real signals in a real child process: a NULL read through ctypes (a native
SIGSEGV, as TensorFlow's would be) in the library tests, and the documented test hook
EDGEKIT_CRASH_AT (the child SIGSEGVs itself at a stage) in the CLI tests.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import tempfile
from pathlib import Path

import pytest

from edgekit import isolate
from edgekit.errors import NativeCrashError, OutputMismatchError
from tests.conftest import run_cli


def work(x: int, *, progress) -> dict:
    """Reports two stages, returns what the child saw."""
    progress("loading numbers")
    progress("adding")
    keys = ("TF_ENABLE_ONEDNN_OPTS", isolate.XNNPACK_ENV, "OMP_NUM_THREADS")
    return {"sum": x + 1, "env": {k: os.environ.get(k) for k in keys}, "pid": os.getpid()}


def crash_unless_safe(folder: str, *, progress) -> str:
    """Dies from a real SIGSEGV unless oneDNN is off, as the prune crash of issue 13 did;
    leaves a staging folder behind first."""
    progress("fine-tuning")
    Path(folder, ".staging-x").mkdir(parents=True)
    if os.environ.get("TF_ENABLE_ONEDNN_OPTS") != "0":
        ctypes.string_at(0)  # reads address 0: SIGSEGV
    return "trained"


def always_crash(folder: str, *, progress) -> None:
    progress("calibrating")
    Path(folder, ".staging-y").mkdir(parents=True)
    ctypes.string_at(0)


def crash_unless_safe_env(*, progress) -> dict:
    progress("checking")
    if os.environ.get("TF_ENABLE_ONEDNN_OPTS") != "0":
        ctypes.string_at(0)
    return {k: os.environ.get(k) for k in isolate.SAFE_ENV}


def killed(*, progress) -> None:
    progress("fine-tuning")
    os.kill(os.getpid(), signal.SIGKILL)  # what the out-of-memory killer sends


def mismatch() -> None:
    raise OutputMismatchError("tflite fp32 missed parity", max_diff=0.5, tolerance=1e-4)


def test_result_and_progress_come_back():
    seen = []
    got = isolate.call(work, 41, callbacks={"progress": seen.append}, stage="starting")
    assert got["sum"] == 42 and got["pid"] != os.getpid()
    assert seen == ["loading numbers", "adding"]
    assert got["env"]["TF_ENABLE_ONEDNN_OPTS"] != "0"  # the first attempt: settings as given


def test_exception_keeps_its_type_and_fields():
    with pytest.raises(OutputMismatchError, match="missed parity") as info:
        isolate.call(mismatch)
    assert (info.value.max_diff, info.value.tolerance) == (0.5, 1e-4)


def test_native_crash_is_retried_with_safe_settings(tmp_path, caplog):
    seen = []
    with caplog.at_level("WARNING", logger="edgekit"):
        got = isolate.call(
            crash_unless_safe, str(tmp_path / "out"), callbacks={"progress": seen.append},
            leftovers=[(tmp_path / "out", ".staging-*")],
        )  # fmt: skip
    assert got == "trained"
    (line,) = [r.getMessage() for r in caplog.records]
    assert line == (
        "native code crashed (SIGSEGV) while fine-tuning; retrying once with oneDNN off, "
        "XNNPACK off and one thread"
    )
    assert seen == ["fine-tuning", "fine-tuning"]
    # the crashed attempt's staging folder was removed; the retry's own is still there
    assert [p.name for p in (tmp_path / "out").iterdir()] == [".staging-x"]


def test_second_crash_names_stage_and_signal_and_leaves_nothing(tmp_path):
    out = tmp_path / "out"
    with pytest.raises(NativeCrashError) as info:
        isolate.call(always_crash, str(out), callbacks={"progress": print},
                     leftovers=[(out, ".staging-*")])  # fmt: skip
    text = str(info.value)
    assert "crashed (SIGSEGV) while calibrating" in text
    assert "oneDNN off, XNNPACK off and one thread" in text
    assert not out.exists()  # made by the child, empty once its leftovers went


def test_sigkill_is_not_retried():
    seen = []
    with pytest.raises(NativeCrashError, match=r"killed \(SIGKILL\) while fine-tuning"):
        isolate.call(killed, callbacks={"progress": seen.append})
    assert seen == ["fine-tuning"]  # one attempt: other settings do not bring memory back


def test_safe_settings_reach_the_child():
    got = isolate.call(crash_unless_safe_env, callbacks={"progress": lambda m: None})
    assert got == isolate.SAFE_ENV


def test_cli_convert_crash_once_retries_and_passes(tiny_keras, tmp_path, monkeypatch):
    monkeypatch.setenv(isolate.CRASH_ENV, "converting tflite:once")
    out = tmp_path / "out"
    res = run_cli("convert", tiny_keras, "--to", "tflite", "-o", out)
    assert res.returncode == 0, res.stderr[-2000:]
    crashed = [ln for ln in res.stderr.splitlines() if "native code crashed" in ln]
    assert crashed == [
        "warning: native code crashed (SIGSEGV) while converting tflite fp32; retrying once "
        "with oneDNN off, XNNPACK off and one thread"
    ]
    manifest = json.loads((out / "edgekit.json").read_text())
    (art,) = manifest["artifacts"]
    assert art["parity"]["passed"]
    assert art["parity"]["execution"]["settings"]["xnnpack"] is False  # the safe retry's run
    # the crashed attempt's staging folder is gone: only what the retry published is there
    assert sorted(p.name for p in out.iterdir()) == ["edgekit.json", "tiny_fp32.tflite"]


def test_cli_convert_crash_twice_is_one_line_exit_1_nothing_left(tiny_keras, tmp_path, monkeypatch):
    """At loading (the crashed staging folder of a later stage: the test above)."""
    monkeypatch.setenv(isolate.CRASH_ENV, "loading")
    out = tmp_path / "out"
    res = run_cli("convert", tiny_keras, "--to", "onnx", "-o", out)
    assert res.returncode == 1
    errors = [ln for ln in res.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in res.stderr
    assert f"crashed (SIGSEGV) while loading {tiny_keras}, also on the retry" in errors[0]
    assert not out.exists()


def _prune_args(model: Path, folder: Path) -> list:
    """`edgekit prune` with one epoch of fine-tuning on 24 random images, into p.keras."""
    import numpy as np

    x = np.random.default_rng(0).uniform(0, 255, (24, 32, 32, 3)).astype(np.float32)
    np.savez(folder / "train.npz", x=x)
    return ["prune", model, "--sparsity", "0.5", "--min-weights", "1", "--data", "train.npz",
            "--epochs", "1", "-o", "p.keras"]  # fmt: skip


def test_cli_prune_crash_once_retries_and_writes(tiny_keras, tmp_path, monkeypatch):
    monkeypatch.setenv(isolate.CRASH_ENV, "fine-tuning:once")
    res = run_cli(*_prune_args(tiny_keras, tmp_path), "--json", cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-2000:]
    crashed = [ln for ln in res.stderr.splitlines() if "native code crashed" in ln]
    assert crashed == [
        "warning: native code crashed (SIGSEGV) while fine-tuning 2 pruned layers for 1 epochs "
        "(distillation from the original, BatchNorm frozen); retrying once with oneDNN off, "
        "XNNPACK off and one thread"
    ]
    assert json.loads(res.stdout)["sparsity"] > 0.4
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.keras", "train.npz"]


def test_cli_prune_crash_twice_is_one_line_exit_1_nothing_left(tiny_keras, tmp_path, monkeypatch):
    monkeypatch.setenv(isolate.CRASH_ENV, "fine-tuning")
    res = run_cli(*_prune_args(tiny_keras, tmp_path), cwd=tmp_path)
    assert res.returncode == 1
    errors = [ln for ln in res.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in res.stderr, res.stderr[-2000:]
    assert "crashed (SIGSEGV) while fine-tuning" in errors[0] and "also on the retry" in errors[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["train.npz"]  # no model, no temp file


def test_python_prune_survives_a_crash_while_fine_tuning(tiny_keras, monkeypatch, caplog):
    """`edgekit.prune` fine-tunes in a child (edgekit.optimize.contained): the caller's
    Python lives through a SIGSEGV in the train step, the retry's result comes back with its
    model loaded here, from a path or an in-memory model, twice in a row."""
    import keras
    import numpy as np

    from edgekit.optimize import PruneConfig, prune, prune_channels

    monkeypatch.setenv(isolate.CRASH_ENV, "fine-tuning:once")
    left = sorted(Path(tempfile.gettempdir()).glob("edgekit-finetune-*"))  # other runs' own
    x = np.random.default_rng(0).uniform(0, 255, (24, 32, 32, 3)).astype(np.float32)
    config = PruneConfig(sparsity=0.5, epochs=1, min_weights=1)
    with caplog.at_level("WARNING", logger="edgekit"):
        r = prune(tiny_keras, x, config=config)
    assert any("native code crashed (SIGSEGV) while fine-tuning" in m for m in caplog.messages)
    assert isinstance(r.model, keras.Model) and r.sparsity == pytest.approx(0.5, abs=0.05)
    assert r.model.predict(x[:2], verbose=0).shape[0] == 2
    monkeypatch.delenv(isolate.CRASH_ENV)
    original = keras.models.load_model(tiny_keras, compile=False)
    again = prune_channels(original, x, ratio=0.3, epochs=1)  # an in-memory model this time
    assert again.flops_after < again.flops_before and isinstance(again.model, keras.Model)
    assert sorted(Path(tempfile.gettempdir()).glob("edgekit-finetune-*")) == left


def test_python_prune_crash_twice_raises_native_crash_error(tiny_keras, monkeypatch):
    import numpy as np

    from edgekit.optimize import PruneConfig, prune

    monkeypatch.setenv(isolate.CRASH_ENV, "fine-tuning")
    x = np.random.default_rng(0).uniform(0, 255, (24, 32, 32, 3)).astype(np.float32)
    with pytest.raises(NativeCrashError, match="crashed .SIGSEGV. while fine-tuning"):
        prune(tiny_keras, x, config=PruneConfig(sparsity=0.5, epochs=1, min_weights=1))
