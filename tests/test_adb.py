"""`--on adb`: the `benchmark_model` parser on real output text (tests/data/adb, sources in its
README), and the pushed command lines against a fake `adb` (no phone on this machine)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from edgekit.device import adb
from edgekit.errors import ConfigError, RemoteError

DATA = Path(__file__).parent / "data"
TEXT = DATA / "adb"
INT8 = DATA / "example" / "shapes_int8-io.tflite"


@pytest.mark.light
def test_parse_android_output():
    r = adb.parse((TEXT / "android_mi11_yolov5s_fp32_cpu.txt").read_text())
    assert r["runs"] == 50
    assert r["mean_ms"] == pytest.approx(249.684) and r["std_ms"] == pytest.approx(1.442)
    assert r["min_ms"] == pytest.approx(247.067) and r["max_ms"] == pytest.approx(254.474)
    assert r["load_ms"] == pytest.approx(16.242) and r["first_ms"] == pytest.approx(360.262)
    assert r["fps"] == pytest.approx(1e6 / 249684, rel=1e-4)
    assert r["peak_rss_mb"] == pytest.approx(138.809) and r["p50_ms"] is None


@pytest.mark.light
def test_parse_linux_output_with_profiling_and_exponents():
    r = adb.parse((TEXT / "linux_riscv64_mobilenet_v1_cpu.txt").read_text())
    # the timed run's line, not the warm-up's (count=1) nor the profiler's "Timings" lines
    assert r["runs"] == 50 and r["mean_ms"] == pytest.approx(2950.34)
    assert r["min_ms"] == pytest.approx(2727.568) and r["std_ms"] == pytest.approx(109.798)
    assert r["warmup_ms"] == pytest.approx(3512.39) and r["load_ms"] == pytest.approx(17.187)
    assert r["rss_growth_mb"] == pytest.approx(46.0859)


@pytest.mark.light
def test_parse_failed_delegate_is_one_error():
    text = (TEXT / "android_mi11_yolov5s_int8_nnapi_failed.txt").read_text()
    with pytest.raises(
        RemoteError,
        match="no timings; got: Failed to apply NNAPI delegate. ERROR: NN API returned error",
    ):
        adb.parse(text)


@pytest.mark.light
def test_command_line_per_delegate():
    argv = adb.command_line("/data/local/tmp/x", "m.tflite", delegate="gpu", threads=4, runs=30)
    assert argv[:3] == [
        "/data/local/tmp/x/benchmark_model",
        "--graph=/data/local/tmp/x/m.tflite",
        "--use_gpu=true",
    ]
    assert "--num_threads=4" in argv and "--num_runs=30" in argv
    assert "--use_nnapi=true" in adb.command_line("/d", "m.tflite", delegate="nnapi")
    timed = adb.command_line("/d", "m.tflite", duration=5)
    assert "--min_secs=5" in timed and "--num_runs=1" in timed
    with pytest.raises(ConfigError, match="choose from xnnpack, gpu, nnapi"):
        adb.command_line("/d", "m.tflite", delegate="hexagon")


FAKE_ADB = """#!/bin/sh
# a fake adb: logs its arguments, answers like a Pixel 4, prints real benchmark_model text
echo "$@" >> "$FAKE_LOG"
[ "$1" = "-s" ] && shift 2
[ "$1" = shell ] || exit 0
case "$2" in
  "getprop ro.product.model") echo "Pixel 4";;
  "getprop ro.soc.model") echo SM8150;;
  "getprop ro.product.cpu.abi") echo arm64-v8a;;
  "getprop ro.build.version.release") echo 13;;
  getprop*) echo;;
  "cat /proc/cpuinfo") printf 'Features\t: fp asimd evtstrm aes asimdhp asimddp\n';;
  "cat /sys/devices/system/cpu/possible") echo 0-7;;
  *"benchmark_model --graph"*) cat "$FAKE_OUTPUT";;
esac
"""


def test_adb_push_and_run_commands_fake_device(tmp_path, monkeypatch):
    fake = tmp_path / "adb"
    fake.write_text(FAKE_ADB)
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    binary = tmp_path / "benchmark_model"
    binary.write_bytes(b"\x7fELF")
    log = tmp_path / "log"
    monkeypatch.setenv("FAKE_LOG", str(log))
    monkeypatch.setenv("FAKE_OUTPUT", str(TEXT / "android_mi11_yolov5s_fp32_cpu.txt"))
    machine, r = adb.bench(
        INT8,
        "adb:0A1B2C",
        benchmark_model=binary,
        delegate="gpu",
        threads=4,
        runs=50,
        adb=str(fake),
    )
    calls = log.read_text().splitlines()
    assert all(c.startswith("-s 0A1B2C ") for c in calls)
    pushes = [c for c in calls if " push " in c]
    folder = pushes[0].split()[-1].rsplit("/", 1)[0]
    assert folder.startswith("/data/local/tmp/edgekit-")
    assert pushes == [
        f"-s 0A1B2C push {binary} {folder}/benchmark_model",
        f"-s 0A1B2C push {INT8} {folder}/{INT8.name}",
    ]
    run = next(c for c in calls if "benchmark_model --graph" in c)
    assert f"--graph={folder}/{INT8.name}" in run and "--use_gpu=true" in run
    assert "--num_threads=4" in run and "--num_runs=50" in run
    assert calls.index(f"-s 0A1B2C shell chmod 755 {folder}/benchmark_model") < calls.index(run)
    assert calls[-1] == f"-s 0A1B2C shell rm -rf {folder}"
    assert machine["board"] == "Pixel 4" and machine["machine"] == "arm64-v8a"
    assert machine["isa"] == ["asimd", "asimddp", "asimdhp"] and machine["cores"] == 8
    assert r.runs == 50 and r.mean_ms == pytest.approx(249.684) and r.precision == "int8-io"
    assert r.executed_precision == "f16" and r.artifact == str(INT8)


def test_missing_benchmark_model_says_how_to_get_it_fake_device(tmp_path, monkeypatch):
    fake = tmp_path / "adb"
    fake.write_text(FAKE_ADB)
    fake.chmod(0o755)
    monkeypatch.setenv("FAKE_LOG", str(tmp_path / "log"))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("EDGEKIT_BENCHMARK_MODEL", raising=False)
    with pytest.raises(ConfigError, match="no benchmark_model for arm64-v8a.*--benchmark-model"):
        adb.bench(INT8, "adb", adb=str(fake))
    assert " push " not in (tmp_path / "log").read_text()
    assert os.environ["HOME"] == str(tmp_path)
