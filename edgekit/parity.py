"""Does an artifact still behave like the source model? Numbers, and a verdict per precision."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np


@dataclass(frozen=True)
class Tolerance:
    """Parity limits for softmax-scale outputs: a max abs error, or agreement for quantized."""

    max_abs: float | None = None
    min_cosine: float | None = None
    min_top1: float | None = None

    def to_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if v is not None}


TOLERANCES = {  # by precision name (edgekit.formats)
    "fp32": Tolerance(max_abs=1e-4),
    "fp16": Tolerance(max_abs=1e-2),
    # bf16 keeps 8 mantissa bits (fp16: 10): ~0.4% relative error per op, compounding
    "bf16": Tolerance(max_abs=5e-2, min_top1=0.95),
    "palettize8": Tolerance(min_cosine=0.99, min_top1=0.95),
    "palettize6": Tolerance(min_cosine=0.98, min_top1=0.9),
    "palettize4": Tolerance(min_cosine=0.9, min_top1=0.8),
}
QUANTIZED = Tolerance(min_cosine=0.98, min_top1=0.95)  # the integer precisions


def tolerance_for(precision) -> Tolerance:
    """The parity limits of a precision (a name or a Precision)."""
    return TOLERANCES.get(str(getattr(precision, "value", precision)).lower(), QUANTIZED)


@dataclass
class Parity:
    """Agreement between an artifact's outputs and the reference, over `samples` inputs.
    The summary fields are the worst over outputs; `outputs` has each output's own numbers."""

    samples: int
    max_abs: float
    mean_abs: float
    cosine: float  # mean over samples of the cosine similarity of the flattened outputs
    top1_agreement: float | None
    accuracy: float | None
    reference_accuracy: float | None
    tolerance: dict
    passed: bool
    reason: str = ""
    checked: str = "numeric"  # numeric | structural
    outputs: list[dict] = field(default_factory=list)
    per_class: dict | None = None  # classification on --val: precision/recall/F1 per class

    def to_dict(self) -> dict:
        return asdict(self)


def compare(
    ref: list[np.ndarray],
    got: list[np.ndarray],
    *,
    tolerance: Tolerance,
    y: np.ndarray | None = None,
    head: int | None = 0,
    names: list[str] | None = None,
) -> Parity:
    """Compare every output; the `head` output (the classifier) decides top-1 and accuracy."""
    n = len(ref[0])
    shapes_ok = len(ref) == len(got) and all(r.shape == g.shape for r, g in zip(ref, got))
    if not shapes_ok:
        want = [list(r.shape) for r in ref]
        have = [list(np.shape(g)) for g in got]
        nan = float("nan")
        reason = f"outputs differ in count or shape: artifact {have}, model {want}"
        return Parity(n, nan, nan, nan, None, None, None, tolerance.to_dict(), False, reason)
    names = names or [f"output_{i}" for i in range(len(ref))]
    per = [_one_output(name, r, g) for name, r, g in zip(names, ref, got)]
    max_abs = max(o["max_abs"] for o in per)
    mean_abs = float(np.mean([o["mean_abs"] for o in per]))
    cos = min(o["cosine"] for o in per)
    top1 = acc = ref_acc = per_class = None
    if head is not None and head < len(ref):
        r0, g0 = ref[head].reshape(n, -1), got[head].reshape(n, -1)
        if r0.shape[1] > 1:
            top1 = float(np.mean(r0.argmax(1) == g0.argmax(1)))
            if y is not None:
                acc = float(np.mean(g0.argmax(1) == y))
                ref_acc = float(np.mean(r0.argmax(1) == y))
                per_class = class_metrics(g0.argmax(1), np.asarray(y), r0.shape[1])
    passed, reason = verdict(tolerance, max_abs, cos, top1)
    return Parity(
        n,
        max_abs,
        mean_abs,
        cos,
        top1,
        acc,
        ref_acc,
        tolerance.to_dict(),
        passed,
        reason,
        outputs=per,
        per_class=per_class,
    )


