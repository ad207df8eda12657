"""Detection: boxes, labels and scores from SSD-style or YOLO-style outputs, NMS, letterbox
undone.

Two output layouts are read:
- SSD-style, post-processed in the graph (TFLite `TFLite_Detection_PostProcess`): boxes
  `[1, N, 4]` as normalised (ymin, xmin, ymax, xmax), classes `[1, N]`, scores `[1, N]`,
  count `[1]`, in any order (told apart by shape and values).
- YOLO-style heads `[1, 4 + C, N]` (or `[1, N, 4 + C]`): box centre, width and height in input
  pixels (or normalised 0..1), then C class scores (probabilities or logits).
"""

from __future__ import annotations

import numpy as np

from edgekit.demo.tasks.base import Geometry, Outcome, Task, palette, sigmoid_if_logits
from edgekit.errors import ConfigError
from edgekit.runtimes.base import Session


class Detector(Task):
    name = "detect"

    def __init__(
        self,
        session: Session,
        *,
        labels: list[str] | None = None,
        threshold: float = 0.4,
        iou: float = 0.45,
        max_boxes: int = 100,
    ) -> None:
        super().__init__(session, labels=labels)
        self.threshold, self.iou, self.max_boxes = threshold, iou, max_boxes
        self.layout = layout_of([list(o.shape) for o in session.outputs])
        # TF Object Detection label maps start with a "???" background entry
        self.label_offset = 1 if self.labels[:1] == ["???"] else 0

    def decode(self, outputs: list[np.ndarray], geo: Geometry) -> Outcome:
        if self.layout == "ssd":
            boxes, scores, classes = decode_ssd(outputs, geo)
        else:
            n = len(self.labels) - self.label_offset if self.labels else 0
            boxes, scores, classes = decode_yolo(outputs[0], geo, self.threshold, n)
        keep = scores >= self.threshold
        boxes, scores, classes = boxes[keep], scores[keep], classes[keep]
        keep = nms(boxes, scores, classes, self.iou)[: self.max_boxes]
        boxes = geo.to_frame(boxes[keep]) if len(keep) else np.zeros((0, 4), np.float32)
        return Outcome(
            [
                {
                    "label": self.label(int(c) + self.label_offset),
                    "class": int(c),
                    "score": round(float(s), 4),
                    "box": [round(float(v), 1) for v in b],
                }
                for b, s, c in zip(boxes, scores[keep], classes[keep])
            ]
        )

    def draw(self, frame: np.ndarray, outcome: Outcome) -> None:
        draw_boxes(frame, outcome.results)


def layout_of(shapes: list[list[int]]) -> str:
    """'ssd' or 'yolo' from the output shapes; ConfigError for anything else."""
    if len(shapes) >= 3 and any(len(s) == 3 and s[-1] == 4 for s in shapes):
        return "ssd"
    if len(shapes) == 1 and len(shapes[0]) == 3 and min(shapes[0][1:]) >= 5:
        return "yolo"
    raise ConfigError(
        f"cannot read these outputs as detections; got: shapes {shapes}; expected SSD-style "
        "(boxes [1,N,4], classes, scores, count) or a YOLO-style head [1, 4+C, N]"
    )


def decode_yolo(out: np.ndarray, geo: Geometry, threshold: float, classes: int = 0):
    """[1, 4+C, N] or [1, N, 4+C] -> (boxes x1y1x2y2 in input pixels, scores, classes).
    The class count, when known, tells the layouts apart; else N is the longer axis."""
    a = out[0]
    if (a.shape[1] == 4 + classes) if classes else a.shape[0] > a.shape[1]:  # [N, 4+C]
        a = a.T
    xywh, cls = a[:4].T.astype(np.float32), sigmoid_if_logits(a[4:])
    classes = cls.argmax(0)
    scores = cls[classes, np.arange(cls.shape[1])]
    keep = scores >= threshold
    xywh, scores, classes = xywh[keep], scores[keep], classes[keep]
    if len(xywh) and xywh.max() <= 1.5:  # normalised coordinates
        xywh = xywh * np.float32([geo.input_w, geo.input_h, geo.input_w, geo.input_h])
    boxes = np.concatenate([xywh[:, :2] - xywh[:, 2:] / 2, xywh[:, :2] + xywh[:, 2:] / 2], 1)
    return boxes, scores.astype(np.float32), classes


def decode_ssd(outputs: list[np.ndarray], geo: Geometry):
    """Post-processed SSD outputs -> (boxes x1y1x2y2 in input pixels, scores, classes)."""
    boxes = next(o for o in outputs if o.ndim == 3 and o.shape[-1] == 4)[0]
    pairs = [o.reshape(-1) for o in outputs if o.ndim == 2 and o.shape[-1] == boxes.shape[0]]
    counts = [o.reshape(-1) for o in outputs if o.size == 1]
    if len(pairs) != 2:
        raise ConfigError(f"SSD-style outputs need classes and scores [1, N]; got: {len(pairs)}")
    # classes are whole numbers; scores are fractions sorted from the best
    a, b = pairs
    a_whole = bool(np.all(np.equal(np.mod(a, 1), 0)))
    b_whole = bool(np.all(np.equal(np.mod(b, 1), 0)))
    classes, scores = (a, b) if a_whole and not b_whole else (b, a)
    n = int(counts[0][0]) if counts else len(scores)
    n = max(0, min(n, len(scores)))
    yx = boxes[:n].astype(np.float32)
    scale = np.float32([geo.input_w, geo.input_h, geo.input_w, geo.input_h])
    xyxy = yx[:, [1, 0, 3, 2]] * scale
    return xyxy, scores[:n].astype(np.float32), classes[:n].astype(np.int64)


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


def match(found: list[dict], boxes: np.ndarray, labels: np.ndarray, *, iou_min: float) -> int:
    """How many true boxes a detection of the same class covers at IoU >= iou_min (greedy)."""
    used: set[int] = set()
    hits = 0
    for box, label in zip(boxes, labels):
        best, best_iou = None, iou_min
        for j, d in enumerate(found):
            if j in used or d["class"] != int(label):
                continue
            v = float(box_iou(np.float32([box]), np.float32([d["box"]]))[0, 0])
            if v >= best_iou:
                best, best_iou = j, v
        if best is not None:
            used.add(best)
            hits += 1
    return hits


def draw_boxes(frame: np.ndarray, results: list[dict]) -> None:
    import cv2

    thick = max(1, round(frame.shape[0] / 360))
    for r in results:
        x1, y1, x2, y2 = (round(v) for v in r["box"])
        color = palette(r["class"])
        cv2.rectangle(frame, (x1, y1), (x2, y2), color, thick + 1, cv2.LINE_AA)
        text = f"{r['label']} {r['score']:.2f}"
        (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.5 * thick, thick)
        top = max(th + 4, y1)
        cv2.rectangle(frame, (x1, top - th - 4), (x1 + tw + 4, top), color, -1)
        cv2.putText(
            frame,
            text,
            (x1 + 2, top - 3),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.5 * thick,
            (0, 0, 0),
            thick,
            cv2.LINE_AA,
        )
