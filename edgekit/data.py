"""Calibration and validation data, read through the model's preprocessing contract.

One reader for conversion, parity, quantization and (later) pruning: a folder of images, a
labelled folder (one subfolder per class), a .npy/.npz of ready tensors, or random tensors
behind an explicit flag. Every set records where it came from in the manifest.
"""

from __future__ import annotations

import logging
import math
import re
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
    flag: str = "--val",
) -> Samples:
    """A folder with one subfolder per class. With `labels` (the model's output order) each
    subfolder maps to its label BY NAME (case, `_`, `-` and spaces ignored), whatever the
    folder order; without, classes are the subfolders in sorted order.

    Raises:
        ConfigError: no such folder, no class subfolders, or a subfolder that is no label.
    """
    p = Path(folder)
    if not p.is_dir():
        raise ConfigError(f"{flag} folder not found; got: {p}; pass DIR/<class>/<image>")
    subdirs = sorted(d for d in p.iterdir() if d.is_dir())
    if not subdirs:
        raise ConfigError(f"{p} has no class subfolders; lay it out as DIR/<class>/<image>")
    classes = list(labels) if labels else [d.name for d in subdirs]
    index = class_index(classes, [d.name for d in subdirs], flag=flag)
    files, ys = [], []
    for d in subdirs:
        imgs = _images(d)
        files += imgs
        ys += [index[d.name]] * len(imgs)
    if count:
        files, ys = files[:count], ys[:count]
    x = _load_images(files, p, preprocess, flag=flag)
    return Samples(x, "labelled-images", str(p), np.asarray(ys), classes)


def label_key(name: str) -> str:
    """A class name as folders and label files may spell it: case, `_`, `-`, spaces ignored."""
    return re.sub(r"[\s_\-]+", " ", name).strip().casefold()


def class_index(labels: list[str], folders: list[str], *, flag: str = "--val") -> dict[str, int]:
    """Folder name -> index of the label it names. Raises ConfigError for a folder that names
    no label (one line: the folders, the labels, how to fix)."""
    keys = {label_key(name): i for i, name in enumerate(labels)}
    unknown = [f for f in folders if label_key(f) not in keys]
    if unknown:
        shown = ", ".join(labels[:12]) + (", ..." if len(labels) > 12 else "")
        raise ConfigError(
            f"{flag} class folders {unknown} name no label of the model; got labels: {shown}; "
            "rename the folders to label names or pass --labels FILE (one label a line, in "
            "the model's output order)"
        )
    return {f: keys[label_key(f)] for f in folders}


def label_order_warning(
    y: np.ndarray, predicted: np.ndarray, classes: list[str], *, flag: str = "--val"
) -> str | None:
    """One line when class folders read in sorted order probably do not follow the model's
    output order, else None. Two signs, each a test that chance alone rarely passes:
    the model's accuracy is not significantly above chance (one-sided binomial test, p >= 1%),
    or matching folders to outputs one-to-one by the confusion matrix would raise the accuracy
    by at least 10 points and 5 samples (what a swapped order looks like)."""
    y, predicted = np.asarray(y).ravel(), np.asarray(predicted).ravel()
    n, k = len(y), int(len(classes))
    if n < 2 * k or k < 2:
        return None
    hits = int(np.sum(y == predicted))
    chance = binomial_tail(hits, n, 1 / k) >= 0.01
    matched = _matched_hits(y, predicted, max(k, int(predicted.max()) + 1))
    swapped = matched - hits >= max(5, 0.1 * n)
    if not (chance or swapped):
        return None
    why = (
        f"near chance ({100 / k:.0f}%)"
        if chance
        else f"{100 * matched / n:.0f}% if the folders were matched to other outputs"
    )
    return (
        f"the model scores {100 * hits / n:.0f}% on {flag} ({n} images, classes in folder "
        f"order {', '.join(classes[:6])}{', ...' if k > 6 else ''}): {why}; the folder order "
        "probably differs from the model's output order: pass --labels FILE with the class "
        "names in output order, one a line"
    )


def binomial_tail(k: int, n: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p), in log space (no scipy on the light install)."""
    if k <= 0:
        return 1.0
    i = np.arange(k, n + 1, dtype=np.float64)
    logs = (
        math.lgamma(n + 1)
        - np.array([math.lgamma(v + 1) + math.lgamma(n - v + 1) for v in i])
        + i * math.log(p)
        + (n - i) * math.log1p(-p)
    )
    top = logs.max()
    return float(min(1.0, math.exp(top) * np.sum(np.exp(logs - top))))


def _matched_hits(y: np.ndarray, predicted: np.ndarray, k: int) -> int:
    """Hits of the best one-to-one folder -> output matching, greedily by confusion count
    (a lower bound of the optimal matching, so the warning errs on the quiet side)."""
    confusion = np.zeros((k, k), np.int64)
    np.add.at(confusion, (y.astype(np.int64), predicted.astype(np.int64)), 1)
    rows, cols, total = set(), set(), 0
    for flat in np.argsort(-confusion, axis=None, kind="stable"):
        r, c = divmod(int(flat), k)
        if confusion[r, c] == 0:
            break
        if r not in rows and c not in cols:
            rows.add(r)
            cols.add(c)
            total += int(confusion[r, c])
    return total


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
