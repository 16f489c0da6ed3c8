"""Panel targets: one query bound to one provisioned datasource.

Every panel's queries go through these, so each target carries the fixed
datasource uid and, for Prometheus, the same editor and format settings.
"""

from __future__ import annotations

from typing import Any

from .catalog import INFLUX, PROM


def influx_target(query: str, ref: str = "A") -> dict[str, Any]:
    """A Flux query on the InfluxDB datasource."""
    return {"refId": ref, "datasource": INFLUX, "query": query}


def prom_target(
    expr: str, legend: str = "", ref: str = "A", instant: bool = False, table: bool = False
) -> dict[str, Any]:
    """A PromQL query: a range query for charts, or an instant one (optionally a table)."""
    return {
        "refId": ref,
        "datasource": PROM,
        "editorMode": "code",
        "expr": expr,
        "legendFormat": legend or "__auto",
        "range": not instant,
        "instant": instant,
        "format": "table" if table else "time_series",
    }
