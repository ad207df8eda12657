"""Raw SSD outputs decoded against anchors (boxes, keypoints, scores), then weighted or plain
NMS: a numpy rendering of MediaPipe's TensorsToDetections and NonMaxSuppression calculators.

Coordinates stay normalised to the model input until the end, as MediaPipe keeps them; the
results are in input pixels, for `Geometry.to_frame`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgekit.demo.tasks.anchors import DecodeOptions, SsdSpec, generate
from edgekit.errors import ConfigError

SIGMOID_LIMIT = 80.0


@dataclass
class Decoded:
    """Detections in input pixels: boxes [M, 4] x1y1x2y2, scores [M], classes [M],
    keypoints [M, K, 2] (x, y)."""

    boxes: np.ndarray
    scores: np.ndarray
    classes: np.ndarray
    keypoints: np.ndarray

    def take(self, keep: np.ndarray) -> Decoded:
        return Decoded(
            self.boxes[keep], self.scores[keep], self.classes[keep], self.keypoints[keep]
        )


class AnchorDecoder:
    """One model's decoder: its anchors made once, its two outputs told apart by size."""

    def __init__(self, spec: SsdSpec, input_size: tuple[int, int], shapes: list[list[int]]):
        self.spec, self.input_size = spec, input_size
        d = spec.decode
        self.anchors = generate(spec.anchors, input_size)
        if len(self.anchors) != d.num_boxes:
            raise ConfigError(
                f"the [anchors] options make {len(self.anchors)} anchors but [decode] "
                f"num_boxes = {d.num_boxes}; got: {spec.anchors}; check strides, aspect_ratios "
                "and interpolated_scale_aspect_ratio (MediaPipe's default 1.0 adds one a cell)"
            )
        self.box_index, self.score_index = tensor_indices(shapes, d)

    def __call__(self, outputs: list[np.ndarray], threshold: float) -> Decoded:
        d = self.spec.decode
        raw = outputs[self.box_index].reshape(d.num_boxes, d.num_coords).astype(np.float32)
        logits = outputs[self.score_index].reshape(d.num_boxes, d.num_classes)
        scores, classes = decode_scores(logits.astype(np.float32), d)
        keep = np.flatnonzero(scores >= threshold)
        boxes, points = decode_boxes(raw[keep], self.anchors[keep], d)
        wide = (boxes[:, 2] >= boxes[:, 0]) & (boxes[:, 3] >= boxes[:, 1])  # NaN fails too
        h, w = self.input_size
        found = Decoded(
            boxes * np.float32([w, h, w, h]),
            scores[keep],
            classes[keep],
            points * np.float32([w, h]),
        )
        return found.take(np.flatnonzero(wide))

    def suppress(self, found: Decoded, iou: float | None, max_boxes: int) -> Decoded:
        """NMS as the [nms] table says; `iou` (if given) overrides its threshold."""
        options = self.spec.nms
        iou = options.min_suppression_threshold if iou is None else iou
        limit = options.max_num_detections if options.max_num_detections > 0 else max_boxes
        if options.algorithm == "weighted":
            return weighted_nms(found, iou).take(slice(0, limit))
        return found.take(nms(found.boxes, found.scores, found.classes, iou)[:limit])


def tensor_indices(shapes: list[list[int]], d: DecodeOptions) -> tuple[int, int]:
    """(boxes output, scores output) by element count; MediaPipe's order (boxes first) when
    both counts are the same."""
    sizes = [int(np.prod(s)) for s in shapes]
    boxes = [i for i, n in enumerate(sizes) if n == d.num_boxes * d.num_coords]
    scores = [i for i, n in enumerate(sizes) if n == d.num_boxes * d.num_classes]
    for b in boxes:
        rest = [i for i in scores if i != b]
        if rest:
            return b, rest[0]
    raise ConfigError(
        f"the model's outputs do not fit [decode]; got: shapes {shapes}; expected "
        f"[1, {d.num_boxes}, {d.num_coords}] boxes and [1, {d.num_boxes}, {d.num_classes}] "
        "scores (num_boxes, num_coords, num_classes)"
    )


