"""Magnitude pruning native to Keras 3: unstructured (per layer or global) and M:N (e.g. 2:4).

tfmot's pruning wrappers refuse Keras 3 models, so masks live outside the model: a callback
re-applies them after every training batch (and raises them along the schedule), and the
result is a clone of the model with zeros in its kernels and no trace of the masks, a plain
Keras model that every converter takes.

    >>> from edgekit.optimize import PruneConfig, prune
    >>> result = prune("model.keras", "train/", config=PruneConfig(sparsity=0.5, epochs=2))
    >>> result.model.save("pruned.keras")
"""

from __future__ import annotations

import fnmatch
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from edgekit._deps import need
from edgekit.errors import ConfigError
from edgekit.optimize import _train

log = logging.getLogger(__name__)
SCHEDULES = ("constant", "polynomial")
SCOPES = ("layer", "global")
# kernels pruned per layer type; depthwise kernels have no input-channel reduction axis
KERNELS = {"kernel", "depthwise_kernel", "pointwise_kernel"}


@dataclass
class PruneConfig:
    """What to prune and how to fine-tune.

    sparsity: fraction of each pruned kernel set to zero (ignored with `m_n`).
    schedule: "constant" (final masks from the first step) or "polynomial" (cubic ramp from
        0 to `sparsity` over the first `ramp` fraction of the steps, then fixed masks).
    scope: "layer" (each kernel pruned to `sparsity`) or "global" (one magnitude threshold).
    m_n: (n, m) keeps the n largest of every m consecutive weights along the input-channel
        axis, e.g. (2, 4); layers whose input channels are not a multiple of m stay dense.
    exclude: layer names or class names, shell patterns allowed ("probs", "Depthwise*").
    min_weights: kernels smaller than this stay dense (tiny layers save nothing).
    """

    sparsity: float = 0.5
    schedule: str = "polynomial"
    scope: str = "layer"
    m_n: tuple[int, int] | None = None
    exclude: list[str] = field(default_factory=list)
    min_weights: int = 1024
    epochs: int = 2
    batch_size: int = 32
    learning_rate: float = 1e-4
    ramp: float = 0.6
    updates: int = 8  # mask updates over the ramp

    def __post_init__(self) -> None:
        if not 0 <= self.sparsity < 1:
            raise ConfigError(f"sparsity must be in [0, 1); got: {self.sparsity}")
        if self.schedule not in SCHEDULES:
            raise ConfigError(f"unknown schedule; got: {self.schedule!r}; choose from {SCHEDULES}")
        if self.scope not in SCOPES:
            raise ConfigError(f"unknown scope; got: {self.scope!r}; choose from {SCOPES}")
        if self.m_n is not None:
            n, m = self.m_n
            if not 0 < n < m:
                raise ConfigError(f"M:N sparsity needs 0 < n < m; got: {n}:{m}; e.g. 2:4")
            self.sparsity = 1 - n / m
        if self.epochs < 0:
            raise ConfigError(f"epochs must be >= 0; got: {self.epochs}")


@dataclass
class PruneResult:
    """The pruned model, sparsity per pruned kernel, and accuracy before and after."""

    model: object
    layers: dict[str, float]
    sparsity: float  # over the pruned kernels
    accuracy_before: float | None = None
    accuracy_after: float | None = None
    skipped: dict[str, str] = field(default_factory=dict)  # layer -> why it stayed dense

    def to_dict(self) -> dict:
        return {
            "layers": self.layers,
            "sparsity": self.sparsity,
            "accuracy_before": self.accuracy_before,
            "accuracy_after": self.accuracy_after,
            "skipped": self.skipped,
        }


def parse_m_n(text: str) -> tuple[int, int]:
    """'2:4' -> (2, 4)."""
    try:
        n, m = (int(v) for v in text.split(":"))
    except ValueError:
        raise ConfigError(f"--m-n takes N:M, e.g. 2:4; got: {text!r}") from None
    return n, m


