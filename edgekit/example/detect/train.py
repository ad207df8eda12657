"""Train and export the in-repo detector: `python -m edgekit.example.detect.train`.

A small anchor-free, single-scale (stride 8) detector in the YOLO style. Each grid cell
predicts a box (centre offset in -0.5..1.5 cells, width/height as a fraction of the input)
and one sigmoid score per class; the cell holding a box centre and its two nearest
neighbours are trained as positives. Takes a few minutes on two CPU cores; writes
`detector.keras` and `detector.tflite` (fp32, the detection contract embedded).
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from edgekit.example.detect import INPUT, LABELS, MODEL, STRIDE, TFLITE
from edgekit.example.detect.scenes import boxes_of, scene
from edgekit.example.shapes import CLASSES

GRID = INPUT // STRIDE
SEEDS = {"train": 11, "val": 12}


def contract_preprocess():
    """Letterboxed into the square input, RGB, raw 0..255 (the model rescales itself)."""
    from edgekit.contract import Preprocess

    return Preprocess.from_preset("raw", size=(INPUT, INPUT), resize="letterbox")


def head_layer():
    import keras

    @keras.saving.register_keras_serializable(package="edgekit_detect")
    class YoloHead(keras.layers.Layer):
        """Raw cell outputs [B, G, G, 4 + C] -> [B, 4 + C, G * G]: xywh in input pixels, then
        sigmoid class scores (the layout YOLOv8 exports)."""

        def __init__(self, stride: int = STRIDE, size: int = INPUT, **kw):
            super().__init__(**kw)
            self.stride, self.size = stride, size

        def call(self, x):
            from keras import ops

            g = self.size // self.stride
            ys, xs = np.meshgrid(np.arange(g), np.arange(g), indexing="ij")
            grid = np.stack([xs, ys], -1).astype("float32")[None]
            xy = (ops.sigmoid(x[..., :2]) * 2 - 0.5 + grid) * self.stride
            wh = ops.sigmoid(x[..., 2:4]) * self.size
            out = ops.concatenate([xy, wh, ops.sigmoid(x[..., 4:])], -1)
            out = ops.reshape(out, (-1, g * g, out.shape[-1]))
            return ops.transpose(out, (0, 2, 1))

        def get_config(self):
            return {**super().get_config(), "stride": self.stride, "size": self.size}

    return YoloHead


def build():
    import keras
    from keras import layers

    inp = keras.Input((INPUT, INPUT, 3), name="image")
    x = layers.Rescaling(1 / 255)(inp)
    for filters, stride in ((16, 2), (32, 2), (32, 1), (48, 2), (48, 1), (64, 1), (64, 1)):
        x = layers.Conv2D(filters, 3, strides=stride, padding="same", use_bias=False)(x)
        x = layers.BatchNormalization()(x)
        x = layers.ReLU()(x)
    x = layers.Conv2D(4 + len(CLASSES), 1, name="cells")(x)
    return keras.Model(inp, head_layer()(name="boxes")(x), name="detector")


def targets(shapes_boxes, labels, scale: float, pad: tuple[float, float]) -> np.ndarray:
    """[5 + C, G*G]: xywh (input pixels), class one-hot, positive mask, for one image."""
    t = np.zeros((4 + len(CLASSES) + 1, GRID * GRID), np.float32)
    for (x1, y1, x2, y2), k in zip(shapes_boxes, labels):
        x1, x2 = x1 * scale + pad[0], x2 * scale + pad[0]
        y1, y2 = y1 * scale + pad[1], y2 * scale + pad[1]
        cx, cy, w, h = (x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1
        gx, gy = cx / STRIDE, cy / STRIDE
        i, j = int(gx), int(gy)
        near_x = i - 1 if gx - i < 0.5 else i + 1
        near_y = j - 1 if gy - j < 0.5 else j + 1
        for ci, cj in ((i, j), (near_x, j), (i, near_y)):
            if 0 <= ci < GRID and 0 <= cj < GRID:
                n = cj * GRID + ci
                t[:4, n] = (cx, cy, w, h)
                t[4 + k, n] = 1.0
                t[-1, n] = 1.0
    return t


def dataset(split: str, count: int, *, keep: bool = False) -> tuple[np.ndarray, np.ndarray, list]:
    """(letterboxed RGB inputs, training targets, ground truth per frame when `keep`)."""
    rng = np.random.default_rng(SEEDS[split])
    pre = contract_preprocess()
    xs, ts, truth = [], [], []
    for _ in range(count):
        h, w = (480, 640) if rng.random() < 0.7 else (int(rng.integers(240, 600)), 640)
        img, shapes = scene(rng, h, w)
        boxes, labels = boxes_of(shapes)
        scale = min(INPUT / h, INPUT / w)
        pad = ((INPUT - round(w * scale)) // 2, (INPUT - round(h * scale)) // 2)
        xs.append(pre.apply(img)[0])
        ts.append(targets(boxes, labels, scale, pad))
        if keep:
            truth.append((img, boxes, labels))
    return np.stack(xs), np.stack(ts), truth


def loss(y_true, y_pred):
    from keras import ops

    mask = y_true[:, -1]
    npos = ops.maximum(ops.sum(mask), 1.0)
    cls_t, cls_p = y_true[:, 4:-1], ops.clip(y_pred[:, 4:], 1e-6, 1 - 1e-6)
    bce = -(cls_t * ops.log(cls_p) * 4.0 + (1 - cls_t) * ops.log(1 - cls_p))
    box = ops.abs(y_true[:, :4] - y_pred[:, :4]) / INPUT
    return ops.sum(bce) / npos + 5.0 * ops.sum(box * mask[:, None]) / npos


def export(model_path, dest) -> None:
    """fp32 TFLite through edgekit's own frozen-graph path, with a detection contract."""
    from edgekit import converters
    from edgekit.contract import Contract, read_labels
    from edgekit.converters.base import Precision
    from edgekit.manifest import embedded_contract, sha256
    from edgekit.source import load

    head_layer()
    src = load(model_path)
    contract = Contract(
        src.inputs, src.outputs, contract_preprocess(), read_labels(LABELS), task="detection"
    )
    meta = embedded_contract(contract, precision="fp32", source_sha256=sha256(model_path))
    converters.get("tflite").write(src, Precision.FP32, dest, calib=None, metadata=meta)


