"""The inlined-graph route: grouped convolutions (which Keras' TensorFlow backend runs in an
XLA-compiled function that freezing keeps as a call) and exact GELU (Erfc) stop tf2onnx and
coremltools on the frozen graph; the route rewrites both and the artifact passes parity."""

from __future__ import annotations

import pytest

from edgekit.conversion import convert


@pytest.fixture(scope="module")
def grouped_gelu(tmp_path_factory):
    """A ConvNeXt-like block: depthwise 7x7 as a grouped Conv2D, LayerNorm, exact GELU."""
    import keras
    from keras import layers

    keras.utils.set_random_seed(3)
    x_in = keras.Input((16, 16, 3), name="image")
    x = layers.Conv2D(8, 2, strides=2)(x_in)
    x = layers.Conv2D(8, 7, padding="same", groups=8)(x)
    x = layers.LayerNormalization(epsilon=1e-6)(x)
    x = layers.Dense(16, activation="gelu")(x)  # approximate=False: Erfc in the graph
    x = layers.GlobalAveragePooling2D()(x)
    out = layers.Dense(4, activation="softmax", name="probs")(x)
    path = tmp_path_factory.mktemp("grouped") / "grouped.keras"
    keras.Model(x_in, out).save(path)
    return convert(path, to="onnx,coreml", out=tmp_path_factory.mktemp("grouped-out"))


def test_frozen_graph_keeps_the_xla_call():
    """The premise: if TensorFlow ever inlines these calls, the route is no longer needed."""
    import keras
    import tensorflow as tf

    from edgekit.source import freeze_graph

    conv = keras.layers.Conv2D(4, 3, groups=4)
    fn = tf.function(conv, input_signature=[tf.TensorSpec((1, 8, 8, 4))])
    ops = {n.op for n in freeze_graph(fn.get_concrete_function()).graph.as_graph_def().node}
    assert "StatefulPartitionedCall" in ops


@pytest.mark.parametrize("fmt", ["onnx", "coreml"])
def test_grouped_conv_and_exact_gelu_convert(grouped_gelu, fmt):
    art = next(a for a in grouped_gelu.artifacts if a.format == fmt)
    assert art.route == "inlined-graph", art.route_errors
    assert "frozen-graph" in art.route_errors  # tried first and failed
    assert art.parity["passed"], art.parity["reason"]
    if fmt == "onnx":
        assert art.parity["max_abs"] < 1e-4


@pytest.mark.light
def test_feature_map_input_is_not_an_image():
    """A 4-D input with 8 channels gets tensors for parity, not 3-channel random images."""
    from edgekit.contract import Preprocess

    assert Preprocess.for_shape([1, 16, 16, 8]) is None
    assert Preprocess.for_shape([1, 16, 16, 3]).size == (16, 16)
    assert Preprocess.for_shape([1, 1, 16, 16]).layout.value == "nchw"