def prune(
    model,
    data=None,
    *,
    config: PruneConfig | None = None,
    val=None,
    labels=None,
    progress: Callable[[str], None] | None = None,
) -> PruneResult:
    """Prune a Keras model by weight magnitude and fine-tune it with the masks held.

    Args:
        model: a keras.Model or a path to a .keras/.h5 file.
        data: fine-tuning data: a labelled image folder (DIR/<class>/<image>), an (x, y) pair
            or a .npz with x and y; None prunes in one shot without fine-tuning.
        config: PruneConfig (sparsity, schedule, scope, M:N, exclusions, epochs).
        labels: class names in the model's output order (list or labels file) for folders.
        val: labelled data for accuracy before/after; default 10% held out of `data`.

    Returns:
        PruneResult whose `model` is a plain Keras model (uncompiled, no custom layers).

    Raises:
        ConfigError: bad settings or data; nothing in the model can be pruned.
    """
    keras = need("keras", what="pruning")
    config = config or PruneConfig()
    say = progress or log.info
    model = load_model(model)
    targets, skipped = _targets(model, config)
    if not targets:
        raise ConfigError(
            f"no layer to prune (skipped: {skipped}); lower --min-weights or change --exclude"
        )
    train, held = _split(model, data, val, labels)
    before = _train.accuracy(model, held) if held else None
    masks = MaskKeeper(targets, config, steps=_steps(train, config))
    masks.update(0)
    masks.apply()
    if train is not None and config.epochs:
        say(f"fine-tuning {len(targets)} pruned layers for {config.epochs} epochs")
        _train.compile_for_finetune(model, config.learning_rate)
        model.fit(
            train.x,
            train.y,
            epochs=config.epochs,
            batch_size=config.batch_size,
            callbacks=[masks.callback()],
            verbose=0,
        )
    else:
        masks.update(masks.steps)
        masks.apply()
    clean = strip(model, keras)
    after = _train.accuracy(clean, held) if held else None
    layers = sparsity_of(clean, names=[v.path.split("/")[0] for v in targets])
    total = sum(int(np.prod(v.shape)) for v in targets)
    zeros = sum(int(np.sum(v.numpy() == 0)) for v in targets)
    return PruneResult(clean, layers, zeros / total, before, after, skipped)


def load_model(model):
    keras = need("keras", what="pruning")
    if isinstance(model, keras.Model):
        return model
    from pathlib import Path

    from edgekit.source import detect_kind

    kind = detect_kind(Path(model))
    if kind == "savedmodel":
        raise ConfigError(f"pruning needs a .keras or .h5 model; got a SavedModel: {model}")
    return keras.models.load_model(model, compile=False)


def strip(model, keras):
    """A fresh, uncompiled copy: no optimizer state, no callbacks, the same (sparse) weights."""
    clean = model.__class__.from_config(model.get_config())
    clean.set_weights(model.get_weights())
    return clean


def sparsity_of(model, names: list[str] | None = None) -> dict[str, float]:
    """Fraction of zeros in each layer's kernels (all layers with kernels, or `names`)."""
    out = {}
    for layer in model.layers:
        if names is not None and layer.name not in names:
            continue
        ws = [w for w in layer.weights if w.path.split("/")[-1] in KERNELS]
        if ws:
            total = sum(int(np.prod(w.shape)) for w in ws)
            out[layer.name] = sum(int(np.sum(w.numpy() == 0)) for w in ws) / total
    return out


def _targets(model, config: PruneConfig):
    targets, skipped = [], {}
    for layer in model.layers:
        kind = type(layer).__name__
        ws = [w for w in layer.weights if w.path.split("/")[-1] in KERNELS]
        if not ws:
            continue
        if any(fnmatch.fnmatch(layer.name, p) or fnmatch.fnmatch(kind, p) for p in config.exclude):
            skipped[layer.name] = "excluded"
            continue
        for w in ws:
            name = w.path.split("/")[-1]
            if int(np.prod(w.shape)) < config.min_weights:
                skipped[layer.name] = f"under {config.min_weights} weights"
            elif config.m_n and (name == "depthwise_kernel" or "Depthwise" in kind):
                skipped[layer.name] = "depthwise kernels have no input-channel axis for M:N"
            elif config.m_n and w.shape[-2] % config.m_n[1]:
                skipped[layer.name] = (
                    f"{w.shape[-2]} input channels, not a multiple of {config.m_n[1]}"
                )
            else:
                targets.append(w)
    return targets, skipped


