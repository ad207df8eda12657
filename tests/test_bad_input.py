"""Bad input: one line on stderr, a non-zero exit, no traceback, no partial artifact."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import artifacts_in, run_cli


def check_refused(result, out, *, code: int = 2, words: tuple[str, ...] = ()):
    err = result.stderr.strip()
    assert result.returncode == code, (result.returncode, err[-2000:])
    assert "Traceback" not in result.stderr + result.stdout
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert lines and lines[-1].startswith("error:"), err[-1000:]
    for w in words:
        assert w in err, (w, err)
    assert not [n for n in artifacts_in(out) if not n.startswith(".")]


def test_missing_model(tmp_path):
    out = tmp_path / "out"
    check_refused(
        run_cli("convert", tmp_path / "nope.keras", "-o", out), out, words=("model not found",)
    )


def test_file_that_is_not_a_model(tmp_path):
    f = tmp_path / "notes.txt"
    f.write_text("hello")
    out = tmp_path / "out"
    check_refused(run_cli("convert", f, "-o", out), out, words=("not a Keras model",))


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_truncated_model(tiny_keras, tmp_path, suffix):
    import keras

    full = tmp_path / f"full{suffix}"
    keras.saving.load_model(tiny_keras).save(full)
    cut = tmp_path / f"cut{suffix}"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    out = tmp_path / "out"
    check_refused(run_cli("convert", cut, "--to", "tflite", "-o", out), out)


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_lambda_layer_refused_in_safe_mode(tmp_path, suffix):
    import keras

    inp = keras.Input((8, 8, 3))
    out_t = keras.layers.Lambda(lambda t: t * 2.0)(inp)
    model = keras.Model(inp, keras.layers.Flatten()(out_t))
    path = tmp_path / f"lam{suffix}"
    model.save(path)
    out = tmp_path / "out"
    check_refused(
        run_cli("convert", path, "--to", "onnx", "-o", out), out, words=("Lambda", "--no-safe-mode")
    )
    ok = run_cli("convert", path, "--to", "onnx", "-o", out, "--no-safe-mode")
    assert ok.returncode == 0, ok.stderr[-2000:]
    assert "lam_fp32.onnx" in artifacts_in(out)


@pytest.mark.parametrize(
    "to,words",
    [
        ("onnx:int8", ("onnx cannot do", "fp32")),
        ("tflite:palettize4", ("tflite can do",)),
        ("tensorrt", ("unknown format",)),
    ],
)
def test_impossible_format_precision(tiny_keras, tmp_path, to, words):
    out = tmp_path / "out"
    check_refused(run_cli("convert", tiny_keras, "--to", to, "-o", out), out, words=words)


def test_int8_without_calibration_data(tiny_keras, tmp_path):
    out = tmp_path / "out"
    check_refused(
        run_cli("convert", tiny_keras, "--to", "tflite:int8", "-o", out),
        out,
        words=("--calib", "--random-calib"),
    )


def test_calibration_folder_without_images(tiny_keras, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.txt").write_text("no images here")
    out = tmp_path / "out"
    check_refused(
        run_cli("convert", tiny_keras, "--to", "tflite:int8", "--calib", empty, "-o", out),
        out,
        words=("no readable images",),
    )


def test_calibration_tensors_of_wrong_shape(tiny_keras, tmp_path):
    npy = tmp_path / "calib.npy"
    np.save(npy, np.zeros((4, 16, 16, 3), np.float32))
    out = tmp_path / "out"
    check_refused(
        run_cli("convert", tiny_keras, "--to", "tflite:int8", "--calib", npy, "-o", out),
        out,
        words=("[N, 32, 32, 3]",),
    )


def test_unknown_recipe(tiny_keras, tmp_path):
    out = tmp_path / "out"
    check_refused(
        run_cli("convert", tiny_keras, "--recipe", "pi9", "-o", out), out, words=("rpi5-int8",)
    )


@pytest.fixture(scope="module")
def det_savedmodel(tmp_path_factory):
    """MatrixDeterminant: ONNX has it, TFLite has no builtin for it."""
    import tensorflow as tf

    class Det(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([1, 4, 4], tf.float32)])
        def serve(self, x):
            return {"det": tf.linalg.det(x)}

    model = Det()
    path = tmp_path_factory.mktemp("det") / "det_sm"
    tf.saved_model.save(model, str(path), signatures={"serving_default": model.serve})
    return path


def test_a_failing_format_keeps_the_others(det_savedmodel, tmp_path):
    """TFLite fails on every route; the ONNX artifact is still written, verified and listed,
    the failure is in the table and the manifest with its cause, and the exit code is 1."""
    import json

    out = tmp_path / "out"
    result = run_cli("convert", det_savedmodel, "--to", "onnx,tflite", "-o", out)
    assert result.returncode == 1, result.stderr[-2000:]
    assert "Traceback" not in result.stderr + result.stdout
    last = [ln for ln in result.stderr.splitlines() if ln.strip()][-1]
    assert last.startswith("error:") and "tflite fp32 failed" in last
    assert "failed" in result.stdout and "onnx" in result.stdout
    assert artifacts_in(out) == ["det_sm_fp32.onnx", "edgekit.json"]
    manifest = json.loads((out / "edgekit.json").read_text())
    assert [a["format"] for a in manifest["artifacts"]] == ["onnx"]
    assert manifest["artifacts"][0]["parity"]["passed"]
    (failure,) = manifest["failures"]
    assert failure["format"] == "tflite" and "every route failed" in failure["error"]
    assert "frozen-graph" in failure["error"] and "saved-model" in failure["error"]


def test_fail_fast_leaves_nothing(det_savedmodel, tmp_path):
    out = tmp_path / "out"
    result = run_cli("convert", det_savedmodel, "--to", "onnx,tflite", "--fail-fast", "-o", out)
    check_refused(result, out, code=1, words=("tflite fp32", "every route failed"))


def test_artifact_its_runtime_refuses(tmp_path):
    """Untrained MobileNetV2: BatchNorm with default statistics shrinks activations to ~1e-18,
    and LiteRT refuses the int16x8 file the converter wrote. That is a ConversionError naming
    the cause, not a crash at load time on the device."""
    import keras

    keras.utils.set_random_seed(0)
    path = tmp_path / "untrained.keras"
    keras.applications.MobileNetV2(weights=None, input_shape=(96, 96, 3), alpha=0.35).save(path)
    calib = tmp_path / "calib.npy"
    np.save(calib, np.random.default_rng(0).uniform(-1, 1, (2, 96, 96, 3)).astype(np.float32))
    out = tmp_path / "out"
    result = run_cli("convert", path, "--to", "tflite:int16x8", "--calib", calib, "-o", out)
    check_refused(result, out, code=1, words=("runtime refuses it", "calibration"))
