"""Classification: top-k labels with scores, optionally smoothed over frames."""

from __future__ import annotations

import numpy as np

from edgekit.demo.tasks.base import Geometry, Outcome, Task, softmax_if_logits
from edgekit.runtimes.base import Session


class Classifier(Task):
    name = "classify"

    def __init__(
        self,
        session: Session,
        *,
        labels: list[str] | None = None,
        top_k: int = 3,
        smooth: float = 0.0,
    ) -> None:
        """`smooth` in 0..1 is the weight of the past in an exponential moving average of the
        scores (0: every frame stands alone)."""
        super().__init__(session, labels=labels)
        self.top_k = max(1, top_k)
        self.smooth = min(max(smooth, 0.0), 0.99)
        self._avg: np.ndarray | None = None

    def decode(self, outputs: list[np.ndarray], geo: Geometry) -> Outcome:
        probs = softmax_if_logits(outputs[0].reshape(-1).astype(np.float32))
        if self.smooth and self._avg is not None and self._avg.shape == probs.shape:
            probs = self.smooth * self._avg + (1 - self.smooth) * probs
        self._avg = probs
        top = np.argsort(-probs)[: self.top_k]
        return Outcome(
            [{"label": self.label(int(k)), "class": int(k), "score": float(probs[k])} for k in top]
        )

    def draw(self, frame: np.ndarray, outcome: Outcome) -> None:
        import cv2

        results = outcome.results
        h = frame.shape[0]
        scale = max(0.5, h / 720)
        y = h - int(12 * scale) - int(30 * scale) * (len(results) - 1)
        for r in results:
            width = int(220 * scale * r["score"])
            cv2.rectangle(
                frame,
                (10, y - int(20 * scale)),
                (10 + width, y + int(6 * scale)),
                (60, 160, 60),
                -1,
            )
            text = f"{r['label']} {r['score']:.2f}"
            cv2.putText(
                frame,
                text,
                (14, y),
                cv2.FONT_HERSHEY_SIMPLEX,
                0.7 * scale,
                (255, 255, 255),
                max(1, round(2 * scale)),
                cv2.LINE_AA,
            )
            y += int(30 * scale)
