"""Detection: boxes, labels and scores from SSD-style or YOLO-style outputs, NMS, letterbox
undone.

Two output layouts are read:
- SSD-style, post-processed in the graph (TFLite `TFLite_Detection_PostProcess`): boxes
  `[1, N, 4]` as normalised (ymin, xmin, ymax, xmax), classes `[1, N]`, scores `[1, N]`,
  count `[1]`, in any order (told apart by shape and values).
- YOLO-style heads `[1, 4 + C, N]` (or `[1, N, 4 + C]`): box centre, width and height in input
  pixels (or normalised 0..1), then C class scores (probabilities or logits).
- Raw SSD regressions against generated anchors, `[1, N, 4 + 2K]` boxes and keypoints and
  `[1, N, C]` scores (an SSD exported without its post-processing op, e.g. MediaPipe's face
  detector), when anchor options are given (`anchors=`, or `detection` in the contract):
  see `edgekit.demo.tasks.anchors` and `.ssd`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgekit.demo.tasks.anchors import SsdSpec, bundled, looks_like_raw_ssd, read_spec
from edgekit.demo.tasks.base import Geometry, Outcome, Task, palette, sigmoid_if_logits
from edgekit.demo.tasks.ssd import AnchorDecoder, Decoded, box_iou, nms
from edgekit.errors import ConfigError
from edgekit.runtimes.base import Session

DEFAULT_THRESHOLD = 0.4
DEFAULT_IOU = 0.45


class Detector(Task):
    name = "detect"

    def __init__(
        self,
        session: Session,
        *,
        labels: list[str] | None = None,
        threshold: float | None = None,
        iou: float | None = None,
        max_boxes: int = 100,
        anchors: SsdSpec | dict | str | Path | None = None,
    ) -> None:
        """Args:
        threshold: the lowest score kept; None: the anchor file's min_score_thresh, else
            0.4. iou: NMS overlap; None: the anchor file's, else 0.45.
        anchors: options for raw SSD outputs (an SsdSpec, its dict, a TOML path or a
            bundled name); None: the contract's `detection`, if any.
        """
        super().__init__(session, labels=labels)
        self.iou, self.max_boxes = iou, max_boxes
        shapes = [list(o.shape) for o in session.outputs]
        spec = detection_spec(session, anchors)
        self.anchored = AnchorDecoder(spec, self.pre.size, shapes) if spec else None
        self.layout = "anchors" if spec else layout_of(shapes)
        preset = spec.decode.min_score_thresh if spec else None
        self.threshold = next(t for t in (threshold, preset, DEFAULT_THRESHOLD) if t is not None)
        # TF Object Detection label maps start with a "???" background entry
        self.label_offset = 1 if self.labels[:1] == ["???"] else 0

    def decode(self, outputs: list[np.ndarray], geo: Geometry) -> Outcome:
        if self.anchored is not None:
            found = self.anchored(outputs, self.threshold)
            return self.outcome(self.anchored.suppress(found, self.iou, self.max_boxes), geo)
        if self.layout == "ssd":
            boxes, scores, classes = decode_ssd(outputs, geo)
        else:
            n = len(self.labels) - self.label_offset if self.labels else 0
            boxes, scores, classes = decode_yolo(outputs[0], geo, self.threshold, n)
        keep = scores >= self.threshold
        boxes, scores, classes = boxes[keep], scores[keep], classes[keep]
        iou = DEFAULT_IOU if self.iou is None else self.iou
        keep = nms(boxes, scores, classes, iou)[: self.max_boxes]
        no_points = np.zeros((len(keep), 0, 2), np.float32)
        return self.outcome(Decoded(boxes[keep], scores[keep], classes[keep], no_points), geo)

    def outcome(self, found: Decoded, geo: Geometry) -> Outcome:
        """JSON-ready results in frame pixels; keypoints only where the model has them."""
        boxes = geo.to_frame(found.boxes) if len(found.boxes) else np.zeros((0, 4), np.float32)
        points = geo.points_to_frame(found.keypoints)
        results = []
        for b, s, c, p in zip(boxes, found.scores, found.classes, points):
            r = {
                "label": self.label(int(c) + self.label_offset),
                "class": int(c),
                "score": round(float(s), 4),
                "box": [round(float(v), 1) for v in b],
            }
            if len(p):
                r["keypoints"] = [[round(float(x), 1), round(float(y), 1)] for x, y in p]
            results.append(r)
        return Outcome(results)

    def draw(self, frame: np.ndarray, outcome: Outcome) -> None:
        draw_boxes(frame, outcome.results)


def detection_spec(session: Session, anchors) -> SsdSpec | None:
    """The anchor options given, else the contract's, else None."""
    if isinstance(anchors, SsdSpec):
        return anchors
    if isinstance(anchors, dict):
        return SsdSpec.from_dict(anchors)
    if anchors is not None:
        return read_spec(anchors)
    recorded = getattr(session.contract, "detection", None) if session.contract else None
    if recorded:
        return SsdSpec.from_dict(recorded, where=f"the contract of {session.path.name}")
    return None


def layout_of(shapes: list[list[int]]) -> str:
    """'ssd' or 'yolo' from the output shapes; ConfigError for anything else."""
    if len(shapes) >= 3 and any(len(s) == 3 and s[-1] == 4 for s in shapes):
        return "ssd"
    if len(shapes) == 1 and len(shapes[0]) == 3 and min(shapes[0][1:]) >= 5:
        return "yolo"
    if looks_like_raw_ssd(shapes):
        raise ConfigError(
            f"these outputs are raw SSD regressions against anchors, which need the model's "
            f"anchor options; got: shapes {shapes} and no anchors; pass --anchors FILE.toml "
            f"([anchors] and [decode] tables, MediaPipe's option names), e.g. --anchors "
            f"{bundled()[0]} for MediaPipe's BlazeFace face detector"
        )
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
        for x, y in r.get("keypoints", []):
            cv2.circle(frame, (round(x), round(y)), thick + 2, color, -1, cv2.LINE_AA)
