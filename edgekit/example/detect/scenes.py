"""Frames with known boxes: the example's shapes drawn anywhere in a larger noisy frame.

Used to train and test the in-repo detector and to render the demo's sample videos.
Shapes are drawn like `edgekit.example.shapes.render` draws them, at any size and place.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgekit.example.shapes import CLASSES


@dataclass
class Shape:
    """One shape: class index, centre, radius, BGR colour and rotation (radians)."""

    label: int
    cx: float
    cy: float
    r: float
    color: tuple[int, int, int]
    angle: float = 0.0

    @property
    def name(self) -> str:
        return CLASSES[self.label]

    def box(self) -> tuple[float, float, float, float]:
        """Tight (x1, y1, x2, y2) of the drawn shape."""
        pts = self.points()
        if pts is None:
            return (self.cx - self.r, self.cy - self.r, self.cx + self.r, self.cy + self.r)
        return (pts[:, 0].min(), pts[:, 1].min(), pts[:, 0].max(), pts[:, 1].max())

    def points(self) -> np.ndarray | None:
        """Polygon corners for squares and triangles, line ends for crosses, None for circles."""
        if self.name == "circle":
            return None
        if self.name == "cross":
            r = self.r
            return np.array([(self.cx - r, self.cy - r), (self.cx + r, self.cy + r)], np.float64)
        k = 4 if self.name == "square" else 3
        a = self.angle + np.arange(k) * 2 * np.pi / k
        return np.stack([self.cx + self.r * np.cos(a), self.cy + self.r * np.sin(a)], 1)


def background(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A noisy dark background like the example's training images."""
    bg = rng.integers(0, 120, 3)
    return np.clip(rng.normal(bg, 18, (height, width, 3)), 0, 255).astype(np.uint8)


def draw(img: np.ndarray, shape: Shape) -> None:
    """Draw one shape in place."""
    import cv2

    c = tuple(int(v) for v in shape.color)
    if shape.name == "circle":
        cv2.circle(img, (round(shape.cx), round(shape.cy)), round(shape.r), c, -1, cv2.LINE_AA)
    elif shape.name == "cross":
        r, t = shape.r, max(2, round(shape.r / 3))
        cx, cy = shape.cx, shape.cy
        for (x1, y1), (x2, y2) in (((-r, -r), (r, r)), ((-r, r), (r, -r))):
            p1, p2 = (round(cx + x1), round(cy + y1)), (round(cx + x2), round(cy + y2))
            cv2.line(img, p1, p2, c, t, cv2.LINE_AA)
    else:
        cv2.fillPoly(img, [np.int32(np.round(shape.points()))], c, cv2.LINE_AA)


def random_shape(
    rng: np.random.Generator, height: int, width: int, r_range: tuple[float, float]
) -> Shape:
    r = float(rng.uniform(*r_range))
    return Shape(
        label=int(rng.integers(len(CLASSES))),
        cx=float(rng.uniform(r + 2, width - r - 2)),
        cy=float(rng.uniform(r + 2, height - r - 2)),
        r=r,
        color=tuple(int(v) for v in rng.integers(130, 256, 3)),
        angle=float(rng.uniform(0, 2 * np.pi)),
    )


def scene(
    rng: np.random.Generator,
    height: int = 480,
    width: int = 640,
    *,
    count: tuple[int, int] = (1, 4),
    r_range: tuple[float, float] = (28, 80),
) -> tuple[np.ndarray, list[Shape]]:
    """A BGR frame with count[0]..count[1]-1 shapes that do not overlap, and the shapes."""
    img = background(rng, height, width)
    want = int(rng.integers(*count))
    shapes: list[Shape] = []
    for _ in range(want * 10):  # a few tries per wanted shape
        if len(shapes) == want:
            break
        s = random_shape(rng, height, width, r_range)
        if all(np.hypot(s.cx - o.cx, s.cy - o.cy) > 1.3 * (s.r + o.r) for o in shapes):
            shapes.append(s)
    for s in shapes:
        draw(img, s)
    return img, shapes


def boxes_of(shapes: list[Shape]) -> tuple[np.ndarray, np.ndarray]:
    """(boxes Nx4 x1y1x2y2 float32, labels N int64) of the shapes."""
    if not shapes:
        return np.zeros((0, 4), np.float32), np.zeros(0, np.int64)
    return np.array([s.box() for s in shapes], np.float32), np.array([s.label for s in shapes])
