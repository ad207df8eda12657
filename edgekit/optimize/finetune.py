"""Fine-tuning data and the short distillation loop shared by the pruning methods.

The pruned model learns to reproduce the ORIGINAL model's outputs (soft targets: KL at a
temperature for softmax outputs, squared error for the rest), so a folder of unlabelled
images from the user's domain is enough; labels, when there are any, only score the result.
BatchNorm statistics stay frozen (a few hundred images would overwrite them with noise) and
the epoch whose weights agree best with the original on a held-out part is the one kept.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgekit.errors import ConfigError

log = logging.getLogger(__name__)
RESCALING_LAYERS = {"Rescaling", "Normalization"}
NORM_LAYERS = {"BatchNormalization", "SyncBatchNormalization"}
EPS = 1e-7


@dataclass
class Dataset:
    """Inputs, already through the model's preprocessing, with class labels if known."""

    x: np.ndarray
    y: np.ndarray | None = None
    classes: list[str] | None = None

    def split(self, fraction: float, seed: int = 0) -> tuple[Dataset, Dataset]:
        """(train, held-out) with `fraction` of the samples held out, shuffled once."""
        idx = np.random.default_rng(seed).permutation(len(self.x))
        n = min(len(idx) - 1, max(1, int(len(idx) * fraction)))
        return self.take(idx[n:]), self.take(idx[:n])

    def take(self, idx) -> Dataset:
        return Dataset(self.x[idx], None if self.y is None else self.y[idx], self.classes)


def preprocess_for(model, preset: str | None = None):
    """The input contract convert would use: raw pixels when the model rescales itself."""
    from edgekit.contract import Preprocess

    first = next((op for op in model.operations if type(op).__name__ != "InputLayer"), None)
    choice = preset or ("raw" if type(first).__name__ in RESCALING_LAYERS else "unit")
    return Preprocess.for_shape(list(model.inputs[0].shape), choice)


def dataset(
    model,
    source,
    *,
    labels=None,
    preprocess: str | None = None,
    count: int | None = None,
    flag: str = "--data",
) -> Dataset:
    """Data from a folder of images (unlabelled), a labelled folder (DIR/<class>/<image>,
    classes matched to `labels` by name), an x array, an (x, y) pair, or a .npz holding `x`
    (and optionally `y`)."""
    if isinstance(source, Dataset):
        return source
    if isinstance(source, np.ndarray):
        return _checked(model, source, None, "array")
    if isinstance(source, (tuple, list)) and len(source) == 2:
        x, y = (np.asarray(a) for a in source)
        return _checked(model, x, y, "arrays")
    p = Path(source)
    if p.is_file() and p.suffix in (".npz", ".npy"):
        return _from_file(model, p)
    if not p.is_dir():
        raise ConfigError(
            f"{flag} data not found; got: {p}; pass an image folder, DIR/<class>/<image> or "
            "a .npz with x (and y)"
        )
    if isinstance(labels, (str, Path)):
        from edgekit.contract import read_labels

        labels = read_labels(labels)
    return _from_folder(model, p, labels, preprocess_for(model, preprocess), count, flag)


def _from_file(model, p: Path) -> Dataset:
    try:
        z = np.load(p, allow_pickle=False)
    except (ValueError, OSError) as e:
        raise ConfigError(f"cannot read {p.name}: {e}; save with numpy.savez(p, x=x)") from e
    if isinstance(z, np.ndarray):
        return _checked(model, z, None, p.name)
    with z:
        if "x" not in z.files:
            raise ConfigError(
                f"{p.name} holds {z.files}; save training data with numpy.savez(p, x=x[, y=y])"
            )
        return _checked(model, z["x"], z["y"] if "y" in z.files else None, p.name)


def _from_folder(model, p: Path, labels, pre, count, flag: str) -> Dataset:
    from edgekit import data

    if pre is None:
        raise ConfigError(
            f"{model.name}'s input is not an image; pass {flag} as a .npz with x (and y)"
        )
    loose = [f for f in p.iterdir() if f.is_file() and f.suffix.lower() in data.IMAGE_SUFFIXES]
    labelled = any(d.is_dir() for d in p.iterdir()) and not loose
    if labelled:
        s = data.read_labelled(p, preprocess=pre, labels=labels, count=count, flag=flag)
        return Dataset(s.x, s.y, s.classes)
    s = data.read(p, shape=list(model.inputs[0].shape), preprocess=pre, count=count)
    return Dataset(s.x, None, labels)


