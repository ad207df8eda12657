"""edgekit estimate: op costs per format, the fit on published rows, the CLI and calibration."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import run_cli

DATA = Path(__file__).parent / "data" / "example"


def test_costs_agree_across_formats(example_out):
    """One model, every format: the same MACs (within the few ops each converter adds)."""
    from edgekit.costmodel import model_costs
    from edgekit.example import MODEL

    ref = model_costs(MODEL)
    assert ref.by_kind()["conv"]["macs"] > 0.9 * ref.macs
    for a in example_out.artifacts:
        cost = model_costs(example_out.out / a.file)
        assert abs(cost.macs / ref.macs - 1) < 0.03, (a.file, cost.macs, ref.macs)
        assert cost.by_kind()["conv"]["macs"] == ref.by_kind()["conv"]["macs"], a.file
    fp32 = model_costs(example_out.out / "shapes_fp32.tflite").weight_bytes
    int8 = model_costs(example_out.out / "shapes_int8.tflite").weight_bytes
    assert 3 < fp32 / int8 < 4.5  # int8 weights are a quarter of fp32's


def test_keras_costs_match_published_figures():
    """MobileNetV2 (Sandler et al.: 300 M MACs, 3.4 M params) built with random weights."""
    import keras

    from edgekit.costmodel import model_costs

    m = keras.applications.MobileNetV2(weights=None, input_shape=(224, 224, 3))
    cost = model_costs(m, precision="int8")
    assert 290e6 < cost.macs < 310e6
    assert cost.by_kind()["depthwise"]["ops"] == 17
    assert abs(cost.weight_bytes - m.count_params()) / m.count_params() < 0.05  # 1 byte each


@pytest.mark.light
def test_leave_one_model_out_meets_the_overall_goal():
    from edgekit.costmodel import fit as F

    obs = list(F.published_observations())
    errs = F.lomo_errors(obs)
    ape = np.array([abs(o.latency_ms / p - 1) for o, p, _ in errs])
    assert len({o.family for o in obs}) >= 10 and len(ape) == len(obs)
    assert np.median(ape) <= 0.17
    model = F.fit(obs)  # intervals per tier, from the held-out errors of its split
    assert set(model.intervals) == set(F.TIERS)
    for low, high in model.intervals.values():
        assert low < 1 < high
    spread = {t: hi / lo for t, (lo, hi) in model.intervals.items()}
    assert spread["pair"] < spread["device"] and spread["pair"] < spread["runtime"]
    # a runtime with rows on other devices knows more than one with no row anywhere
    assert spread["runtime"] < spread["new-runtime"]
    trt = next(o for o in obs if o.runtime == "tensorrt")
    assert F.solve([o for o in obs if o.runtime != "tensorrt"]).tier(trt) == "new-runtime"


@pytest.mark.light
def test_published_rows_keep_their_sources():
    from edgekit.costmodel.published import excluded, model_table, rows
    from edgekit.device.profiles import names

    got, table = rows(), model_table()
    assert len(got) > 150 and all(r.raw["source"] for r in got)
    assert {r.device for r in got} <= set(names()) and all(r.model in table for r in got)
    assert all(why for _, why in excluded())


@pytest.mark.light
def test_estimate_unknown_target_or_runtime_is_one_line():
    res = run_cli("estimate", "nothing.tflite", "--target", "rpi9")
    assert res.returncode == 2 and "Traceback" not in res.stderr and "rpi5" in res.stderr
    res = run_cli("estimate", "--calibrate", __file__)
    assert res.returncode == 2 and "--target" in res.stderr


def _estimates(path, *args) -> list[dict]:
    res = run_cli("estimate", path, "--target", "all", "--json", *args)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


def test_estimate_every_target_for_the_example_and_mobilenet(tmp_path):
    import keras

    from edgekit.conversion import convert
    from edgekit.device.profiles import names
    from edgekit.example import MODEL

    for e in _estimates(MODEL, "--precision", "int8"):  # a Keras model: every target answers
        assert e["error"] is None and 0 < e["low_ms"] < e["latency_ms"] < e["high_ms"], e
        assert e["basis"] and e["runtime"] and e["precision"] == "int8"
    mnv2 = tmp_path / "mnv2.keras"
    keras.applications.MobileNetV2(weights=None, input_shape=(224, 224, 3)).save(mnv2)
    rep = convert(mnv2, to="tflite:fp32", out=tmp_path / "out", random_calib=True)
    art = tmp_path / "out" / rep.artifacts[0].file
    found = _estimates(art)
    assert [e["target"] for e in found] == names()
    by = {e["target"]: e for e in found}
    # LiteRT runs on iOS too: an iPhone answers for a .tflite, on its CPU by default
    assert by["iphone-xs"]["runtime"] == "tflite" and not by["iphone-xs"]["error"]
    assert by["rpi5"]["latency_ms"] < by["rpi4"]["latency_ms"]
    assert "published row" in by["rpi4"]["basis"]
    small = _estimates(MODEL, "--precision", "fp32", "--runtime", "tflite")
    assert (
        by["rpi4"]["latency_ms"] > 3 * next(e for e in small if e["target"] == "rpi4")["latency_ms"]
    )


def test_calibration_moves_the_estimate_toward_the_measurement(example_out, tmp_path, monkeypatch):
    monkeypatch.setenv("EDGEKIT_CACHE", str(tmp_path / "cache"))
    art = example_out.out / "shapes_int8.tflite"
    before = _estimates(art)
    rpi5 = next(e for e in before if e["target"] == "rpi5")
    measured = rpi5["latency_ms"] * 8  # a slow board, far outside the interval
    results = tmp_path / "results.json"
    results.write_text(json.dumps({"results": [
        {"artifact": str(art), "p50_ms": measured, "threads": 4, "runtime": "tflite"}
    ]}))  # fmt: skip
    res = run_cli("estimate", "--calibrate", results, "--target", "rpi5")
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "cache" / "calibration.json").exists()
    after = {e["target"]: e for e in _estimates(art)}
    moved = after["rpi5"]
    assert abs(np.log(measured / moved["latency_ms"])) < 0.5 * abs(
        np.log(measured / rpi5["latency_ms"])
    )
    assert "your measurements" in moved["basis"]
    assert "your measurements" not in after["pixel4"]["basis"]
    run_cli("estimate", "--clear-calibration")
    assert not (tmp_path / "cache" / "calibration.json").exists()


def test_estimate_on_an_onnx_artifact_answers_for_the_pixel_targets():
    """ONNX Runtime runs on Android: every Pixel profile lists it."""
    from edgekit.device.profiles import names

    pixels = [n for n in names() if n.startswith("pixel")]
    res = run_cli("estimate", DATA / "shapes_fp32.onnx", "--target", ",".join(pixels), "--json")
    assert res.returncode == 0, res.stderr[-2000:]
    for e in json.loads(res.stdout):
        assert e["error"] is None and e["runtime"] == "onnxruntime", e
        assert 0 < e["low_ms"] < e["latency_ms"] < e["high_ms"]


def _cost(ops, fmt="tflite", precision="int8"):
    from edgekit.costmodel import ModelCost, OpCost, OpKind

    rows = [OpCost(f"op{i}", OpKind(k), m, w, a, op) for i, (op, k, m, w, a) in enumerate(ops)]
    return ModelCost("synthetic", fmt, precision, rows, io_bytes=150_528)


@pytest.mark.light
def test_ops_a_gpu_or_edge_tpu_path_cannot_take_run_on_the_cpu():
    """Partitioning read from the op types against the paths' published op lists."""
    from edgekit.costmodel import estimate

    conv = ("CONV_2D", "conv", 50_000_000, 100_000, 400_000)
    ops = [conv, conv, ("ARG_MAX", "other", 1000, 0, 4000), conv]  # ARG_MAX: no GPU kernel
    fp32 = _cost(ops, precision="fp32")
    (gpu,) = estimate(fp32, ["pixel4"], runtime="tflite-gpu")  # takes its largest partition
    assert gpu.cpu_ops == ["ARG_MAX", "CONV_2D"] and gpu.parts_ms["cpu_fallback"] > 0
    (ane,) = estimate(fp32, ["iphone-12-pro"], runtime="tflite-coreml")  # takes every one
    assert ane.cpu_ops == ["ARG_MAX"] and ane.parts_ms["switches"] > gpu.parts_ms["switches"]
    (tpu,) = estimate(_cost(ops), ["coral-usb"], runtime="edgetpu")
    assert tpu.cpu_ops == ["ARG_MAX", "CONV_2D"]  # the compiler stops at the first unmapped op
    (clean,) = estimate(_cost([conv, conv]), ["coral-usb"], runtime="edgetpu")
    assert clean.cpu_ops == [] and "cpu_fallback" not in clean.parts_ms
    assert tpu.latency_ms > clean.latency_ms


