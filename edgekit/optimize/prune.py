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
from edgekit.optimize import contained, finetune
from edgekit.optimize.masks import MaskKeeper, holds_m_n, m_n_mask
from edgekit.optimize.reconstruct import reconstruct

log = logging.getLogger(__name__)
__all__ = ["MaskKeeper", "PruneConfig", "PruneData", "PruneResult", "holds_m_n", "m_n_mask",
           "prepare", "prune", "prune_with", "sparsity_of"]  # fmt: skip
SCHEDULES = ("constant", "polynomial")
SCOPES = ("layer", "global")
# kernels pruned per layer type; depthwise kernels have no input-channel reduction axis
KERNELS = {"kernel", "depthwise_kernel", "pointwise_kernel"}
HELD_OUT = 0.15  # of --data, to pick the best epoch by agreement with the original
FAR = 5.0  # points lost beyond which a pruning run without a budget warns


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
    epochs: int = 8
    batch_size: int = 16
    learning_rate: float = 3e-4
    ramp: float = 0.5
    updates: int = 8  # mask updates over the ramp
    temperature: float = 2.0  # distillation: softens the original's probabilities
    # constant schedule: re-fit the kept weights layer by layer first (`reconstruct`); off by
    # default: a few minutes even on small models, and distillation then adds little
    reconstruct: bool = False

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
    """The pruned model, sparsity per pruned kernel, and how close it stays to the original.

    `agreement` is the top-1 agreement with the original model on the scored set (the
    held-out part of `data`, or `val`); `accuracy_*` need labels. `tried` lists every
    sparsity a budget search fine-tuned, with its figures."""

    model: object
    layers: dict[str, float]
    sparsity: float  # over the pruned kernels
    accuracy_before: float | None = None
    accuracy_after: float | None = None
    skipped: dict[str, str] = field(default_factory=dict)  # layer -> why it stayed dense
    agreement: float | None = None
    scored_on: str = ""  # what the figures were measured on, and how many samples
    finetune: dict = field(default_factory=dict)
    tried: list[dict] = field(default_factory=list)
    max_drop: float | None = None
    met: bool | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def drop(self) -> float | None:
        """Points lost: accuracy with labels, else top-1 agreement with the original."""
        return drop_of(self.accuracy_before, self.accuracy_after, self.agreement)

    def to_dict(self) -> dict:
        return {
            "layers": self.layers,
            "sparsity": self.sparsity,
            "accuracy_before": self.accuracy_before,
            "accuracy_after": self.accuracy_after,
            "agreement": self.agreement,
            "drop": self.drop,
            "scored_on": self.scored_on,
            "skipped": self.skipped,
            "finetune": self.finetune,
            "tried": self.tried,
            "max_drop": self.max_drop,
            "met": self.met,
            "notes": self.notes,
        }


def drop_of(before: float | None, after: float | None, agreement: float | None) -> float | None:
    """Accuracy points lost when labels scored both, else 100 x (1 - top-1 agreement)."""
    if before is not None and after is not None:
        return round(100 * (before - after), 3)
    return None if agreement is None else round(100 * (1 - agreement), 3)