def _checked(model, x: np.ndarray, y: np.ndarray | None, what: str) -> Dataset:
    want = list(model.inputs[0].shape[1:])
    x = np.asarray(x)
    mismatch = y is not None and len(x) != len(y)
    if x.dtype.kind not in "fiu" or list(x.shape[1:]) != want or mismatch:
        got = f"x {list(x.shape)} {x.dtype}" + ("" if y is None else f" and y {list(y.shape)}")
        raise ConfigError(
            f"training {what} have {got}; the model wants x [N, {', '.join(map(str, want))}] "
            "numbers (and y [N] class indices)"
        )
    if len(x) < 2:
        raise ConfigError(f"training {what} hold {len(x)} sample; pass at least 2")
    ys = None if y is None else np.asarray(y).astype(np.int64).reshape(-1)
    return Dataset(x.astype(np.float32), ys)


# ---------------------------------------------------------------- the original's outputs


def outputs(model, x: np.ndarray, batch_size: int = 64) -> list[np.ndarray]:
    """Every output of `model` on x, as a list."""
    out = model.predict(x, batch_size=batch_size, verbose=0)
    return [np.asarray(o) for o in (out if isinstance(out, (list, tuple)) else [out])]


def is_softmax(model, index: int = 0) -> bool:
    """True when output `index` comes out of a softmax (so it holds probabilities)."""
    last = model.outputs[index]._keras_history[0]
    act = getattr(last, "activation", None)
    return getattr(act, "__name__", "") == "softmax" or type(last).__name__ == "Softmax"


def targets(model, teacher: list[np.ndarray]) -> list[np.ndarray]:
    """The original's outputs as distillation targets: log-probabilities (logits up to a
    constant) for softmax outputs, as they are for the rest."""
    return [
        np.log(np.clip(t, EPS, 1.0)) if is_softmax(model, i) else t for i, t in enumerate(teacher)
    ]


@dataclass
class Agreement:
    """How close a model stays to the original on one set of inputs."""

    top1: float | None  # top-1 agreement of the first output (classifiers)
    mse: float  # mean squared difference over every output
    accuracy: float | None = None  # with labels

    def key(self) -> tuple:
        return (self.top1 if self.top1 is not None else 0.0, -self.mse)


def agreement(model, x, teacher: list[np.ndarray], y=None, batch_size: int = 64) -> Agreement:
    """Top-1 agreement with `teacher` (the original's outputs on x), the outputs' mean
    squared difference, and the accuracy when labels `y` are given."""
    got = outputs(model, x, batch_size)
    mse = float(np.mean([np.mean((g - t) ** 2) for g, t in zip(got, teacher)]))
    classes = got[0].shape[-1] > 1
    top1 = float(np.mean(got[0].argmax(-1) == teacher[0].argmax(-1))) if classes else None
    acc = float(np.mean(got[0].argmax(-1) == y)) if y is not None and classes else None
    return Agreement(top1, mse, acc)


# ---------------------------------------------------------------- distillation


@dataclass
class Finetune:
    """How the fine-tuning went: held-out agreement per epoch, the epoch kept."""

    epochs: list[dict] = field(default_factory=list)
    kept: int | None = None  # epoch index (0: the weights before fine-tuning)

    def to_dict(self) -> dict:
        return {"epochs": self.epochs, "kept_epoch": self.kept}


def freeze_batchnorm(model) -> list:
    """Set BatchNorm layers non-trainable (Keras 3 then runs them in inference mode, with
    the original statistics); returns the layers to thaw afterwards."""
    norms = (layer for layer in _all_layers(model) if type(layer).__name__ in NORM_LAYERS)
    frozen = [layer for layer in norms if layer.trainable]
    for layer in frozen:
        layer.trainable = False
    return frozen


