"""Models as users have them: a tf.keras 2 SavedModel with optimizer slots, TF1 SavedModels,
signatures-only tf.Module SavedModels, a .keras saved under the JAX backend.

The fixtures in tests/data were made by other frameworks (tests/data/make_savedmodel.py with
TensorFlow 2.15, make_keras_jax.py with Keras' JAX backend) together with the outputs those
frameworks computed, so the loader is checked against them, not against itself.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import edgekit
from edgekit.source import savedmodel

DATA = Path(__file__).parent / "data"
TFKERAS2 = DATA / "savedmodel_tfkeras2"


def test_tfkeras2_savedmodel_fails_to_revive_in_tensorflow():
    """The fixture still holds what breaks `tf.saved_model.load` on TF 2.16+ (else the next
    test would prove nothing)."""
    import tensorflow as tf

    with pytest.raises(AttributeError, match="add_slot"):
        tf.saved_model.load(str(TFKERAS2))


def test_tfkeras2_savedmodel_loads_at_graph_level():
    from edgekit import source

    src = source.load(TFKERAS2)
    assert (src.kind, src.loader) == ("savedmodel", savedmodel.SESSION)
    assert [t.name for t in src.inputs] == ["series"]
    assert [(t.name, t.shape) for t in src.outputs] == [
        ("kind", [1, 4]),
        ("level", [1, 2]),
        ("score", [1, 1]),
    ]
    ref = np.load(DATA / "savedmodel_tfkeras2.npz")  # what TensorFlow 2.15 computed
    for spec, got in zip(src.outputs, src.predict(ref["series"])):
        np.testing.assert_allclose(got, ref[spec.name], atol=1e-5)


def test_tfkeras2_savedmodel_converts_to_every_format(tmp_path):
    from edgekit.formats import DEFAULT_FORMATS

    formats = sorted({*DEFAULT_FORMATS, "ncnn"})
    report = edgekit.convert(TFKERAS2, to=",".join(formats), out=tmp_path / "out")
    assert sorted(a.format for a in report.artifacts) == formats, report.manifest.failures
    for a in report.artifacts:
        assert a.parity["passed"], (a.format, a.parity)
        assert [t["name"] for t in a.outputs] == ["kind", "level", "score"] or a.format in (
            "ncnn",  # ncnn names blobs itself; parity matched them by shape
        )
    manifest = json.loads((tmp_path / "out" / "edgekit.json").read_text())
    assert manifest["source"]["kind"] == "savedmodel"
    assert manifest["source"]["loader"] == "tf1-session"
    # its costs are read at the graph level too: the same ops as edgekit's fp32 TFLite of it
    from edgekit.costmodel import model_costs

    source, (tfl,) = model_costs(TFKERAS2), [a for a in report.artifacts if a.format == "tflite"]
    art = model_costs(tmp_path / "out" / tfl.file)
    assert source.format == "keras" and source.macs == art.macs > 0
    assert sorted(o.op for o in source.ops) == sorted(o.op for o in art.ops)


def test_estimate_cli_on_a_tfkeras2_savedmodel_relative_path():
    from tests.conftest import run_cli

    r = run_cli("estimate", TFKERAS2.name, "--target", "rpi5,pixel8", "--json", cwd=DATA)
    assert r.returncode == 0, r.stderr[-2000:]
    rows = json.loads(r.stdout)
    assert [x["target"] for x in rows] == ["rpi5", "pixel8"]
    assert all(x["latency_ms"] > 0 and x["low_ms"] <= x["latency_ms"] <= x["high_ms"] for x in rows)
    assert r.stderr.strip() == "", r.stderr[-2000:]  # TensorFlow's log lines stay captured


def _tf1_savedmodel(path: Path, signature: str = "predict") -> np.ndarray:
    """A TF1-style SavedModel (graph + signature_def, tf.compat.v1.saved_model.Builder)."""
    import tensorflow as tf

    weights = np.arange(18, dtype=np.float32).reshape(6, 3) / 10
    with tf.Graph().as_default():
        x = tf.compat.v1.placeholder(tf.float32, [None, 6], name="features")
        w = tf.compat.v1.get_variable("w", initializer=weights)
        logits = tf.matmul(x, w) + 0.5
        probs = tf.nn.softmax(logits, name="probs")
        with tf.compat.v1.Session() as session:
            session.run(tf.compat.v1.global_variables_initializer())
            builder = tf.compat.v1.saved_model.Builder(str(path))
            sig = tf.compat.v1.saved_model.predict_signature_def(
                {"features": x}, {"probs": probs, "logits": logits}
            )
            builder.add_meta_graph_and_variables(session, ["serve"], {signature: sig})
            builder.save()
    return weights


def test_tf1_savedmodel_only_signature_by_both_loaders(tmp_path, monkeypatch):
    from edgekit import source

    weights = _tf1_savedmodel(tmp_path / "tf1")
    x = np.random.default_rng(0).normal(size=(3, 6)).astype(np.float32)
    logits = x @ weights + 0.5
    want = [logits, np.exp(logits) / np.exp(logits).sum(1, keepdims=True)]
    first = source.load(tmp_path / "tf1")  # "predict" is its only signature: taken
    assert first.loader == savedmodel.OBJECTS
    assert [t.name for t in first.outputs] == ["logits", "probs"]

    def revival_fails(*args, **kwargs):  # as on a folder whose Python objects cannot revive
        raise AttributeError("'_UserObject' object has no attribute 'add_slot'")

    monkeypatch.setattr(savedmodel, "_objects", revival_fails)
    second = source.load(tmp_path / "tf1")
    assert second.loader == savedmodel.SESSION
    for src in (first, second):
        for got, expected in zip(src.predict(x), want):
            np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    report = edgekit.convert(tmp_path / "tf1", to="tflite,openvino", out=tmp_path / "out")
    assert [a.parity["passed"] for a in report.artifacts] == [True, True]
    assert report.manifest.source["loader"] == savedmodel.SESSION


def _module_savedmodel(path: Path, names: tuple[str, ...]) -> None:
    """A plain tf.Module with only signatures (no Keras anywhere)."""
    import tensorflow as tf

    class Affine(tf.Module):
        def __init__(self):
            super().__init__()
            self.scale = tf.Variable([2.0, -1.0, 0.5])

        @tf.function(input_signature=[tf.TensorSpec([None, 3], tf.float32, name="x")])
        def double(self, x):
            return {"y": x * self.scale, "total": tf.reduce_sum(x * self.scale, 1)}

        @tf.function(input_signature=[tf.TensorSpec([None, 3], tf.float32, name="x")])
        def negate(self, x):
            return {"y": -x}

    module = Affine()
    fns = {"serving_default": module.double, "other": module.negate, "first": module.double}
    tf.saved_model.save(module, str(path), signatures={n: fns[n] for n in names})


def test_tf_module_savedmodel_picks_serving_default(tmp_path):
    from edgekit import source

    _module_savedmodel(tmp_path / "m", ("other", "serving_default"))
    src = source.load(tmp_path / "m")
    assert [t.name for t in src.outputs] == ["total", "y"]
    x = np.array([[1.0, 2.0, 3.0]], np.float32)
    total, y = src.predict(x)
    np.testing.assert_allclose(y, [[2.0, -2.0, 1.5]])
    np.testing.assert_allclose(total, [1.5])
    report = edgekit.convert(tmp_path / "m", to="onnx", out=tmp_path / "out")
    assert report.artifacts[0].parity["passed"]


def test_several_signatures_without_a_default_are_listed(tmp_path):
    from edgekit.errors import ModelLoadError

    _module_savedmodel(tmp_path / "m", ("first", "other"))
    with pytest.raises(ModelLoadError, match=r"no 'serving_default' signature.*first, other"):
        edgekit.convert(tmp_path / "m", to="onnx", out=tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_keras_saved_under_jax_backend_loads_as_is(tmp_path):
    """The .keras format is backend-neutral: a file saved under JAX loads under TensorFlow."""
    from edgekit import source

    src = source.load(DATA / "jax_backend.keras")
    ref = np.load(DATA / "jax_backend.npz")  # what JAX computed
    np.testing.assert_allclose(src.predict(ref["image"])[0], ref["probs"], atol=1e-5)
    report = edgekit.convert(DATA / "jax_backend.keras", to="tflite", out=tmp_path / "out")
    assert report.artifacts[0].parity["passed"]
    assert report.manifest.source["loader"] == "keras"


def test_weights_only_h5_says_how_to_make_a_model(tiny_keras, tmp_path):
    import keras

    from edgekit.errors import ModelLoadError

    weights = tmp_path / "tiny.weights.h5"
    keras.saving.load_model(tiny_keras).save_weights(weights)
    with pytest.raises(ModelLoadError, match=r"weights only.*model\.load_weights"):
        edgekit.convert(weights, to="onnx", out=tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_unknown_input_size_example_keeps_the_known_sizes(tmp_path):
    import keras

    inp = keras.Input((40, None, 1))
    x = keras.layers.Conv2D(2, 3)(inp)
    path = tmp_path / "dyn.keras"
    keras.Model(inp, keras.layers.GlobalAveragePooling2D()(x)).save(path)
    with pytest.raises(edgekit.ConfigError, match=r"e\.g\. --input-shape 1,40,<size>,1"):
        edgekit.convert(path, to="onnx", out=tmp_path / "out")