@dataclass
class PruneData:
    """The original model and the data a pruning run uses, read once: `train` to fine-tune
    on, `held` (cut from it) to pick the best epoch, `scored` for the figures; each with the
    original's outputs on it (the distillation targets)."""

    original: object
    train: finetune.Dataset | None
    held: finetune.Dataset | None
    scored: finetune.Dataset | None
    teacher: dict[str, list[np.ndarray]]
    scored_on: str = ""
    notes: list[str] = field(default_factory=list)  # e.g. the label-order warning


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
    preprocess: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> PruneResult:
    """Prune a Keras model by weight magnitude and fine-tune it, masks held, to reproduce
    the original model's outputs (distillation: labels are not needed).

    Args:
        model: a keras.Model or a path to a .keras/.h5 file (not changed).
        data: fine-tuning inputs: a folder of images (unlabelled is enough), a labelled
            folder (DIR/<class>/<image>), an x array, an (x, y) pair or a .npz with x
            (and y); None prunes in one shot without fine-tuning.
        config: PruneConfig (sparsity, schedule, scope, M:N, exclusions, epochs).
        val: data to score on (agreement with the original; accuracy with labels);
            default: the part of `data` held out to pick the best epoch.
        labels: class names in the model's output order (list or labels file): labelled
            folders map to them by name.
        preprocess: pixel scaling preset ("raw", "unit", "tf", "torch"); default as convert.

    Returns:
        PruneResult whose `model` is a plain Keras model (uncompiled, no custom layers);
        `notes` holds a warning when the result strays far from the original.

    Raises:
        ConfigError: bad settings or data; nothing in the model can be pruned.
    """
    config = config or PruneConfig()
    trains = data is not None and config.epochs > 0  # fine-tuning: in a child (`contained`)
    return contained.run(_prune, model, data, trains=trains, progress=progress, config=config,
                         val=val, labels=labels, preprocess=preprocess)  # fmt: skip


def _prune(model, data, *, config, val, labels, preprocess, progress) -> PruneResult:
    prep = prepare(model, data, val=val, labels=labels, preprocess=preprocess)
    result = prune_with(prep, config, progress=progress)
    result.notes += prep.notes + far_warning(result)
    for note in result.notes:
        log.warning(note)
    return result


def prepare(model, data=None, *, val=None, labels=None, preprocess=None) -> PruneData:
    """Load the model and the data once for one or several pruning runs (see PruneData)."""
    need("keras", what="pruning")
    original = load_model(model)
    read = lambda src, flag: finetune.dataset(  # noqa: E731
        original, src, labels=labels, preprocess=preprocess, flag=flag
    )
    train = read(data, "--data") if data is not None else None
    held = None
    if train is not None:
        train, held = train.split(HELD_OUT)
    scored = read(val, "--val") if val is not None else held
    teacher = {
        name: finetune.outputs(original, s.x)
        for name, s in (("train", train), ("held", held), ("scored", scored))
        if s is not None
    }
    what = "--val" if val is not None else "the held-out part of --data"
    scored_on = f"{what} ({len(scored.x)} samples)" if scored is not None else ""
    prep = PruneData(original, train, held, scored, teacher, scored_on)
    if labels is None and scored is not None and scored.y is not None and scored.classes:
        from edgekit.data import label_order_warning

        predicted = teacher["scored"][0].argmax(-1)
        flag = "--val" if val is not None else "--data"
        prep.notes += [w for w in [label_order_warning(scored.y, predicted, scored.classes,
                                                       flag=flag)] if w]  # fmt: skip
    return prep


def prune_with(
    prep: PruneData, config: PruneConfig, *, progress: Callable[[str], None] | None = None
) -> PruneResult:
    """One pruning run on prepared data; the original model in `prep` stays untouched."""
    keras = need("keras", what="pruning")
    say = progress or log.info
    model = strip(prep.original, keras)
    targets, skipped = _targets(model, config)
    if not targets:
        raise ConfigError(
            f"no layer to prune (skipped: {skipped}); lower --min-weights or change --exclude"
        )
    masks = MaskKeeper(targets, config, steps=_schedule_steps(prep.train, config))
    masks.update(0)
    masks.apply()
    if prep.train is not None and config.schedule == "constant":
        if config.reconstruct:
            by_path = {v.path: m for v, m in zip(masks.variables, masks.masks)}
            fitted = reconstruct(model, prep.original, by_path, prep.train.x)
            say(f"re-fit the kept weights of {len(fitted)} layers to the original's outputs")
        else:
            finetune.recalibrate_batchnorm(model, prep.train.x)
    tuned = {}
    if prep.train is not None and config.epochs:
        say(f"fine-tuning {len(targets)} pruned layers for {config.epochs} epochs "
            f"(distillation from the original, BatchNorm frozen)")  # fmt: skip
        per_epoch = max(1, math.ceil(len(prep.train.x) / config.batch_size))
        record = finetune.distill(
            model, prep.train, prep.held, teacher_train=prep.teacher["train"],
            teacher_held=prep.teacher["held"], epochs=config.epochs,
            batch_size=config.batch_size, learning_rate=config.learning_rate,
            temperature=config.temperature, callbacks=[masks.callback()],
            eligible=lambda epoch: epoch * per_epoch >= masks.ramp_end or epoch == config.epochs,
        )  # fmt: skip
        tuned = record.to_dict()
    else:
        masks.update(masks.steps)
        masks.apply()
    clean = strip(model, keras)
    result = PruneResult(clean, sparsity_of(clean, names=_layer_names(targets)),
                         _zeros(targets), skipped=skipped, finetune=tuned,
                         scored_on=prep.scored_on)  # fmt: skip
    score(result, prep)
    return result