def recalibrate_batchnorm(model, x: np.ndarray, max_samples: int = 256) -> int:
    """Re-estimate every BatchNorm layer's statistics for the model as it is now (pruned):
    one forward pass in training mode over up to `max_samples` inputs as ONE batch, with
    momentum 0, so each layer takes the statistics of the whole set and the layers after
    it see inputs normalized by them (adaptive BatchNorm, as in EagleEye). Pruning shifts
    the activations the original statistics describe; a few hundred inputs estimate a
    mean and a variance well, where fine-tuning in small batches would not. Returns how
    many layers were recalibrated."""
    norms = [layer for layer in _all_layers(model) if type(layer).__name__ in NORM_LAYERS]
    if not norms or len(x) < 2:
        return 0
    saved = [(layer, layer.momentum, layer.trainable) for layer in norms]
    for layer in norms:
        layer.momentum, layer.trainable = 0.0, True
    try:
        model(x[:max_samples], training=True)
    finally:
        for layer, momentum, trainable in saved:
            layer.momentum, layer.trainable = momentum, trainable
    return len(norms)


def _all_layers(model):
    for layer in model.layers:
        yield layer
        if hasattr(layer, "layers"):
            yield from _all_layers(layer)


def distill(
    model,
    train: Dataset,
    held: Dataset,
    *,
    teacher_train: list[np.ndarray],
    teacher_held: list[np.ndarray],
    epochs: int,
    batch_size: int = 32,
    learning_rate: float = 1e-3,
    temperature: float = 2.0,
    callbacks: list | None = None,
    eligible=lambda epoch: True,
) -> Finetune:
    """Fine-tune `model` in place to reproduce the original's outputs on `train`; the epoch
    with the best held-out agreement (among those `eligible(epoch)` allows, e.g. once the
    pruning schedule is at its target) is restored at the end."""
    import keras

    frozen = freeze_batchnorm(model)
    record = Finetune()
    try:
        model.compile(
            optimizer=keras.optimizers.Adam(learning_rate),
            loss=[_loss(model, i, temperature) for i in range(len(model.outputs))],
        )
        keeper = _BestEpoch(model, held, teacher_held, record, eligible)
        keeper.check(0)
        fit_targets = targets(model, teacher_train)
        model.fit(
            train.x,
            fit_targets if len(fit_targets) > 1 else fit_targets[0],
            epochs=epochs,
            batch_size=batch_size,
            callbacks=[*(callbacks or []), keeper.callback()],
            verbose=0,
        )
        keeper.restore()
    finally:
        for layer in frozen:
            layer.trainable = True
    return record


def _loss(model, index: int, temperature: float):
    from keras import ops

    if not is_softmax(model, index):
        return "mse"
    t = float(temperature)

    def soft_kl(teacher_logits, student_probs):
        student = ops.log(ops.clip(student_probs, EPS, 1.0))
        p = ops.softmax(teacher_logits / t, axis=-1)
        log_p = ops.log_softmax(teacher_logits / t, axis=-1)
        log_q = ops.log_softmax(student / t, axis=-1)
        return t * t * ops.sum(p * (log_p - log_q), axis=-1)

    return soft_kl


class _BestEpoch:
    """Scores the model on the held-out part after each epoch and keeps the best weights."""

    def __init__(self, model, held: Dataset, teacher: list[np.ndarray], record, eligible):
        self.model, self.held, self.teacher = model, held, teacher
        self.record, self.eligible = record, eligible
        self.best: tuple | None = None
        self.weights = None

    def check(self, epoch: int) -> None:
        score = agreement(self.model, self.held.x, self.teacher, self.held.y)
        ok = self.eligible(epoch)
        self.record.epochs.append({"epoch": epoch, "agreement": score.top1, "mse": score.mse})
        if ok and (self.best is None or score.key() > self.best):
            self.best, self.weights, self.record.kept = score.key(), self.model.get_weights(), epoch

    def callback(self):
        import keras

        keeper = self

        class KeepBest(keras.callbacks.Callback):
            def on_epoch_end(self, epoch, logs=None) -> None:
                keeper.check(epoch + 1)

        return KeepBest()

    def restore(self) -> None:
        if self.weights is not None:
            self.model.set_weights(self.weights)
