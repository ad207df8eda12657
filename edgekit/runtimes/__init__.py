"""`edgekit.load(path)`: any artifact behind one Session API, chosen by its file type."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from edgekit import formats
from edgekit.contract import Contract
from edgekit.errors import ModelLoadError
from edgekit.manifest import MANIFEST_NAME, sibling_manifest
from edgekit.runtimes.base import Session

log = logging.getLogger(__name__)


def load(
    path: str | Path, *, threads: int | None = None, device: str | None = None, **options: object
) -> Session:
    """Load an artifact and its input contract.

    Args:
        path: any file of an artifact (`edgekit.formats`): .tflite, OpenVINO .xml/.bin,
            .onnx, .mlpackage, .ncnn.param/.ncnn.bin.
        threads: intra-op threads for the runtime (None: the runtime's default).
        device: OpenVINO device (CPU, GPU, NPU, AUTO), ONNX provider (cpu, cuda, tensorrt)
            or Core ML compute unit (all, cpu, gpu, ane).
        **options: runtime-specific: `xnnpack=False`, `delegate="libedgetpu.so.1"`,
            `backend="tflite-runtime"` (TFLite); `hint="throughput"` (OpenVINO);
            `precision="fp16"` for a file that carries no contract of its own.

    Returns:
        A Session with `inputs`, `outputs`, `contract`, `predict`, `predict_image`, `run_raw`.

    Raises:
        ModelLoadError: the file is missing, corrupt or of an unknown type.

    Example:
        >>> s = edgekit.load("out/shapes_int8.tflite")
        >>> probs = s.predict_image(cv2.imread("cat.jpg"))
    """
    p = Path(path)
    if not p.exists():
        raise ModelLoadError(f"artifact not found; got: {p}")
    fmt = formats.find(p)
    if p.is_dir() and not (fmt and fmt.folder):
        hint = (
            " (a convert output folder: pass one of its files)"
            if (p / MANIFEST_NAME).exists()
            else ""
        )
        raise ModelLoadError(
            f"{p} is a folder{hint}; pass a {', '.join(formats.main_suffixes())} file"
        )
    if fmt is None:
        raise ModelLoadError(
            f"unknown artifact type {p.suffix or '(no suffix)'}; got: {p.name}; edgekit runs "
            f"{', '.join(formats.main_suffixes())}"
        )
    p = formats.main_file(p)  # whichever of the artifact's files was named
    if not p.exists():
        raise ModelLoadError(f"{p.name} is missing beside {Path(path).name}; copy them together")
    # what the caller knows of an artifact that carries no contract (ncnn .param files)
    known_precision = options.pop("precision", None)
    session = formats.resolve(fmt.session)(p, threads=threads, device=device, **options)
    attach_contract(session)
    session.precision = session.precision or known_precision
    session.execution = session.execution or session.describe_execution()
    return session


def attach_contract(session: Session) -> None:
    """Manifest beside the file first, then the contract embedded in the artifact."""
    manifest = sibling_manifest(session.path)
    if manifest:
        session.contract = manifest.contract
        session.precision = manifest.find(session.path).precision
        return
    raw = session.embedded_metadata()
    if not raw:
        return
    try:
        data = json.loads(raw)
        session.contract = Contract.from_dict(data["contract"])
        session.precision = data.get("precision")
    except (ValueError, KeyError, TypeError) as e:
        log.warning("ignoring unreadable embedded contract in %s: %s", session.path.name, e)


def format_of(path: str | Path) -> str:
    """The format name of any file of an artifact (`model.ncnn.bin` is ncnn's)."""
    return formats.of_path(path).name


__all__ = ["load", "Session", "format_of"]
