"""edgekit's own wheel, for `edgekit provision` to copy to a device (edgekit is not on PyPI).

From a checkout (the installed edgekit is editable, or this source tree): `pip wheel --no-deps`
builds it, with the build backend pyproject.toml names (hatchling; fetched by pip into an
isolated build environment unless it is installed here, then used offline). The wheel is cached
under `cache_dir("wheels", HASH)`, HASH being the content hash of the files it is built from,
so an unchanged tree is never rebuilt. From an installed wheel (no checkout): its files, as the
distribution's RECORD lists them, are packed again into a wheel, byte for byte.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass, field
from email.parser import Parser
from importlib import metadata
from pathlib import Path

from edgekit.cache import cache_dir
from edgekit.errors import ConfigError, MissingDependencyError

SOURCES = ("pyproject.toml", "README.md", "LICENSE", "edgekit", "converters", "devices")
SKIP = {"__pycache__", ".pytest_cache", ".ruff_cache"}
# per-install records a repacked wheel leaves out (pip writes them again on the device)
LOCAL_RECORDS = {"INSTALLER", "REQUESTED", "direct_url.json", "RECORD"}


@dataclass
class Wheel:
    """A built wheel: the file, its sha256 and what its metadata says."""

    path: Path
    sha256: str
    version: str
    requires: list[str] = field(default_factory=list)  # Requires-Dist, markers and all
    origin: str = ""  # "checkout /path" or "installed /path"


def own_wheel(*, source: str | Path | None = None) -> Wheel:
    """edgekit's wheel: built from `source` or this checkout, else repacked from the install.

    Raises:
        MissingDependencyError: the build backend cannot be had (offline, hatchling missing).
        ConfigError: `source` is not an edgekit source tree.
    """
    root = Path(source).resolve() if source else checkout()
    if root is not None:
        if not is_checkout(root):
            raise ConfigError(f"not an edgekit source tree (no pyproject.toml); got: {root}")
        return build(root)
    return repack(metadata.distribution("edgekit"))


def read(path: str | Path, origin: str = "") -> Wheel:
    """A wheel file as a Wheel (its hash and metadata)."""
    p = Path(path)
    if not p.is_file() or p.suffix != ".whl":
        raise ConfigError(f"not a wheel file; got: {p}; pass an edgekit-*.whl")
    with zipfile.ZipFile(p) as z:
        name = next((n for n in z.namelist() if n.endswith(".dist-info/METADATA")), None)
        if name is None or not name.startswith("edgekit-"):
            raise ConfigError(f"not an edgekit wheel; got: {p.name}")
        meta = Parser().parsestr(z.read(name).decode())
    return Wheel(p, file_hash(p), meta["Version"], meta.get_all("Requires-Dist") or [], origin)


def checkout() -> Path | None:
    """The source tree the running edgekit is imported from, if it is one."""
    root = Path(__file__).resolve().parents[2]
    return root if is_checkout(root) else None


def is_checkout(root: Path) -> bool:
    py = root / "pyproject.toml"
    return py.is_file() and 'name = "edgekit"' in py.read_text() and (root / "edgekit").is_dir()


def source_hash(root: Path) -> str:
    """sha256 over the names and contents of every file the wheel is built from."""
    h = hashlib.sha256()
    for top in SOURCES:
        base = root / top
        files = [base] if base.is_file() else sorted(_files(base)) if base.is_dir() else []
        for f in files:
            h.update(f.relative_to(root).as_posix().encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()


def _files(folder: Path):
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = [d for d in dirnames if d not in SKIP and not d.startswith(".")]
        for name in filenames:
            if not name.endswith((".pyc", ".pyo")) and not name.startswith("."):
                yield Path(dirpath) / name


def build(root: Path) -> Wheel:
    """The checkout's wheel, from the cache when nothing it is built from changed."""
    digest = source_hash(root)
    folder = cache_dir("wheels", digest[:20])
    found = sorted(folder.glob("edgekit-*.whl")) if folder.is_dir() else []
    if found:
        return read(found[0], f"checkout {root}")
    folder.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(dir=folder.parent, prefix=".build-"))
    try:
        _pip_wheel(root, work)
        os.replace(work, folder)  # whole, or not at all (a concurrent build may have won)
    except OSError:
        if not folder.is_dir():
            raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return read(sorted(folder.glob("edgekit-*.whl"))[0], f"checkout {root}")


def _pip_wheel(root: Path, out: Path) -> None:
    cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--disable-pip-version-check"]
    if importlib.util.find_spec("hatchling") is not None:
        cmd.append("--no-build-isolation")  # the backend is here: no index needed
    cmd += ["-q", "-w", str(out), str(root)]
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    except subprocess.TimeoutExpired as e:
        raise MissingDependencyError("building edgekit's wheel took over 10 minutes") from e
    if res.returncode != 0 or not list(out.glob("edgekit-*.whl")):
        said = [ln.strip() for ln in (res.stderr or res.stdout).splitlines() if ln.strip()]
        raise MissingDependencyError(
            f"cannot build edgekit's wheel from {root}; got: {(said or ['no wheel'])[-1][:300]}; "
            "fix: pip install hatchling (it then builds offline), or pass --wheel FILE"
        )


def repack(dist: metadata.Distribution) -> Wheel:
    """An installed (non-editable) edgekit packed again into a wheel, from its RECORD."""
    files = [f for f in dist.files or [] if _packable(f)]
    if not any(str(f).startswith("edgekit/") for f in files):
        raise ConfigError(
            "this edgekit is installed without its files (an editable install of a tree that "
            "is gone?); got: no edgekit/ files in its RECORD; reinstall it or pass --wheel FILE"
        )
    info = next(str(f).split("/")[0] for f in files if ".dist-info/" in str(f))
    data = {str(f): Path(dist.locate_file(f)).read_bytes() for f in files}
    digest = hashlib.sha256(b"".join(k.encode() + v for k, v in sorted(data.items())))
    folder = cache_dir("wheels", digest.hexdigest()[:20])
    path = folder / f"{info.removesuffix('.dist-info')}-py3-none-any.whl"
    if not path.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        _write_wheel(path, data, info)
    return read(path, f"installed {dist.locate_file('')}")


def _packable(f) -> bool:
    s = str(f)
    parts = s.split("/")
    return not (s.startswith("..") or "__pycache__" in parts or parts[-1] in LOCAL_RECORDS
                or s.endswith(".pyc"))  # fmt: skip


def _write_wheel(path: Path, data: dict[str, bytes], info: str) -> None:
    """A wheel with a fresh RECORD, written to a temporary name and moved into place."""
    rows = [f"{name},sha256={_b64(blob)},{len(blob)}" for name, blob in sorted(data.items())]
    rows.append(f"{info}/RECORD,,")
    tmp = path.with_suffix(".tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
        for name, blob in sorted(data.items()):
            z.writestr(name, blob)
        z.writestr(f"{info}/RECORD", "\n".join(rows) + "\n")
    tmp.replace(path)


def _b64(blob: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(blob).digest()).rstrip(b"=").decode()


def file_hash(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
