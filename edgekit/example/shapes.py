"""Rendered shapes: a tiny image-classification data set generated on the spot, no download.

Seeds are fixed per split so training, calibration and validation never overlap.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

CLASSES = ("circle", "square", "triangle", "cross")
SIZE = 64
SEEDS = {"train": 1, "calib": 2, "val": 3}


def render(label: int, rng: np.random.Generator, size: int = SIZE) -> np.ndarray:
    """One BGR uint8 image of shape `label` on a noisy background."""
    import cv2

    bg = rng.integers(0, 120, 3)
    img = np.clip(rng.normal(bg, 18, (size, size, 3)), 0, 255).astype(np.uint8)
    color = tuple(int(c) for c in rng.integers(130, 256, 3))
    r = int(rng.integers(size // 6, size // 3))
    cx, cy = (int(v) for v in rng.integers(r + 2, size - r - 2, 2))
    name = CLASSES[label]
    if name == "circle":
        cv2.circle(img, (cx, cy), r, color, -1, cv2.LINE_AA)
    elif name == "square":
        a = rng.uniform(0, np.pi / 2)
        pts = [
            (cx + r * np.cos(a + k * np.pi / 2), cy + r * np.sin(a + k * np.pi / 2))
            for k in range(4)
        ]
        cv2.fillPoly(img, [np.int32(pts)], color, cv2.LINE_AA)
    elif name == "triangle":
        a = rng.uniform(0, 2 * np.pi)
        pts = [
            (cx + r * np.cos(a + k * 2 * np.pi / 3), cy + r * np.sin(a + k * 2 * np.pi / 3))
            for k in range(3)
        ]
        cv2.fillPoly(img, [np.int32(pts)], color, cv2.LINE_AA)
    else:
        t = max(2, r // 3)
        cv2.line(img, (cx - r, cy - r), (cx + r, cy + r), color, t, cv2.LINE_AA)
        cv2.line(img, (cx - r, cy + r), (cx + r, cy - r), color, t, cv2.LINE_AA)
    return img


def arrays(split: str, count: int) -> tuple[np.ndarray, np.ndarray]:
    """(images NxHxWx3 BGR uint8, labels N) for a split, balanced over classes."""
    rng = np.random.default_rng(SEEDS[split])
    labels = np.arange(count) % len(CLASSES)
    rng.shuffle(labels)
    return np.stack([render(int(k), rng) for k in labels]), labels


def write_folder(folder: Path, split: str, count: int) -> Path:
    """Write a split as PNG files, one subfolder per class (the `--val DIR` layout)."""
    import cv2

    folder = Path(folder)
    images, labels = arrays(split, count)
    for name in CLASSES:
        (folder / name).mkdir(parents=True, exist_ok=True)
    for i, (img, k) in enumerate(zip(images, labels)):
        cv2.imwrite(str(folder / CLASSES[k] / f"{split}_{i:04d}.png"), img)
    return folder
