"""What every demo task shares: frame -> native input tensors, outputs -> results, geometry.

A task splits one inference into the three timed stages of the pipeline: `prepare` (the
model's input contract, then the tensor's own dtype), `run` (the runtime call alone) and
`decode` (outputs back to labels, boxes or masks in frame pixels).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from edgekit.contract import Preprocess, Resize
from edgekit.runtimes.base import Session, dequantize, quantize


@dataclass(frozen=True)
class Geometry:
    """Where the frame landed in the model input: input = frame * scale + offset, per axis."""

    frame_h: int
    frame_w: int
    input_h: int
    input_w: int
    scale_x: float
    scale_y: float
    off_x: float
    off_y: float

    @classmethod
    def of(cls, pre: Preprocess, frame_h: int, frame_w: int) -> Geometry:
        """Mirror `Preprocess._resize` exactly (same rounding), so boxes map back true."""
        h, w = pre.size
        if pre.resize is Resize.STRETCH:
            return cls(frame_h, frame_w, h, w, w / frame_w, h / frame_h, 0.0, 0.0)
        if pre.resize is Resize.CROP:
            r = max(h / frame_h, w / frame_w)
            bw, bh = max(w, round(frame_w * r)), max(h, round(frame_h * r))
            sx, sy = bw / frame_w, bh / frame_h
            return cls(frame_h, frame_w, h, w, sx, sy, -float((bw - w) // 2), -float((bh - h) // 2))
        r = min(h / frame_h, w / frame_w)
        sw, sh = max(1, round(frame_w * r)), max(1, round(frame_h * r))
        return cls(frame_h, frame_w, h, w, sw / frame_w, sh / frame_h, (w - sw) // 2, (h - sh) // 2)

    def to_frame(self, boxes: np.ndarray) -> np.ndarray:
        """Nx4 x1y1x2y2 boxes in input pixels -> frame pixels, clipped to the frame."""
        out = np.empty_like(boxes, dtype=np.float32)
        out[:, 0::2] = (boxes[:, 0::2] - self.off_x) / self.scale_x
        out[:, 1::2] = (boxes[:, 1::2] - self.off_y) / self.scale_y
        out[:, 0::2] = out[:, 0::2].clip(0, self.frame_w)
        out[:, 1::2] = out[:, 1::2].clip(0, self.frame_h)
        return out

    def points_to_frame(self, points: np.ndarray) -> np.ndarray:
        """[..., 2] (x, y) points in input pixels -> frame pixels, clipped to the frame."""
        x = ((points[..., 0] - self.off_x) / self.scale_x).clip(0, self.frame_w)
        y = ((points[..., 1] - self.off_y) / self.scale_y).clip(0, self.frame_h)
        return np.stack([x, y], -1).astype(np.float32)

    def valid_region(self) -> tuple[int, int, int, int]:
        """(x, y, w, h) of the input pixels that hold the frame (letterbox padding excluded)."""
        x0, y0 = max(0, round(self.off_x)), max(0, round(self.off_y))
        x1 = min(self.input_w, round(self.off_x + self.frame_w * self.scale_x))
        y1 = min(self.input_h, round(self.off_y + self.frame_h * self.scale_y))
        return x0, y0, max(1, x1 - x0), max(1, y1 - y0)


@dataclass
class Outcome:
    """One frame's results (JSON-ready dicts) and what drawing needs beyond them (a mask)."""

    results: list[dict]
    mask: np.ndarray | None = None


class Task:
    """One kind of model in the demo. Subclasses implement `decode` and `draw`."""

    name: ClassVar[str]

    def __init__(self, session: Session, *, labels: list[str] | None = None) -> None:
        self.session = session
        self.pre = session.preprocess
        contract_labels = session.contract.labels if session.contract else None
        self.labels = list(labels or contract_labels or [])

    def label(self, k: int) -> str:
        return self.labels[k] if 0 <= k < len(self.labels) else str(k)

    def prepare(self, frame: np.ndarray) -> tuple[list[np.ndarray], Geometry]:
        """The frame through the input contract, in the input tensor's own dtype."""
        x = self.pre.apply(frame)
        geo = Geometry.of(self.pre, frame.shape[0], frame.shape[1])
        return [quantize(x, self.session.inputs[0])], geo

    def run(self, tensors: list[np.ndarray]) -> list[np.ndarray]:
        return self.session.run_raw(tensors)

    def decode_outputs(self, outputs: list[np.ndarray], geo: Geometry) -> Outcome:
        floats = [dequantize(o, s) for o, s in zip(outputs, self.session.outputs)]
        return self.decode(floats, geo)

    def decode(self, outputs: list[np.ndarray], geo: Geometry) -> Outcome:
        raise NotImplementedError

    def draw(self, frame: np.ndarray, outcome: Outcome) -> None:
        raise NotImplementedError

    def infer(self, frame: np.ndarray) -> list[dict]:
        """All three stages at once, for scripts and tests: the JSON-ready results."""
        return self.analyse(frame).results

    def analyse(self, frame: np.ndarray) -> Outcome:
        tensors, geo = self.prepare(frame)
        return self.decode_outputs(self.run(tensors), geo)


def softmax_if_logits(v: np.ndarray) -> np.ndarray:
    """Probabilities stay as they are; logits (outside 0..1 or not summing to 1) get softmax."""
    if v.min() >= 0 and v.max() <= 1 and abs(float(v.sum()) - 1) < 0.05:
        return v
    e = np.exp(v - v.max())
    return e / e.sum()


def sigmoid_if_logits(v: np.ndarray) -> np.ndarray:
    if v.size and (v.min() < 0 or v.max() > 1):
        return 1 / (1 + np.exp(-v))
    return v


def palette(k: int) -> tuple[int, int, int]:
    """A distinct BGR colour per class index."""
    hues = (0.0, 0.33, 0.66, 0.16, 0.5, 0.83, 0.08, 0.58, 0.25, 0.75)
    import colorsys

    r, g, b = colorsys.hsv_to_rgb(hues[k % len(hues)], 0.85 - 0.2 * (k // len(hues) % 2), 1.0)
    return int(b * 255), int(g * 255), int(r * 255)
