"""Does a package have a wheel for a target's platform and Python? Asked the way pip asks.

The index's PEP 691 JSON listing gives every file of a project; a wheel is installable when one
of its tags is in the target's supported-tag list, built like pip builds it for
`pip download --platform TAG --python-version X.Y --implementation cp --only-binary=:all:`,
and its `requires-python` admits that Python. Answers are cached for a day in
`~/.cache/edgekit/index/` (`EDGEKIT_CACHE` moves it); `EDGEKIT_INDEX_URL` picks another index.
"""

from __future__ import annotations

import json
import os
import re
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from edgekit.cache import cache_dir
from edgekit.errors import DeviceUnavailableError

INDEX_URL = "https://pypi.org/simple"
CACHE_TTL_S = 24 * 3600
ACCEPT = "application/vnd.pypi.simple.v1+json"


@dataclass
class WheelAnswer:
    """The newest release of `package` with a wheel for (platform, python), or None."""

    package: str
    python: str
    platform: str
    version: str | None  # newest installable release
    wheel: str | None  # its file name
    latest: str | None  # newest release on the index at all

    @property
    def found(self) -> bool:
        return self.version is not None


def _packaging():
    try:
        from packaging import tags, utils, version
        from packaging.specifiers import SpecifierSet
    except ImportError:  # pip vendors it; the light install always has pip
        from pip._vendor.packaging import tags, utils, version
        from pip._vendor.packaging.specifiers import SpecifierSet
    return tags, utils, version, SpecifierSet


def platforms(platform: str) -> list[str]:
    """Every platform tag a glibc-versioned tag accepts, newest first, as pip expands it.

    `manylinux_2_36_aarch64` -> manylinux_2_36_aarch64 ... manylinux_2_17_aarch64,
    manylinux2014_aarch64, linux_aarch64. Other tags (macosx, win) are returned as they are.
    """
    m = re.fullmatch(r"manylinux_(\d+)_(\d+)_(\w+)", platform)
    if not m:
        return [platform]
    major, minor, arch = int(m[1]), int(m[2]), m[3]
    lowest = 5 if arch in ("x86_64", "i686") else 17
    out = [f"manylinux_{major}_{n}_{arch}" for n in range(minor, lowest - 1, -1)]
    legacy = {17: "manylinux2014", 12: "manylinux2010", 5: "manylinux1"}
    out += [f"{name}_{arch}" for n, name in legacy.items() if lowest <= n <= minor]
    return out + [f"linux_{arch}"]


def supported_tags(python: str, platform: str) -> list[str]:
    """pip's supported tags for CPython `python` ("3.11") on `platform`, best first."""
    tags, *_ = _packaging()
    version = tuple(int(p) for p in python.split(".")[:2])
    plats = platforms(platform)
    found = list(tags.cpython_tags(version, platforms=plats))
    found += list(tags.compatible_tags(version, f"cp{version[0]}{version[1]}", plats))
    return [str(t) for t in found]


def check(package: str, *, python: str, platform: str, refresh: bool = False) -> WheelAnswer:
    """Whether `package` has a wheel pip would install on CPython `python` at `platform`.

    Raises:
        DeviceUnavailableError: the index cannot be reached and nothing is cached.
    """
    _, utils, version_mod, SpecifierSet = _packaging()
    wanted = set(supported_tags(python, platform))
    best, newest = None, None
    for file in project_files(package, refresh=refresh):
        name = file.get("filename", "")
        if not name.endswith(".whl") or file.get("yanked"):
            continue
        try:
            _, ver, _, wheel_tags = utils.parse_wheel_filename(name)
        except Exception:  # an odd file name on the index: pip skips it too
            continue
        newest = ver if newest is None or ver > newest else newest
        spec = file.get("requires-python") or ""
        if spec and not _admits(SpecifierSet, spec, python):
            continue
        if {str(t) for t in wheel_tags} & wanted and (best is None or ver > best[0]):
            best = (ver, name)
    return WheelAnswer(
        package,
        python,
        platform,
        str(best[0]) if best else None,
        best[1] if best else None,
        str(newest) if newest else None,
    )


def _admits(SpecifierSet, spec: str, python: str) -> bool:
    try:
        return SpecifierSet(spec).contains(f"{python}.0", prereleases=True)
    except Exception:  # malformed requires-python: pip ignores it
        return True


def project_files(package: str, *, refresh: bool = False) -> list[dict]:
    """The index's file list for a project (PEP 691 JSON), from the cache when fresh."""
    name = re.sub(r"[-_.]+", "-", package).lower()
    path = cache_dir("index") / f"{name}.json"
    if not refresh and path.is_file() and time.time() - path.stat().st_mtime < CACHE_TTL_S:
        return json.loads(path.read_text())["files"]
    url = f"{os.environ.get('EDGEKIT_INDEX_URL', INDEX_URL).rstrip('/')}/{name}/"
    request = urllib.request.Request(url, headers={"Accept": ACCEPT})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            data = json.load(response)
    except urllib.error.HTTPError as e:
        if e.code == 404:
            return []
        return _stale(path, url, e)
    except (urllib.error.URLError, OSError, ValueError) as e:
        return _stale(path, url, e)
    files = [
        {k: f.get(k) for k in ("filename", "requires-python", "yanked")}
        for f in data.get("files", [])
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"url": url, "files": files}))
    tmp.replace(path)
    return files


def _stale(path: Path, url: str, error: Exception) -> list[dict]:
    """Offline: an old cached answer beats none; without one, say how to fix it."""
    if path.is_file():
        return json.loads(path.read_text())["files"]
    raise DeviceUnavailableError(
        f"cannot reach the package index; got: {url}: {error}; check the network or set "
        "EDGEKIT_INDEX_URL to a reachable simple index"
    )
