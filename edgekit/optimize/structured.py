"""Structured channel pruning: remove whole conv filters and dense units, rebuild the model.

Channels are chosen per group (see `_graph`): filters tied by a residual add are removed from
every branch at once, depthwise convs and BatchNorm lose the same channels as their input,
concatenations keep their offsets, model outputs stay whole. Kept counts are multiples of
the target's kernel width (`latency.simd_channels`). Ranking is by filter norm; the share
each group loses is the same for all ("l1", "l2"), set by measured sensitivity (the accuracy
lost when a group alone is pruned), or by estimated latency saved per norm lost ("latency",
`latency.choose_counts`). The result is a smaller plain Keras model, fine-tuned on the
user's data when given.

    >>> from edgekit.optimize import prune_channels
    >>> result = prune_channels("model.keras", "train/", ratio=0.3, epochs=3)
    >>> result.flops_after / result.flops_before
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from edgekit._deps import need
from edgekit.errors import ConfigError
from edgekit.optimize import channels, contained, finetune, latency
from edgekit.optimize.prune import PruneData, drop_of, far_warning, prepare, score, strip

log = logging.getLogger(__name__)
CRITERIA = ("l1", "l2", "sensitivity", "latency")
WIDTH = {"Dense": "units"}  # every other producer: "filters"


@dataclass
class StructuredResult:
    """The slimmer model, channels kept per producer layer, FLOPs and accuracy around it."""

    model: object
    channels: dict[str, tuple[int, int]]  # producer layer -> (before, after)
    flops_before: int
    flops_after: int
    accuracy_before: float | None = None
    accuracy_after: float | None = None
    sensitivity: dict[str, float] = field(default_factory=dict)
    agreement: float | None = None  # top-1 with the original on the scored set
    scored_on: str = ""
    finetune: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    estimate: dict = field(default_factory=dict)  # criterion "latency": estimated seconds

    @property
    def drop(self) -> float | None:
        """Points lost: accuracy with labels, else top-1 agreement with the original."""
        return drop_of(self.accuracy_before, self.accuracy_after, self.agreement)

    def to_dict(self) -> dict:
        return {
            "channels": {k: list(v) for k, v in self.channels.items()},
            "flops_before": self.flops_before,
            "flops_after": self.flops_after,
            "accuracy_before": self.accuracy_before,
            "accuracy_after": self.accuracy_after,
            "agreement": self.agreement,
            "drop": self.drop,
            "scored_on": self.scored_on,
            "sensitivity": self.sensitivity,
            "finetune": self.finetune,
            "notes": self.notes,
            "estimate": self.estimate,
        }


def prune_channels(
    model,
    data=None,
    *,
    ratio: float = 0.3,
    criterion: str = "l2",
    multiple: int | None = None,
    target: str | None = None,
    threads: int | None = None,
    input_size: int | None = None,
    epochs: int = 8,
    batch_size: int = 32,
    learning_rate: float = 1e-3,
    val=None,
    labels=None,
    preprocess: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> StructuredResult:
    """Remove `ratio` of the channels of every prunable group, then fine-tune the slimmer
    model to reproduce the original's outputs (distillation; BatchNorm frozen; the epoch
    that agrees best with the original on a held-out part of `data` is kept).

    Args:
        model: keras.Model or path to a .keras/.h5 functional (or Sequential) model.
        data: fine-tuning inputs (image folder, labelled or not; x, (x, y) or .npz);
            None: no fine-tuning.
        ratio: fraction of channels removed per group (mean over groups with "sensitivity").
        criterion: "l1"/"l2" filter norm, "sensitivity" (needs data or val), or "latency"
            (l2 ranking; per-group shares by estimated latency saved on `target`, same FLOPs
            as uniform pruning at `ratio`; groups that save nothing stay whole).
        multiple: channels kept per group are rounded to a multiple of this; default the
            kernel width of `target` (`latency.simd_channels`: 8 on AVX2, 16 on AVX-512).
        target: device profile id the kernel width and the latency estimate are for;
            None: this machine.
        threads: threads the latency estimate assumes (default the profile's).
        input_size: input side the latency is estimated at (default the model's own).
        labels: class names in the model's output order (list or labels file) for folders.
        val: data to score on and to measure sensitivity; default the held-out part of data.
        preprocess: pixel scaling preset for image folders ("raw", "unit", "tf", "torch").

    Raises:
        ConfigError: bad ratio/criterion, a subclassed model, or nothing prunable.
    """
    if not 0 < ratio < 1:
        raise ConfigError(f"--structured takes a channel fraction in (0, 1); got: {ratio}")
    if criterion not in CRITERIA:
        raise ConfigError(f"unknown criterion; got: {criterion!r}; choose from {CRITERIA}")
    if data is None and val is None and criterion == "sensitivity":
        raise ConfigError("--criterion sensitivity needs --data or --val to measure accuracy")
    _check_ints(multiple=multiple, threads=threads, input_size=input_size)
    multiple = multiple or latency.simd_channels(target)
    return contained.run(
        _prune_channels, model, data, trains=data is not None and epochs > 0, progress=progress,
        ratio=ratio, criterion=criterion, multiple=multiple, target=target, threads=threads,
        input_size=input_size, epochs=epochs, batch_size=batch_size,
        learning_rate=learning_rate, val=val, labels=labels, preprocess=preprocess,
    )  # fmt: skip


def _prune_channels(model, data, *, ratio, criterion, multiple, target, threads, input_size,
                    epochs, batch_size, learning_rate, val, labels, preprocess,
                    progress) -> StructuredResult:  # fmt: skip
    keras = need("keras", what="structured pruning")
    say = progress or log.info
    prep = prepare(model, data, val=val, labels=labels, preprocess=preprocess)
    model = prep.original
    if not isinstance(model, keras.Model) or not hasattr(model, "operations"):
        raise ConfigError("structured pruning needs a functional or Sequential Keras model")
    cg = channels.trace(model)
    groups = cg.prunable()
    if not groups:
        raise ConfigError(
            "no channels can be removed: every conv/dense output reaches a model output or a "
            "layer edgekit cannot see through (Reshape, Flatten, custom layers)"
        )
    ratios = {g: ratio for g in groups}
    sens: dict[str, float] = {}
    if criterion == "sensitivity":
        say(f"measuring the sensitivity of {len(groups)} channel groups")
        ratios, sens = _by_sensitivity(model, cg, groups, ratio, multiple, prep)
    counts = {g: _count(cg.sizes[g], ratios[g], multiple) for g in groups}
    estimate = {}
    if criterion == "latency":
        table = latency.LatencyTable(model, cg, target=target, threads=threads,
                                     input_size=input_size, multiple=multiple)  # fmt: skip
        counts, estimate = _by_latency(model, cg, groups, ratio, table)
    keep = {g: _top(model, cg, g, counts[g], criterion) for g in groups}
    slim = rebuild(model, cg, keep, keras)
    record = {}
    if prep.train is not None and epochs:
        say(f"fine-tuning the pruned model for {epochs} epochs "
            "(distillation from the original, BatchNorm frozen)")  # fmt: skip
        record = finetune.distill(
            slim, prep.train, prep.held, teacher_train=prep.teacher["train"],
            teacher_held=prep.teacher["held"], epochs=epochs, batch_size=batch_size,
            learning_rate=learning_rate,
        ).to_dict()  # fmt: skip
        slim = strip(slim, keras)
    channels_kept = {
        name: (cg.sizes[g], len(keep.get(cg.root(g), range(cg.sizes[g]))))
        for name, g in cg.writes.items()
    }
    result = StructuredResult(slim, channels_kept, flops(model), flops(slim), sensitivity=sens,
                              scored_on=prep.scored_on, finetune=record,
                              estimate=estimate)  # fmt: skip
    score(result, prep)
    result.notes += prep.notes + far_warning(result)
    for note in result.notes:
        log.warning(note)
    return result


def _norms(model, cg, g: int, p: int) -> np.ndarray:
    """Per-channel norm over every producer of the group, each layer scaled to mean 1."""
    total = np.zeros(cg.sizes[g])
    for name in cg.producers(g):
        layer = model.get_layer(name)
        w = _kernel(layer).numpy()
        w = w.reshape(-1, w.shape[-1])
        n = np.linalg.norm(w, ord=p, axis=0)
        total += n / (n.mean() + 1e-12)
    return total


def _kernel(layer):
    return layer.pointwise_kernel if hasattr(layer, "pointwise_kernel") else layer.kernel


def _check_ints(**values) -> None:
    for name, v in values.items():
        if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < 1):
            raise ConfigError(f"{name} takes a whole number >= 1; got: {v!r}; e.g. {name}=8")


def _count(size: int, ratio: float, multiple: int) -> int:
    """Channels kept: size x (1 - ratio) rounded up to a multiple (groups up to one
    multiple wide are left unrounded)."""
    n = max(1, int(round(size * (1 - ratio))))
    return min(size, -(-n // multiple) * multiple) if size > multiple else n


def _choose(model, cg, g: int, ratio: float, multiple: int, criterion: str) -> np.ndarray:
    return _top(model, cg, g, _count(cg.sizes[g], ratio, multiple), criterion)


def _top(model, cg, g: int, n: int, criterion: str) -> np.ndarray:
    """Indices of the `n` channels of group `g` with the largest filter norm, in order."""
    scores = _norms(model, cg, g, 1 if criterion == "l1" else 2)
    return np.sort(np.argsort(-scores, kind="stable")[:n])


def _by_latency(model, cg, groups, ratio, table):
    """Counts by estimated latency saved per norm lost (`latency.choose_counts`), down to
    the FLOPs of `ratio` fewer channels in every group, unrounded."""
    uniform = {g: _count(cg.sizes[g], ratio, 1) for g in groups}
    importance = {g: np.sort(_norms(model, cg, g, 2))[::-1] for g in groups}
    sizes = {g: cg.sizes[g] for g in groups}
    counts = latency.choose_counts(table, groups, sizes, importance, ratio, uniform)
    estimate = {
        "seconds_before": table.seconds({}),
        "seconds_uniform": table.seconds(uniform),
        "seconds_after": table.seconds(counts),
        "flops_uniform": table.flops(uniform),
        "multiple": table.multiple,
        "untouched": [",".join(cg.producers(g)) for g in groups if counts[g] == sizes[g]],
    }
    return counts, estimate


def _by_sensitivity(model, cg, groups, ratio, multiple, prep: PruneData):
    """Top-1 agreement with the original lost when each group alone loses `ratio` of its
    channels (its consumers' input weights zeroed, which computes exactly what removal
    does); the least sensitive groups then lose more channels, the most sensitive fewer,
    same mean ratio."""
    s, teacher = prep.scored, prep.teacher["scored"]
    drops = {}
    for g in groups:
        keep = _choose(model, cg, g, ratio, multiple, "l2")
        saved = _zero_inputs(model, cg, g, keep)
        a = finetune.agreement(model, s.x, teacher)
        drops[g] = (1 - a.top1) if a.top1 is not None else a.mse
        for var, value in saved:
            var.assign(value)
    order = sorted(groups, key=lambda g: drops[g])  # least sensitive first
    span = np.linspace(1.5, 0.5, len(order)) if len(order) > 1 else np.ones(1)
    sizes = np.array([cg.sizes[g] for g in order], float)
    scale = ratio * sizes.sum() / (span * sizes).sum()
    ratios = {g: float(np.clip(r * scale, 0, 0.9)) for g, r in zip(order, span)}
    names = {g: ",".join(cg.producers(g)) for g in groups}
    return ratios, {names[g]: round(float(drops[g]), 4) for g in groups}


def _zero_inputs(model, cg, g: int, keep: np.ndarray):
    saved = []
    drop_mask = np.ones(cg.sizes[g], bool)
    drop_mask[keep] = False
    for name, idx in cg.consumers(g):
        layer = model.get_layer(name)
        if type(layer).__name__ not in channels.PRODUCERS:
            continue
        # a separable conv reads its input through the depthwise kernel
        separable = type(layer).__name__.startswith("Separable")
        var = layer.depthwise_kernel if separable else layer.kernel
        value = var.numpy()
        saved.append((var, value.copy()))
        value[..., idx[drop_mask], :] = 0
        var.assign(value)
    return saved


def rebuild(model, cg, keep: dict[int, np.ndarray], keras):
    """Clone the model with fewer filters/units and copy the surviving weight slices."""
    width = {name: len(keep[cg.root(g)]) for name, g in cg.writes.items() if cg.root(g) in keep}

    def clone(layer):
        cfg = layer.get_config()
        if layer.name in width:
            cfg[WIDTH.get(type(layer).__name__, "filters")] = width[layer.name]
        return layer.__class__.from_config(cfg)

    slim = keras.models.clone_model(model, clone_function=clone)
    for layer in model.layers:
        if not layer.weights:
            continue
        new = slim.get_layer(layer.name)
        in_keep = cg.keep_indices(cg.reads[layer.name], keep) if layer.name in cg.reads else None
        g = cg.writes.get(layer.name)
        out_keep = keep.get(cg.root(g)) if g is not None else None
        for old_w, new_w in zip(layer.weights, new.weights):
            new_w.assign(_slice(old_w, layer, in_keep, out_keep))
    return slim


def _slice(w, layer, in_keep, out_keep) -> np.ndarray:
    value = w.numpy()
    name = w.path.split("/")[-1]
    kind = type(layer).__name__
    if kind in channels.PRODUCERS:
        if name in ("kernel", "pointwise_kernel") and in_keep is not None:
            value = value[..., in_keep, :]
        if name == "depthwise_kernel" and in_keep is not None:
            return value[..., in_keep, :]
        if out_keep is not None and name in ("kernel", "pointwise_kernel", "bias"):
            value = value[..., out_keep]
        return value
    if kind in channels.DEPTHWISE and in_keep is not None:
        return value[..., in_keep, :] if name == "kernel" else value[..., in_keep]
    if in_keep is not None and value.ndim:
        return value[..., in_keep]  # BatchNorm, LayerNorm, PReLU: one value per channel
    return value


def flops(model) -> int:
    """Multiply-adds x 2 of the conv, depthwise and dense layers, batch 1."""
    total = 0
    for layer in model.layers:
        kind = type(layer).__name__
        if kind not in channels.PRODUCERS and kind not in channels.DEPTHWISE:
            continue
        out = layer.output.shape
        positions = int(np.prod([d for d in out[1:-1] if d])) if len(out) > 2 else 1
        for w in layer.weights:
            name = w.path.split("/")[-1]
            if name in ("kernel", "pointwise_kernel"):
                total += 2 * positions * int(np.prod(w.shape))
            elif name == "depthwise_kernel":
                total += 2 * positions * int(np.prod(w.shape))
    return total