def score(result, prep: PruneData) -> None:
    """Fill in a result's agreement, and accuracy before/after, on the scored set."""
    if prep.scored is None:
        return
    s, teacher = prep.scored, prep.teacher["scored"]
    after = finetune.agreement(result.model, s.x, teacher, s.y)
    result.agreement = after.top1
    if s.y is not None and after.accuracy is not None:
        result.accuracy_before = float(np.mean(teacher[0].argmax(-1) == s.y))
        result.accuracy_after = after.accuracy


def far_warning(result, limit: float = FAR) -> list[str]:
    """One line when pruning cost more than `limit` points (and no budget was asked for)."""
    d = result.drop
    if d is None or d <= limit:
        return []
    what = (
        f"accuracy {100 * result.accuracy_before:.1f}% -> {100 * result.accuracy_after:.1f}%"
        if result.accuracy_after is not None
        else f"top-1 agreement with the original {100 * result.agreement:.1f}%"
    )
    return [
        f"pruning lost {d:.1f} points ({what} on {result.scored_on}); try a lower sparsity, "
        "more --epochs or more --data, or --max-drop to search the sparsity that holds it"
    ]


def _layer_names(targets) -> list[str]:
    return [v.path.split("/")[0] for v in targets]


def _zeros(targets) -> float:
    total = sum(int(np.prod(v.shape)) for v in targets)
    return sum(int(np.sum(v.numpy() == 0)) for v in targets) / total


def load_model(model):
    keras = need("keras", what="pruning")
    if isinstance(model, keras.Model):
        return model
    from pathlib import Path

    from edgekit.source import detect_kind, load_keras

    kind = detect_kind(Path(model))
    if kind == "savedmodel":
        raise ConfigError(f"pruning needs a .keras or .h5 model; got a SavedModel: {model}")
    # convert's loader: safe mode, and a missing custom class named with `--import`
    return load_keras(Path(model), kind, safe_mode=True)


def strip(model, keras=None):
    """A fresh, uncompiled copy: no optimizer state, no callbacks, no weight regularizers,
    the same (sparse) weights. Regularizers go because they only pull weights while
    training, and here they would pull the model away from the original it is distilled
    from (Adam turns even their small gradients into full-size steps)."""
    clean = model.__class__.from_config(_no_regularizers(model.get_config()))
    clean.set_weights(model.get_weights())
    return clean


def _no_regularizers(config):
    if isinstance(config, dict):
        return {
            k: None if k.endswith("_regularizer") else _no_regularizers(v)
            for k, v in config.items()
        }
    if isinstance(config, list):
        return [_no_regularizers(v) for v in config]
    return config


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


def _schedule_steps(train, config: PruneConfig) -> int:
    if train is None:
        return 1
    return max(1, math.ceil(len(train.x) / config.batch_size) * config.epochs)