@pytest.mark.light
def test_weights_beyond_the_edge_tpu_sram_stream_over_the_link():
    """About 8 MB of parameters stay on the chip; the rest crosses USB on every inference,
    a physical time the fit does not scale: at 0.5 GB/s, USB 3.0's 5 Gb/s less its 8b/10b
    line coding."""
    from edgekit.costmodel import estimate

    def model(total_mb: float):  # four convolutions sharing the weights
        w = int(total_mb * 2**20 / 4)
        return _cost([("CONV_2D", "conv", 200_000_000, w, 100_000)] * 4)

    (small,) = estimate(model(6.0), ["coral-usb"])  # 6 MB: fits
    (big,) = estimate(model(24.0), ["coral-usb"])  # 24 MB: 16 MB stream
    spill_ms = 16 * 2**20 / 0.5e9 * 1e3
    assert small.parts_ms["link"] < 0.5  # only the input and output cross
    assert abs(big.parts_ms["link"] - small.parts_ms["link"] - spill_ms) < 0.5
    assert big.latency_ms - small.latency_ms > 0.9 * spill_ms


@pytest.mark.light
def test_nnapi_is_never_the_default_and_is_flagged_when_asked_for():
    from edgekit.costmodel import estimate

    int8 = _cost([("CONV_2D", "conv", 50_000_000, 100_000, 400_000)] * 3)
    for e in estimate(int8, ["pixel", "pixel3", "pixel4"]):
        assert e.runtime == "tflite" and not e.warning, e
    (asked,) = estimate(int8, ["pixel4"], runtime="nnapi")
    assert asked.latency_ms and "deprecated from Android 15" in asked.warning
    (npu,) = estimate(int8, ["galaxy-s24"])
    assert npu.runtime == "litert-npu" and npu.tier in ("pair", "runtime")


