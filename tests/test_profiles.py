"""Recipes and device profiles are data files; every one must parse and point at real things."""

from __future__ import annotations

import json

import pytest

from edgekit import converters, recipes
from edgekit.device import profiles
from edgekit.errors import ConfigError

IDS = [
    "rpi4", "rpi5", "jetson-nano", "jetson-orin-nano", "jetson-orin-nano-super", "jetson-orin-nx",
    "jetson-agx-orin", "pixel", "pixel2", "pixel3", "pixel3a", "pixel4", "iphone-xs",
    "iphone-11-pro", "iphone-12-pro", "coral-usb", "coral-devboard", "intel-core-ultra-155h",
    "intel-celeron-n5105", "x86-64", "aarch64", "pixel8", "galaxy-s24", "vivo-x100",
]  # fmt: skip
# every figure must name where it came from
SOURCED = ["cpu.clusters", "cpu.isa", "cpu.peak_gflops", "memory.gb", "memory.bandwidth_gbs"]
SOURCED += ["software.os", "software.install", "recommended"]


@pytest.mark.light
@pytest.mark.parametrize("name", recipes.names())
def test_recipe_targets_are_possible(name):
    r = recipes.get(name)
    assert r.targets and r.description
    for fmt, precision in r.targets:
        converters.check_pair(fmt, precision)


@pytest.mark.light
def test_every_issue_id_has_a_profile():
    assert sorted(IDS) == profiles.names()


@pytest.mark.light
@pytest.mark.parametrize("name", IDS)
def test_device_profile_is_complete_and_sourced(name):
    d = profiles.get(name)
    assert d.name and d.reach in profiles.REACHES and d.kind in profiles.KINDS
    assert d.cpu.cores > 0 and d.cpu.max_ghz > 0 and d.cpu.isa
    assert d.cpu.peak_gflops["fp32"] > 0 and d.memory.bandwidth_gbs > 0 and d.memory.gb > 0
    for key in SOURCED:
        assert d.sources.get(key, "").strip(), f"{name}: no source for {key}"
    for i, acc in enumerate(d.accelerators):
        assert d.sources.get(f"accelerators.{i}"), f"{name}: no source for accelerator {i}"
        assert set(acc.runtimes) <= set(d.runtimes), f"{name}: {acc.name} runtime not listed"
    # the recommended pairing is one the device can run and the recipe produces
    rec = d.recommended
    assert rec.runtime in d.runtimes
    assert profiles.RUNTIME_FORMAT[rec.runtime] == rec.format
    assert any(fmt == rec.format for fmt, _ in recipes.get(d.recipe).targets)
    if d.reach in ("ssh", "local", "usb-host"):  # a Python device: pip needs these
        assert d.software.python and d.software.platform.endswith(d.cpu.arch)


@pytest.mark.light
def test_peaks_follow_from_clusters():
    # derived CPU peaks: cores x GHz x FLOP/cycle, so fp32/(cores*GHz) is a whole FLOP/cycle
    for d in profiles.all_profiles():
        per_cycle = d.cpu.peak_gflops["fp32"] / sum(c.cores * c.ghz for c in d.cpu.clusters)
        assert 4 <= per_cycle <= 32, (d.id, per_cycle)
        if "fp16" in d.cpu.peak_gflops:
            assert "asimdhp" in d.cpu.isa, d.id  # fp16 arithmetic needs the ISA feature


@pytest.mark.light
def test_peak_for_a_runtime_picks_its_unit():
    orin = profiles.get("jetson-orin-nano")
    assert orin.peak_gflops("tensorrt", "int8") > 20 * orin.peak_gflops("onnxruntime", "int8")
    assert profiles.get("coral-usb").peak_gflops("edgetpu", "int8") == 4000.0
    assert profiles.get("rpi4").peak_gflops("tflite", "fp16") is None  # no fp16 on A72


@pytest.mark.light
def test_unknown_names_list_the_choices():
    with pytest.raises(ConfigError, match="rpi5-int8"):
        recipes.get("nope")
    with pytest.raises(ConfigError, match="jetson-orin-nano"):
        profiles.get("nope")


@pytest.mark.light
def test_bad_vocabulary_is_refused():
    data = profiles.get("rpi5").to_dict()
    data.pop("id")
    data["cpu"].pop("cores")
    data["reach"] = "telepathy"
    with pytest.raises(ConfigError, match="telepathy.*ssh"):
        profiles.build("rpi5", data)


