"""`edgekit.json`: the contract and provenance written beside every set of artifacts.

The same contract is embedded in each artifact's own metadata (see `embedded_contract`), so
one file copied to a device on its own is still self-describing.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from edgekit.contract import Contract
from edgekit.errors import ConfigError
from edgekit.formats import files_of

MANIFEST_NAME = "edgekit.json"
METADATA_KEY = "edgekit.contract"  # key of the embedded contract in every format
SCHEMA_VERSION = 1


@dataclass
class Artifact:
    """One converted file (or .mlpackage folder) and what is known about it."""

    file: str
    format: str
    precision: str
    size_bytes: int
    inputs: list[dict]
    outputs: list[dict]
    tools: dict[str, str]
    convert_seconds: float
    parity: dict | None = None
    notes: list[str] = field(default_factory=list)
    route: str = ""  # which of the converter's routes made it (see `edgekit.converters`)
    route_errors: dict[str, str] = field(default_factory=dict)  # routes that failed first
    log: str = ""  # one line: what the converters warned about while making it
    placement: dict | None = None  # tflite:npu: SoC, ops on the NPU and on the CPU (npu.py)


@dataclass
class Manifest:
    contract: Contract
    source: dict
    calibration: dict | None = None
    artifacts: list[Artifact] = field(default_factory=list)
    edgekit_version: str = ""
    schema: int = SCHEMA_VERSION
    failures: list[dict] = field(default_factory=list)  # format, precision, error, hint

    def to_dict(self) -> dict:
        return {
            "schema": self.schema,
            "edgekit_version": self.edgekit_version,
            "source": self.source,
            "calibration": self.calibration,
            "contract": self.contract.to_dict(),
            "artifacts": [asdict(a) for a in self.artifacts],
            "failures": self.failures,
        }

    @classmethod
    def from_dict(cls, d: dict) -> Manifest:
        return cls(
            contract=Contract.from_dict(d["contract"]),
            source=d.get("source", {}),
            calibration=d.get("calibration"),
            artifacts=[Artifact(**a) for a in d.get("artifacts", [])],
            edgekit_version=d.get("edgekit_version", ""),
            schema=d.get("schema", SCHEMA_VERSION),
            failures=d.get("failures", []),
        )

    def save(self, folder: Path) -> Path:
        path = Path(folder) / MANIFEST_NAME
        write_atomic(path, json.dumps(self.to_dict(), indent=2).encode())
        return path

    @classmethod
    def load(cls, folder_or_file: Path) -> Manifest:
        p = Path(folder_or_file)
        path = p / MANIFEST_NAME if p.is_dir() else p
        try:
            return cls.from_dict(json.loads(path.read_text()))
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise ConfigError(f"cannot read manifest {path}: {e}; re-run edgekit convert") from e

    def find(self, artifact_path: Path) -> Artifact | None:
        name = Path(artifact_path).name
        return next((a for a in self.artifacts if Path(a.file).name == name), None)


def sibling_manifest(artifact_path: Path) -> Manifest | None:
    """The manifest in the artifact's folder, if there is one that lists this artifact."""
    path = Path(artifact_path).parent / MANIFEST_NAME
    if not path.is_file():
        return None
    try:
        m = Manifest.load(path)
    except ConfigError:
        return None
    return m if m.find(artifact_path) else None


def embedded_contract(contract: Contract, *, precision: str, source_sha256: str) -> str:
    """The JSON string stored inside each artifact's metadata."""
    return json.dumps(
        {"contract": contract.to_dict(), "precision": precision, "source_sha256": source_sha256}
    )


def sha256(path: Path) -> str:
    """Hash of a file, or of every file in a folder (SavedModel) in sorted order."""
    h = hashlib.sha256()
    p = Path(path)
    files = sorted(f for f in p.rglob("*") if f.is_file()) if p.is_dir() else [p]
    for f in files:
        if p.is_dir():
            h.update(str(f.relative_to(p)).encode())
        with open(f, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


def size_of(path: Path) -> int:
    """Bytes of an artifact, all its files (and a .mlpackage folder's contents) counted."""
    total = 0
    for p in files_of(path):
        files = [f for f in p.rglob("*") if f.is_file()] if p.is_dir() else [p]
        total += sum(f.stat().st_size for f in files)
    return total


def write_atomic(path: Path, data: bytes) -> None:
    """Write to a temporary file in the same folder, then rename: never a half-written file."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual permissions
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def replace_path(tmp: Path, final: Path) -> None:
    """Move a finished file or folder into place, replacing an older one."""
    final = Path(final)
    if final.is_dir() and not final.is_symlink():
        shutil.rmtree(final)
    elif final.exists():
        final.unlink()
    os.replace(tmp, final)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
