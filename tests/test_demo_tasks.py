"""Detection and segmentation decoding on models whose outputs are known: hand-set weights,
converted to TFLite by edgekit and run through the demo's tasks; and the decoders themselves
on hand-written output tensors (light)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edgekit.contract import Preprocess
from edgekit.demo.tasks.base import Geometry

# an SSD-style model's post-processed outputs: normalised (ymin, xmin, ymax, xmax)
SSD_BOXES = [[0.25, 0.25, 0.75, 0.5], [0.0, 0.5, 0.5, 1.0], [0.1, 0.1, 0.2, 0.2]]
SSD_CLASSES = [2.0, 0.0, 1.0]
SSD_SCORES = [0.9, 0.7, 0.2]  # the last is below the threshold


@pytest.fixture(scope="session")
def ssd_tflite(tmp_path_factory):
    """Outputs fixed by the biases of zero-kernel Dense layers: boxes, classes, scores, count."""
    import keras
    from keras import layers

    from edgekit.conversion import convert

    n = len(SSD_SCORES)
    inp = keras.Input((64, 64, 3), name="image")
    g = layers.GlobalAveragePooling2D()(inp)
    heads = {
        "boxes": (n * 4, np.float32(SSD_BOXES).reshape(-1)),
        "classes": (n, np.float32(SSD_CLASSES)),
        "scores": (n, np.float32(SSD_SCORES)),
        "count": (1, np.float32([n])),
    }
    outs = {k: layers.Dense(size, name=k)(g) for k, (size, _) in heads.items()}
    outs["boxes"] = layers.Reshape((n, 4), name="boxes_nx4")(outs["boxes"])
    model = keras.Model(inp, [outs[k] for k in heads])
    for k, (size, bias) in heads.items():
        model.get_layer(k).set_weights([np.zeros((3, size), np.float32), bias])
    root = tmp_path_factory.mktemp("ssd")
    model.save(root / "ssd.keras")
    pre = Preprocess.from_preset("raw", size=(64, 64), resize="letterbox")
    report = convert(root / "ssd.keras", to="tflite:fp32", out=root / "out", preprocess=pre)
    return root / "out" / report.artifacts[0].file


@pytest.fixture(scope="session")
def seg_tflite(tmp_path_factory):
    """Per pixel: class 1 where red - green - blue > 50 (1x1 convolution), else class 0."""
    import keras
    from keras import layers

    from edgekit.conversion import convert

    inp = keras.Input((32, 32, 3), name="image")
    out = layers.Conv2D(2, 1, name="logits")(inp)
    model = keras.Model(inp, out)
    kernel = np.zeros((1, 1, 3, 2), np.float32)
    kernel[0, 0, :, 1] = [1.0, -1.0, -1.0]  # RGB, as the contract hands it
    model.get_layer("logits").set_weights([kernel, np.float32([0.0, -50.0])])
    root = tmp_path_factory.mktemp("seg")
    model.save(root / "seg.keras")
    pre = Preprocess.from_preset("raw", size=(32, 32), resize="letterbox")
    report = convert(root / "seg.keras", to="tflite:fp32", out=root / "out", preprocess=pre)
    return root / "out" / report.artifacts[0].file


def test_ssd_outputs_map_back_through_the_letterbox(ssd_tflite):
    from edgekit.demo.tasks import make, task_of
    from edgekit.runtimes import load

    session = load(ssd_tflite)
    assert task_of(session) == "detect"  # four outputs with [1, N, 4] boxes
    det = make(session, "detect", labels=["cat", "dog", "bird"])
    frame = np.full((100, 200, 3), 90, np.uint8)  # letterboxed: 64x32 of content, 16 px bars
    found = det.infer(frame)
    assert [(d["label"], d["score"]) for d in found] == [("bird", 0.9), ("cat", 0.7)]
    # input box (x 16..32, y 16..48) -> frame: x / 0.32, (y - 16) / 0.32
    assert np.allclose(found[0]["box"], [50, 0, 100, 100], atol=0.6)
    assert np.allclose(found[1]["box"], [100, 0, 200, 50], atol=0.6)  # clipped to the frame


def test_segmentation_mask_covers_the_red_square(seg_tflite, tmp_path):
    import cv2

    from edgekit.demo.tasks import make
    from edgekit.runtimes import load

    seg = make(load(seg_tflite), "segment", labels=["background", "red"])
    frame = np.full((80, 160, 3), 100, np.uint8)
    frame[20:60, 100:140] = (0, 0, 255)  # BGR red
    outcome = seg.analyse(frame)
    truth = np.zeros((80, 160), bool)
    truth[20:60, 100:140] = True
    got = outcome.mask > 0
    iou = (got & truth).sum() / (got | truth).sum()
    assert outcome.mask.shape == (80, 160) and iou > 0.8
    assert outcome.results[0]["label"] == "red"
    assert outcome.results[0]["fraction"] == pytest.approx(truth.mean(), abs=0.03)
    drawn = frame.copy()
    seg.draw(drawn, outcome)
    changed = np.any(drawn != frame, axis=2)
    assert changed[truth].mean() > 0.8 and changed[~truth].mean() < 0.05  # blended only there

    # the same through the command: an image folder, --task from the outputs
    cv2.imwrite(str(tmp_path / "f.png"), frame)
    from tests.conftest import run_cli

    out = tmp_path / "s.jsonl"
    res = run_cli("demo", seg_tflite, "--source", tmp_path, "--jsonl", out, "--no-window")
    assert res.returncode == 0, res.stderr[-2000:]
    row = json.loads(out.read_text().splitlines()[0])
    assert row["results"][0]["class"] == 1 and row["results"][0]["fraction"] > 0.09


@pytest.mark.light
def test_yolo_head_decoding_nms_and_letterbox():
    from edgekit.demo.tasks.detect import decode_yolo, nms

    pre = Preprocess(size=(64, 64), resize="letterbox")
    geo = Geometry.of(pre, 100, 200)  # scale 0.32, 16 px bars top and bottom
    # [1, 4 + 2 classes, 8 candidates]: cx, cy, w, h in input pixels, then class scores
    head = np.zeros((1, 6, 8), np.float32)
    head[0, :4, 0] = [24, 32, 16, 32]  # best box of class 1
    head[0, :4, 1] = [25, 32, 16, 30]  # a near-duplicate: suppressed
    head[0, :4, 2] = [48, 24, 8, 16]  # class 0
    head[0, :4, 3] = [10, 10, 4, 4]  # too weak
    head[0, 4:, 0], head[0, 4:, 1] = [0.1, 0.95], [0.05, 0.8]
    head[0, 4:, 2], head[0, 4:, 3] = [0.6, 0.1], [0.2, 0.3]
    variants = [(head, 0), (head.transpose(0, 2, 1), 0), (normalised(head), 2)]
    variants.append((np.ascontiguousarray(head[:, :, :4].transpose(0, 2, 1)), 2))  # N < 4 + C
    for variant, n_classes in variants:
        boxes, scores, classes = decode_yolo(variant, geo, 0.4, n_classes)
        keep = nms(boxes, scores, classes, 0.45)
        assert list(classes[keep]) == [1, 0] and np.allclose(scores[keep], [0.95, 0.6])
        framed = geo.to_frame(boxes[keep])
        assert np.allclose(framed[0], [50, 0, 100, 100], atol=1e-3)  # (16..32, 16..48) input
        assert np.allclose(framed[1], [137.5, 0, 162.5, 50], atol=1e-3)  # (44..52, 16..32)


def normalised(head: np.ndarray) -> np.ndarray:
    out = head.copy()
    out[0, :4] /= 64
    return out


@pytest.mark.light
def test_class_map_reads_every_mask_layout():
    from edgekit.demo.tasks.segment import class_map, to_frame

    ids = np.zeros((40, 40), np.uint8)
    ids[10:30, 20:40] = 2
    onehot = np.eye(3, dtype=np.float32)[ids][None]  # [1, H, W, C]
    assert np.array_equal(class_map(onehot), ids)
    assert np.array_equal(class_map(onehot.transpose(0, 3, 1, 2)), ids)  # [1, C, H, W]
    logits = np.where(ids > 0, 4.0, -4.0).astype(np.float32)[None, :, :, None]  # foreground
    assert np.array_equal(class_map(logits), (ids > 0).astype(np.uint8))
    assert np.array_equal(class_map(ids[None].astype(np.float32)), ids)  # class ids already
    geo = Geometry.of(Preprocess(size=(40, 40), resize="stretch"), 80, 160)
    big = to_frame(ids, geo)
    assert big.shape == (80, 160) and np.array_equal(big[::2, ::4], ids)
