"""Calibration and validation data, read through the model's preprocessing contract.

One reader for conversion, parity, quantization and (later) pruning: a folder of images, a
labelled folder (one subfolder per class), a .npy/.npz of ready tensors, or random tensors
behind an explicit flag. Every set records where it came from in the manifest.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgekit.contract import Preprocess
from edgekit.errors import ConfigError

log = logging.getLogger(__name__)
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".ppm", ".pgm"}


@dataclass
class Samples:
    """Input tensors (N, ...) with optional class indices, and a record of their origin."""

    x: np.ndarray
    kind: str  # images | labelled-images | tensors | random
    source: str
    y: np.ndarray | None = None
    classes: list[str] | None = None

    def record(self) -> dict:
        return {"kind": self.kind, "source": self.source, "count": int(len(self.x))}


def read(
    source: str | Path, *, shape: list[int], preprocess: Preprocess | None, count: int | None = None
) -> Samples:
    """Calibration inputs from an image folder or a .npy/.npz file, at most `count` of them."""
    p = Path(source)
    if not p.exists():
        raise ConfigError(
            f"calibration data not found; got: {p}; pass an image folder or .npy/.npz"
        )
    if p.is_file() and p.suffix in (".npy", ".npz"):
        return _tensors(p, shape, count)
    if p.is_dir():
        files = _images(p)[: count or None]
        x = _load_images(files, p, preprocess)
        return Samples(x, "images", str(p))
    raise ConfigError(f"unsupported calibration data {p.name}; pass an image folder or .npy/.npz")


def read_labelled(
    folder: str | Path,
    *,
    preprocess: Preprocess | None,
    labels: list[str] | None,
    count: int | None = None,
) -> Samples:
    """A validation folder with one subfolder per class; classes map to `labels` by name."""
    p = Path(folder)
    if not p.is_dir():
        raise ConfigError(f"validation folder not found; got: {p}; pass DIR/<class>/<image>")
    subdirs = sorted(d for d in p.iterdir() if d.is_dir())
    if not subdirs:
        raise ConfigError(f"{p} has no class subfolders; lay it out as DIR/<class>/<image>")
    classes = labels or [d.name for d in subdirs]
    unknown = [d.name for d in subdirs if d.name not in classes]
    if unknown:
        raise ConfigError(
            f"validation classes {unknown} are not in the labels {classes}; "
            "rename the folders or fix --labels"
        )
    files, ys = [], []
    for d in subdirs:
        imgs = _images(d)
        files += imgs
        ys += [classes.index(d.name)] * len(imgs)
    if count:
        files, ys = files[:count], ys[:count]
    x = _load_images(files, p, preprocess, flag="--val")
    return Samples(x, "labelled-images", str(p), np.asarray(ys), classes)


def random(
    *, shape: list[int], count: int, preprocess: Preprocess | None, seed: int = 0
) -> Samples:
    """Random images through the contract (or uniform tensors). Only behind --random-calib."""
    rng = np.random.default_rng(seed)
    if preprocess:
        h, w = preprocess.size
        imgs = rng.integers(0, 256, (count, h, w, 3), dtype=np.uint8)
        x = np.concatenate([preprocess.apply(i) for i in imgs])
    else:
        x = rng.uniform(-1, 1, (count, *shape[1:])).astype(np.float32)
    log.warning("calibrating on %d random inputs: quantized accuracy will suffer", count)
    return Samples(x, "random", f"seed={seed}")


def _images(folder: Path) -> list[Path]:
    return sorted(
        f for f in folder.rglob("*") if f.suffix.lower() in IMAGE_SUFFIXES and f.is_file()
    )


def _load_images(
    files: list[Path], folder: Path, preprocess: Preprocess | None, *, flag: str = "--calib"
) -> np.ndarray:
    import cv2

    if preprocess is None:
        raise ConfigError(
            "this model's input is not an image; pass calibration tensors as .npy/.npz"
        )
    arrays, bad = [], []
    for f in files:
        img = cv2.imread(str(f), cv2.IMREAD_UNCHANGED)
        if img is None:
            bad.append(f.name)
            continue
        if img.dtype == np.uint16:
            img = (img >> 8).astype(np.uint8)
        arrays.append(preprocess.apply(img))
    if bad:
        log.warning("skipped %d unreadable images in %s (e.g. %s)", len(bad), folder, bad[0])
    if not arrays:
        raise ConfigError(
            f"no readable images in {folder} (looked for {', '.join(sorted(IMAGE_SUFFIXES))}); "
            f"point {flag} at a folder of images"
        )
    return np.concatenate(arrays)


def _tensors(path: Path, shape: list[int], count: int | None) -> Samples:
    try:
        data = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as e:
        raise ConfigError(f"cannot read {path.name}: {e}; save with numpy.save/savez") from e
    if isinstance(data, np.lib.npyio.NpzFile):
        if not data.files:
            raise ConfigError(f"{path.name} holds no arrays")
        data = data[data.files[0]]
    x = np.asarray(data)
    if x.dtype.kind not in "fiu":
        raise ConfigError(f"{path.name} holds {x.dtype} data; calibration tensors must be numeric")
    if list(x.shape[1:]) != list(shape[1:]):
        raise ConfigError(
            f"calibration tensors in {path.name} have shape {list(x.shape)}; the model input is "
            f"{shape}: save an array of shape [N, {', '.join(map(str, shape[1:]))}]"
        )
    if len(x) == 0:
        raise ConfigError(f"{path.name} holds zero samples")
    return Samples(x[: count or None].astype(np.float32), "tensors", str(path))
