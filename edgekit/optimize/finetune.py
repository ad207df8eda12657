"""Fine-tuning data and the short training loop shared by the pruning methods."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgekit.errors import ConfigError

log = logging.getLogger(__name__)
RESCALING_LAYERS = {"Rescaling", "Normalization"}


@dataclass
class Dataset:
    """Inputs and integer class labels, already through the model's preprocessing."""

    x: np.ndarray
    y: np.ndarray
    classes: list[str] | None = None

    def split(self, fraction: float, seed: int = 0) -> tuple[Dataset, Dataset]:
        """(train, held-out) with `fraction` of the samples held out, shuffled once."""
        idx = np.random.default_rng(seed).permutation(len(self.x))
        n = max(1, int(len(idx) * fraction))
        held, rest = idx[:n], idx[n:]
        return (
            Dataset(self.x[rest], self.y[rest], self.classes),
            Dataset(self.x[held], self.y[held], self.classes),
        )


def preprocess_for(model, preset: str | None = None):
    """The input contract convert would use: raw pixels when the model rescales itself."""
    from edgekit.contract import Preprocess

    first = next((op for op in model.operations if type(op).__name__ != "InputLayer"), None)
    choice = preset or ("raw" if type(first).__name__ in RESCALING_LAYERS else "unit")
    return Preprocess.for_shape(list(model.inputs[0].shape), choice)


def dataset(
    model, source, *, labels=None, preprocess: str | None = None, count: int | None = None
) -> Dataset:
    """Training data from a labelled image folder (DIR/<class>/<image>), a (x, y) pair of
    arrays, or a .npz holding `x` and `y`. `labels` (list or labels file) fixes the class
    order of a folder; without it, classes are the sorted subfolder names."""
    from edgekit import data

    if isinstance(source, Dataset):
        return source
    if isinstance(source, (tuple, list)) and len(source) == 2:
        x, y = (np.asarray(a) for a in source)
        return _checked(model, x.astype(np.float32), y, "arrays")
    p = Path(source)
    if p.is_file() and p.suffix == ".npz":
        with np.load(p, allow_pickle=False) as z:
            if not {"x", "y"} <= set(z.files):
                raise ConfigError(
                    f"{p.name} holds {z.files}; save training data with numpy.savez(p, x=x, y=y)"
                )
            return _checked(model, z["x"].astype(np.float32), z["y"], p.name)
    if not p.is_dir():
        raise ConfigError(
            f"training data not found; got: {p}; pass DIR/<class>/<image> or a .npz with x and y"
        )
    if isinstance(labels, (str, Path)):
        from edgekit.contract import read_labels

        labels = read_labels(labels)
    pre = preprocess_for(model, preprocess)
    s = data.read_labelled(p, preprocess=pre, labels=labels, count=count)
    return Dataset(s.x, s.y, s.classes)


def _checked(model, x: np.ndarray, y: np.ndarray, what: str) -> Dataset:
    want = list(model.inputs[0].shape[1:])
    if list(x.shape[1:]) != want or len(x) != len(y):
        raise ConfigError(
            f"training {what} have x {list(x.shape)} and y {list(y.shape)}; the model wants "
            f"x [N, {', '.join(map(str, want))}] and y [N] class indices"
        )
    return Dataset(x, y.astype(np.int64).reshape(-1))


def compile_for_finetune(model, learning_rate: float) -> None:
    import keras

    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=_logits(model)),
        metrics=["accuracy"],
    )


def _logits(model) -> bool:
    """True when the first output is not a softmax (then the loss takes logits)."""
    last = model.outputs[0]._keras_history[0]
    act = getattr(last, "activation", None)
    return getattr(act, "__name__", "") != "softmax" and type(last).__name__ != "Softmax"


def accuracy(model, data: Dataset, batch_size: int = 64) -> float:
    """Top-1 accuracy of the first output on `data`."""
    out = model.predict(data.x, batch_size=batch_size, verbose=0)
    out = out[0] if isinstance(out, list) else out
    return float(np.mean(np.argmax(out, -1) == data.y))
