"""int8 to an accuracy budget: float layers chosen until the drop fits, or exit 1 with the best."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest


@pytest.fixture(scope="session")
def outlier(tmp_path_factory):
    """The bundled model with an outlier channel: same float function, plain int8 hurts."""
    from edgekit import source
    from edgekit.example.outliers import outlier_shapes
    from edgekit.example.shapes import arrays

    tmp = tmp_path_factory.mktemp("budget")
    src = source.load(Path(outlier_shapes(tmp / "outlier.keras")))
    xc = arrays("calib", 64)[0][..., ::-1].astype("float32")
    xv, yv = arrays("val", 120)
    return src, xc, xv[..., ::-1].astype("float32"), yv


def test_outlier_model_keeps_its_float_function():
    import keras

    from edgekit.example import MODEL
    from edgekit.example.outliers import max_float_change, with_outlier_channel
    from edgekit.example.shapes import arrays

    model = keras.models.load_model(MODEL, compile=False)
    x = arrays("val", 16)[0][..., ::-1].astype("float32")
    assert max_float_change(model, with_outlier_channel(model, "conv2d", "conv2d_1"), x) < 1e-4


def test_tflite_budget_met_with_float_layers_listed(outlier, tmp_path):
    from edgekit.optimize.budget import accuracy_of, quantize_to_budget

    src, xc, xv, yv = outlier
    dest = tmp_path / "b.tflite"
    r = quantize_to_budget(src, "tflite", dest, calib=xc, val_x=xv, val_y=yv, max_drop=1.0)
    assert 100 * (r.reference_accuracy - r.plain_accuracy) > 1.0  # plain int8 misses it
    assert r.met and r.drop <= 1.0 and r.float_layers
    assert r.quantized_layers > len(r.float_layers)  # still mostly int8
    assert accuracy_of(dest, xv, yv) == pytest.approx(r.accuracy)


def test_unmeetable_budget_keeps_best_artifact_and_says_why(outlier, tmp_path):
    from edgekit.errors import BudgetNotMetError
    from edgekit.optimize.budget import accuracy_of, quantize_to_budget

    src, xc, xv, yv = outlier
    dest = tmp_path / "b.tflite"
    with pytest.raises(BudgetNotMetError) as info:
        quantize_to_budget(
            src, "tflite", dest, calib=xc, val_x=xv, val_y=yv, max_drop=1.0, max_float=0
        )
    e = info.value
    assert e.exit_code == 1 and "--max-drop 1.0" in str(e) and "kept the best" in str(e)
    assert dest.exists() and not e.result.met
    best = max(t["accuracy"] for t in e.result.tries)
    assert accuracy_of(dest, xv, yv) == pytest.approx(best)


def test_budget_refuses_bad_arguments(outlier, tmp_path):
    from edgekit.errors import ConfigError
    from edgekit.optimize.budget import quantize_to_budget

    src, xc, xv, yv = outlier
    with pytest.raises(ConfigError, match="--max-drop works for"):
        quantize_to_budget(src, "onnx", tmp_path / "x", calib=xc, val_x=xv, val_y=yv)
    with pytest.raises(ConfigError, match=">= 0"):
        quantize_to_budget(src, "tflite", tmp_path / "x", calib=xc, val_x=xv, val_y=yv, max_drop=-1)
    assert not (tmp_path / "x").exists()


def test_openvino_budget_met_by_nncf_accuracy_control(outlier, tmp_path):
    from edgekit.optimize.budget import accuracy_of, quantize_to_budget

    src, xc, xv, yv = outlier
    xc, xv, yv = xc[:32], xv[:60], yv[:60]  # NNCF validates many times: keep it small
    dest = tmp_path / "b.xml"
    r = quantize_to_budget(src, "openvino", dest, calib=xc, val_x=xv, val_y=yv, max_drop=1.0)
    assert 100 * (r.reference_accuracy - r.plain_accuracy) > 1.0
    assert r.met and r.float_layers and dest.with_suffix(".bin").exists()
    assert abs(accuracy_of(dest, xv, yv) - r.accuracy) <= 1 / len(yv)
    assert np.isfinite(r.drop)


def test_cli_unmeetable_budget_exits_1_with_best_artifact(outlier, tmp_path, example_data):
    from edgekit.example import LABELS
    from tests.conftest import run_cli

    src = outlier[0]
    out = tmp_path / "out"
    r = run_cli("convert", src.path, "--to", "tflite", "--precision", "int8",
                "--max-drop", "1.0", "--max-float", "0", "--val", example_data["val"],
                "--labels", LABELS, "-o", out)  # fmt: skip
    assert r.returncode == 1, r.stderr
    assert "no mix of float and int8 layers met --max-drop 1.0" in " ".join(r.stderr.split())
    assert "Traceback" not in r.stderr
    assert (out / "outlier_int8-budget.tflite").exists() and (out / "budget.json").exists()


@pytest.mark.light
def test_parity_reports_per_class_precision_recall_f1():
    from edgekit.parity import Tolerance, compare

    y = np.array([0, 0, 1, 1, 2, 2])
    pred = np.array([0, 1, 1, 1, 2, 0])
    eye = np.eye(3, dtype=np.float32)
    m = compare([eye[y]], [eye[pred]], tolerance=Tolerance(max_abs=1e-4), y=y).per_class
    assert m["precision"] == [0.5, pytest.approx(2 / 3, abs=1e-4), 1.0]
    assert m["recall"] == [0.5, 1.0, 0.5] and m["support"] == [2, 2, 2]
    assert m["f1"][1] == pytest.approx(0.8, abs=1e-4)


def test_coreml_budget_keeps_the_layer_int8_weights_hurt_in_float(outlier, tmp_path):
    from edgekit.converters.coreml import inspect
    from edgekit.optimize.budget import quantize_to_budget

    src, xc, xv, yv = outlier
    dest = tmp_path / "b.mlpackage"
    r = quantize_to_budget(src, "coreml", dest, calib=xc, val_x=xv, val_y=yv, max_drop=0.0)
    assert r.met and r.drop <= 0.0
    compressed = sum(inspect(dest)["compressed_weights"].values())
    assert compressed == r.quantized_layers  # the layers kept in float are stored float
    if r.plain_accuracy < r.reference_accuracy:
        assert r.float_layers


def test_python_convert_takes_the_optimization_steps(outlier, tmp_path, example_data):
    """`edgekit.convert(model, prune=..., data=..., max_drop=..., max_float=...)` does what
    the CLI does, called twice in one process."""
    import json

    import edgekit
    from edgekit.example import LABELS
    from edgekit.optimize import BudgetReport

    src = outlier[0]
    for out in (tmp_path / "a", tmp_path / "b"):
        report = edgekit.convert(src.path, to="tflite", val=example_data["val"], labels=LABELS,
                                 max_drop=1.0, calib_samples=32, out=out)  # fmt: skip
        assert isinstance(report, BudgetReport) and report.met
        assert (out / "outlier_int8-budget.tflite").exists()
        rows = json.loads((out / "budget.json").read_text())
        assert rows[0]["met"] and rows[0]["samples"] == 400 and rows[0]["tries"]
        listed = json.loads((out / "edgekit.json").read_text())["artifacts"]
        assert [a["file"] for a in listed] == ["outlier_int8-budget.tflite"]
        assert "--max-drop 1.0" in listed[0]["notes"][0]
    x = np.random.default_rng(0).uniform(0, 255, (40, 64, 64, 3)).astype("float32")
    np.savez(tmp_path / "train.npz", x=x)  # inputs only: distillation needs no labels
    pruned = edgekit.convert(src.path, to="tflite:fp32", prune="sparsity=0.5",
                             data=tmp_path / "train.npz", random_calib=True,
                             out=tmp_path / "p")  # fmt: skip
    assert (tmp_path / "p" / "outlier_pruned.keras").exists()
    assert [a.format for a in pruned.artifacts] == ["tflite"]
