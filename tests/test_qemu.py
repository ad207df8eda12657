"""The device runner on aarch64 under qemu-user (benchmarks/qemu_aarch64.py). Opt-in: it
downloads an arm64 sysroot, qemu and wheels into ~/.cache/edgekit/qemu-aarch64 on first use
and takes minutes; run it with `EDGEKIT_QEMU=1 pytest -m qemu tests/test_qemu.py`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "qemu_aarch64.py"

pytestmark = [
    pytest.mark.qemu,
    pytest.mark.skipif(
        os.environ.get("EDGEKIT_QEMU") != "1",
        reason="opt-in: set EDGEKIT_QEMU=1 to run the runner on aarch64 under qemu-user "
        "(downloads an arm64 sysroot, qemu and wheels; minutes)",
    ),
]


def test_runner_on_aarch64_under_qemu(tmp_path):
    out = tmp_path / "qemu_aarch64.json"
    res = subprocess.run(
        [sys.executable, str(SCRIPT), "--runs", "10", "--images", "20", "--results", str(out)],
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert res.returncode == 0, (res.stdout + res.stderr)[-4000:]
    doc = json.loads(out.read_text())
    assert doc["passed"] and doc["emulated_machine"]["machine"] == "aarch64"
    rows = {(r["runtime"].split()[0], r["artifact"]) for r in doc["rows"]}
    assert rows == {
        (rt, art)
        for rt in ("tflite-runtime", "ai-edge-litert")
        for art in ("shapes_fp32.tflite", "shapes_int8-io.tflite")
    }
    for check in doc["checks"]:
        assert check["same_keys"] and not check["missing_keys"] and not check["extra_keys"]
    for row in doc["rows"]:
        assert row["top1_agreement"] == 1.0 and row["max_abs_diff"] <= row["tolerance"]
        assert row["accuracy_emulated"] >= 0.9
    assert "mean nothing" in doc["note"]
