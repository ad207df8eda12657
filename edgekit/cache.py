"""Where edgekit keeps what it can recompute: `cache_dir()` is the one place that decides.

`$EDGEKIT_CACHE`, else `$XDG_CACHE_HOME/edgekit`, else
`~/.cache/edgekit`.
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir(*parts: str) -> Path:
    """The cache folder, or a path inside it (not created)."""
    root = os.environ.get("EDGEKIT_CACHE")
    if root:
        base = Path(root)
    else:
        xdg = os.environ.get("XDG_CACHE_HOME")
        base = (Path(xdg) if xdg else Path.home() / ".cache") / "edgekit"
    return base.joinpath(*parts)