@pytest.mark.light
def test_interval_widens_with_what_the_fit_has_not_seen():
    from edgekit.costmodel import estimate

    keras_like = _cost([("Conv2D", "conv", 300_000_000, 1_000_000, 2_000_000)] * 4, fmt="keras")
    seen, unseen = estimate(keras_like, ["rpi4", "pixel8"], runtime="ncnn", precision="fp32")
    assert seen.tier == "pair" and unseen.tier == "device"
    assert "no published rows for pixel8" in unseen.basis
    width = lambda e: e.high_ms / e.low_ms  # noqa: E731
    assert width(unseen) > width(seen) > 1


@pytest.mark.light
def test_big_cores_count_by_clock_and_vector_width():
    """Four threads on a Pixel 4 run on its four Cortex-A76 (16 fp32 FLOP/cycle), not on a
    clock share of a CPU whose A55 cores do 8: the threads reach more of the peak."""
    from edgekit.costmodel.cores import flop_per_cycle, share_weights
    from edgekit.costmodel.roofline import cpu_unit
    from edgekit.device.profiles import all_profiles, get

    p = get("pixel4")
    unit = cpu_unit(p, "tflite", "fp32", 4)
    by_clock = (2.84 + 3 * 2.42) / sum(c.ghz * c.cores for c in p.cpu.clusters)
    assert unit.core_fraction == pytest.approx((2.84 + 3 * 2.42) * 16 / 218.6, rel=1e-3)
    assert unit.core_fraction > by_clock * 1.2
    for prof in all_profiles():  # the width table reproduces every profile's derived fp32 peak
        pid, cpu = prof.id, prof.cpu
        widths = [flop_per_cycle(c.core) for c in cpu.clusters]
        if None not in widths and len(cpu.clusters) > 1:
            total = sum(c.cores * c.ghz * w for c, w in zip(cpu.clusters, widths))
            assert total == pytest.approx(cpu.peak_gflops["fp32"], rel=0.05), pid
            assert max(share_weights(cpu)) > min(share_weights(cpu)), pid
    one_cluster = cpu_unit(get("rpi5"), "tflite", "fp32", 2)
    assert one_cluster.core_fraction == pytest.approx(0.5)


@pytest.mark.light
def test_int8_without_a_visible_dot_product_runs_at_twice_fp32():
    """The Pixel 3's Kryo 385 has SDOT, but its kernel does not report it and cpuinfo does not
    whitelist it: int8 runs at 2x fp32, slower than on the Pixel 4 whose A76 cpuinfo knows."""
    from edgekit.costmodel.cores import cpu_peaks, dot_seen
    from edgekit.costmodel.fit import cpu_class
    from edgekit.costmodel.roofline import cpu_unit
    from edgekit.device.profiles import get

    p3, p4 = get("pixel3"), get("pixel4")
    assert "asimddp" in p3.cpu.isa and not dot_seen(p3.cpu) and dot_seen(p4.cpu)
    assert cpu_peaks(p3.cpu)["int8"] == 2 * p3.cpu.peak_gflops["fp32"]
    assert cpu_peaks(p4.cpu)["int8"] == p4.cpu.peak_gflops["int8"]
    assert cpu_class(p3) == "arm-fp16" and cpu_class(p4) == "arm-dotprod"
    ratio3 = (
        cpu_unit(p3, "tflite", "int8", 4).peak_gflops
        / cpu_unit(p3, "tflite", "fp32", 4).peak_gflops
    )
    ratio4 = (
        cpu_unit(p4, "tflite", "int8", 4).peak_gflops
        / cpu_unit(p4, "tflite", "fp32", 4).peak_gflops
    )
    assert ratio3 == pytest.approx(2) and ratio4 == pytest.approx(4, rel=1e-3)


