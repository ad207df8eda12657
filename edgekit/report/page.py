"""`report.html`: one self-contained page (charts embedded as data URIs)."""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path

from edgekit.report.tables import CROSS_HEAD, TABLE_HEAD, table_row


def _table(table_id: str, head, rows) -> str:
    body = ""
    for r in rows:
        cls = f' class="{html.escape(str(r[2]))}"' if head is CROSS_HEAD else ""
        body += f"<tr{cls}>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>"
    th = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    return f'<table id="{table_id}"><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>'


def _img(img_id: str, path: Path, alt: str) -> str:
    data = base64.b64encode(Path(path).read_bytes()).decode()
    return f'<img id="{img_id}" alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def html_report(
    results, skipped: list[str], env: dict, chart: Path, path: Path, *,
    cross: list[tuple] | None = None, charts: dict[str, Path] | None = None,
    budget_ms: float | None = None,
) -> Path:  # fmt: skip
    """Write the page: the measured table, the size chart, and with `cross` the measured and
    estimated rows per target with their charts (`charts`: element id -> PNG path)."""
    notes = "".join(f"<li>{html.escape(s)}</li>" for s in skipped)
    parts = [
        f"<p>{html.escape(str(env.get('cpu')))} &middot; {env.get('cores')} cores &middot; "
        f"{html.escape(str(env.get('os')))}</p>",
        _table("results", TABLE_HEAD, [table_row(r) for r in results]) if results else "",
    ]
    if chart:
        parts.append("<h2>Latency against size</h2>" + _img("chart", chart, "p50 against size"))
    if cross is not None:
        budget = f" (frame budget {budget_ms:g} ms)" if budget_ms else ""
        parts += [
            f"<h2>Per target: measured and estimated{html.escape(budget)}</h2>",
            "<p>Rows marked <b>estimate</b> were not measured: they come from the op costs and a "
            "fit on published measurements, with an interval that held about 80% of held-out "
            "errors.</p>",
            _table("targets", CROSS_HEAD, cross),
        ]
        for img_id, png in (charts or {}).items():
            parts.append(_img(img_id, png, img_id.replace("-", " ")))
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>edgekit bench</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}}th{{background:#eee}}
tr.estimate td{{font-style:italic;background:#f7f7ff}}img{{max-width:100%;display:block}}</style>
</head><body><h1>edgekit bench</h1>{"".join(parts)}<ul>{notes}</ul>
<details><summary>machine</summary><pre>{html.escape(json.dumps(env, indent=2))}</pre></details>
</body></html>"""
    Path(path).write_text(page, encoding="utf-8")
    return Path(path)