def decode_scores(logits: np.ndarray, d: DecodeOptions) -> tuple[np.ndarray, np.ndarray]:
    """Best class and its score per anchor; sigmoid (after clipping) when asked."""
    if d.sigmoid_score:
        # beyond +-80 the sigmoid is 0 or 1 in float32 anyway; the clip keeps exp finite
        limit = min(d.score_clipping_thresh or SIGMOID_LIMIT, SIGMOID_LIMIT)
        logits = 1 / (1 + np.exp(-np.clip(logits, -limit, limit)))
    classes = logits.argmax(1)
    return logits[np.arange(len(logits)), classes].astype(np.float32), classes


def decode_boxes(
    raw: np.ndarray, anchors: np.ndarray, d: DecodeOptions
) -> tuple[np.ndarray, np.ndarray]:
    """[M, num_coords] regressions against [M, 4] anchors (xc, yc, w, h) -> normalised
    x1y1x2y2 boxes [M, 4] and keypoints [M, K, 2]."""
    ax, ay, aw, ah = (anchors[:, i] for i in range(4))
    b = raw[:, d.box_coord_offset : d.box_coord_offset + 4]
    if d.layout == "yxhw":
        yc, xc, h, w = b.T
    elif d.layout == "xywh":
        xc, yc, w, h = b.T
    else:  # "xyxy": MediaPipe reads the four values as distances from the anchor
        xc, yc = (b[:, 2] - b[:, 0]) / 2, (b[:, 3] - b[:, 1]) / 2
        w, h = b[:, 2] + b[:, 0], b[:, 3] + b[:, 1]
    xc = xc / d.x_scale * aw + ax
    yc = yc / d.y_scale * ah + ay
    if d.apply_exponential_on_box_size:
        w, h = np.exp(w / d.w_scale) * aw, np.exp(h / d.h_scale) * ah
    else:
        w, h = w / d.w_scale * aw, h / d.h_scale * ah
    boxes = np.stack([xc - w / 2, yc - h / 2, xc + w / 2, yc + h / 2], 1)
    k = d.num_keypoints
    start = d.keypoint_coord_offset
    pts = raw[:, start : start + 2 * k].reshape(len(raw), k, 2)
    if d.layout == "yxhw":
        pts = pts[:, :, ::-1]
    pts = pts / np.float32([d.x_scale, d.y_scale]) * np.stack([aw, ah], 1)[:, None]
    pts = pts + np.stack([ax, ay], 1)[:, None]
    return boxes.astype(np.float32), pts.astype(np.float32)


def weighted_nms(found: Decoded, iou: float) -> Decoded:
    """MediaPipe's WEIGHTED algorithm, per class: the best box and every box overlapping it
    by more than `iou` merge into one, coordinates and keypoints averaged by score."""
    kept: list[tuple[np.ndarray, float, int, np.ndarray]] = []
    for c in sorted(set(found.classes.tolist())):  # np.unique imports a module on first use
        idx = np.flatnonzero(found.classes == c)
        order = idx[np.argsort(-found.scores[idx], kind="stable")]
        while len(order):
            overlap = box_iou(found.boxes[order[:1]], found.boxes[order])[0] > iou
            overlap[0] = True  # the best box always counts, even a degenerate one
            group = order[overlap]
            weight = found.scores[group][:, None]
            box = (found.boxes[group] * weight).sum(0) / weight.sum()
            points = (found.keypoints[group] * weight[:, :, None]).sum(0) / weight.sum()
            kept.append((box, float(found.scores[order[0]]), int(c), points))
            order = order[~overlap]
    kept.sort(key=lambda k: -k[1])
    if not kept:
        return found.take(np.zeros(0, np.int64))
    boxes, scores, classes, points = zip(*kept)
    return Decoded(np.float32(boxes), np.float32(scores), np.int64(classes), np.float32(points))


def nms(boxes: np.ndarray, scores: np.ndarray, classes: np.ndarray, iou: float) -> np.ndarray:
    """Indices kept by per-class non-maximum suppression, best score first."""
    order = np.argsort(-scores, kind="stable")
    keep: list[int] = []
    while len(order):
        i = order[0]
        keep.append(int(i))
        rest = order[1:]
        same = classes[rest] == classes[i]
        overlap = box_iou(boxes[i : i + 1], boxes[rest])[0]
        order = rest[~(same & (overlap > iou))]
    return np.array(keep, dtype=np.int64)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix between Nx4 and Mx4 x1y1x2y2 boxes."""
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    area = lambda x: np.prod(np.clip(x[:, 2:] - x[:, :2], 0, None), axis=1)
    return inter / np.maximum(area(a)[:, None] + area(b)[None, :] - inter, 1e-9)
