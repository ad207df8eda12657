"""A model that plain full-integer quantization hurts, for the accuracy-budget examples.

Scaling one output channel of a ReLU conv by `factor` and the next conv's matching input
weights by 1/factor leaves the float model's outputs unchanged (ReLU and max-pooling commute
with positive scales), but that one channel now sets the per-tensor int8 scale of the whole
activation, and the other channels round to a handful of levels. Real models grow such
outlier channels on their own; here it is made on purpose and reproducibly.
"""

from __future__ import annotations

import numpy as np


def with_outlier_channel(model, producer: str, consumer: str, *, factor: float = 300.0):
    """Return a copy of `model` with channel 0 of `producer` scaled up and `consumer`'s
    matching input weights scaled down; same float function, much worse int8."""
    import keras

    out = keras.models.clone_model(model)
    out.set_weights(model.get_weights())
    p, c = out.get_layer(producer), out.get_layer(consumer)
    kernel, bias = p.kernel.numpy(), p.bias.numpy()
    kernel[..., 0] *= factor
    bias[0] *= factor
    p.kernel.assign(kernel)
    p.bias.assign(bias)
    ck = c.kernel.numpy()
    ck[..., 0, :] /= factor
    c.kernel.assign(ck)
    return out


def outlier_shapes(path) -> str:
    """The bundled shapes model with an outlier channel after its first conv, saved at path."""
    import keras

    from edgekit.example import MODEL

    model = keras.models.load_model(MODEL, compile=False)
    with_outlier_channel(model, "conv2d", "conv2d_1").save(path)
    return str(path)


def max_float_change(a, b, x: np.ndarray) -> float:
    """Largest output difference between two models on x (the float function is unchanged)."""
    return float(np.max(np.abs(a.predict(x, verbose=0) - b.predict(x, verbose=0))))
