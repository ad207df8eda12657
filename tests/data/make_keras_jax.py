"""Make `jax_backend.keras`: a small classifier trained and saved under Keras 3's JAX backend,
with the outputs JAX computed (`jax_backend.npz`); not run by the tests.

Side environment (Python 3.11):
    python3.11 -m venv /tmp/kjax && /tmp/kjax/bin/pip install keras==3.15.1 "jax[cpu]" h5py
    /tmp/kjax/bin/python tests/data/make_keras_jax.py
"""

from __future__ import annotations

import os
from pathlib import Path

os.environ["KERAS_BACKEND"] = "jax"

import keras  # noqa: E402 (the backend is chosen before the import)
import numpy as np  # noqa: E402

HERE = Path(__file__).parent
MODEL = HERE / "jax_backend.keras"

if __name__ == "__main__":
    keras.utils.set_random_seed(0)
    inp = keras.Input((12, 12, 3), name="image")
    x = keras.layers.Conv2D(6, 3, activation="relu")(inp)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inp, keras.layers.Dense(3, activation="softmax", name="probs")(x))
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    rng = np.random.default_rng(0)
    x_train = rng.uniform(size=(48, 12, 12, 3)).astype(np.float32)
    model.fit(x_train, (x_train.mean((1, 2)).argmax(1)), epochs=2, verbose=0)
    model.save(MODEL)
    probe = rng.uniform(size=(4, 12, 12, 3)).astype(np.float32)
    np.savez(MODEL.with_suffix(".npz"), image=probe, probs=np.asarray(model(probe)))
    print(f"wrote {MODEL} (Keras {keras.__version__}, backend {keras.backend.backend()})")
