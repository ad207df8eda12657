"""The model zoo of `conversion_coverage.py`: keras.applications families at small input sizes and
hand-built models of the kinds users bring (several inputs or heads, non-image inputs,
preprocessing layers, attention, recurrent layers, U-Net skips).

Every model has random weights with settled BatchNorm statistics (one training-mode pass on
random data with momentum 0, as after training), and a `Sample` telling which value range
its inputs take (raw pixels for models that rescale inside, else roughly unit scale).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Entry:
    """One zoo model: how to build it and the range its inputs are drawn from."""

    name: str
    kind: str  # "applications" or "hand-built"
    build: Callable[[], object]
    low: float = -1.0
    high: float = 1.0
    note: str = ""


def _app(fn: str, size: int, **kw) -> Callable[[], object]:
    def build():
        import keras

        make = getattr(keras.applications, fn)
        return make(weights=None, input_shape=(size, size, 3), classes=10, **kw)

    return build


def _two_inputs():
    import keras
    from keras import layers

    img = keras.Input((32, 32, 3), name="image")
    meta = keras.Input((8,), name="meta")
    x = layers.Conv2D(8, 3, strides=2, activation="relu")(img)
    x = layers.BatchNormalization()(x)
    x = layers.GlobalAveragePooling2D()(x)
    m = layers.Dense(8, activation="relu")(meta)
    x = layers.Concatenate()([x, m])
    out = layers.Dense(5, activation="softmax", name="probs")(x)
    return keras.Model([img, meta], out, name="two_inputs")


def _two_heads():
    import keras
    from keras import layers

    img = keras.Input((32, 32, 3), name="image")
    x = layers.Conv2D(16, 3, strides=2, activation="relu")(img)
    x = layers.BatchNormalization()(x)
    x = layers.Conv2D(16, 3, strides=2, activation="relu")(x)
    x = layers.GlobalAveragePooling2D()(x)
    cls = layers.Dense(6, activation="softmax", name="classes")(x)
    box = layers.Dense(4, name="box")(x)
    return keras.Model(img, [cls, box], name="two_heads")


def _audio():
    import keras
    from keras import layers

    x_in = keras.Input((49, 40), name="features")  # 49 frames x 40 log-mel bands
    x = layers.Conv1D(32, 5, activation="relu")(x_in)
    x = layers.BatchNormalization()(x)
    x = layers.MaxPooling1D(2)(x)
    x = layers.Conv1D(32, 3, activation="relu")(x)
    x = layers.GlobalAveragePooling1D()(x)
    out = layers.Dense(12, activation="softmax")(x)
    return keras.Model(x_in, out, name="audio_conv1d")


def _tabular():
    import keras
    from keras import layers

    norm = layers.Normalization()
    norm.adapt(np.random.default_rng(1).normal(3.0, 2.0, (256, 20)).astype("float32"))
    x_in = keras.Input((20,), name="row")
    x = layers.Dense(32, activation="relu")(norm(x_in))
    x = layers.Dropout(0.2)(x)
    x = layers.Dense(16, activation="relu")(x)
    out = layers.Dense(3, activation="softmax")(x)
    return keras.Model(x_in, out, name="tabular")


def _recurrent():
    import keras
    from keras import layers

    x_in = keras.Input((20, 6), name="series")
    x = layers.LSTM(16, return_sequences=True)(x_in)
    x = layers.GRU(16)(x)
    out = layers.Dense(4, activation="softmax")(x)
    return keras.Model(x_in, out, name="lstm_gru")


def _preprocessing():
    import keras
    from keras import layers

    x_in = keras.Input((48, 48, 3), name="pixels")
    x = layers.Resizing(32, 32)(x_in)
    x = layers.Rescaling(1 / 255)(x)
    x = layers.Normalization(mean=[0.485, 0.456, 0.406], variance=[0.052, 0.05, 0.051])(x)
    x = layers.Conv2D(16, 3, strides=2, activation="relu")(x)
    x = layers.BatchNormalization()(x)
    x = layers.GlobalAveragePooling2D()(x)
    out = layers.Dense(10, activation="softmax")(x)
    return keras.Model(x_in, out, name="preprocessing_inside")


def _attention():
    import keras
    from keras import layers

    x_in = keras.Input((16, 32), name="tokens")
    a = layers.MultiHeadAttention(num_heads=4, key_dim=8)(x_in, x_in)
    x = layers.LayerNormalization()(x_in + a)
    f = layers.Dense(64, activation="relu")(x)
    x = layers.LayerNormalization()(x + layers.Dense(32)(f))
    x = layers.GlobalAveragePooling1D()(x)
    out = layers.Dense(5, activation="softmax")(x)
    return keras.Model(x_in, out, name="attention")


def _unet():
    import keras
    from keras import layers

    def block(x, n):
        x = layers.Conv2D(n, 3, padding="same", activation="relu")(x)
        return layers.BatchNormalization()(x)

    x_in = keras.Input((32, 32, 3), name="image")
    e1 = block(x_in, 8)
    e2 = block(layers.MaxPooling2D()(e1), 16)
    b = block(layers.MaxPooling2D()(e2), 32)
    d2 = layers.Conv2DTranspose(16, 2, strides=2)(b)
    d2 = block(layers.Concatenate()([d2, e2]), 16)
    d1 = layers.UpSampling2D()(d2)
    d1 = block(layers.Concatenate()([d1, e1]), 8)
    out = layers.Conv2D(3, 1, activation="softmax", name="mask")(d1)
    return keras.Model(x_in, out, name="unet")


PIXELS = {"low": 0.0, "high": 255.0, "note": "rescales inside: raw 0..255 pixels"}
ZOO = [
    Entry("MobileNetV2-96", "applications", _app("MobileNetV2", 96)),
    Entry("MobileNetV3Small-96", "applications", _app("MobileNetV3Small", 96), **PIXELS),
    Entry("EfficientNetB0-64", "applications", _app("EfficientNetB0", 64), **PIXELS),
    Entry("EfficientNetV2B0-64", "applications", _app("EfficientNetV2B0", 64), **PIXELS),
    Entry("EfficientNetV2B1-64", "applications", _app("EfficientNetV2B1", 64), **PIXELS),
    Entry("ResNet50-64", "applications", _app("ResNet50", 64)),
    Entry("DenseNet121-64", "applications", _app("DenseNet121", 64)),
    Entry("ConvNeXtTiny-64", "applications", _app("ConvNeXtTiny", 64), **PIXELS),
    Entry("two-inputs", "hand-built", _two_inputs, note="image + metadata vector"),
    Entry("two-heads", "hand-built", _two_heads, note="classification + box regression"),
    Entry("audio-conv1d", "hand-built", _audio, note="[49, 40] log-mel features"),
    Entry("tabular", "hand-built", _tabular, note="20-column vector, Normalization inside"),
    Entry("lstm-gru", "hand-built", _recurrent, note="[20, 6] float sequence"),
    Entry(
        "preprocessing-inside",
        "hand-built",
        _preprocessing,
        **{**PIXELS, "note": "Resizing 48->32, Rescaling, Normalization inside"},
    ),
    Entry("attention", "hand-built", _attention, note="MultiHeadAttention + LayerNorm"),
    Entry("unet", "hand-built", _unet, note="concatenate skips, Conv2DTranspose, UpSampling"),
]


def get(name: str) -> Entry:
    for e in ZOO:
        if e.name == name:
            return e
    raise KeyError(f"no zoo model {name!r}; choose from {', '.join(e.name for e in ZOO)}")


def inputs(model, entry: Entry, count: int, seed: int = 0) -> list[np.ndarray]:
    """`count` samples per model input, uniform in the entry's range."""
    rng = np.random.default_rng(seed)
    shapes = [tuple(t.shape[1:]) for t in model.inputs]
    return [rng.uniform(entry.low, entry.high, (count, *s)).astype("float32") for s in shapes]


def build(entry: Entry):
    """The model with BatchNorm statistics settled by one training-mode pass."""
    import keras

    keras.utils.set_random_seed(0)
    model = entry.build()
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = 0.0
    xs = inputs(model, entry, 8, seed=1)
    model(xs if len(xs) > 1 else xs[0], training=True)
    return model
