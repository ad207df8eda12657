"""A MobileNetV2-style classifier on the rendered shapes, for the compression benchmark.

Inverted residual blocks (1x1 expand, 3x3 depthwise, 1x1 project, BatchNorm, residual adds),
larger than the bundled `shapes.keras`. Train it with
`python -m edgekit.example.mobilenet --out mobilenet_shapes.keras` (a few minutes on 2 cores).
"""

from __future__ import annotations

import argparse

from edgekit.example.shapes import CLASSES, SIZE, arrays

# (expansion, output channels, repeats, first stride)
BLOCKS = ((1, 16, 1, 1), (4, 24, 2, 2), (4, 32, 2, 2), (4, 64, 2, 2), (4, 96, 1, 1))


def build(size: int = SIZE, width: float = 1.0, classes: int = len(CLASSES), blocks=BLOCKS):
    """Functional Keras model with depthwise convs, BatchNorm and residual adds."""
    import keras
    from keras import layers

    inp = keras.Input((size, size, 3), name="image")
    x = layers.Rescaling(1 / 127.5, offset=-1)(inp)
    x = _conv_bn(x, int(32 * width), 3, 2, "stem")
    for b, (t, c, n, s) in enumerate(blocks):
        for i in range(n):
            x = _inverted(x, t, int(c * width), s if i == 0 else 1, f"b{b}_{i}")
    x = _conv_bn(x, int(256 * width), 1, 1, "head")
    x = layers.GlobalAveragePooling2D()(x)
    out = layers.Dense(classes, activation="softmax", name="probs")(x)
    return keras.Model(inp, out, name="mobilenet_shapes")


def _conv_bn(x, filters: int, k: int, stride: int, name: str, act: bool = True):
    from keras import layers

    x = layers.Conv2D(filters, k, stride, padding="same", use_bias=False, name=f"{name}_conv")(x)
    x = layers.BatchNormalization(momentum=0.9, name=f"{name}_bn")(x)
    return layers.ReLU(6.0, name=f"{name}_relu")(x) if act else x


def _inverted(x, expand: int, out: int, stride: int, name: str):
    from keras import layers

    cin = x.shape[-1]
    y = _conv_bn(x, cin * expand, 1, 1, f"{name}_expand") if expand != 1 else x
    y = layers.DepthwiseConv2D(3, stride, padding="same", use_bias=False, name=f"{name}_dw")(y)
    y = layers.BatchNormalization(momentum=0.9, name=f"{name}_dw_bn")(y)
    y = layers.ReLU(6.0, name=f"{name}_dw_relu")(y)
    y = _conv_bn(y, out, 1, 1, f"{name}_project", act=False)
    if stride == 1 and cin == out:
        y = layers.Add(name=f"{name}_add")([x, y])
    return y


def train(out: str, *, epochs: int = 8, count: int = 6000, seed: int = 0):
    """Train on generated shapes; returns (model, validation accuracy)."""
    import keras

    keras.utils.set_random_seed(seed)
    x, y = arrays("train", count)
    xv, yv = arrays("val", 400)
    x, xv = x[..., ::-1].astype("float32"), xv[..., ::-1].astype("float32")  # RGB
    model = build()
    model.compile(
        keras.optimizers.Adam(2e-3), "sparse_categorical_crossentropy", metrics=["accuracy"]
    )
    model.fit(x, y, epochs=epochs, batch_size=64, validation_data=(xv, yv), verbose=2)
    model.save(out)
    return model, float(model.evaluate(xv, yv, verbose=0)[1])


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", default="mobilenet_shapes.keras")
    ap.add_argument("--epochs", type=int, default=8)
    args = ap.parse_args(argv)
    _, acc = train(args.out, epochs=args.epochs)
    print(f"saved {args.out}; val accuracy {acc:.4f}")


if __name__ == "__main__":
    main()