@pytest.mark.light
def test_devices_command_lists_and_shows(tmp_path):
    from tests.conftest import run_cli

    res = run_cli("devices", "--json")
    assert res.returncode == 0, res.stderr[-2000:]
    assert [d["id"] for d in json.loads(res.stdout)] == profiles.names()
    res = run_cli("devices", "rpi5", "--json")
    assert json.loads(res.stdout)["cpu"]["clusters"][0]["core"] == "Cortex-A76"
    res = run_cli("devices")
    assert "jetson-orin-nx" in res.stdout and "usb-host" in res.stdout
    res = run_cli("devices", "rpi5")
    assert "Cortex-A76" in res.stdout and "ai-edge-litert" in res.stdout
    res = run_cli("devices", "nope")
    assert res.returncode == 2 and "rpi5" in res.stderr and "Traceback" not in res.stderr


def test_device_option_uses_its_recipe(tiny_keras, tmp_path):
    from tests.conftest import run_cli

    res = run_cli("convert", tiny_keras, "--device", "jetson-orin-nano", "-o", tmp_path, "--json")
    assert res.returncode == 0, res.stderr[-2000:]
    (a,) = json.loads(res.stdout)["artifacts"]
    assert (a["format"], a["precision"]) == ("onnx", "fp32")


@pytest.mark.light
def test_no_profile_or_recipe_recommends_nnapi():
    """NNAPI is deprecated from Android 15: a profile may list it (old phones run it), never
    recommend it; the Android recipes name LiteRT's GPU and NPU paths instead."""
    from edgekit import formats

    assert "Android 15" in formats.runtime("nnapi").deprecated
    for d in profiles.all_profiles():
        assert not formats.runtime(d.recommended.runtime).deprecated, d.id
    for name in ("android-fp16", "android-npu"):
        text = recipes.get(name).description
        assert "NNAPI" not in text or "deprecated" in text, name
    data = profiles.get("pixel4").to_dict()
    data.pop("id")
    data["cpu"].pop("cores")
    data["recommended"]["runtime"] = "nnapi"
    with pytest.raises(ConfigError, match="deprecated; got: nnapi"):
        profiles.build("pixel4", data)


@pytest.mark.light
def test_phones_run_onnx_runtime_and_iphones_run_litert():
    for d in profiles.all_profiles():
        if d.kind == "phone" and d.reach == "adb":
            assert "onnxruntime" in d.runtimes, d.id
        if d.id.startswith("iphone"):
            assert {"tflite", "tflite-gpu", "tflite-coreml"} <= set(d.runtimes), d.id
            assert d.sources.get("runtimes"), d.id


@pytest.mark.light
@pytest.mark.parametrize("name, vendor", [("galaxy-s24", "qualcomm"), ("pixel8", "google_tensor"),
                                          ("vivo-x100", "mediatek")])  # fmt: skip
def test_npu_phones_name_a_soc_litert_compiles_for(name, vendor):
    """The SoC in the profile is one LiteRT's own AOT target tables know (the real enums)."""
    from edgekit.converters import npu

    d = profiles.get(name)
    soc = profiles.npu_soc(name)
    assert soc.startswith(vendor + ":") and d.recommended.runtime == "litert-npu"
    assert d.recommended.precision == "npu" and d.recipe == "android-npu"
    target = npu.target(soc)
    assert soc.split(":")[1].lower() in repr(target).lower()
    with pytest.raises(ConfigError, match="galaxy-s24, pixel8, vivo-x100"):
        profiles.npu_soc("rpi5")


@pytest.mark.light
def test_the_local_profile_follows_this_cpus_isa_and_cores():
    """The generic x86-64 profile (AVX2, 8 cores) seen through another CPU's flags: AVX-512
    doubles fp32 per core, VNNI makes int8 4x fp32, BF16 gives 16-bit arithmetic at 2x."""
    from edgekit.device.profiles import for_this_cpu, generic_local, get

    base = get("x86-64")
    per_core = base.cpu.peak_gflops["fp32"] / base.cpu.cores
    avx2 = for_this_cpu(base, ["avx2", "fma"], 4)
    assert avx2.cpu.cores == 4 and avx2.cpu.peak_gflops["fp32"] == pytest.approx(4 * per_core)
    assert avx2.cpu.peak_gflops["int8"] == pytest.approx(2 * avx2.cpu.peak_gflops["fp32"])
    assert "fp16" not in avx2.cpu.peak_gflops
    spr = for_this_cpu(base, ["avx2", "avx512f", "avx512_vnni", "avx512_bf16"], 4)
    assert spr.cpu.peak_gflops["fp32"] == pytest.approx(2 * avx2.cpu.peak_gflops["fp32"])
    assert spr.cpu.peak_gflops["int8"] == pytest.approx(4 * spr.cpu.peak_gflops["fp32"])
    assert spr.cpu.peak_gflops["fp16"] == pytest.approx(2 * spr.cpu.peak_gflops["fp32"])
    assert base.cpu.peak_gflops == get("x86-64").cpu.peak_gflops  # the file's profile untouched
    import os

    assert generic_local().cpu.cores == (os.cpu_count() or 1)
