"""Your own measurements refine the estimate: bench results for a target, kept in the user's
cache folder (`edgekit.cache.cache_dir()`).

Example:
    $ edgekit bench out/ --json results.json        # on the Pi (or --on pi)
    $ edgekit estimate --calibrate results.json --target rpi5
"""

from __future__ import annotations

import json
from pathlib import Path

from edgekit import formats
from edgekit.cache import cache_dir
from edgekit.costmodel.choice import default_runtime
from edgekit.costmodel.costs import model_costs
from edgekit.costmodel.fit import Observation
from edgekit.costmodel.ops import ModelCost, OpCost, OpKind
from edgekit.errors import ConfigError

FILE = "calibration.json"


def add(results: Path, target: str, *, runtime: str | None = None) -> list[dict]:
    """Add the rows of an `edgekit bench --json` file as measurements of `target`.

    Each row's artifact must still be at the path the results name (its costs are read from
    it). Returns the rows added.

    Raises:
        ConfigError: unreadable results, an unknown target, or a missing artifact.
    """
    from edgekit.device.profiles import get

    profile = get(target)
    entries = _read(Path(results))
    added = []
    for e in entries:
        path = Path(e["artifact"])
        if not path.is_absolute():
            path = Path(results).parent / path
        if not path.exists():
            raise ConfigError(
                f"the artifact a result names is missing; got: {e['artifact']}; run the "
                "calibration where the benchmarked files are"
            )
        cost = model_costs(path)
        rt = runtime or _runtime_of(e) or default_runtime(cost.format, cost.precision, profile)
        added.append({
            "device": target, "runtime": rt, "precision": cost.precision,
            "threads": e.get("threads"), "latency_ms": float(e["p50_ms"]),
            "model": path.name,
            "ops": [[o.kind.value, o.macs, o.weight_bytes, o.act_bytes, o.op] for o in cost.ops],
            "io_bytes": cost.io_bytes, "format": cost.format,
        })  # fmt: skip
    store = cache_dir() / FILE
    rows = _load() + added
    store.parent.mkdir(parents=True, exist_ok=True)
    tmp = store.with_suffix(".tmp")
    tmp.write_text(json.dumps(rows), encoding="utf-8")
    tmp.replace(store)  # never a half-written file
    return added


def clear() -> None:
    """Forget every calibration row."""
    (cache_dir() / FILE).unlink(missing_ok=True)


def user_observations() -> list[Observation]:
    """The stored rows as fit observations (benchmark table "user")."""
    out = []
    for r in _load():
        ops = [OpCost(f"op{i}", OpKind(o[0]), *o[1:4], *o[4:5]) for i, o in enumerate(r["ops"])]
        cost = ModelCost(r["model"], r.get("format", "user"), r["precision"], ops,
                         r.get("io_bytes", 0))  # fmt: skip
        out.append(
            Observation(
                r["device"],
                r["runtime"],
                r["precision"],
                r.get("threads"),
                cost,
                f"user:{r['model']}",
                r["latency_ms"],
                "user",
            )  # fmt: skip
        )
    return out


def _load() -> list[dict]:
    path = cache_dir() / FILE
    if not path.exists():
        return []
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, OSError) as e:
        raise ConfigError(
            f"the calibration file is unreadable; got: {path} ({e}); delete it or run "
            "`edgekit estimate --clear-calibration`"
        ) from e


def _read(results: Path) -> list[dict]:
    try:
        data = json.loads(results.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise ConfigError(
            f"cannot read bench results; got: {results} ({e}); pass the file "
            "`edgekit bench --json FILE` wrote"
        ) from e
    rows = data.get("results", data) if isinstance(data, dict) else data
    if not isinstance(rows, list) or not all(
        isinstance(r, dict) and "artifact" in r and "p50_ms" in r for r in rows
    ):
        raise ConfigError(
            f"not an edgekit bench result; got: {results}; pass the file "
            "`edgekit bench --json FILE` wrote"
        )
    return rows


def _runtime_of(entry: dict) -> str | None:
    """The runtime id a bench row used, when it names one edgekit knows."""
    rt = str(entry.get("runtime") or "").lower()
    return rt if rt in formats.RUNTIMES else None
