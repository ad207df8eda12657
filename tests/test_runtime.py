"""edgekit.load: same numbers as the raw runtimes, quantized I/O, threads, bad files."""

from __future__ import annotations

import threading

import numpy as np
import pytest

import edgekit
from edgekit.errors import InputError, ModelLoadError
from edgekit.fingerprint import has_bf16
from tests.test_convert_example import by


def inputs(n=4, seed=0):
    from edgekit.example.shapes import arrays

    images, _ = arrays("val", n)
    return np.concatenate([img[None, :, :, ::-1].astype(np.float32) for img in images])


@pytest.mark.parametrize("precision", ["fp32", "int8", "int8-io", "uint8-io", "int16x8"])
def test_tflite_equals_raw_interpreter(example_out, precision):
    from ai_edge_litert.interpreter import Interpreter

    path = example_out.out / by(example_out, "tflite", precision).file
    it = Interpreter(model_path=str(path))
    it.allocate_tensors()
    i, o = it.get_input_details()[0], it.get_output_details()[0]
    x = inputs(3)
    with edgekit.load(path) as s:
        for sample in x:
            q = sample[None]
            if i["dtype"] != np.float32:
                scale, zp = i["quantization"]
                info = np.iinfo(i["dtype"])
                q = np.clip(np.round(q / scale + zp), info.min, info.max).astype(i["dtype"])
            it.set_tensor(i["index"], q)
            it.invoke()
            raw = it.get_tensor(o["index"])
            if o["dtype"] != np.float32:
                scale, zp = o["quantization"]
                raw = (raw.astype(np.float32) - zp) * np.float32(scale)
            np.testing.assert_array_equal(s.predict(sample[None]), raw)
            assert s.run_raw([q])[0].dtype == o["dtype"]


@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_openvino_equals_raw_runtime(example_out, precision):
    import openvino as ov

    path = example_out.out / by(example_out, "openvino", precision).file
    # edgekit pins f32 execution (OpenVINO would pick bf16 on AVX512_BF16/AMX CPUs)
    config = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": "f32"}
    compiled = ov.Core().compile_model(str(path), "CPU", config)
    x = inputs(2)
    with edgekit.load(path) as s:
        # int8 IRs run their quantized ops in int8 and the rest, like fp32 IRs, in f32
        assert s.execution["precision"] == {"fp32": "f32", "int8": "int8+f32"}[precision]
        assert s.execution["settings"]["INFERENCE_PRECISION_HINT"] == "f32"
        for sample in x:
            raw = compiled(sample[None])[compiled.outputs[0]]
            np.testing.assert_array_equal(s.predict(sample[None]), raw)


def test_onnx_equals_raw_runtime(example_out):
    import onnxruntime as ort

    path = example_out.out / by(example_out, "onnx", "fp32").file
    raw_s = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = inputs(2)
    with edgekit.load(path) as s:
        raw = np.concatenate([raw_s.run(None, {raw_s.get_inputs()[0].name: v[None]})[0] for v in x])
        np.testing.assert_array_equal(s.predict(x), raw)


def test_predict_image_applies_the_contract(example_out):
    from edgekit.example.shapes import arrays

    images, _ = arrays("val", 2)
    with edgekit.load(example_out.out / by(example_out, "onnx", "fp32").file) as s:
        by_hand = s.predict(images[0][None, :, :, ::-1].astype(np.float32))
        np.testing.assert_allclose(s.predict_image(images[0]), by_hand, atol=1e-6)
        bigger = np.kron(images[1], np.ones((2, 2, 1), np.uint8))  # 128x128: resized by contract
        assert s.predict_image(bigger).argmax() == s.predict_image(images[1]).argmax()


def test_wrong_shape_and_dtype_are_clear_errors(example_out):
    with edgekit.load(example_out.out / by(example_out, "tflite", "fp32").file) as s:
        with pytest.raises(InputError, match=r"expects shape \[1, 64, 64, 3\]"):
            s.predict(np.zeros((1, 32, 32, 3), np.float32))
        with pytest.raises(InputError, match="numeric"):
            s.predict(np.array([["a"]]))
        assert s.predict(np.zeros((64, 64, 3))).shape == (1, 4)  # batch added, cast


def test_concurrent_predicts_are_correct(example_out):
    x = inputs(8)
    with edgekit.load(example_out.out / by(example_out, "tflite", "int8").file) as s:
        expected = [s.predict(v[None]) for v in x]
        errors = []

        def worker(k):
            for _ in range(10):
                for i in range(len(x)):
                    if not np.array_equal(s.predict(x[i][None]), expected[i]):
                        errors.append((k, i))

        threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
        [t.start() for t in threads]
        [t.join() for t in threads]
    assert errors == []