def class_metrics(pred: np.ndarray, y: np.ndarray, classes: int) -> dict:
    """Precision, recall, F1 and support per class index, and their macro means."""
    prec, rec, f1, support = [], [], [], []
    for k in range(classes):
        tp = int(np.sum((pred == k) & (y == k)))
        p = tp / max(1, int(np.sum(pred == k)))
        r = tp / max(1, int(np.sum(y == k)))
        prec.append(round(p, 4))
        rec.append(round(r, 4))
        f1.append(round(2 * p * r / (p + r), 4) if p + r else 0.0)
        support.append(int(np.sum(y == k)))
    seen = [k for k in range(classes) if support[k]]
    macro = float(np.mean([f1[k] for k in seen])) if seen else 0.0
    return {"precision": prec, "recall": rec, "f1": f1, "support": support,
            "macro_f1": round(macro, 4)}  # fmt: skip


def _one_output(name: str, r: np.ndarray, g: np.ndarray) -> dict:
    d = np.abs(r.astype(np.float64) - g.astype(np.float64))
    r2, g2 = r.reshape(len(r), -1), g.reshape(len(g), -1)
    cos = float(np.mean([_cosine(a, b) for a, b in zip(r2, g2)]))
    return {"name": name, "max_abs": float(d.max()), "mean_abs": float(d.mean()), "cosine": cos}


def head_of(outputs, labels: list[str] | None) -> int | None:
    """Which output is the classifier: the one as wide as the labels, else the first
    [1, C>1] output; None when no output looks like class scores."""
    flat = [(i, t.shape) for i, t in enumerate(outputs) if len(t.shape) == 2 and t.shape[1] > 1]
    if labels:
        match = [i for i, sh in flat if sh[1] == len(labels)]
        if match:
            return match[0]
    return flat[0][0] if flat else None


def verdict(tol: Tolerance, max_abs: float, cos: float, top1: float | None) -> tuple[bool, str]:
    misses = []
    if tol.max_abs is not None and not max_abs <= tol.max_abs:
        misses.append(f"max abs error {max_abs:.2e} > {tol.max_abs:.0e}")
    if tol.min_cosine is not None and not cos >= tol.min_cosine:
        misses.append(f"cosine {cos:.4f} < {tol.min_cosine}")
    if tol.min_top1 is not None and top1 is not None and not top1 >= tol.min_top1:
        misses.append(f"top-1 agreement {top1:.3f} < {tol.min_top1}")
    return not misses, "; ".join(misses)


def structural(info: dict, source, precision: str, *, compressed: bool = True) -> Parity:
    """Core ML off macOS: check I/O names, shapes and weight storage; say numbers need a Mac."""
    misses = []
    if len(info["inputs"]) != len(source.inputs) or len(info["outputs"]) != len(source.outputs):
        misses.append("input/output count differs from the source model")
    for got, want in zip(info["inputs"] + info["outputs"], source.inputs + source.outputs):
        if list(got["shape"]) != list(want.shape):
            misses.append(f"{got['name']} shape {got['shape']} != {want.shape}")
    if not compressed:
        pass
    elif (
        precision.startswith("palettize")
        and "constexpr_lut_to_dense" not in info["compressed_weights"]
    ):
        misses.append("no palettized weights found")
    elif precision == "int8" and not any(
        "affine" in k or "blockwise" in k or "dequantize" in k for k in info["compressed_weights"]
    ):
        misses.append("no int8 weights found")
    reason = (
        "; ".join(misses) or "structure ok; numeric check needs macOS (Core ML runs there only)"
    )
    nan = float("nan")
    return Parity(0, nan, nan, nan, None, None, None, {}, not misses, reason, "structural")


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if na == 0 or nb == 0:
        return 1.0 if na == nb else 0.0
    return float(np.dot(a, b) / (na * nb))
