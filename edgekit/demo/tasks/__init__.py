"""Demo tasks: classification, detection and segmentation over one loaded session."""

from __future__ import annotations

from edgekit.demo.tasks.base import Geometry, Task
from edgekit.errors import ConfigError
from edgekit.runtimes.base import Session

TASKS = ("classify", "detect", "segment")
# the manifest's words for the same tasks
CONTRACT_NAMES = {"classification": "classify", "detection": "detect", "segmentation": "segment"}


def task_of(session: Session, requested: str | None = None) -> str:
    """`--task` if given, else the manifest's task, else a guess from the output shapes."""
    if requested:
        if requested not in TASKS:
            raise ConfigError(f"unknown task; got: {requested!r}; choose from {', '.join(TASKS)}")
        return requested
    named = CONTRACT_NAMES.get(session.contract.task) if session.contract else None
    if named and named != "classify":  # "classification" is also the manifest's default
        return named
    return guess(session)


def guess(session: Session) -> str:
    from edgekit.demo.tasks.anchors import looks_like_raw_ssd

    shapes = [list(o.shape) for o in session.outputs]
    if session.contract is not None and getattr(session.contract, "detection", None):
        return "detect"  # anchor options recorded at convert time
    if len(shapes) >= 3 and any(len(s) == 3 and s[-1] == 4 for s in shapes):
        return "detect"
    if looks_like_raw_ssd(shapes):
        return "detect"
    s = shapes[0]
    if len(s) == 4 and s[1] > 1 and s[2] > 1:
        return "segment"
    if len(s) == 3 and min(s[1:]) >= 5 and max(s[1:]) >= 64:
        return "detect"
    return "classify"


def make(session: Session, task: str, **options) -> Task:
    """The Task object for `task`; options go to its constructor (labels, top_k, threshold...)."""
    from edgekit.demo.tasks.classify import Classifier
    from edgekit.demo.tasks.detect import Detector
    from edgekit.demo.tasks.segment import Segmenter

    cls = {"classify": Classifier, "detect": Detector, "segment": Segmenter}[task]
    keep = {
        "classify": ("labels", "top_k", "smooth"),
        "detect": ("labels", "threshold", "iou", "max_boxes", "anchors"),
        "segment": ("labels", "alpha", "threshold"),
    }[task]
    return cls(session, **{k: v for k, v in options.items() if k in keep and v is not None})


__all__ = ["TASKS", "Geometry", "Task", "make", "task_of"]