def evaluate(tflite_path, truth) -> dict:
    """Recall and precision at IoU 0.5 with matching labels, through the demo's decoder."""
    from edgekit.demo.tasks.detect import Detector, match
    from edgekit.runtimes import load

    det = Detector(load(tflite_path))
    tp = fp = fn = 0
    for img, boxes, labels in truth:
        found = det.infer(img)
        hit = match(found, boxes, labels, iou_min=0.5)
        tp += hit
        fn += len(boxes) - hit
        fp += len(found) - hit
    return {"recall": tp / max(1, tp + fn), "precision": tp / max(1, tp + fp), "frames": len(truth)}


def save_weights_only_model(trained) -> None:
    """Save without the optimizer's state (a third of the size): a fresh, uncompiled copy."""
    fresh = build()
    fresh.set_weights(trained.get_weights())
    fresh.save(MODEL)


def main(argv: list[str] | None = None) -> None:
    import keras

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--epochs", type=int, default=24)
    ap.add_argument("--count", type=int, default=3000)
    args = ap.parse_args(argv)
    keras.utils.set_random_seed(0)
    x, t, _ = dataset("train", args.count)
    xv, tv, truth = dataset("val", 200, keep=True)
    model = build()
    sched = keras.optimizers.schedules.CosineDecay(3e-3, args.epochs * (len(x) // 32))
    model.compile(keras.optimizers.Adam(sched), loss)
    model.fit(x, t, epochs=args.epochs, batch_size=32, validation_data=(xv, tv), verbose=2)
    save_weights_only_model(model)
    export(MODEL, TFLITE)
    metrics = evaluate(TFLITE, truth)
    (MODEL.parent / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    print(f"saved {MODEL.name}, {TFLITE.name} ({TFLITE.stat().st_size} bytes); {metrics}")


if __name__ == "__main__":
    main()
