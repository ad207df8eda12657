"""The overlay (FPS and the per-stage breakdown) and the on-screen window."""

from __future__ import annotations

import logging
import os
import sys

import numpy as np

log = logging.getLogger(__name__)
SHOWN = (
    ("capture_age", "age"),
    ("preprocess", "pre"),
    ("inference", "infer"),
    ("postprocess", "post"),
    ("render", "draw"),
    ("output", "out"),
    ("record", "rec"),
)


def draw_hud(image: np.ndarray, live: dict, task: str) -> None:
    """FPS and the recent mean of each stage, top left, on a dark band; in place."""
    import cv2

    scale = max(0.45, image.shape[0] / 900)
    thick = max(1, round(scale * 1.5))
    stages = live.get("stages_ms", {})
    lines = [f"{task}  {live.get('fps', 0):.1f} FPS  frame {live.get('frames', 0)}"]
    parts = [f"{short} {stages[name]:.1f}" for name, short in SHOWN if name in stages]
    if parts:
        lines.append("ms: " + "  ".join(parts))
    line_h = int(24 * scale) + 4
    width = max(
        cv2.getTextSize(t, cv2.FONT_HERSHEY_SIMPLEX, 0.6 * scale, thick)[0][0] for t in lines
    )
    band = image[: line_h * len(lines) + 6, : min(image.shape[1], width + 16)]
    band[:] = (band * 0.35).astype(np.uint8)
    for i, text in enumerate(lines):
        cv2.putText(
            image,
            text,
            (8, line_h * (i + 1)),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.6 * scale,
            (255, 255, 255),
            thick,
            cv2.LINE_AA,
        )


def has_display() -> bool:
    """A display server exists and this OpenCV has GUI support (not the headless wheel)."""
    if sys.platform.startswith("linux") and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    ):
        return False
    import cv2

    info = cv2.getBuildInformation()
    gui = next((ln for ln in info.splitlines() if ln.strip().startswith("GUI:")), "GUI: NONE")
    return "NONE" not in gui


class WindowSink:
    """An OpenCV window; `q` or Esc (or closing the window) ends the run."""

    def __init__(self, title: str = "edgekit demo") -> None:
        import cv2

        self.cv2, self.title = cv2, title
        cv2.namedWindow(title, cv2.WINDOW_NORMAL)
        self.closed_by_user = False

    def write(self, image: np.ndarray, record: dict, stats) -> None:
        cv2 = self.cv2
        cv2.imshow(self.title, image)
        key = cv2.waitKey(1) & 0xFF
        visible = cv2.getWindowProperty(self.title, cv2.WND_PROP_VISIBLE) >= 1
        if key in (ord("q"), 27) or not visible:
            self.closed_by_user = True

    def close(self) -> None:
        try:
            self.cv2.destroyWindow(self.title)
        except self.cv2.error:
            pass
