"""Bench reports: tables (measured and estimated rows), matplotlib charts and report.html.

The charts need matplotlib (`pip install "edgekit[report]"`), imported only when drawn.
"""

from __future__ import annotations

from edgekit.report.charts import accuracy_chart, chart_png, latency_chart
from edgekit.report.page import html_report
from edgekit.report.tables import (
    CROSS_HEAD,
    TABLE_HEAD,
    accuracy_of,
    bench_folder,
    cross_rows,
    kb,
    table_row,
)

__all__ = [
    "CROSS_HEAD", "TABLE_HEAD", "kb", "accuracy_chart", "accuracy_of",
    "bench_folder", "chart_png", "cross_rows", "html_report", "latency_chart", "table_row",
]  # fmt: skip
