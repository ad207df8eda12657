"""The demo's bundled inputs: the example classifier as TFLite, the in-repo detector, and
sample videos of moving shapes rendered at first use into a cache folder.

`python -m edgekit.demo.sample` re-exports `edgekit/example/shapes_fp32.tflite` from
`shapes.keras` (needs the convert extra) and renders the sample videos.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np

from edgekit.cache import cache_dir
from edgekit.errors import ConfigError

VERSION = 2  # bump when the rendering changes, so caches refresh
SIZE = (480, 640)  # height, width
FPS = 30.0
SECONDS = 10


def default_artifact(task: str) -> Path:
    """The bundled model for a task."""
    from edgekit.example import HERE
    from edgekit.example.detect import TFLITE

    if task == "detect":
        return TFLITE
    if task == "classify":
        return HERE / "shapes_fp32.tflite"
    raise ConfigError(
        f"no bundled model for --task {task}; got: no ARTIFACT; pass a {task} model, e.g. "
        "edgekit demo deeplabv3.tflite --task segment"
    )


def sample_video(task: str = "classify", *, folder: Path | None = None) -> Path:
    """The sample video for a task (rendered once, then reused): shapes moving over a noisy
    background, 640x480 at 30 fps, 10 s."""
    kind = "detect" if task == "detect" else "classify"
    folder = Path(folder or cache_dir() / "demo")
    path = folder / f"sample-{kind}-v{VERSION}.mp4"
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        render_video(path, kind)
    return path


def render_video(path: Path, kind: str, *, frames: int = int(FPS * SECONDS)) -> None:
    """Write frames to a temporary file in the same folder, then move it into place, so a
    concurrent first use never reads half a video."""
    import cv2

    fd, tmp = tempfile.mkstemp(suffix=".mp4", dir=path.parent, prefix=".sample-")
    os.close(fd)
    try:
        writer = cv2.VideoWriter(tmp, cv2.VideoWriter_fourcc(*"mp4v"), FPS, SIZE[::-1])
        if not writer.isOpened():
            raise ConfigError(f"cannot write the sample video; got: {path}; is OpenCV complete?")
        for img, _ in frames_of(kind, frames):
            writer.write(img)
        writer.release()
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def frames_of(kind: str, count: int, *, seed: int = 7):
    """Yield (BGR frame, its shapes): one big shape that changes every 2 s (classify) or three
    shapes bouncing around (detect). The shapes are the ground truth of the sample videos."""
    from edgekit.example.detect.scenes import background, draw, random_shape

    rng = np.random.default_rng(seed)
    h, w = SIZE
    bg = background(rng, h, w)
    if kind == "classify":
        r_range, n = (110.0, 150.0), 1
    else:
        r_range, n = (36.0, 70.0), 3
    lane = w / n  # each shape keeps to its own column, so they never overlap
    shapes = [random_shape(rng, h, int(lane), r_range) for _ in range(n)]
    speed = [rng.uniform(2, 5, 2) * rng.choice([-1, 1], 2) for _ in shapes]
    for i in range(count):
        img = bg.copy()
        for k, (s, v) in enumerate(zip(shapes, speed)):
            if kind == "classify" and i and i % int(2 * FPS) == 0:
                s.label = (s.label + 1) % 4
            s.cx, s.cy = s.cx + v[0], s.cy + v[1]
            s.angle += 0.02
            for axis, lim in ((0, lane), (1, h)):
                pos = s.cx if axis == 0 else s.cy
                if pos - s.r < 2 or pos + s.r > lim - 2:
                    v[axis] = -v[axis]
            draw(img, replace(s, cx=s.cx + k * lane))
        yield img, [replace(s, cx=s.cx + k * lane) for k, s in enumerate(shapes)]


def export_classifier() -> Path:
    """Re-export the bundled classifier to TFLite fp32 next to shapes.keras."""
    import shutil

    from edgekit.conversion import convert
    from edgekit.example import HERE

    with tempfile.TemporaryDirectory() as tmp:
        report = convert(to="tflite:fp32", out=tmp)
        art = report.artifacts[0]
        dest = HERE / "shapes_fp32.tflite"
        shutil.copy(Path(tmp) / art.file, dest)
    return dest


if __name__ == "__main__":
    print(export_classifier())
    for t in ("classify", "detect"):
        print(sample_video(t))
