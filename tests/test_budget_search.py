"""The --max-drop search goes on until a budget that only a LARGER float mix meets is met."""

from __future__ import annotations

from pathlib import Path

import pytest

PAIRS = (("conv2d", "conv2d_1"), ("conv2d_1", "conv2d_2"), ("conv2d_2", "conv2d_3"))


@pytest.mark.light
def test_search_finds_the_mix_of_several_bad_units_within_its_bound():
    """Pure search logic: accuracy falls 3 points per bad unit left int8, so only floating
    all four bad units (of 12) meets a 1-point budget, which no 1-3 unit prefix does."""
    from edgekit.optimize.mix import Search, Trial, most_evaluations

    units = [[f"op{i}"] for i in range(12)]
    bad = {"op2", "op5", "op7", "op11"}

    def evaluate(floats: list[str]) -> Trial:
        left = len(bad - set(floats))
        return Trial(floats, 0.95 - 0.03 * left, float(left) + 0.01 * len(floats))

    s = Search(units, evaluate, ref=0.95, max_drop=1.0, say=lambda m: None)
    best = s.run()
    assert set(best.floats) == bad
    assert s.evaluations <= most_evaluations(12, None)
    fewer = [t for t in s.tries if 0 < t["float_layers"] < 4 and t["phase"] != "ranking"]
    assert fewer and all(t["accuracy"] < 0.94 for t in fewer)  # smaller mixes were tried, missed


@pytest.mark.light
def test_search_stops_at_max_float_and_keeps_the_best():
    from edgekit.optimize.mix import Search, Trial

    bad = {"a", "b", "c"}

    def evaluate(floats):
        return Trial(floats, 0.9 - 0.05 * len(bad - set(floats)), 0.0)

    s = Search([["a"], ["b"], ["c"], ["d"]], evaluate, ref=0.9, max_drop=1.0, limit=2,
               say=lambda m: None)  # fmt: skip
    best = s.run()
    assert len(best.floats) <= 2 and best.accuracy == pytest.approx(0.85)
    assert max(t["float_layers"] for t in s.tries) <= 2


@pytest.fixture(scope="module")
def three_outliers(tmp_path_factory):
    """The bundled model with an outlier channel after each of its first three convs: the
    same float function, and each outlier alone costs int8 accuracy."""
    import keras

    from edgekit import source
    from edgekit.example import MODEL
    from edgekit.example.outliers import max_float_change, with_outlier_channel
    from edgekit.example.shapes import arrays

    model = keras.models.load_model(MODEL, compile=False)
    out = model
    for producer, consumer in PAIRS:
        out = with_outlier_channel(out, producer, consumer, factor=300.0)
    xv, yv = arrays("val", 150)
    xv = xv[..., ::-1].astype("float32")
    assert max_float_change(model, out, xv[:16]) < 1e-3
    path = tmp_path_factory.mktemp("outliers") / "three.keras"
    out.save(path)
    xc = arrays("calib", 64)[0][..., ::-1].astype("float32")
    return source.load(Path(path)), xc, xv, yv


def test_tflite_budget_only_a_larger_mix_meets_is_met(three_outliers, tmp_path):
    from edgekit.optimize.budget import accuracy_of, quantize_to_budget

    src, xc, xv, yv = three_outliers
    dest = tmp_path / "b.tflite"
    r = quantize_to_budget(src, "tflite", dest, calib=xc, val_x=xv, val_y=yv, max_drop=1.0)
    assert 100 * (r.reference_accuracy - r.plain_accuracy) > 3.0  # plain int8 is far off
    assert r.met and r.drop <= 1.0
    # smaller mixes were tried and missed: the old search's first steps could not meet it
    n = len(r.float_layers)
    missed = [t for t in r.tries if t["phase"] != "ranking" and t["float_layers"] < n]
    assert missed and all(100 * (r.reference_accuracy - t["accuracy"]) > 1.0 for t in missed)
    assert r.quantized_layers > 0 and r.samples == len(yv) and r.samples_per_point == 1.5
    assert accuracy_of(dest, xv, yv) == pytest.approx(r.accuracy)
    assert r.to_dict()["evaluations"] == r.evaluations > 3
