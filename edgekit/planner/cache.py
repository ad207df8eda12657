"""The plan cache: every variant and artifact `edgekit plan` makes, keyed by content hash.

An entry is `cache_dir("plan", <model sha256>, <key hash>)`; the key hashes what the result
depends on (the candidate, the calibration and validation data, edgekit's version). An entry
is written in a sibling folder and renamed into place, so it is complete or absent: two
workers making the same entry at once both finish, the second one's copy is dropped. An
entry that costs minutes (a pruned, fine-tuned variant) is made under a lock instead, so a
second worker waits for it rather than making it again on the same cores.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

from edgekit.cache import cache_dir

RESULT = "result.json"


def folder(sha: str) -> Path:
    """Where one model's entries live."""
    return cache_dir("plan", sha[:24])


def key_hash(*parts) -> str:
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def entry(setup, key: dict) -> Path:
    """The entry for `key` of this plan's model and data."""
    from edgekit import __version__

    return folder(setup.sha) / key_hash(key, setup.data_key, setup.calib_samples, __version__)


def data_key(*paths, labels=None) -> str:
    """Hash of data folders or files (their contents) and the label list."""
    from edgekit.manifest import sha256

    return key_hash([sha256(Path(p)) if p else None for p in paths], labels)


@contextlib.contextmanager
def writing(path: Path):
    """A scratch folder that becomes `path` when the block succeeds (removed if it fails)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}-"))
    try:
        yield tmp
        try:
            os.rename(tmp, path)
        except OSError:  # another worker finished the same entry first: keep theirs
            if not path.exists():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def exclusive(path: Path):
    """Held by one process at a time (all of this machine's workers): make `path` inside
    unless it exists by then."""
    from edgekit._deps import need

    lock = need("filelock", what="edgekit plan").FileLock
    path.parent.mkdir(parents=True, exist_ok=True)
    with lock(path.parent / f".{path.name}.lock"):
        yield


def save_result(folder_: Path, result: dict) -> None:
    (folder_ / RESULT).write_text(json.dumps(result, indent=2))


def result(path: Path) -> dict:
    """An entry's result, with the artifact's path in this cache."""
    out = json.loads((path / RESULT).read_text())
    out["artifact"] = str(path / out["file"])
    out["variant"] = str(path / out["variant"]) if out.get("variant") else None
    return out


def blobs(path: Path) -> dict[str, bytes]:
    """Every file of an entry (a .mlpackage's too) by relative path, to ship elsewhere."""
    return {str(f.relative_to(path)): f.read_bytes() for f in path.rglob("*") if f.is_file()}


def store(path: Path, files: dict[str, bytes]) -> dict:
    """Write a shipped entry (`blobs` of another machine's cache) into this cache."""
    if not path.exists():
        with writing(path) as tmp:
            for rel, data in files.items():
                (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
                (tmp / rel).write_bytes(data)
    return result(path)
