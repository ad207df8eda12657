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
    """Input tensors (N, ...) with optional class indices, and a record of their origin.
    `x` is one array for a single-input model, a list with one array per input otherwise."""

    x: np.ndarray | list[np.ndarray]
    kind: str  # images | labelled-images | tensors | random
    source: str
    y: np.ndarray | None = None
    classes: list[str] | None = None

    @property
    def count(self) -> int:
        return int(len(self.x if isinstance(self.x, np.ndarray) else self.x[0]))

    def head(self, n: int) -> np.ndarray | list[np.ndarray]:
        """The first n samples, in the same single- or multi-input form."""
        return self.x[:n] if isinstance(self.x, np.ndarray) else [a[:n] for a in self.x]

    def record(self) -> dict:
        return {"kind": self.kind, "source": self.source, "count": self.count}


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


def read_inputs(source: str | Path, *, shapes: dict[str, list[int]], count: int | None) -> Samples:
    """Tensors for a multi-input model: an .npz with one array per input, by input name (or
    arr_0, arr_1, ... in input order)."""
    p = Path(source)
    if p.suffix != ".npz" or not p.is_file():
        raise ConfigError(
            f"a model with inputs {list(shapes)} takes calibration data as an .npz with one "
            f"array per input name; got: {p}"
        )
    try:
        z = np.load(p, allow_pickle=False)
    except (ValueError, OSError) as e:
        raise ConfigError(f"cannot read {p.name}: {e}; save with numpy.savez") from e
    keys = list(shapes) if set(shapes) <= set(z.files) else z.files[: len(shapes)]
    if len(keys) < len(shapes):
        raise ConfigError(
            f"{p.name} holds {z.files}; the model needs one array per input: {list(shapes)}"
        )
    xs = []
    for key, (name, shape) in zip(keys, shapes.items()):
        x = np.asarray(z[key])
        if x.dtype.kind not in "fiu" or list(x.shape[1:]) != list(shape[1:]):
            raise ConfigError(
                f"{p.name}[{key}] has shape {list(x.shape)} {x.dtype}; input {name} needs "
                f"[N, {', '.join(map(str, shape[1:]))}] numbers"
            )
        xs.append(x[: count or None].astype(np.float32))
    if len({len(x) for x in xs}) != 1 or len(xs[0]) == 0:
        raise ConfigError(f"{p.name}: every input needs the same, non-zero number of samples")
    return Samples(xs, "tensors", str(p))


def random_inputs(*, shapes: list[list[int]], count: int, seed: int = 0) -> Samples:
    """Standard-normal tensors for models whose inputs are not images (or several inputs)."""
    rng = np.random.default_rng(seed)
    xs = [rng.standard_normal((count, *sh[1:])).astype(np.float32) for sh in shapes]
    return Samples(xs if len(xs) > 1 else xs[0], "random", f"seed={seed}")
