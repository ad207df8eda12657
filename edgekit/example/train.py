"""Train the bundled example model: `python -m edgekit.example.train [--out PATH]`.

Takes about a minute on two CPU cores. The result is committed as `shapes.keras`.
"""

from __future__ import annotations

import argparse

from edgekit.example import MODEL
from edgekit.example.shapes import CLASSES, SIZE, arrays


def build():
    import keras
    from keras import layers

    inp = keras.Input((SIZE, SIZE, 3), name="image")
    x = layers.Rescaling(1 / 255)(inp)
    for filters in (16, 32, 64):
        x = layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
        x = layers.MaxPooling2D()(x)
    x = layers.Conv2D(64, 3, padding="same", activation="relu")(x)
    x = layers.GlobalAveragePooling2D()(x)
    out = layers.Dense(len(CLASSES), activation="softmax", name="probs")(x)
    return keras.Model(inp, out, name="shapes")


def main(argv: list[str] | None = None) -> None:
    import keras

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", default=str(MODEL))
    ap.add_argument("--epochs", type=int, default=30)
    args = ap.parse_args(argv)
    keras.utils.set_random_seed(0)
    # the model sees RGB, as the preprocessing contract hands it
    x, y = arrays("train", 4000)
    xv, yv = arrays("val", 400)
    x, xv = x[..., ::-1].astype("float32"), xv[..., ::-1].astype("float32")
    model = build()
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=args.epochs, batch_size=64, validation_data=(xv, yv), verbose=2)
    model.save(args.out)
    print(f"saved {args.out}; val accuracy {model.evaluate(xv, yv, verbose=0)[1]:.4f}")


if __name__ == "__main__":
    main()