@pytest.mark.light
def test_rows_whose_source_says_they_are_not_the_models_compute_are_left_out():
    from edgekit.costmodel.published import excluded, rows

    why = [w for r, w in excluded()]
    assert any("steady-state" in w for w in why)  # the Pi 5 loop that ranged 9 to 73 ms
    assert sum("cost outside the model's ops" in w for w in why) == 3  # OpenVINO MNv3, 3 units
    kept = [r for r in rows() if r.device == "rpi5" and r.model == "mobilenet_v1@224"]
    assert kept and all(r.latency_ms < 30 for r in kept)


@pytest.mark.light
def test_nnapi_gives_quantized_models_to_the_dsp_and_float_ones_to_the_gpu():
    """The Hexagon DSPs take quantized models only; Qualcomm's NNAPI driver runs float ones on
    the Adreno GPU (qti-gpu) where the profile lists it, else NNAPI falls back to the CPU. The
    DSP has no public peak: the CPU's stands in at the precision asked for (int8, not fp32)."""
    from edgekit.costmodel.cores import cpu_peaks
    from edgekit.costmodel.roofline import unit_for
    from edgekit.device.profiles import get

    p4 = get("pixel4")
    int8, fp32 = unit_for(p4, "nnapi", "int8"), unit_for(p4, "nnapi", "fp32")
    assert int8.kind == "dsp" and int8.precision == "int8"
    assert int8.peak_gflops == cpu_peaks(p4.cpu)["int8"]
    assert fp32.kind == "gpu" and fp32.name.startswith("Adreno 640") and fp32.precision == "fp32"
    assert fp32.peak_gflops == p4.accelerators[0].peak_gflops["fp32"] and not fp32.note
    p2 = get("pixel2")  # no NNAPI GPU device listed: a float model takes NNAPI's CPU path
    assert unit_for(p2, "nnapi", "fp32").kind == "cpu"
    assert unit_for(p2, "nnapi", "int8").kind == "dsp"


@pytest.mark.light
def test_apple_gpus_use_their_own_peaks():
    """The A12-A14 GPUs: 4 cores x 64 fp32 FMA lanes x 2 x clock (philipturner/metal-benchmarks),
    fp16 at twice that; no longer the CPU's peak standing in."""
    from edgekit.costmodel.roofline import unit_for
    from edgekit.device.profiles import get

    for dev, ghz in (("iphone-xs", 1.128), ("iphone-11-pro", 1.230), ("iphone-12-pro", 1.278)):
        p = get(dev)
        gpu = unit_for(p, "tflite-gpu", "fp16")
        assert gpu.kind == "gpu" and not gpu.note, dev
        fp32 = p.accelerators[0].peak_gflops["fp32"]
        assert fp32 == pytest.approx(4 * 64 * 2 * ghz, rel=0.01), dev
        assert gpu.peak_gflops == pytest.approx(2 * fp32, rel=0.01), dev
        assert "metal-benchmarks" in p.sources["accelerators.0"], dev


@pytest.mark.light
def test_efficientnet_lite0_is_costed_without_squeeze_excite():
    """Lite0 is B0's MBConv stack without squeeze-and-excite, ReLU6 for swish (tensorflow/tpu
    efficientnet/lite README, 4.7 M parameters): it is not costed as B0."""
    from edgekit.costmodel.published import model_table

    table = model_table()
    lite, b0 = table["efficientnet_lite0@224"], table["efficientnet_b0@224"]
    assert len(lite.ops) < len(b0.ops) / 2
    assert 4.4e6 < lite.weight_bytes / 4 < 4.8e6  # fp32 weights, batch norms folded


@pytest.mark.light
def test_published_thread_counts_follow_what_the_source_ran():
    """Ultralytics' TFLite runs XNNPACK on one thread (no num_threads given); the XNNPACK
    README's multi-threaded phone table uses one thread per big core."""
    from edgekit.costmodel.published import rows
    from edgekit.device.profiles import get

    got = rows()
    ultra = [r for r in got if r.raw["runtime"] == "TFLite CPU (Ultralytics)"]
    assert len(ultra) == 2 and all(r.threads == 1 and "autobackend" in r.raw["note"] for r in ultra)
    multi = [r for r in got if "big cores" in r.raw["threads"]]
    assert len(multi) == 10
    for r in multi:
        big = get(r.device).cpu.clusters[0]  # the profiles list the fastest cluster first
        assert r.threads == big.cores and "as many threads as there are big cores" in r.raw["note"]
