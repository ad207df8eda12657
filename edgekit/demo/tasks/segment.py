"""Segmentation: a class mask (C > 1 channels, argmax) or a foreground mask (one channel,
threshold 0.5) mapped back to the frame and blended over it."""

from __future__ import annotations

import numpy as np

from edgekit.demo.tasks.base import Geometry, Outcome, Task, palette, sigmoid_if_logits
from edgekit.errors import ConfigError
from edgekit.runtimes.base import Session


class Segmenter(Task):
    name = "segment"

    def __init__(
        self,
        session: Session,
        *,
        labels: list[str] | None = None,
        alpha: float = 0.5,
        threshold: float = 0.5,
    ) -> None:
        super().__init__(session, labels=labels)
        self.alpha, self.threshold = alpha, threshold
        shape = list(session.outputs[0].shape)
        if len(shape) not in (3, 4) or min(shape[1:3] if len(shape) == 4 else shape[1:]) < 2:
            raise ConfigError(
                f"cannot read this output as a mask; got: shape {shape}; expected [1, H, W, C], "
                "[1, C, H, W] or [1, H, W]"
            )

    def decode(self, outputs: list[np.ndarray], geo: Geometry) -> Outcome:
        mask = to_frame(class_map(outputs[0], self.threshold), geo)
        counts = np.bincount(mask.reshape(-1), minlength=1)
        total = max(1, mask.size)
        results = [
            {"label": self.label(k), "class": k, "fraction": round(float(n) / total, 4)}
            for k, n in enumerate(counts)
            if n and k > 0
        ]
        return Outcome(results, mask)

    def draw(self, frame: np.ndarray, outcome: Outcome) -> None:
        if outcome.mask is not None and outcome.mask.shape == frame.shape[:2]:
            blend(frame, outcome.mask, self.alpha)


def class_map(out: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """Model output -> HxW uint8 class ids (0 = background)."""
    a = out[0]
    if a.ndim == 2:  # [H, W]: class ids already, or one foreground channel
        whole = np.all(np.equal(np.mod(a, 1), 0))
        return a.astype(np.uint8) if whole else (sigmoid_if_logits(a) > threshold).astype(np.uint8)
    if a.shape[0] < a.shape[-1] and a.shape[0] <= 32 and a.shape[1] > 32:  # [C, H, W]
        a = a.transpose(1, 2, 0)
    if a.shape[-1] == 1:
        return (sigmoid_if_logits(a[..., 0]) > threshold).astype(np.uint8)
    return a.argmax(-1).astype(np.uint8)


def to_frame(small: np.ndarray, geo: Geometry) -> np.ndarray:
    """A mask in input pixels -> frame pixels, with letterbox padding or crop undone."""
    import cv2

    if small.shape != (geo.input_h, geo.input_w):  # output smaller than the input: upsample
        small = cv2.resize(small, (geo.input_w, geo.input_h), interpolation=cv2.INTER_NEAREST)
    if geo.off_x < 0 or geo.off_y < 0:  # centre crop: the frame's border was never seen
        full = np.zeros((geo.frame_h, geo.frame_w), np.uint8)
        bw, bh = round(geo.frame_w * geo.scale_x), round(geo.frame_h * geo.scale_y)
        canvas = np.zeros((bh, bw), np.uint8)
        x, y = round(-geo.off_x), round(-geo.off_y)
        canvas[y : y + geo.input_h, x : x + geo.input_w] = small
        full[:] = cv2.resize(canvas, (geo.frame_w, geo.frame_h), interpolation=cv2.INTER_NEAREST)
        return full
    x, y, w, h = geo.valid_region()
    return cv2.resize(
        np.ascontiguousarray(small[y : y + h, x : x + w]),
        (geo.frame_w, geo.frame_h),
        interpolation=cv2.INTER_NEAREST,
    )


def blend(frame: np.ndarray, mask: np.ndarray, alpha: float) -> None:
    """Colour each class over the frame, in place; class 0 is left alone."""
    lut = np.array([(0, 0, 0)] + [palette(k) for k in range(1, 256)], np.uint8)
    colour = lut[mask]
    fg = mask > 0
    frame[fg] = (frame[fg] * (1 - alpha) + colour[fg] * alpha).astype(np.uint8)
