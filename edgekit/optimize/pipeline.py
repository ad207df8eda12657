"""Optimization as steps of `edgekit convert`: `--prune SPEC --data DIR` before conversion,
and `--max-drop` instead of plain int8 (one artifact per format, held to the budget)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path

from edgekit.errors import ConfigError

log = logging.getLogger(__name__)
KINDS = ("sparsity", "structured", "m-n")


def parse_prune(spec: str) -> tuple[str, str]:
    """'sparsity=0.5' | 'structured=0.3' | 'm-n=2:4' -> (kind, value)."""
    kind, _, value = spec.partition("=")
    if kind not in KINDS or not value:
        raise ConfigError(
            f"--prune takes sparsity=F, structured=F or m-n=N:M; got: {spec!r}; "
            "e.g. --prune sparsity=0.5 --data train/"
        )
    return kind, value


def apply_prune(
    model: Path, spec: str, *, data, labels=None, epochs: int = 2, folder: Path, progress=None
) -> tuple[Path, dict]:
    """Prune (and fine-tune on `data`) into `folder`/<stem>_pruned.keras; returns the path and
    the pruning summary for the report."""
    from edgekit.optimize.prune import PruneConfig, parse_m_n, prune
    from edgekit.optimize.structured import prune_channels

    kind, value = parse_prune(spec)
    if data is None:
        raise ConfigError("--prune needs --data DIR (DIR/<class>/<image>) to fine-tune on")
    try:
        number = float(value) if kind != "m-n" else None
    except ValueError:
        raise ConfigError(f"--prune {kind} takes a fraction; got: {value!r}") from None
    if kind == "structured":
        result = prune_channels(model, data, ratio=number, epochs=epochs, labels=labels,
                                progress=progress)  # fmt: skip
    else:
        cfg = PruneConfig(sparsity=number or 0.5, epochs=epochs,
                          m_n=parse_m_n(value) if kind == "m-n" else None)  # fmt: skip
        result = prune(model, data, config=cfg, labels=labels, progress=progress)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{Path(model).stem}_pruned.keras"
    result.model.save(path)
    return path, {"spec": spec, **result.to_dict()}


def convert_to_budget(
    model: Path,
    *,
    formats: list[str],
    calib,
    val,
    labels=None,
    out: Path,
    max_drop: float,
    max_float: int | None = None,
    calib_samples: int = 100,
    progress: Callable[[str], None] | None = None,
) -> list:
    """int8 artifacts of `model` for each format in `formats`, each within `max_drop` accuracy
    points of the float model on `val`; writes OUT/<stem>_int8-budget.<ext> and
    OUT/budget.json. Raises BudgetNotMetError (after writing all) if any format missed."""
    from edgekit import data as data_mod
    from edgekit import source
    from edgekit.contract import Contract, Preprocess, read_labels
    from edgekit.errors import BudgetNotMetError
    from edgekit.manifest import embedded_contract
    from edgekit.optimize.budget import FORMATS, quantize_to_budget

    bad = [f for f in formats if f not in FORMATS]
    if bad:
        raise ConfigError(f"--max-drop works for {', '.join(FORMATS)}; got: {', '.join(bad)}")
    if val is None:
        raise ConfigError("--max-drop needs --val DIR (DIR/<class>/<image>) to measure accuracy")
    src = source.load(Path(model))
    first = "raw" if src.first_layer in ("Rescaling", "Normalization") else "unit"
    pre = Preprocess.for_shape(src.inputs[0].shape, first)
    names = read_labels(labels) if isinstance(labels, (str, Path)) else labels
    v = data_mod.read_labelled(val, preprocess=pre, labels=names)
    c = data_mod.read(calib, shape=src.inputs[0].shape, preprocess=pre, count=calib_samples)
    meta = embedded_contract(Contract(src.inputs, src.outputs, pre, names or v.classes),
                             precision="int8", source_sha256="")  # fmt: skip
    out.mkdir(parents=True, exist_ok=True)
    results, missed = [], []
    for fmt in formats:
        dest = out / f"{Path(model).stem}_int8-budget{'.tflite' if fmt == 'tflite' else '.xml'}"
        try:
            r = quantize_to_budget(src, fmt, dest, calib=c.x, val_x=v.x, val_y=v.y,
                                   max_drop=max_drop, max_float=max_float, metadata=meta,
                                   progress=progress)  # fmt: skip
        except BudgetNotMetError as e:
            r = e.result
            missed.append(str(e))
        results.append(r)
    (out / "budget.json").write_text(json.dumps([r.to_dict() for r in results], indent=2))
    if missed:
        raise BudgetNotMetError("; ".join(missed), results[-1])
    return results
