"""edgekit estimate: op costs per format, the fit on published rows, the CLI and calibration."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.conftest import run_cli


def test_costs_agree_across_formats(example_out):
    """One model, every format: the same MACs (within the few ops each converter adds)."""
    from edgekit.estimate import model_costs
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

    from edgekit.estimate import model_costs

    m = keras.applications.MobileNetV2(weights=None, input_shape=(224, 224, 3))
    cost = model_costs(m, precision="int8")
    assert 290e6 < cost.macs < 310e6
    assert cost.by_kind()["depthwise"]["ops"] == 17
    assert abs(cost.weight_bytes - m.count_params()) / m.count_params() < 0.05  # 1 byte each


@pytest.mark.light
def test_leave_one_model_out_meets_the_overall_goal():
    from edgekit.estimate import fit as F

    obs = list(F.published_observations())
    errs = F.lomo_errors(obs)
    ape = np.array([abs(o.latency_ms / p - 1) for o, p, _ in errs])
    assert len({o.family for o in obs}) >= 10 and len(ape) == len(obs)
    assert np.median(ape) <= 0.20
    model = F.fit(obs)
    assert model.low < 1 < model.high


@pytest.mark.light
def test_published_rows_keep_their_sources():
    from edgekit.device.profiles import names
    from edgekit.estimate.published import excluded, model_table, rows

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
    assert by["iphone-xs"]["error"] and by["rpi5"]["latency_ms"] < by["rpi4"]["latency_ms"]
    assert "published row" in by["rpi4"]["basis"]
    small = _estimates(MODEL, "--precision", "fp32", "--runtime", "tflite")
    assert (
        by["rpi4"]["latency_ms"] > 3 * next(e for e in small if e["target"] == "rpi4")["latency_ms"]
    )


def test_calibration_moves_the_estimate_toward_the_measurement(example_out, tmp_path, monkeypatch):
    monkeypatch.setenv("EDGEKIT_CACHE_DIR", str(tmp_path / "cache"))
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
