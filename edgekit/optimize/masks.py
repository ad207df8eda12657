"""Weight masks for magnitude pruning: one 0/1 mask per kernel, raised along a schedule and
re-applied after every training batch, so the masks live outside the model (plain Keras
layers, no wrappers); M:N masks keep the n largest of every m input weights."""

from __future__ import annotations

import numpy as np


class MaskKeeper:
    """Holds one 0/1 mask per kernel, raised along the schedule; `callback()` re-applies
    them after every training batch."""

    def __init__(self, variables, config, *, steps: int) -> None:
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