@pytest.mark.parametrize(
    "fmt,precision", [("tflite", "fp32"), ("onnx", "fp32"), ("openvino", "fp32")]
)
@pytest.mark.parametrize("damage", ["truncate", "garbage"])
def test_corrupt_files_raise_not_crash(example_out, tmp_path, fmt, precision, damage):
    src = example_out.out / by(example_out, fmt, precision).file
    target = tmp_path / src.name
    data = src.read_bytes()
    bad = (
        data[: len(data) // 3]
        if damage == "truncate"
        else bytes(np.random.default_rng(0).integers(0, 256, len(data) // 4, dtype=np.uint8))
    )
    if fmt == "openvino":  # damage the weights, keep the xml
        target.write_bytes(data)
        target.with_suffix(".bin").write_bytes(src.with_suffix(".bin").read_bytes()[:100])
        if damage == "garbage":
            target.write_bytes(bad)
    else:
        target.write_bytes(bad)
    with pytest.raises(ModelLoadError):
        edgekit.load(target)


def test_tflite_with_bad_tensor_index_is_refused(example_out, tmp_path):
    """A structurally valid flatbuffer whose operator points at a tensor that is not there."""
    import flatbuffers

    from edgekit.flatbuffer import schema as flatbuffer_schema

    schema = flatbuffer_schema()
    src = example_out.out / by(example_out, "tflite", "fp32").file
    model = schema.ModelT.InitFromPackedBuf(bytearray(src.read_bytes()), 0)
    model.subgraphs[0].operators[0].inputs[0] = 10_000
    b = flatbuffers.Builder(0)
    b.Finish(model.Pack(b), file_identifier=b"TFL3")
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(bytes(b.Output()))
    with pytest.raises(ModelLoadError, match="missing tensor"):
        edgekit.load(bad)


def test_unknown_type_and_folder(example_out, tmp_path):
    (tmp_path / "m.pt").write_bytes(b"x")
    with pytest.raises(ModelLoadError, match="unknown artifact type"):
        edgekit.load(tmp_path / "m.pt")
    with pytest.raises(ModelLoadError, match="convert output folder"):
        edgekit.load(example_out.out)


def test_tflite_made_outside_edgekit(tmp_path, tiny_keras, caplog):
    """A plain TFLiteConverter file: no manifest, no metadata; I/O read from the model."""
    import keras
    import tensorflow as tf

    model = keras.saving.load_model(tiny_keras)
    flat = tf.lite.TFLiteConverter.from_keras_model(model).convert()
    path = tmp_path / "plain.tflite"
    path.write_bytes(flat)
    x = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype(np.float32)
    with edgekit.load(path) as s:
        assert s.contract is None and s.inputs[0].shape == [1, 32, 32, 3]
        np.testing.assert_allclose(s.predict(x), model.predict(x, verbose=0), atol=1e-5)
        with caplog.at_level("WARNING", logger="edgekit"):
            assert s.predict_image(np.zeros((40, 50, 3), np.uint8)).shape == (1, 4)
        assert "no preprocessing contract" in caplog.text  # a log line, not a UserWarning
    r = edgekit.benchmark(path, runs=20, warmup=2)
    assert r.runs == 20 and r.p50_ms > 0 and r.precision is None


def test_xnnpack_off_and_threads_give_same_numbers(example_out):
    path = example_out.out / by(example_out, "tflite", "fp32").file
    x = inputs(2)
    with edgekit.load(path) as a, edgekit.load(path, xnnpack=False, threads=1) as b:
        np.testing.assert_allclose(a.predict(x), b.predict(x), atol=1e-5)


def test_coreml_off_macos_is_a_clear_error(example_out):
    import platform

    if platform.system() == "Darwin":
        pytest.skip("Core ML runs here")
    from edgekit.errors import DeviceUnavailableError

    with pytest.raises(DeviceUnavailableError, match="macOS"):
        edgekit.load(example_out.out / by(example_out, "coreml", "fp32").file)


def test_tensorflow_interpreter_fallback_matches(example_out):
    """The last TFLite fallback (TensorFlow's own interpreter) gives the same numbers."""
    path = example_out.out / by(example_out, "tflite", "int8-io").file
    x = inputs(3)
    with edgekit.load(path) as a, edgekit.load(path, backend="tensorflow") as b:
        assert a.runtime.startswith("ai-edge-litert") and b.runtime.startswith("tensorflow")
        np.testing.assert_array_equal(a.predict(x), b.predict(x))
    with pytest.raises(edgekit.ConfigError, match="unknown TFLite backend"):
        edgekit.load(path, backend="tflite-micro")


def test_openvino_fp32_executes_in_f32_on_any_cpu(example_out):
    """The compiled model is asked what it runs in, not the hint we passed."""
    import openvino as ov

    path = example_out.out / by(example_out, "openvino", "fp32").file
    with edgekit.load(path) as s:
        got = s._compiled.get_property("INFERENCE_PRECISION_HINT")
        assert got == ov.Type.f32
        assert s.execution["precision"] == "f32"
        assert "isa" in s.execution


@pytest.mark.skipif(not has_bf16(), reason="this CPU has no AVX512_BF16/AMX: bf16 runs as f32")
def test_openvino_bf16_when_asked(example_out):
    path = example_out.out / by(example_out, "openvino", "fp32").file
    x = inputs(4)
    with edgekit.load(path) as f32, edgekit.load(path, inference_precision="bf16") as bf16:
        assert bf16.execution["precision"] == "bf16"
        diff = np.abs(f32.predict(x) - bf16.predict(x)).max()
        assert 0 < diff < 5e-2  # bf16 really ran: not bit-identical, within its tolerance


def test_openvino_unknown_inference_precision_refused(example_out):
    path = example_out.out / by(example_out, "openvino", "fp32").file
    with pytest.raises(edgekit.ConfigError, match="inference precision"):
        edgekit.load(path, inference_precision="fp8")