def _split(model, data, val, labels=None):
    if data is None:
        return None, _train.dataset(model, val, labels=labels) if val is not None else None
    train = _train.dataset(model, data, labels=labels)
    if val is not None:
        return train, _train.dataset(model, val, labels=labels)
    return train.split(0.1)


def _steps(train, config: PruneConfig) -> int:
    if train is None:
        return 1
    return max(1, math.ceil(len(train.x) / config.batch_size) * config.epochs)


class MaskKeeper:
    """Holds one 0/1 mask per kernel, raised along the schedule; `callback()` re-applies
    them after every training batch."""

    def __init__(self, variables, config: PruneConfig, *, steps: int) -> None:
        self.variables = variables
        self.config = config
        self.steps = steps
        self.step = 0
        self.masks = [np.ones(v.shape, np.float32) for v in variables]
        ramp_end = max(1, int(steps * config.ramp))
        every = max(1, ramp_end // max(1, config.updates))
        self.update_at = set(range(0, ramp_end + 1, every)) | {ramp_end}
        self.ramp_end = ramp_end

    def callback(self):
        """A keras.callbacks.Callback that advances the schedule and re-applies the masks."""
        import keras

        keeper = self

        class HoldMasks(keras.callbacks.Callback):
            def on_train_batch_end(self, batch, logs=None) -> None:
                keeper.step += 1
                if keeper.step in keeper.update_at:
                    keeper.update(keeper.step)
                keeper.apply()

        return HoldMasks()

    def target(self, step: int) -> float:
        """Sparsity at a training step under the schedule."""
        s = self.config.sparsity
        if self.config.schedule == "constant" or self.config.m_n:
            return s
        t = min(1.0, step / self.ramp_end)
        return s * (1 - (1 - t) ** 3)

    def update(self, step: int) -> None:
        """Recompute masks from the current magnitudes (zeros stay zero: masks only grow)."""
        s = self.target(step)
        weights = [np.abs(v.numpy()) * m for v, m in zip(self.variables, self.masks)]
        if self.config.m_n:
            self.masks = [m_n_mask(w, *self.config.m_n) for w in weights]
        elif self.config.scope == "global":
            allw = np.concatenate([w.ravel() for w in weights])
            cut = _threshold(allw, s)
            self.masks = [(w > cut).astype(np.float32) for w in weights]
        else:
            self.masks = [(w > _threshold(w.ravel(), s)).astype(np.float32) for w in weights]

    def apply(self) -> None:
        for v, m in zip(self.variables, self.masks):
            v.assign(v.numpy() * m)


def _threshold(values: np.ndarray, sparsity: float) -> float:
    """The magnitude below or at which `sparsity` of the values fall (-1 keeps all)."""
    k = int(round(sparsity * values.size))
    if k <= 0:
        return -1.0
    return float(np.partition(values, k - 1)[k - 1])


def m_n_mask(weights: np.ndarray, n: int, m: int) -> np.ndarray:
    """Keep the n largest magnitudes of every m consecutive weights along axis -2 (inputs)."""
    w = np.moveaxis(np.abs(weights), -2, -1)
    groups = w.reshape(*w.shape[:-1], w.shape[-1] // m, m)
    order = np.argsort(-groups, axis=-1, kind="stable")
    mask = np.zeros_like(groups, dtype=np.float32)
    np.put_along_axis(mask, order[..., :n], 1.0, axis=-1)
    return np.moveaxis(mask.reshape(w.shape), -1, -2)


def holds_m_n(weights: np.ndarray, n: int, m: int, axis: int = -2) -> bool:
    """True when every m consecutive weights along `axis` have at most n non-zeros."""
    w = np.moveaxis(np.asarray(weights), axis, -1)
    if w.shape[-1] % m:
        return False
    groups = w.reshape(*w.shape[:-1], w.shape[-1] // m, m)
    return bool(np.all(np.count_nonzero(groups, axis=-1) <= n))
