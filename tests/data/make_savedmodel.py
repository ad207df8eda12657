"""Make the tf.keras 2 fixtures (TensorFlow 2.15, Keras 2 built in); not run by the tests.

They stand for what users have from before Keras 3: a SavedModel written by `model.save(dir)`
after training with Adam (optimizer slot variables and a custom metric in the checkpoint,
which TensorFlow 2.16+ cannot revive without tf_keras), with a non-image input and three named
outputs; and a legacy `.h5` with a layer registered as `my>Scale`. Each comes with the outputs
TensorFlow 2.15 computed (`.npz`), so the tests check edgekit's loader against the original
framework, not against itself.

Side environment (Python 3.11; TF 2.15 is the last with tf.keras 2 built in):
    python3.11 -m venv /tmp/tf215 && /tmp/tf215/bin/pip install tensorflow-cpu==2.15.1
    /tmp/tf215/bin/python tests/data/make_savedmodel.py
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import tensorflow as tf

HERE = Path(__file__).parent
SAVEDMODEL = HERE / "savedmodel_tfkeras2"
H5 = HERE / "tfkeras2_scale.h5"
STEPS, FEATURES = 32, 3


@tf.keras.utils.register_keras_serializable(package="my")
class PeakError(tf.keras.metrics.Metric):
    """A custom training object: revived by Keras 2 only, saved in the SavedModel."""

    def __init__(self, name="peak_error", **kwargs):
        super().__init__(name=name, **kwargs)
        self.peak = self.add_weight(name="peak", initializer="zeros")

    def update_state(self, y_true, y_pred, sample_weight=None):
        self.peak.assign(tf.maximum(self.peak, tf.reduce_max(tf.abs(y_true - y_pred))))

    def result(self):
        return self.peak


@tf.keras.utils.register_keras_serializable(package="my")
class Scale(tf.keras.layers.Layer):
    """Multiplies by a learned per-channel factor (the same class is in tests/my_layers.py)."""

    def build(self, input_shape):
        self.factor = self.add_weight(name="factor", shape=(input_shape[-1],), initializer="ones")

    def call(self, x):
        return x * self.factor


def series_model() -> tf.keras.Model:
    inp = tf.keras.Input((STEPS, FEATURES), name="series")
    x = tf.keras.layers.Conv1D(8, 3, activation="relu")(inp)
    x = tf.keras.layers.GlobalAveragePooling1D()(x)
    x = tf.keras.layers.Dense(16, activation="relu")(x)
    kind = tf.keras.layers.Dense(4, activation="softmax", name="kind")(x)
    score = tf.keras.layers.Dense(1, activation="sigmoid", name="score")(x)
    level = tf.keras.layers.Dense(2, name="level")(x)
    return tf.keras.Model(inp, {"kind": kind, "score": score, "level": level})


def make_savedmodel(rng) -> None:
    model = series_model()
    model.compile(
        # the optimizer of TF <= 2.10 (legacy since 2.11): its Adam moments are checkpointed
        # as slot variables, which TF 2.16+ revives with `add_slot` and fails
        optimizer=tf.keras.optimizers.legacy.Adam(1e-2),
        loss={"kind": "sparse_categorical_crossentropy", "score": "bce", "level": "mse"},
        metrics={"level": [PeakError()]},
    )
    x = rng.normal(size=(64, STEPS, FEATURES)).astype(np.float32)
    y = {
        "kind": (x[:, :, 0].mean(1) > 0).astype(np.int32) + 2 * (x[:, :, 1].mean(1) > 0),
        "score": (x[:, :, 2].mean(1) > 0).astype(np.float32),
        "level": np.stack([x.mean((1, 2)), x.std((1, 2))], 1),
    }
    model.fit(x, y, epochs=3, batch_size=16, verbose=0)  # Adam's slots in the checkpoint
    shutil.rmtree(SAVEDMODEL, ignore_errors=True)
    model.save(str(SAVEDMODEL), save_format="tf")
    probe = rng.normal(size=(4, STEPS, FEATURES)).astype(np.float32)
    want = {k: v.numpy() for k, v in model(probe, training=False).items()}
    np.savez(SAVEDMODEL.with_suffix(".npz"), series=probe, **want)


def make_h5(rng) -> None:
    inp = tf.keras.Input((8, 8, 3), name="image")
    x = tf.keras.layers.Conv2D(4, 3, activation="relu")(inp)
    x = Scale(name="scale")(x)
    x = tf.keras.layers.GlobalAveragePooling2D()(x)
    model = tf.keras.Model(inp, tf.keras.layers.Dense(3, activation="softmax", name="probs")(x))
    model.layers[2].set_weights([np.array([0.5, 2.0, 1.5, -1.0], np.float32)])
    model.save(str(H5), save_format="h5")
    probe = rng.uniform(size=(4, 8, 8, 3)).astype(np.float32)
    np.savez(H5.with_suffix(".npz"), image=probe, probs=model(probe).numpy())


if __name__ == "__main__":
    tf.keras.utils.set_random_seed(0)
    generator = np.random.default_rng(0)
    make_savedmodel(generator)
    make_h5(generator)
    print(f"wrote {SAVEDMODEL}, {H5} (TensorFlow {tf.__version__})")
