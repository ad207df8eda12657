"""Charts of a bench report, drawn with matplotlib (the `report` extra; imported when used).

- `chart_png`: p50 latency against file size, coloured by accuracy (one convert folder).
- `latency_chart`: latency per target and artifact, measured bars beside estimated bars with
  the estimate's interval as error bars, and the frame budget as a line.
- `accuracy_chart`: accuracy against latency, measured and estimated points marked apart.
"""

from __future__ import annotations

from pathlib import Path

from edgekit.errors import ConfigError, MissingDependencyError


def _plt():
    try:
        import matplotlib

        matplotlib.use("Agg")  # files only; never a window
        import matplotlib.pyplot as plt
    except ImportError as e:
        raise MissingDependencyError(
            "matplotlib is not installed (needed for the report charts); fix: pip install "
            '"edgekit[report]"'
        ) from e
    return plt


def _save(fig, path: Path) -> Path:
    try:
        fig.savefig(path, dpi=110, bbox_inches="tight")
    except OSError as e:
        raise ConfigError(f"cannot write the chart; got: {path} ({e}); is it writable?") from e
    finally:
        _plt().close(fig)
    return Path(path)


def chart_png(results, path: Path) -> Path:
    """Scatter of p50 latency against file size (log axes), coloured by accuracy."""
    from edgekit.report.tables import accuracy_of, kb

    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 4.5))
    acc = [accuracy_of(r) for r in results]
    colours = [a if a is not None else float("nan") for a in acc]
    sc = ax.scatter([r.size_bytes for r in results], [r.p50_ms for r in results], c=colours,
                    cmap="RdYlGn", vmin=0, vmax=1, s=60, edgecolors="k",
                    plotnonfinite=True)  # fmt: skip
    for r in results:
        ax.annotate(f"{r.format} {r.precision or ''}", (r.size_bytes, r.p50_ms), fontsize=7,
                    xytext=(4, 4), textcoords="offset points")  # fmt: skip
    ax.set(xscale="log", yscale="log", xlabel="file size (bytes, log)", ylabel="p50 latency (ms)",
           title="latency against size")  # fmt: skip
    ax.xaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: kb(v)))
    ax.grid(True, which="both", alpha=0.3)
    fig.colorbar(sc, ax=ax, label="accuracy (grey: none)")
    return _save(fig, path)


def latency_chart(rows: list[dict], path: Path, *, budget_ms: float | None = None) -> Path:
    """Grouped bars: one group per target, one bar per artifact; estimates hatched with their
    interval as error bars. `rows`: dicts with target, artifact, kind, ms, low, high."""
    plt = _plt()
    targets = list(dict.fromkeys(r["target"] for r in rows))
    arts = list(dict.fromkeys(r["artifact"] for r in rows))
    fig, ax = plt.subplots(figsize=(max(7, 1.2 * len(targets) * max(1, len(arts)) ** 0.5), 4.8))
    width = 0.8 / max(len(arts), 1)
    cmap = plt.get_cmap("tab20")
    for j, art in enumerate(arts):
        for i, t in enumerate(targets):
            for r in (r for r in rows if r["target"] == t and r["artifact"] == art):
                est = r["kind"] == "estimate"
                err = [[r["ms"] - r["low"]], [r["high"] - r["ms"]]] if est else None
                ax.bar(i + (j - (len(arts) - 1) / 2) * width, r["ms"], width, yerr=err,
                       capsize=3, color=cmap(j % 20), hatch="//" if est else None,
                       edgecolor="k", linewidth=0.5,
                       label=art if i == 0 or art not in _labels(ax) else None)  # fmt: skip
    if budget_ms:
        ax.axhline(budget_ms, color="red", linestyle="--", label=f"frame budget {budget_ms:g} ms")
    ax.set_xticks(range(len(targets)), targets, rotation=30, ha="right")
    ax.set(yscale="log", ylabel="latency (ms, log)", xlabel="target",
           title="latency per target (hatched: estimate, bars: interval ~80%)")  # fmt: skip
    ax.grid(True, axis="y", which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))
    return _save(fig, path)


def accuracy_chart(rows: list[dict], path: Path, *, budget_ms: float | None = None) -> Path:
    """Accuracy against latency: filled markers measured, hollow ones estimated."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 4.5))
    targets = list(dict.fromkeys(r["target"] for r in rows))
    cmap = plt.get_cmap("tab10")
    for i, t in enumerate(targets):
        for kind, face in (("measured", cmap(i % 10)), ("estimate", "none")):
            pts = [
                r for r in rows if r["target"] == t and r["kind"] == kind and r["acc"] is not None
            ]
            if pts:
                ax.scatter([r["ms"] for r in pts], [100 * r["acc"] for r in pts], s=50,
                           facecolors=face, edgecolors=cmap(i % 10),
                           label=f"{t} ({kind})")  # fmt: skip
    if budget_ms:
        ax.axvline(budget_ms, color="red", linestyle="--", label=f"frame budget {budget_ms:g} ms")
    ax.set(xscale="log", xlabel="latency (ms, log)", ylabel="accuracy (%)",
           title="accuracy against latency")  # fmt: skip
    ax.grid(True, which="both", alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))
    return _save(fig, path)


def _labels(ax) -> list[str]:
    return ax.get_legend_handles_labels()[1]
