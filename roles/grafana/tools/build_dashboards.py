#!/usr/bin/env python3
"""Build the provisioned dashboards (../files/dashboards/*.json) from code.

The JSON files are what the role copies and what Grafana loads; this script is
how they are written, so that seven dashboards share one style, one set of
Flux snippets and one set of datasource uids. Edit here, then run:

    python3 roles/grafana/tools/build_dashboards.py          # rewrite the JSON
    python3 roles/grafana/tools/build_dashboards.py --check  # exit 1 if stale

tests/static/test_grafana_dashboards.py runs the --check comparison, so a hand
edit of the JSON (or an edit here without a rebuild) fails the tests.
Output is deterministic: sorted keys are not used (Grafana's own order reads
better), but nothing depends on time or randomness.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent.parent / "files" / "dashboards"

# Datasources: uids fixed by roles/grafana/vars/main.yml (_grafana_datasource_uids).
INFLUX = {"type": "influxdb", "uid": "bbdash-influxdb"}
PROM = {"type": "prometheus", "uid": "bbdash-prometheus"}
PG = {"type": "grafana-postgresql-datasource", "uid": "bbdash-postgres"}
GRAFANA = {"type": "grafana", "uid": "-- Grafana --"}

SCHEMA_VERSION = 41

# Terminal palette: amber headers on black, green up, red down.
AMBER = "#FFA028"
UP = "#00D26A"
DOWN = "#FF433D"
FLAT = "#C8C8C8"
MONO = "'DejaVu Sans Mono','Menlo','Consolas',monospace"

# Dashboards (uid, slug used in links, function-key label).
DASHBOARDS = {
    "overview": ("bbdash-market-overview", "market-overview", "OVR", "Market overview"),
    "asset": ("bbdash-asset-detail", "asset-detail", "DES", "Asset detail"),
    "crypto": ("bbdash-crypto", "crypto", "CRY", "Crypto"),
    "stocks": ("bbdash-stocks-forex", "stocks-and-forex", "EQ/FX", "Stocks & forex"),
    "news": ("bbdash-news", "news-and-sentiment", "NEWS", "News & sentiment"),
    "infra": ("bbdash-infrastructure", "infrastructure", "INFRA", "Infrastructure"),
    "pipeline": ("bbdash-pipeline-health", "pipeline-health", "PIPE", "Pipeline health"),
}


def url(key: str) -> str:
    uid, slug, _, _ = DASHBOARDS[key]
    return f"/d/{uid}/{slug}"


# --------------------------------------------------------------------------- Flux

RANGE = "|> range(start: v.timeRangeStart, stop: v.timeRangeStop)"
MARKET = 'r._measurement == "market_data"'
NEWS = 'r._measurement == "news_articles"'

# Raw points are kept 7 days, 5-minute means 30 days, hourly means 365 days
# (the seed's retention table and its InfluxDB downsampling tasks). The bucket
# follows how far back the range reaches: its span, or its start's age when
# the range ends in the past. 5 minutes of grace keep "Last 7 days" on raw data.
BUCKET_PRELUDE = """// Bucket by reach: raw `markets` up to 7 d, `markets_5min` up to 30 d, `markets_1h` beyond.
span = int(v: v.timeRangeStop) - int(v: v.timeRangeStart)
age = int(v: now()) - int(v: v.timeRangeStart)
reach = if age > span then age else span
bucket = if reach <= int(v: 7d5m) then "markets" else if reach <= int(v: 30d5m) then "markets_5min" else "markets_1h"
"""


def fields_set(fields: list[str]) -> str:
    return "[" + ", ".join(f'"{f}"' for f in fields) + "]"


def snapshot(
    fields: list[str], symbols: str = "${symbol:json}", asset_types: str | None = None
) -> str:
    """Latest value of each field per symbol (most recent across exchanges), one row per symbol."""
    lines = [
        'from(bucket: "markets")',
        f"  {RANGE}",
        f"  |> filter(fn: (r) => {MARKET})",
        f"  |> filter(fn: (r) => contains(value: r.symbol, set: {symbols}))",
    ]
    if asset_types:
        lines.append(f"  |> filter(fn: (r) => contains(value: r.asset_type, set: {asset_types}))")
    lines += [
        f"  |> filter(fn: (r) => contains(value: r._field, set: {fields_set(fields)}))",
        "  |> last()",
        '  |> group(columns: ["symbol", "_field"])',
        '  |> sort(columns: ["_time"])',
        "  |> last()",
        "  |> group()",
        '  |> keep(columns: ["symbol", "_field", "_value"])',
        '  |> pivot(rowKey: ["symbol"], columnKey: ["_field"], valueColumn: "_value")',
    ]
    return "\n".join(lines)


def latest_per_symbol(field: str, symbols: str = "${symbol:json}") -> str:
    """One series per symbol holding the field's latest value (for stat grids)."""
    return "\n".join(
        [
            'from(bucket: "markets")',
            f"  {RANGE}",
            f'  |> filter(fn: (r) => {MARKET} and r._field == "{field}")',
            f"  |> filter(fn: (r) => contains(value: r.symbol, set: {symbols}))",
            "  |> last()",
            '  |> group(columns: ["symbol"])',
            '  |> sort(columns: ["_time"])',
            "  |> last()",
            '  |> keep(columns: ["symbol", "_time", "_value"])',
        ]
    )


def ticker(symbols: str = "${symbol:json}") -> str:
    """Tape items: value = 24 h change, label `quote` = last price (core stat panel)."""
    return (
        snapshot(["price", "change_pct_24h"], symbols)
        + "\n  |> filter(fn: (r) => exists r.change_pct_24h)"
        + '\n  |> sort(columns: ["symbol"])'
        + '\n  |> map(fn: (r) => ({symbol: r.symbol, quote: if exists r.price then string(v: r.price) else "-", _value: r.change_pct_24h}))'
        + '\n  |> group(columns: ["symbol", "quote"])'
    )


def rebased(symbols: str) -> str:
    """Price of each symbol rebased to 100 at the start of the range (comparable lines)."""
    return BUCKET_PRELUDE + "\n".join(
        [
            "data = from(bucket: bucket)",
            f"  {RANGE}",
            f'  |> filter(fn: (r) => {MARKET} and r._field == "price")',
            f"  |> filter(fn: (r) => contains(value: r.symbol, set: {symbols}))",
            '  |> group(columns: ["symbol"])',
            '  |> sort(columns: ["_time"])',
            "  |> aggregateWindow(every: v.windowPeriod, fn: mean, createEmpty: false)",
            "base = data |> first() |> map(fn: (r) => ({symbol: r.symbol, base: r._value}))",
            'join(tables: {d: data, b: base}, on: ["symbol"])',
            "  |> filter(fn: (r) => r.base > 0.0)",
            "  |> map(fn: (r) => ({_time: r._time, symbol: r.symbol, _value: r._value / r.base * 100.0}))",
        ]
    )


def demo_count(bucket: str, measurement: str, field: str) -> str:
    return "\n".join(
        [
            f'from(bucket: "{bucket}")',
            f"  {RANGE}",
            f'  |> filter(fn: (r) => r._measurement == "{measurement}" and r._field == "{field}")',
            '  |> filter(fn: (r) => r.demo == "true")',
            "  |> group()",
            "  |> count()",
        ]
    )


NEWS_SYMBOL_PRELUDE = """import "strings"

// News tag related_asset holds a base asset or a whole symbol:
// match either the symbol or its base ("BASE/QUOTE" -> "BASE").
symbol = "${symbol}"
base = strings.split(v: symbol, t: "/")[0]
"""


def news_table(symbol_filter: bool, limit: int = 100, category_filter: bool = False) -> str:
    lines = [
        'from(bucket: "news")',
        f"  {RANGE}",
        f"  |> filter(fn: (r) => {NEWS})",
        '  |> filter(fn: (r) => contains(value: r._field, set: ["title", "url", "sentiment_score"]))',
    ]
    if symbol_filter:
        lines.append(
            '  |> filter(fn: (r) => symbol == "__all" or r.related_asset == symbol or r.related_asset == base)'
        )
    if category_filter:
        lines.append("  |> filter(fn: (r) => contains(value: r.category, set: ${category:json}))")
    lines += [
        '  |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")',
        "  |> group()",
        '  |> sort(columns: ["_time"], desc: true)',
        f"  |> limit(n: {limit})",
        '  |> keep(columns: ["_time", "source", "category", "related_asset", "title", "sentiment_score", "url"])',
    ]
    body = "\n".join(lines)
    return (NEWS_SYMBOL_PRELUDE + body) if symbol_filter else body


def sentiment_series(symbol_filter: bool, category_filter: bool = False) -> str:
    lines = [
        "// Hourly at least: news are sparse, finer windows are mostly empty.",
        "period = if int(v: v.windowPeriod) < int(v: 1h) then 1h else v.windowPeriod",
        'from(bucket: "news")',
        f"  {RANGE}",
        f'  |> filter(fn: (r) => {NEWS} and r._field == "sentiment_score")',
    ]
    if symbol_filter:
        lines.append(
            '  |> filter(fn: (r) => symbol == "__all" or r.related_asset == symbol or r.related_asset == base)'
        )
    if category_filter:
        lines.append("  |> filter(fn: (r) => contains(value: r.category, set: ${category:json}))")
    lines += [
        '  |> group(columns: ["related_asset"])',
        '  |> sort(columns: ["_time"])',
        "  |> aggregateWindow(every: period, fn: mean, createEmpty: false)",
    ]
    body = "\n".join(lines)
    return (NEWS_SYMBOL_PRELUDE + body) if symbol_filter else body


# --------------------------------------------------------------------------- panels


class Board:
    """Places panels left to right, top to bottom, on Grafana's 24-column grid."""

    def __init__(self) -> None:
        self.panels: list[dict[str, Any]] = []
        self.x = 0
        self.y = 0
        self.row_h = 0
        self.next_id = 1

    def add(self, panel: dict[str, Any], w: int, h: int) -> dict[str, Any]:
        if self.x + w > 24:
            self.newline()
        panel["id"] = self.next_id
        self.next_id += 1
        panel["gridPos"] = {"h": h, "w": w, "x": self.x, "y": self.y}
        self.x += w
        self.row_h = max(self.row_h, h)
        self.panels.append(panel)
        return panel

    def newline(self) -> None:
        if self.x:
            self.y += self.row_h
        self.x = 0
        self.row_h = 0


def influx_target(query: str, ref: str = "A") -> dict[str, Any]:
    return {"refId": ref, "datasource": INFLUX, "query": query}


def prom_target(
    expr: str, legend: str = "", ref: str = "A", instant: bool = False, table: bool = False
) -> dict[str, Any]:
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


def pg_target(sql: str, ref: str = "A") -> dict[str, Any]:
    return {
        "refId": ref,
        "datasource": PG,
        "editorMode": "code",
        "format": "table",
        "rawQuery": True,
        "rawSql": sql,
    }


def thresholds(*steps: tuple[float | None, str]) -> dict[str, Any]:
    return {"mode": "absolute", "steps": [{"color": c, "value": v} for v, c in steps]}


UPDOWN = thresholds((None, DOWN), (0, UP))
AMBER_ONLY = thresholds((None, AMBER))


def field_defaults(
    unit: str = "none",
    decimals: int | None = None,
    color: dict[str, Any] | None = None,
    th: dict[str, Any] | None = None,
    custom: dict[str, Any] | None = None,
    links: list[dict[str, Any]] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    d: dict[str, Any] = {
        "unit": unit,
        "color": color or {"mode": "thresholds"},
        "thresholds": th or AMBER_ONLY,
        "mappings": extra.pop("mappings", []),
    }
    if decimals is not None:
        d["decimals"] = decimals
    if custom is not None:
        d["custom"] = custom
    if links:
        d["links"] = links
    d.update(extra)
    return d


def override(matcher: str, name: str, props: dict[str, Any], by: str = "byName") -> dict[str, Any]:
    return {
        "matcher": {"id": by, "options": name},
        "properties": [{"id": k, "value": v} for k, v in props.items()],
    }


def link(title: str, target: str, query: str = "", blank: bool = False) -> dict[str, Any]:
    full = target + ("?" + query if query else "")
    return {"title": title, "url": full, "targetBlank": blank}


def asset_link(field: str = "${__data.fields.symbol:percentencode}") -> dict[str, Any]:
    return link("Asset detail", url("asset"), f"var-symbol={field}&${{__url_time_range}}")


def news_link(field: str = "${__data.fields.symbol:percentencode}") -> dict[str, Any]:
    return link("News for this asset", url("news"), f"var-symbol={field}&${{__url_time_range}}")


def text_panel(html: str, title: str = "", transparent: bool = True) -> dict[str, Any]:
    return {
        "type": "text",
        "title": title,
        "transparent": transparent,
        "options": {
            "mode": "html",
            "content": html,
            "code": {"language": "plaintext", "showLineNumbers": False, "showMiniMap": False},
        },
    }


def header(key: str, subtitle: str) -> dict[str, Any]:
    title = DASHBOARDS[key][3]
    keys = []
    for n, (k, (_, _, label, _)) in enumerate(DASHBOARDS.items(), start=1):
        style = f"color:#000;background:{AMBER};padding:0 4px" if k == key else f"color:{AMBER}"
        keys.append(f'<a href="{url(k)}" style="{style};text-decoration:none">F{n} {label}</a>')
    html = (
        f'<div style="background:#000;border-bottom:2px solid {AMBER};padding:3px 8px;font-family:{MONO}">'
        f'<span style="color:{AMBER};font-weight:bold;font-size:18px">BBDASH &lt;GO&gt;</span>'
        f'&nbsp;&nbsp;<span style="color:#FFFFFF;font-size:16px;font-weight:bold">{title.upper()}</span>'
        f'&nbsp;&nbsp;<span style="color:#8C8C8C;font-size:12px">{subtitle}</span>'
        f'<div style="font-size:12px;margin-top:2px">{" &nbsp;".join(keys)}</div>'
        "</div>"
    )
    return text_panel(html)


def section(label: str, note: str = "") -> dict[str, Any]:
    html = (
        f'<div style="background:{AMBER};color:#000;font-family:{MONO};font-weight:bold;'
        f'font-size:13px;padding:1px 8px">{label.upper()}'
        + (f'<span style="font-weight:normal;margin-left:16px">{note}</span>' if note else "")
        + "</div>"
    )
    return text_panel(html)


def stat(
    title: str,
    targets: list[dict[str, Any]],
    defaults: dict[str, Any],
    *,
    text_mode: str = "value",
    color_mode: str = "value",
    graph: str = "none",
    orientation: str = "auto",
    fields: str = "",
    values: bool = False,
    overrides: list[dict[str, Any]] | None = None,
    description: str = "",
    links: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    p: dict[str, Any] = {
        "type": "stat",
        "title": title,
        "description": description,
        "datasource": targets[0]["datasource"],
        "targets": targets,
        "fieldConfig": {"defaults": defaults, "overrides": overrides or []},
        "options": {
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": fields, "values": values},
            "orientation": orientation,
            "textMode": text_mode,
            "colorMode": color_mode,
            "graphMode": graph,
            "justifyMode": "auto",
            "wideLayout": True,
            "showPercentChange": False,
        },
    }
    if links:
        p["links"] = links
    return p


def table(
    title: str,
    targets: list[dict[str, Any]],
    overrides: list[dict[str, Any]],
    *,
    defaults: dict[str, Any] | None = None,
    sort_by: list[dict[str, Any]] | None = None,
    description: str = "",
    links: list[dict[str, Any]] | None = None,
    transformations: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    p: dict[str, Any] = {
        "type": "table",
        "title": title,
        "description": description,
        "datasource": targets[0]["datasource"],
        "targets": targets,
        "fieldConfig": {
            "defaults": defaults
            or field_defaults(
                custom={
                    "align": "auto",
                    "cellOptions": {"type": "auto"},
                    "inspect": False,
                    "filterable": False,
                }
            ),
            "overrides": overrides,
        },
        "options": {
            "showHeader": True,
            "cellHeight": "sm",
            "footer": {"show": False, "reducer": ["sum"], "countRows": False, "fields": ""},
            "sortBy": sort_by or [],
        },
    }
    if links:
        p["links"] = links
    if transformations:
        p["transformations"] = transformations
    return p


def timeseries(
    title: str,
    targets: list[dict[str, Any]],
    defaults: dict[str, Any] | None = None,
    *,
    overrides: list[dict[str, Any]] | None = None,
    description: str = "",
    legend: str = "list",
    stack: bool = False,
    draw: str = "line",
    links: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    custom = {
        "drawStyle": draw,
        "lineWidth": 1,
        "fillOpacity": 10 if draw == "line" else 80,
        "gradientMode": "opacity" if draw == "line" else "none",
        "showPoints": "never",
        "spanNulls": True,
        "axisPlacement": "right",
        "axisBorderShow": False,
        "axisCenteredZero": False,
        "axisColorMode": "text",
        "axisLabel": "",
        "barAlignment": 0,
        "lineInterpolation": "linear",
        "pointSize": 3,
        "scaleDistribution": {"type": "linear"},
        "stacking": {"group": "A", "mode": "normal" if stack else "none"},
        "thresholdsStyle": {"mode": "off"},
        "hideFrom": {"legend": False, "tooltip": False, "viz": False},
        "insertNulls": False,
    }
    d = defaults or field_defaults(color={"mode": "palette-classic"})
    d.setdefault("custom", {}).update(
        {k: v for k, v in custom.items() if k not in d.get("custom", {})}
    )
    p: dict[str, Any] = {
        "type": "timeseries",
        "title": title,
        "description": description,
        "datasource": targets[0]["datasource"],
        "targets": targets,
        "fieldConfig": {"defaults": d, "overrides": overrides or []},
        "options": {
            "legend": {
                "showLegend": legend != "hidden",
                "displayMode": "list" if legend == "hidden" else legend,
                "placement": "bottom",
                "calcs": [],
            },
            "tooltip": {"mode": "multi", "sort": "desc"},
        },
    }
    if links:
        p["links"] = links
    return p


def bargauge(
    title: str,
    targets: list[dict[str, Any]],
    defaults: dict[str, Any],
    *,
    fields: str = "",
    values: bool = False,
    description: str = "",
    overrides: list[dict[str, Any]] | None = None,
    links: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    p: dict[str, Any] = {
        "type": "bargauge",
        "title": title,
        "description": description,
        "datasource": targets[0]["datasource"],
        "targets": targets,
        "fieldConfig": {"defaults": defaults, "overrides": overrides or []},
        "options": {
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": fields, "values": values},
            "orientation": "horizontal",
            "displayMode": "basic",
            "valueMode": "color",
            "namePlacement": "left",
            "showUnfilled": True,
            "sizing": "auto",
            "minVizWidth": 8,
            "minVizHeight": 14,
            "maxVizHeight": 20,
        },
    }
    if links:
        p["links"] = links
    return p


def barchart(
    title: str,
    targets: list[dict[str, Any]],
    x_field: str,
    color_field: str,
    defaults: dict[str, Any],
    description: str = "",
) -> dict[str, Any]:
    d = dict(defaults)
    d["custom"] = {
        "lineWidth": 0,
        "fillOpacity": 85,
        "gradientMode": "none",
        "axisPlacement": "auto",
        "axisCenteredZero": True,
        "hideFrom": {"legend": False, "tooltip": False, "viz": False},
    }
    return {
        "type": "barchart",
        "title": title,
        "description": description,
        "datasource": targets[0]["datasource"],
        "targets": targets,
        "fieldConfig": {"defaults": d, "overrides": []},
        "options": {
            "xField": x_field,
            "colorByField": color_field,
            "orientation": "auto",
            "barWidth": 0.8,
            "groupWidth": 0.7,
            "showValue": "auto",
            "stacking": "none",
            "xTickLabelRotation": -45,
            "xTickLabelSpacing": 0,
            "legend": {
                "showLegend": False,
                "displayMode": "list",
                "placement": "bottom",
                "calcs": [],
            },
            "tooltip": {"mode": "single", "sort": "none"},
        },
    }


def piechart(
    title: str,
    targets: list[dict[str, Any]],
    fields: str,
    defaults: dict[str, Any],
    description: str = "",
) -> dict[str, Any]:
    return {
        "type": "piechart",
        "title": title,
        "description": description,
        "datasource": targets[0]["datasource"],
        "targets": targets,
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": {
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": fields, "values": True},
            "pieType": "donut",
            "displayLabels": ["name", "percent"],
            "legend": {
                "showLegend": True,
                "displayMode": "table",
                "placement": "right",
                "values": ["percent"],
            },
            "tooltip": {"mode": "single", "sort": "none"},
        },
    }


def demo_banner(bucket: str, measurement: str, field: str) -> dict[str, Any]:
    """Red banner while demo points (tag demo=true) are in the range; a quiet line otherwise."""
    d = field_defaults(
        th=thresholds((None, "transparent"), (1, DOWN)),
        mappings=[
            {
                "type": "range",
                "options": {
                    "from": 1,
                    "to": None,
                    "result": {
                        "text": "⚠ DEMO DATA — simulated values (tag demo=true), not a market",
                        "color": DOWN,
                        "index": 0,
                    },
                },
            },
            {
                "type": "value",
                "options": {"0": {"text": "live data", "color": "transparent", "index": 1}},
            },
        ],
        noValue="live data · no demo point in range",
    )
    p = stat(
        "",
        [influx_target(demo_count(bucket, measurement, field))],
        d,
        color_mode="background",
        text_mode="value",
        description="Counts points tagged demo=true in the dashboard's range. Demo points come from the demo data generator, never from a market.",
    )
    p["transparent"] = True
    return p


# Common field configs.
def price_defaults(**kw: Any) -> dict[str, Any]:
    return field_defaults(
        unit="none",
        decimals=kw.pop("decimals", None),
        color={"mode": "fixed", "fixedColor": AMBER},
        **kw,
    )


def pct_defaults(**kw: Any) -> dict[str, Any]:
    return field_defaults(unit="percent", decimals=2, th=UPDOWN, **kw)


def cell(kind: str) -> dict[str, Any]:
    return {"type": kind}


SYMBOL_LINKS = [asset_link(), news_link()]


def symbol_col(name: str = "symbol") -> dict[str, Any]:
    return override(
        "byName",
        name,
        {
            "displayName": "SYMBOL",
            "links": SYMBOL_LINKS,
            "custom.cellOptions": {"type": "color-text"},
            "color": {"mode": "fixed", "fixedColor": AMBER},
            "custom.width": 120,
        },
    )


def num_col(
    name: str, label: str, unit: str = "none", decimals: int | None = None
) -> dict[str, Any]:
    props: dict[str, Any] = {"displayName": label, "unit": unit, "custom.align": "right"}
    if decimals is not None:
        props["decimals"] = decimals
    return override("byName", name, props)


def pct_col(name: str, label: str) -> dict[str, Any]:
    return override(
        "byName",
        name,
        {
            "displayName": label,
            "unit": "percent",
            "decimals": 2,
            "thresholds": UPDOWN,
            "color": {"mode": "thresholds"},
            "custom.cellOptions": {"type": "color-text"},
            "custom.align": "right",
        },
    )


def change_grid(
    title: str, field: str, symbols: str = "${symbol:json}", lo: float = -5, hi: float = 5
) -> dict[str, Any]:
    """Finviz-style heatmap: one tile per symbol, colour from red to green by change."""
    return stat(
        title,
        [influx_target(latest_per_symbol(field, symbols))],
        field_defaults(
            unit="percent",
            decimals=2,
            color={"mode": "continuous-RdYlGr"},
            min=lo,
            max=hi,
            displayName="${__field.labels.symbol}",
            links=[
                link(
                    "Asset detail",
                    url("asset"),
                    "var-symbol=${__field.labels.symbol:percentencode}&${__url_time_range}",
                )
            ],
        ),
        text_mode="value_and_name",
        color_mode="background",
        orientation="horizontal",
        description=f"Latest {field} of each selected symbol; red to green from {lo}% to {hi}%. Click a tile for the asset.",
    )


def ticker_tape(symbols: str = "${symbol:json}") -> dict[str, Any]:
    return stat(
        "Ticker tape",
        [influx_target(ticker(symbols))],
        pct_defaults(
            displayName="${__field.labels.symbol}  ${__field.labels.quote}",
            links=[
                link(
                    "Asset detail",
                    url("asset"),
                    "var-symbol=${__field.labels.symbol:percentencode}&${__url_time_range}",
                )
            ],
        ),
        text_mode="value_and_name",
        color_mode="value",
        orientation="vertical",
        description="Last price and 24 h change of each selected symbol (core panel; the monospace tape below needs the Business Text plugin).",
    )


def plugin_ticker(symbols: str = "${symbol:json}") -> dict[str, Any]:
    """Monospace scrolling tape (Business Text plugin). The core tape above carries the same data."""
    content = (
        '<div class="tape"><div class="track">{{#each data}}'
        '<a class="item" href="' + url("asset") + '?var-symbol={{encode symbol}}">'
        '<b>{{symbol}}</b> {{fixed price}} <span class="{{dir change_pct_24h}}">{{arrow change_pct_24h}}{{fixed change_pct_24h}}%</span>'
        "</a>{{/each}}</div></div>"
    )
    helpers = (
        "context.handlebars.registerHelper('dir', (v) => (v > 0 ? 'up' : v < 0 ? 'dn' : 'flat'));\n"
        "context.handlebars.registerHelper('arrow', (v) => (v > 0 ? '▲' : v < 0 ? '▼' : '■'));\n"
        "context.handlebars.registerHelper('encode', (v) => encodeURIComponent(v));\n"
        "context.handlebars.registerHelper('fixed', (v) => (typeof v === 'number' ? (Math.abs(v) >= 100 ? v.toFixed(2) : v.toPrecision(6)) : '-'));\n"
    )
    styles = (
        f".tape {{ background:#000; overflow:hidden; white-space:nowrap; font-family:{MONO}; font-size:15px; }}\n"
        ".track { display:inline-block; padding-left:100%; animation: bbtape 90s linear infinite; }\n"
        ".tape:hover .track { animation-play-state: paused; }\n"
        f".item {{ color:{AMBER}; margin-right:28px; text-decoration:none; }}\n"
        f".up {{ color:{UP}; }} .dn {{ color:{DOWN}; }} .flat {{ color:{FLAT}; }}\n"
        "@keyframes bbtape { from { transform: translateX(0); } to { transform: translateX(-100%); } }\n"
    )
    return {
        "type": "marcusolsson-dynamictext-panel",
        "title": "Tape (plugin: Business Text)",
        "description": "Needs the marcusolsson-dynamictext-panel plugin. Without it this panel says so, and the core 'Ticker tape' panel shows the same data.",
        "datasource": INFLUX,
        "targets": [
            influx_target(
                snapshot(["price", "change_pct_24h"], symbols) + '\n  |> sort(columns: ["symbol"])'
            )
        ],
        "transparent": True,
        "options": {
            "renderMode": "allRows",
            "content": content,
            "defaultContent": "No quote in range.",
            "helpers": helpers,
            "styles": styles,
            "wrap": False,
            "contentPartials": [],
            "editors": [],
        },
    }


# --------------------------------------------------------------------------- variables


def var_asset_type(multi: bool = True) -> dict[str, Any]:
    opts = ["crypto", "stock", "forex", "index"]
    return {
        "type": "custom",
        "name": "asset_type",
        "label": "Type",
        "query": ",".join(opts),
        "multi": multi,
        "includeAll": True,
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        "options": [],
        "hide": 0,
        "skipUrlSync": False,
    }


def var_pg(
    name: str, label: str, sql: str, *, multi: bool, include_all: bool, all_value: str | None = None
) -> dict[str, Any]:
    v: dict[str, Any] = {
        "type": "query",
        "name": name,
        "label": label,
        "datasource": PG,
        "query": sql,
        "definition": sql,
        "refresh": 1,
        "sort": 1,
        "multi": multi,
        "includeAll": include_all,
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]}
        if include_all and multi
        else {},
        "options": [],
        "hide": 0,
        "regex": "",
        "skipUrlSync": False,
    }
    if all_value is not None:
        v["allValue"] = all_value
        v["current"] = {"selected": True, "text": "All", "value": "$__all"}
    return v


def var_influx(
    name: str, label: str, flux: str, *, multi: bool, include_all: bool
) -> dict[str, Any]:
    return {
        "type": "query",
        "name": name,
        "label": label,
        "datasource": INFLUX,
        "query": flux,
        "definition": flux,
        "refresh": 2,
        "sort": 1,
        "multi": multi,
        "includeAll": include_all,
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]} if include_all else {},
        "options": [],
        "hide": 0,
        "regex": "",
        "skipUrlSync": False,
    }


def var_prom(
    name: str, label: str, query: str, *, regex: str = "", multi: bool = True
) -> dict[str, Any]:
    return {
        "type": "query",
        "name": name,
        "label": label,
        "datasource": PROM,
        "query": {
            "query": query,
            "refId": "PrometheusVariableQueryEditor-VariableQuery",
            "qryType": 1,
        },
        "definition": query,
        "refresh": 2,
        "sort": 1,
        "multi": multi,
        "includeAll": True,
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        "options": [],
        "hide": 0,
        "regex": regex,
        "skipUrlSync": False,
    }


def tag_values(tag: str, predicate: str, measurement_bucket: str = "markets") -> str:
    return (
        'import "influxdata/influxdb/schema"\n'
        f'schema.tagValues(bucket: "{measurement_bucket}", tag: "{tag}", predicate: (r) => {predicate}, start: -30d)'
    )


WATCHLIST_SQL = "SELECT symbol FROM collected_assets WHERE asset_type IN (${asset_type:sqlstring}) ORDER BY symbol"


# --------------------------------------------------------------------------- dashboards


def dashboard(
    key: str,
    tags: list[str],
    board: Board,
    variables: list[dict[str, Any]],
    *,
    time_from: str = "now-24h",
    refresh: str = "30s",
    description: str = "",
) -> dict[str, Any]:
    uid, _, _, title = DASHBOARDS[key]
    return {
        "id": None,
        "uid": uid,
        "title": title,
        "description": description,
        "tags": ["bbdash", *tags],
        "style": "dark",
        "timezone": "",
        "editable": True,
        "graphTooltip": 1,
        "fiscalYearStartMonth": 0,
        "liveNow": False,
        "schemaVersion": SCHEMA_VERSION,
        "time": {"from": time_from, "to": "now"},
        "timepicker": {"refresh_intervals": ["10s", "30s", "1m", "5m", "15m", "1h"]},
        "refresh": refresh,
        "weekStart": "",
        "annotations": {
            "list": [
                {
                    "builtIn": 1,
                    "datasource": GRAFANA,
                    "enable": True,
                    "hide": True,
                    "iconColor": "rgba(0, 211, 255, 1)",
                    "name": "Annotations & Alerts",
                    "type": "dashboard",
                }
            ]
        },
        "links": [
            {
                "title": "Bloomberg",
                "type": "dashboards",
                "tags": ["bbdash"],
                "asDropdown": True,
                "includeVars": False,
                "keepTime": True,
                "targetBlank": False,
                "icon": "external link",
                "tooltip": "",
                "url": "",
            }
        ],
        "templating": {"list": variables},
        "panels": board.panels,
    }


def market_overview() -> dict[str, Any]:
    b = Board()
    b.add(header("overview", "watchlist snapshot · click a symbol for its detail"), 24, 3)
    b.add(demo_banner("markets", "market_data", "price"), 24, 2)
    b.add(ticker_tape(), 24, 4)
    b.add(plugin_ticker(), 24, 2)
    b.add(section("24h change heatmap", "tiles: red to green, -5% to +5%"), 24, 1)
    b.add(change_grid("24h change", "change_pct_24h"), 24, 7)
    b.add(section("Top movers 24h"), 24, 1)
    movers_cols = [
        symbol_col(),
        num_col("price", "LAST"),
        pct_col("change_pct_24h", "CHG 24H"),
        num_col("volume_24h", "VOL 24H", "short"),
    ]
    q = (
        snapshot(["price", "change_pct_24h", "volume_24h"])
        + "\n  |> filter(fn: (r) => exists r.change_pct_24h)"
    )
    b.add(
        table(
            "Gainers",
            [
                influx_target(
                    q + '\n  |> sort(columns: ["change_pct_24h"], desc: true)\n  |> limit(n: 10)'
                )
            ],
            movers_cols,
            description="Top 10 by 24 h change.",
        ),
        12,
        9,
    )
    b.add(
        table(
            "Losers",
            [influx_target(q + '\n  |> sort(columns: ["change_pct_24h"])\n  |> limit(n: 10)')],
            movers_cols,
            description="Bottom 10 by 24 h change.",
        ),
        12,
        9,
    )
    b.add(section("Market caps"), 24, 1)
    mcap_q = (
        snapshot(["market_cap", "change_pct_24h"])
        + '\n  |> filter(fn: (r) => exists r.market_cap)\n  |> sort(columns: ["market_cap"], desc: true)\n  |> limit(n: 30)'
    )
    b.add(
        {
            "type": "marcusolsson-treemap-panel",
            "title": "Market caps (plugin: Treemap)",
            "description": "Area = market cap, colour = 24 h change. Needs the marcusolsson-treemap-panel plugin; the bar gauge beside it is the core fallback with the same data.",
            "datasource": INFLUX,
            "targets": [influx_target(mcap_q)],
            "fieldConfig": {
                "defaults": field_defaults(
                    unit="short",
                    color={"mode": "continuous-RdYlGr"},
                    min=-5,
                    max=5,
                    links=[asset_link()],
                ),
                "overrides": [override("byName", "market_cap", {"unit": "currencyUSD"})],
            },
            "options": {
                "labelByField": "symbol",
                "sizeByField": "market_cap",
                "colorByField": "change_pct_24h",
                "textField": "symbol",
                "tiling": "treemapSquarify",
            },
        },
        14,
        10,
    )
    b.add(
        bargauge(
            "Market caps (core)",
            [influx_target(mcap_q)],
            field_defaults(
                unit="currencyUSD",
                decimals=1,
                color={"mode": "fixed", "fixedColor": AMBER},
                links=[asset_link()],
            ),
            fields="/^market_cap$/",
            values=True,
            description="Ranked market caps, largest first (core panel: works without plugins).",
        ),
        10,
        10,
    )
    b.add(section("Latest headlines"), 24, 1)
    b.add(news_headlines_table("Headlines", symbol_filter=False, limit=15), 24, 8)
    variables = [
        var_asset_type(),
        var_pg("symbol", "Symbol", WATCHLIST_SQL, multi=True, include_all=True),
    ]
    return dashboard(
        "overview",
        ["markets"],
        b,
        variables,
        description="Watchlist snapshot: ticker, 24 h heatmap, top movers, market caps, headlines.",
    )


def news_headlines_table(
    title: str, symbol_filter: bool, limit: int = 100, category_filter: bool = False
) -> dict[str, Any]:
    cols = [
        override(
            "byName",
            "_time",
            {"displayName": "TIME", "unit": "dateTimeAsSystem", "custom.width": 160},
        ),
        override("byName", "source", {"displayName": "SRC", "custom.width": 110}),
        override("byName", "category", {"displayName": "CAT", "custom.width": 80}),
        override(
            "byName",
            "related_asset",
            {
                "displayName": "ASSET",
                "custom.width": 90,
                "color": {"mode": "fixed", "fixedColor": AMBER},
                "custom.cellOptions": {"type": "color-text"},
                "links": [
                    link(
                        "News for this asset",
                        url("news"),
                        "var-symbol=${__data.fields.related_asset:percentencode}&${__url_time_range}",
                    )
                ],
            },
        ),
        override(
            "byName",
            "title",
            {
                "displayName": "HEADLINE",
                "links": [
                    {
                        "title": "Open the article",
                        "url": "${__data.fields.url}",
                        "targetBlank": True,
                    }
                ],
            },
        ),
        override(
            "byName",
            "sentiment_score",
            {
                "displayName": "SENT",
                "decimals": 2,
                "min": -1,
                "max": 1,
                "color": {"mode": "continuous-RdYlGr"},
                "custom.cellOptions": {"type": "color-background", "mode": "basic"},
                "custom.width": 70,
                "custom.align": "right",
            },
        ),
        override("byName", "url", {"custom.hidden": True}),
    ]
    return table(
        title,
        [influx_target(news_table(symbol_filter, limit, category_filter))],
        cols,
        description="Latest articles, newest first. Click a headline to open it, an asset to filter the news on it. SENT is the sentiment score in [-1, 1].",
    )


def asset_detail() -> dict[str, Any]:
    b = Board()
    b.add(header("asset", "price, volume, exchanges and news of one symbol"), 24, 3)
    b.add(demo_banner("markets", "market_data", "price"), 24, 2)

    def latest(field: str) -> str:
        return BUCKET_PRELUDE + "\n".join(
            [
                "from(bucket: bucket)",
                f"  {RANGE}",
                f'  |> filter(fn: (r) => {MARKET} and r.symbol == "${{symbol}}" and r._field == "{field}")',
                "  |> last()",
                "  |> group()",
                '  |> sort(columns: ["_time"])',
                "  |> last()",
                '  |> keep(columns: ["_time", "_value"])',
            ]
        )

    b.add(stat("LAST", [influx_target(latest("price"))], price_defaults()), 4, 4)
    b.add(stat("CHG 1H", [influx_target(latest("change_pct_1h"))], pct_defaults()), 4, 4)
    b.add(stat("CHG 24H", [influx_target(latest("change_pct_24h"))], pct_defaults()), 4, 4)
    b.add(
        stat(
            "VOL 24H",
            [influx_target(latest("volume_24h"))],
            field_defaults(unit="short", decimals=2),
        ),
        4,
        4,
    )
    b.add(
        stat(
            "MKT CAP",
            [influx_target(latest("market_cap"))],
            field_defaults(unit="currencyUSD", decimals=2),
        ),
        4,
        4,
    )
    resolution = (
        'import "array"\n\n'
        + BUCKET_PRELUDE
        + 'array.from(rows: [{resolution: if bucket == "markets" then "RAW" else if bucket == "markets_5min" then "5 MIN MEANS" else "1 H MEANS"}])'
    )
    b.add(
        stat(
            "RESOLUTION",
            [influx_target(resolution)],
            field_defaults(),
            fields="/^resolution$/",
            description="Bucket the charts read for this time range: raw markets up to 7 d, markets_5min up to 30 d, markets_1h beyond.",
        ),
        4,
        4,
    )
    series_base = BUCKET_PRELUDE + "\n".join(
        [
            "from(bucket: bucket)",
            f"  {RANGE}",
            f'  |> filter(fn: (r) => {MARKET} and r.symbol == "${{symbol}}")',
            "  |> filter(fn: (r) => contains(value: r.exchange, set: ${exchange:json}))",
        ]
    )
    price_q = (
        series_base
        + '\n  |> filter(fn: (r) => r._field == "price")'
        + "\n  |> aggregateWindow(every: v.windowPeriod, fn: mean, createEmpty: false)"
        + '\n  |> keep(columns: ["_time", "_value", "exchange"])'
    )
    b.add(
        timeseries(
            "${symbol} price",
            [influx_target(price_q)],
            field_defaults(
                color={"mode": "fixed", "fixedColor": AMBER},
                displayName="${__field.labels.exchange}",
            ),
            description="Mean price per window and exchange. The bucket follows the time range (see RESOLUTION).",
            links=[
                link(
                    "News for ${symbol}",
                    url("news"),
                    "var-symbol=${symbol:percentencode}&${__url_time_range}",
                )
            ],
        ),
        24,
        9,
    )
    ohlc_q = BUCKET_PRELUDE + "\n".join(
        [
            "data = from(bucket: bucket)",
            f"  {RANGE}",
            f'  |> filter(fn: (r) => {MARKET} and r.symbol == "${{symbol}}" and r._field == "price")',
            "  |> filter(fn: (r) => contains(value: r.exchange, set: ${exchange:json}))",
            '  |> group(columns: ["symbol"])',
            '  |> sort(columns: ["_time"])',
            "candle = (fn, name) => data",
            "  |> aggregateWindow(every: v.windowPeriod, fn: fn, createEmpty: false)",
            '  |> set(key: "_field", value: name)',
            'union(tables: [candle(fn: first, name: "open"), candle(fn: max, name: "high"), candle(fn: min, name: "low"), candle(fn: last, name: "close")])',
            '  |> group(columns: ["symbol"])',
            '  |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")',
            '  |> keep(columns: ["_time", "open", "high", "low", "close"])',
        ]
    )
    b.add(
        {
            "type": "candlestick",
            "title": "${symbol} OHLC",
            "description": "Open/high/low/close of the price per window across the selected exchanges. Beyond 7 days the candles are built from 5-minute or hourly means, so highs and lows are smoothed.",
            "datasource": INFLUX,
            "targets": [influx_target(ohlc_q)],
            "fieldConfig": {
                "defaults": field_defaults(
                    color={"mode": "palette-classic"},
                    custom={
                        "drawStyle": "line",
                        "lineWidth": 1,
                        "fillOpacity": 0,
                        "axisPlacement": "right",
                        "showPoints": "never",
                        "spanNulls": False,
                        "hideFrom": {"legend": False, "tooltip": False, "viz": False},
                    },
                ),
                "overrides": [],
            },
            "options": {
                "mode": "candles",
                "candleStyle": "candles",
                "colorStrategy": "open-close",
                "colors": {"up": UP, "down": DOWN, "flat": FLAT},
                "includeAllFields": False,
                "fields": {"open": "open", "high": "high", "low": "low", "close": "close"},
                "legend": {
                    "showLegend": False,
                    "displayMode": "list",
                    "placement": "bottom",
                    "calcs": [],
                },
                "tooltip": {"mode": "multi", "sort": "none"},
            },
        },
        24,
        9,
    )
    vol_q = (
        series_base
        + '\n  |> filter(fn: (r) => r._field == "volume_24h")'
        + "\n  |> aggregateWindow(every: v.windowPeriod, fn: last, createEmpty: false)"
        + '\n  |> keep(columns: ["_time", "_value", "exchange"])'
    )
    b.add(
        timeseries(
            "Volume 24h",
            [influx_target(vol_q)],
            field_defaults(
                unit="short",
                color={"mode": "palette-classic"},
                displayName="${__field.labels.exchange}",
            ),
            draw="bars",
        ),
        12,
        7,
    )

    def change(field: str) -> str:
        return (
            series_base
            + f'\n  |> filter(fn: (r) => r._field == "{field}")'
            + "\n  |> aggregateWindow(every: v.windowPeriod, fn: last, createEmpty: false)"
            + "\n  |> group()"
            + '\n  |> keep(columns: ["_time", "_value"])'
        )

    b.add(
        timeseries(
            "Change %",
            [
                influx_target(change("change_pct_1h"), "A"),
                influx_target(change("change_pct_24h"), "B"),
            ],
            field_defaults(unit="percent", decimals=2, color={"mode": "palette-classic"}),
            overrides=[
                override(
                    "byFrameRefID",
                    "A",
                    {"displayName": "CHG 1H", "color": {"mode": "fixed", "fixedColor": AMBER}},
                ),
                override(
                    "byFrameRefID",
                    "B",
                    {"displayName": "CHG 24H", "color": {"mode": "fixed", "fixedColor": "#4FC3F7"}},
                ),
            ],
            description="Change over 1 h and 24 h as reported by the sources, last value per window (all selected exchanges).",
        ),
        12,
        7,
    )
    exch_q = "\n".join(
        [
            'from(bucket: "markets")',
            f"  {RANGE}",
            f'  |> filter(fn: (r) => {MARKET} and r.symbol == "${{symbol}}")',
            '  |> filter(fn: (r) => contains(value: r._field, set: ["price", "volume_24h", "change_pct_24h"]))',
            "  |> last()",
            "  |> group()",
            '  |> keep(columns: ["exchange", "_field", "_value"])',
            '  |> pivot(rowKey: ["exchange"], columnKey: ["_field"], valueColumn: "_value")',
            '  |> sort(columns: ["exchange"])',
        ]
    )
    b.add(
        table(
            "Exchanges",
            [influx_target(exch_q)],
            [
                override(
                    "byName",
                    "exchange",
                    {
                        "displayName": "EXCH",
                        "color": {"mode": "fixed", "fixedColor": AMBER},
                        "custom.cellOptions": {"type": "color-text"},
                    },
                ),
                num_col("price", "LAST"),
                pct_col("change_pct_24h", "CHG 24H"),
                num_col("volume_24h", "VOL 24H", "short"),
            ],
            description="Latest quote of ${symbol} on each exchange (spread between venues).",
        ),
        8,
        8,
    )
    news = news_headlines_table("News on ${symbol}", symbol_filter=True, limit=30)
    news["links"] = [
        link(
            "All news on ${symbol}",
            url("news"),
            "var-symbol=${symbol:percentencode}&${__url_time_range}",
        )
    ]
    b.add(news, 16, 8)
    b.add(
        timeseries(
            "Sentiment on ${symbol}",
            [influx_target(sentiment_series(symbol_filter=True))],
            field_defaults(
                unit="none",
                decimals=2,
                min=-1,
                max=1,
                color={"mode": "fixed", "fixedColor": AMBER},
                displayName="${__field.labels.related_asset}",
                th=thresholds((None, DOWN), (0, UP)),
            ),
            description="Mean sentiment score of the articles about this asset, per hour at least.",
        ),
        24,
        6,
    )
    variables = [
        var_pg(
            "symbol",
            "Symbol",
            "SELECT symbol FROM collected_assets ORDER BY symbol",
            multi=False,
            include_all=False,
        ),
        var_influx(
            "exchange",
            "Exchange",
            tag_values("exchange", 'r._measurement == "market_data" and r.symbol == "${symbol}"'),
            multi=True,
            include_all=True,
        ),
    ]
    return dashboard(
        "asset",
        ["markets"],
        b,
        variables,
        description="One symbol: price (bucket by time range), OHLC, volume, change, exchanges, news and sentiment.",
    )


def market_table(symbols: str, with_1h: bool = True) -> dict[str, Any]:
    fields = (
        ["price", "change_pct_1h", "change_pct_24h", "volume_24h", "market_cap"]
        if with_1h
        else ["price", "change_pct_24h", "volume_24h", "market_cap"]
    )
    cols = [
        symbol_col(),
        num_col("price", "LAST"),
        pct_col("change_pct_1h", "CHG 1H"),
        pct_col("change_pct_24h", "CHG 24H"),
        num_col("volume_24h", "VOL 24H", "short"),
        num_col("market_cap", "MKT CAP", "currencyUSD"),
    ]
    return table(
        "Quotes",
        [influx_target(snapshot(fields, symbols) + '\n  |> sort(columns: ["symbol"])')],
        cols,
        description="Latest quote of each selected symbol. Click a symbol for its detail or its news.",
    )


def crypto() -> dict[str, Any]:
    b = Board()
    syms = "${symbol:json}"
    b.add(header("crypto", "crypto watchlist · venues · dominance"), 24, 3)
    b.add(demo_banner("markets", "market_data", "price"), 24, 2)
    b.add(ticker_tape(syms), 24, 4)
    b.add(market_table(syms), 14, 10)
    b.add(
        piechart(
            "Dominance (market cap share)",
            [
                influx_target(
                    snapshot(["market_cap"], syms) + "\n  |> filter(fn: (r) => exists r.market_cap)"
                )
            ],
            "/^market_cap$/",
            field_defaults(
                unit="currencyUSD", color={"mode": "palette-classic"}, links=[asset_link()]
            ),
        ),
        10,
        10,
    )
    b.add(change_grid("24h change", "change_pct_24h", syms), 12, 6)
    b.add(change_grid("1h change", "change_pct_1h", syms, -2, 2), 12, 6)
    b.add(
        timeseries(
            "Performance (rebased to 100)",
            [influx_target(rebased(syms))],
            field_defaults(
                unit="none",
                decimals=2,
                color={"mode": "palette-classic"},
                displayName="${__field.labels.symbol}",
            ),
            description="Price of each symbol divided by its first value in the range, times 100: lines are comparable.",
            legend="table",
        ),
        24,
        9,
    )
    b.add(
        bargauge(
            "Volume 24h",
            [
                influx_target(
                    snapshot(["volume_24h"], syms)
                    + '\n  |> filter(fn: (r) => exists r.volume_24h)\n  |> sort(columns: ["volume_24h"], desc: true)'
                )
            ],
            field_defaults(
                unit="short",
                decimals=1,
                color={"mode": "fixed", "fixedColor": AMBER},
                links=[asset_link()],
            ),
            fields="/^volume_24h$/",
            values=True,
        ),
        10,
        9,
    )
    spread_q = "\n".join(
        [
            'from(bucket: "markets")',
            f"  {RANGE}",
            f'  |> filter(fn: (r) => {MARKET} and r._field == "price")',
            f"  |> filter(fn: (r) => contains(value: r.symbol, set: {syms}))",
            "  |> filter(fn: (r) => contains(value: r.exchange, set: ${exchange:json}))",
            "  |> last()",
            "  |> group()",
            '  |> keep(columns: ["symbol", "exchange", "_value"])',
            '  |> pivot(rowKey: ["symbol"], columnKey: ["exchange"], valueColumn: "_value")',
            '  |> sort(columns: ["symbol"])',
        ]
    )
    b.add(
        table(
            "Price by exchange",
            [influx_target(spread_q)],
            [symbol_col()],
            defaults=field_defaults(
                unit="none",
                custom={
                    "align": "right",
                    "cellOptions": {"type": "auto"},
                    "inspect": False,
                    "filterable": False,
                },
            ),
            description="Last price of each symbol on each selected exchange (one column per exchange).",
        ),
        14,
        9,
    )
    variables = [
        var_pg(
            "symbol",
            "Crypto",
            "SELECT symbol FROM collected_assets WHERE asset_type = 'crypto' ORDER BY symbol",
            multi=True,
            include_all=True,
        ),
        var_influx(
            "exchange",
            "Exchange",
            tag_values("exchange", 'r._measurement == "market_data" and r.asset_type == "crypto"'),
            multi=True,
            include_all=True,
        ),
    ]
    return dashboard(
        "crypto",
        ["markets", "crypto"],
        b,
        variables,
        description="Crypto assets of the watchlists: quotes, dominance, heatmaps, rebased performance, volume, venues.",
    )


def stocks_forex() -> dict[str, Any]:
    b = Board()
    stocks = "${symbol:json}"
    pairs = "${pair:json}"
    b.add(header("stocks", "equities, indices and currency pairs"), 24, 3)
    b.add(demo_banner("markets", "market_data", "price"), 24, 2)
    b.add(section("Equities & indices"), 24, 1)
    b.add(ticker_tape(stocks), 24, 4)
    b.add(market_table(stocks), 14, 10)
    b.add(change_grid("24h change", "change_pct_24h", stocks, -3, 3), 10, 10)
    b.add(
        timeseries(
            "Equities rebased to 100",
            [influx_target(rebased(stocks))],
            field_defaults(
                unit="none",
                decimals=2,
                color={"mode": "palette-classic"},
                displayName="${__field.labels.symbol}",
            ),
            legend="table",
            description="Each equity or index divided by its first value in the range, times 100.",
        ),
        24,
        9,
    )
    b.add(section("Forex"), 24, 1)
    fx_cols = [
        symbol_col(),
        num_col("price", "RATE", decimals=5),
        pct_col("change_pct_1h", "CHG 1H"),
        pct_col("change_pct_24h", "CHG 24H"),
    ]
    b.add(
        table(
            "Currency pairs",
            [
                influx_target(
                    snapshot(["price", "change_pct_1h", "change_pct_24h"], pairs)
                    + '\n  |> sort(columns: ["symbol"])'
                )
            ],
            fx_cols,
            description="Latest rate and changes of each selected pair.",
        ),
        10,
        9,
    )
    b.add(
        barchart(
            "Pairs: 24h change",
            [
                influx_target(
                    snapshot(["change_pct_24h"], pairs)
                    + '\n  |> filter(fn: (r) => exists r.change_pct_24h)\n  |> sort(columns: ["change_pct_24h"], desc: true)'
                )
            ],
            "symbol",
            "change_pct_24h",
            pct_defaults(),
        ),
        14,
        9,
    )
    b.add(
        timeseries(
            "Pairs rebased to 100",
            [influx_target(rebased(pairs))],
            field_defaults(
                unit="none",
                decimals=3,
                color={"mode": "palette-classic"},
                displayName="${__field.labels.symbol}",
            ),
            legend="table",
        ),
        24,
        8,
    )
    variables = [
        var_pg(
            "symbol",
            "Equity / index",
            "SELECT symbol FROM collected_assets WHERE asset_type IN ('stock', 'index') ORDER BY symbol",
            multi=True,
            include_all=True,
        ),
        var_pg(
            "pair",
            "Pair",
            "SELECT symbol FROM collected_assets WHERE asset_type = 'forex' ORDER BY symbol",
            multi=True,
            include_all=True,
        ),
    ]
    return dashboard(
        "stocks",
        ["markets", "stocks", "forex"],
        b,
        variables,
        description="Equities, indices and currency pairs of the watchlists.",
    )


def news() -> dict[str, Any]:
    b = Board()
    b.add(header("news", "headlines with links and scores · sentiment per asset"), 24, 3)
    b.add(demo_banner("news", "news_articles", "sentiment_score"), 24, 2)
    b.add(
        news_headlines_table("Headlines", symbol_filter=True, limit=200, category_filter=True),
        24,
        12,
    )
    b.add(
        timeseries(
            "Sentiment over time, per asset",
            [influx_target(sentiment_series(symbol_filter=True, category_filter=True))],
            field_defaults(
                unit="none",
                decimals=2,
                min=-1,
                max=1,
                color={"mode": "palette-classic"},
                displayName="${__field.labels.related_asset}",
            ),
            legend="table",
            description="Mean sentiment score per asset, per hour at least. Scores are in [-1, 1].",
        ),
        24,
        9,
    )
    avg_q = NEWS_SYMBOL_PRELUDE + "\n".join(
        [
            'from(bucket: "news")',
            f"  {RANGE}",
            f'  |> filter(fn: (r) => {NEWS} and r._field == "sentiment_score")',
            '  |> filter(fn: (r) => symbol == "__all" or r.related_asset == symbol or r.related_asset == base)',
            "  |> filter(fn: (r) => contains(value: r.category, set: ${category:json}))",
            '  |> group(columns: ["related_asset"])',
            "  |> mean()",
            "  |> group()",
            '  |> sort(columns: ["_value"], desc: true)',
            '  |> rename(columns: {_value: "sentiment"})',
        ]
    )
    b.add(
        bargauge(
            "Mean sentiment by asset",
            [influx_target(avg_q)],
            field_defaults(
                unit="none",
                decimals=2,
                min=-1,
                max=1,
                color={"mode": "continuous-RdYlGr"},
                links=[
                    link(
                        "News for this asset",
                        url("news"),
                        "var-symbol=${__data.fields.related_asset:percentencode}&${__url_time_range}",
                    )
                ],
            ),
            fields="/^sentiment$/",
            values=True,
        ),
        12,
        10,
    )
    count_q = "\n".join(
        [
            'from(bucket: "news")',
            f"  {RANGE}",
            f'  |> filter(fn: (r) => {NEWS} and r._field == "sentiment_score")',
            "  |> filter(fn: (r) => contains(value: r.category, set: ${category:json}))",
            '  |> group(columns: ["source"])',
            "  |> count()",
            "  |> group()",
            '  |> rename(columns: {_value: "articles"})',
        ]
    )
    b.add(
        piechart(
            "Articles by source",
            [influx_target(count_q)],
            "/^articles$/",
            field_defaults(color={"mode": "palette-classic"}),
        ),
        12,
        10,
    )
    variables = [
        var_pg(
            "symbol",
            "Asset",
            "SELECT symbol FROM collected_assets ORDER BY symbol",
            multi=False,
            include_all=True,
            all_value="__all",
        ),
        var_influx(
            "category",
            "Category",
            tag_values("category", 'r._measurement == "news_articles"', "news"),
            multi=True,
            include_all=True,
        ),
    ]
    return dashboard(
        "news",
        ["news"],
        b,
        variables,
        time_from="now-7d",
        refresh="1m",
        description="Latest headlines with links and sentiment, sentiment over time per asset.",
    )


def infrastructure() -> dict[str, Any]:
    b = Board()
    inst = 'instance=~"$instance"'
    ctr = 'name=~"$container"'
    b.add(header("infra", "host (node-exporter) and containers (cAdvisor)"), 24, 3)
    b.add(section("Host"), 24, 1)
    pct_th = thresholds((None, UP), (70, AMBER), (90, DOWN))
    b.add(
        stat(
            "CPU",
            [
                prom_target(
                    f'100 * (1 - avg(rate(node_cpu_seconds_total{{mode="idle", {inst}}}[$__rate_interval])))'
                )
            ],
            field_defaults(unit="percent", decimals=1, th=pct_th),
            graph="area",
        ),
        4,
        4,
    )
    b.add(
        stat(
            "MEMORY",
            [
                prom_target(
                    f"100 * (1 - sum(node_memory_MemAvailable_bytes{{{inst}}}) / sum(node_memory_MemTotal_bytes{{{inst}}}))"
                )
            ],
            field_defaults(unit="percent", decimals=1, th=pct_th),
            graph="area",
        ),
        4,
        4,
    )
    b.add(
        stat(
            "DISK /",
            [
                prom_target(
                    f'100 * (1 - sum(node_filesystem_avail_bytes{{{inst}, mountpoint="/"}}) / sum(node_filesystem_size_bytes{{{inst}, mountpoint="/"}}))'
                )
            ],
            field_defaults(unit="percent", decimals=1, th=pct_th),
        ),
        4,
        4,
    )
    b.add(
        stat("LOAD 1M", [prom_target(f"max(node_load1{{{inst}}})")], field_defaults(decimals=2)),
        4,
        4,
    )
    b.add(
        stat(
            "SWAP USED",
            [
                prom_target(
                    f"sum(node_memory_SwapTotal_bytes{{{inst}}} - node_memory_SwapFree_bytes{{{inst}}})"
                )
            ],
            field_defaults(unit="bytes", decimals=1),
        ),
        4,
        4,
    )
    b.add(
        stat(
            "UPTIME",
            [prom_target(f"min(node_time_seconds{{{inst}}} - node_boot_time_seconds{{{inst}}})")],
            field_defaults(unit="s", decimals=0),
        ),
        4,
        4,
    )
    b.add(
        timeseries(
            "CPU by mode",
            [
                prom_target(
                    f'sum by (mode) (rate(node_cpu_seconds_total{{mode!="idle", {inst}}}[$__rate_interval])) / scalar(count(count by (cpu) (node_cpu_seconds_total{{{inst}}})))',
                    "{{mode}}",
                )
            ],
            field_defaults(unit="percentunit", color={"mode": "palette-classic"}),
            stack=True,
        ),
        12,
        8,
    )
    b.add(
        timeseries(
            "Load average",
            [
                prom_target(f"node_load1{{{inst}}}", "1m", "A"),
                prom_target(f"node_load5{{{inst}}}", "5m", "B"),
                prom_target(f"node_load15{{{inst}}}", "15m", "C"),
            ],
            field_defaults(decimals=2, color={"mode": "palette-classic"}),
        ),
        12,
        8,
    )
    b.add(
        timeseries(
            "Memory",
            [
                prom_target(
                    f"node_memory_MemTotal_bytes{{{inst}}} - node_memory_MemAvailable_bytes{{{inst}}}",
                    "used",
                    "A",
                ),
                prom_target(f"node_memory_MemAvailable_bytes{{{inst}}}", "available", "B"),
                prom_target(
                    f"node_memory_SwapTotal_bytes{{{inst}}} - node_memory_SwapFree_bytes{{{inst}}}",
                    "swap used",
                    "C",
                ),
            ],
            field_defaults(unit="bytes", color={"mode": "palette-classic"}),
        ),
        12,
        8,
    )
    b.add(
        bargauge(
            "Filesystems used",
            [
                prom_target(
                    f'100 * (1 - node_filesystem_avail_bytes{{{inst}, fstype!~"tmpfs|overlay|squashfs|nsfs"}} / node_filesystem_size_bytes{{{inst}, fstype!~"tmpfs|overlay|squashfs|nsfs"}})',
                    "{{mountpoint}}",
                    instant=True,
                )
            ],
            field_defaults(unit="percent", decimals=1, min=0, max=100, th=pct_th),
        ),
        12,
        8,
    )
    b.add(
        timeseries(
            "Disk I/O",
            [
                prom_target(
                    f"sum by (device) (rate(node_disk_read_bytes_total{{{inst}}}[$__rate_interval]))",
                    "{{device}} read",
                    "A",
                ),
                prom_target(
                    f"-sum by (device) (rate(node_disk_written_bytes_total{{{inst}}}[$__rate_interval]))",
                    "{{device}} write",
                    "B",
                ),
            ],
            field_defaults(unit="Bps", color={"mode": "palette-classic"}),
            description="Reads up, writes down.",
        ),
        8,
        8,
    )
    b.add(
        timeseries(
            "Disk latency",
            [
                prom_target(
                    f"rate(node_disk_read_time_seconds_total{{{inst}}}[$__rate_interval]) / rate(node_disk_reads_completed_total{{{inst}}}[$__rate_interval])",
                    "{{device}} read",
                    "A",
                ),
                prom_target(
                    f"rate(node_disk_write_time_seconds_total{{{inst}}}[$__rate_interval]) / rate(node_disk_writes_completed_total{{{inst}}}[$__rate_interval])",
                    "{{device}} write",
                    "B",
                ),
                prom_target(
                    f"rate(node_disk_io_time_seconds_total{{{inst}}}[$__rate_interval])",
                    "{{device}} busy",
                    "C",
                ),
            ],
            field_defaults(unit="s", color={"mode": "palette-classic"}),
            overrides=[override("byRegexp", "/busy/", {"unit": "percentunit"})],
        ),
        8,
        8,
    )
    # The host's interfaces, from cAdvisor's root container (id="/"): node-exporter
    # runs in its own network namespace, so its netdev collector is off (see the
    # node_exporter role) rather than reporting that namespace's eth0.
    nic = 'job="cadvisor", id="/", interface!~"lo|veth.*|docker.*|br-.*"'
    b.add(
        timeseries(
            "Network",
            [
                prom_target(
                    f"sum by (interface) (rate(container_network_receive_bytes_total{{{nic}}}[$__rate_interval]))",
                    "{{interface}} in",
                    "A",
                ),
                prom_target(
                    f"-sum by (interface) (rate(container_network_transmit_bytes_total{{{nic}}}[$__rate_interval]))",
                    "{{interface}} out",
                    "B",
                ),
                prom_target(
                    f"sum by (interface) (rate(container_network_receive_errors_total{{{nic}}}[$__rate_interval]) + rate(container_network_transmit_errors_total{{{nic}}}[$__rate_interval]))",
                    "{{interface}} errors/s",
                    "C",
                ),
            ],
            field_defaults(unit="Bps", color={"mode": "palette-classic"}),
            overrides=[override("byRegexp", "/errors/", {"unit": "short"})],
            description="In up, out down; errors on the same axis in packets/s.",
        ),
        8,
        8,
    )
    b.add(
        timeseries(
            "Temperature",
            [
                prom_target(
                    f"max by (chip, sensor) (node_hwmon_temp_celsius{{{inst}}})",
                    "{{chip}} {{sensor}}",
                )
            ],
            field_defaults(unit="celsius", color={"mode": "palette-classic"}),
            description="Empty on most VPSs, which expose no hardware sensor.",
        ),
        24,
        6,
    )
    b.add(section("Containers"), 24, 1)
    b.add(
        timeseries(
            "CPU per container",
            [
                prom_target(
                    f"sum by (name) (rate(container_cpu_usage_seconds_total{{{ctr}}}[$__rate_interval]))",
                    "{{name}}",
                )
            ],
            field_defaults(unit="percentunit", color={"mode": "palette-classic"}),
            legend="table",
        ),
        12,
        9,
    )
    b.add(
        timeseries(
            "Memory per container",
            [
                prom_target(
                    f"sum by (name) (container_memory_working_set_bytes{{{ctr}}})", "{{name}}"
                )
            ],
            field_defaults(unit="bytes", color={"mode": "palette-classic"}),
            legend="table",
        ),
        12,
        9,
    )
    b.add(
        bargauge(
            "Memory vs limit",
            [
                prom_target(
                    f"100 * sum by (name) (container_memory_working_set_bytes{{{ctr}}}) / sum by (name) (container_spec_memory_limit_bytes{{{ctr}}} > 0)",
                    "{{name}}",
                    instant=True,
                )
            ],
            field_defaults(unit="percent", decimals=0, min=0, max=100, th=pct_th),
            description="Working set against the container's memory limit (the seed's per-container table).",
        ),
        8,
        9,
    )
    b.add(
        timeseries(
            "Network per container",
            [
                prom_target(
                    f"sum by (name) (rate(container_network_receive_bytes_total{{{ctr}}}[$__rate_interval]))",
                    "{{name}} in",
                    "A",
                ),
                prom_target(
                    f"-sum by (name) (rate(container_network_transmit_bytes_total{{{ctr}}}[$__rate_interval]))",
                    "{{name}} out",
                    "B",
                ),
            ],
            field_defaults(unit="Bps", color={"mode": "palette-classic"}),
        ),
        8,
        9,
    )
    b.add(
        table(
            "Uptime and restarts",
            [
                prom_target(
                    f"time() - max by (name) (container_start_time_seconds{{{ctr}}})",
                    "",
                    "A",
                    instant=True,
                    table=True,
                ),
                prom_target(
                    f"sum by (name) (changes(container_start_time_seconds{{{ctr}}}[1h]))",
                    "",
                    "B",
                    instant=True,
                    table=True,
                ),
            ],
            [
                override(
                    "byName",
                    "name",
                    {
                        "displayName": "CONTAINER",
                        "color": {"mode": "fixed", "fixedColor": AMBER},
                        "custom.cellOptions": {"type": "color-text"},
                    },
                ),
                override(
                    "byName", "Value #A", {"displayName": "UPTIME", "unit": "s", "decimals": 0}
                ),
                override(
                    "byName",
                    "Value #B",
                    {
                        "displayName": "RESTARTS 1H",
                        "thresholds": thresholds((None, UP), (1, DOWN)),
                        "color": {"mode": "thresholds"},
                        "custom.cellOptions": {"type": "color-text"},
                    },
                ),
            ],
            transformations=[
                {"id": "merge", "options": {}},
                {
                    "id": "organize",
                    "options": {
                        "excludeByName": {"Time": True},
                        "indexByName": {},
                        "renameByName": {},
                    },
                },
            ],
            description="Restarts counted as changes of the container's start time over the last hour.",
        ),
        8,
        9,
    )
    b.add(section("Scrape targets"), 24, 1)
    b.add(
        stat(
            "Targets up",
            [prom_target("up", "{{job}} {{instance}}", instant=True)],
            field_defaults(
                th=thresholds((None, DOWN), (1, UP)),
                mappings=[
                    {
                        "type": "value",
                        "options": {
                            "0": {"text": "DOWN", "index": 0},
                            "1": {"text": "UP", "index": 1},
                        },
                    }
                ],
            ),
            text_mode="value_and_name",
            color_mode="background",
            orientation="horizontal",
        ),
        24,
        5,
    )
    variables = [
        var_prom("instance", "Host", "label_values(node_uname_info, instance)"),
        var_prom(
            "container",
            "Container",
            "label_values(container_last_seen, name)",
            regex="/^bloomberg-.+/",
        ),
    ]
    return dashboard(
        "infra",
        ["infrastructure"],
        b,
        variables,
        time_from="now-6h",
        description="Host (node-exporter) and containers (cAdvisor), from Prometheus.",
    )


def pipeline() -> dict[str, Any]:
    b = Board()
    job = 'job=~"$job"'
    src = 'source=~"$source"'
    b.add(
        header(
            "pipeline", "feeders, sources, rate budgets, sink and spool, watchlist sync, backups"
        ),
        24,
        3,
    )
    b.add(section("Feeders"), 24, 1)
    b.add(
        stat(
            "Main loop heartbeat age",
            [
                prom_target(
                    f"time() - max by (job, loop) (bbdash_heartbeat_timestamp_seconds{{{job}}})",
                    "{{job}} {{loop}}",
                    instant=True,
                )
            ],
            field_defaults(
                unit="s", decimals=0, th=thresholds((None, UP), (60, AMBER), (300, DOWN))
            ),
            text_mode="value_and_name",
            color_mode="background",
            orientation="horizontal",
            description="Seconds since each main loop last made progress (the /healthz heartbeat).",
        ),
        12,
        5,
    )
    b.add(
        stat(
            "Freshest market point",
            [
                influx_target(
                    'from(bucket: "markets")\n  |> range(start: -1h)\n  |> filter(fn: (r) => r._measurement == "market_data" and r._field == "price")\n  |> last()\n  |> group()\n  |> max(column: "_time")\n  |> map(fn: (r) => ({_value: float(v: int(v: now()) - int(v: r._time)) / 1000000000.0}))'
                )
            ],
            field_defaults(
                unit="s",
                decimals=0,
                th=thresholds((None, UP), (60, AMBER), (600, DOWN)),
                noValue="none in 1 h",
            ),
            color_mode="background",
            description="Age of the newest price point in InfluxDB (what the dashboards actually see).",
        ),
        6,
        5,
    )
    b.add(
        stat(
            "Freshest article",
            [
                influx_target(
                    'from(bucket: "news")\n  |> range(start: -24h)\n  |> filter(fn: (r) => r._measurement == "news_articles" and r._field == "sentiment_score")\n  |> last()\n  |> group()\n  |> max(column: "_time")\n  |> map(fn: (r) => ({_value: float(v: int(v: now()) - int(v: r._time)) / 1000000000.0}))'
                )
            ],
            field_defaults(
                unit="s",
                decimals=0,
                th=thresholds((None, UP), (1800, AMBER), (3600, DOWN)),
                noValue="none in 24 h",
            ),
            color_mode="background",
        ),
        6,
        5,
    )
    b.add(section("Sources"), 24, 1)
    b.add(
        stat(
            "Last success age",
            [
                prom_target(
                    f"time() - max by (source) (bbdash_source_last_success_timestamp_seconds{{{src}}})",
                    "{{source}}",
                    instant=True,
                )
            ],
            field_defaults(
                unit="s", decimals=0, th=thresholds((None, UP), (120, AMBER), (600, DOWN))
            ),
            text_mode="value_and_name",
            color_mode="background",
            orientation="horizontal",
        ),
        24,
        4,
    )
    b.add(
        timeseries(
            "Messages / s",
            [
                prom_target(
                    f"sum by (source) (rate(bbdash_source_messages_total{{{src}}}[$__rate_interval]))",
                    "{{source}}",
                )
            ],
            field_defaults(unit="short", color={"mode": "palette-classic"}),
        ),
        8,
        8,
    )
    b.add(
        timeseries(
            "Errors / s",
            [
                prom_target(
                    f"sum by (source, kind) (rate(bbdash_source_errors_total{{{src}}}[$__rate_interval]))",
                    "{{source}} {{kind}}",
                )
            ],
            field_defaults(unit="short", color={"mode": "palette-classic"}),
            stack=True,
        ),
        8,
        8,
    )
    b.add(
        timeseries(
            "Invalid records / s",
            [
                prom_target(
                    f"sum by (source, reason) (rate(bbdash_records_invalid_total{{{src}}}[$__rate_interval]))",
                    "{{source}} {{reason}}",
                )
            ],
            field_defaults(unit="short", color={"mode": "palette-classic"}),
            stack=True,
        ),
        8,
        8,
    )
    b.add(
        timeseries(
            "Rate budget remaining",
            [
                prom_target(
                    f"min by (source) (bbdash_source_budget_remaining{{{src}}})", "{{source}}"
                )
            ],
            field_defaults(unit="short", color={"mode": "palette-classic"}),
            description="Calls left in each source's token bucket: near 0 means the feeder is throttling itself.",
        ),
        12,
        8,
    )
    b.add(
        {
            "type": "state-timeline",
            "title": "Circuit breakers",
            "description": "0 closed (normal), 1 half-open (probing), 2 open (source skipped).",
            "datasource": PROM,
            "targets": [
                prom_target(f"max by (source) (bbdash_source_circuit_state{{{src}}})", "{{source}}")
            ],
            "fieldConfig": {
                "defaults": field_defaults(
                    th=thresholds((None, UP), (1, AMBER), (2, DOWN)),
                    mappings=[
                        {
                            "type": "value",
                            "options": {
                                "0": {"text": "closed", "color": UP, "index": 0},
                                "1": {"text": "half-open", "color": AMBER, "index": 1},
                                "2": {"text": "open", "color": DOWN, "index": 2},
                            },
                        }
                    ],
                    custom={
                        "fillOpacity": 80,
                        "lineWidth": 0,
                        "hideFrom": {"legend": False, "tooltip": False, "viz": False},
                    },
                ),
                "overrides": [],
            },
            "options": {
                "showValue": "auto",
                "mergeValues": True,
                "alignValue": "left",
                "rowHeight": 0.9,
                "legend": {"showLegend": False, "displayMode": "list", "placement": "bottom"},
                "tooltip": {"mode": "single", "sort": "none"},
            },
        },
        12,
        8,
    )
    b.add(section("InfluxDB sink and spool"), 24, 1)
    b.add(
        timeseries(
            "Points / s",
            [
                prom_target(
                    "sum by (bucket) (rate(bbdash_points_submitted_total[$__rate_interval]))",
                    "{{bucket}} submitted",
                    "A",
                ),
                prom_target(
                    "sum by (bucket) (rate(bbdash_points_written_total[$__rate_interval]))",
                    "{{bucket}} written",
                    "B",
                ),
                prom_target(
                    "sum by (bucket) (rate(bbdash_points_rejected_total[$__rate_interval]))",
                    "{{bucket}} rejected",
                    "C",
                ),
                prom_target(
                    "sum by (bucket, reason) (rate(bbdash_points_dropped_total[$__rate_interval]))",
                    "{{bucket}} dropped ({{reason}})",
                    "D",
                ),
            ],
            field_defaults(unit="short", color={"mode": "palette-classic"}),
            overrides=[
                override(
                    "byRegexp",
                    "/rejected|dropped/",
                    {"color": {"mode": "fixed", "fixedColor": DOWN}},
                )
            ],
        ),
        12,
        8,
    )
    b.add(
        timeseries(
            "Write latency",
            [
                prom_target(
                    "histogram_quantile(0.5, sum by (le, bucket) (rate(bbdash_write_latency_seconds_bucket[$__rate_interval])))",
                    "{{bucket}} p50",
                    "A",
                ),
                prom_target(
                    "histogram_quantile(0.95, sum by (le, bucket) (rate(bbdash_write_latency_seconds_bucket[$__rate_interval])))",
                    "{{bucket}} p95",
                    "B",
                ),
            ],
            field_defaults(unit="s", color={"mode": "palette-classic"}),
            description="From a point's submission to InfluxDB's acknowledgement.",
        ),
        12,
        8,
    )
    b.add(
        stat(
            "InfluxDB writes",
            [prom_target("min by (bucket) (bbdash_influx_up)", "{{bucket}}", instant=True)],
            field_defaults(
                th=thresholds((None, DOWN), (1, UP)),
                mappings=[
                    {
                        "type": "value",
                        "options": {
                            "0": {"text": "FAILING", "index": 0},
                            "1": {"text": "OK", "index": 1},
                        },
                    }
                ],
            ),
            text_mode="value_and_name",
            color_mode="background",
            orientation="horizontal",
        ),
        6,
        7,
    )
    b.add(
        timeseries(
            "Write errors / s",
            [
                prom_target(
                    "sum by (bucket, kind) (rate(bbdash_influx_write_errors_total[$__rate_interval]))",
                    "{{bucket}} {{kind}}",
                )
            ],
            field_defaults(unit="short", color={"mode": "palette-classic"}),
            stack=True,
        ),
        6,
        7,
    )
    b.add(
        timeseries(
            "Spool and queue",
            [
                prom_target(
                    "sum by (bucket) (bbdash_spool_depth_points)", "{{bucket}} spool points", "A"
                ),
                prom_target(
                    "sum by (bucket) (bbdash_sink_queue_points)", "{{bucket}} queue points", "B"
                ),
                prom_target("sum by (bucket) (bbdash_spool_bytes)", "{{bucket}} spool bytes", "C"),
            ],
            field_defaults(unit="short", color={"mode": "palette-classic"}),
            overrides=[
                override("byRegexp", "/bytes/", {"unit": "bytes", "custom.axisPlacement": "left"})
            ],
            description="Points waiting on disk (InfluxDB unreachable) and in memory (next batch).",
        ),
        12,
        7,
    )
    b.add(section("Watchlist sync"), 24, 1)
    b.add(
        stat(
            "Assets collected",
            [
                prom_target(
                    "sum by (asset_type) (bbdash_watchlist_assets)", "{{asset_type}}", instant=True
                )
            ],
            field_defaults(decimals=0),
            text_mode="value_and_name",
            orientation="horizontal",
        ),
        8,
        5,
    )
    b.add(
        stat(
            "Last sync age",
            [
                prom_target(
                    "time() - max(bbdash_watchlist_last_sync_timestamp_seconds)", instant=True
                )
            ],
            field_defaults(
                unit="s", decimals=0, th=thresholds((None, UP), (600, AMBER), (1800, DOWN))
            ),
            color_mode="background",
        ),
        4,
        5,
    )
    b.add(
        stat(
            "Fallback list",
            [prom_target("max(bbdash_watchlist_using_fallback)", instant=True)],
            field_defaults(
                th=thresholds((None, UP), (1, DOWN)),
                mappings=[
                    {
                        "type": "value",
                        "options": {
                            "0": {"text": "no", "index": 0},
                            "1": {"text": "IN USE", "index": 1},
                        },
                    }
                ],
            ),
            color_mode="background",
            description="IN USE: the feeder never reached PostgreSQL and collects its configured fallback symbols.",
        ),
        4,
        5,
    )
    b.add(
        timeseries(
            "Syncs and errors",
            [
                prom_target(
                    "sum by (trigger) (increase(bbdash_watchlist_syncs_total[$__rate_interval]))",
                    "sync ({{trigger}})",
                    "A",
                ),
                prom_target(
                    "sum by (kind) (increase(bbdash_watchlist_errors_total[$__rate_interval]))",
                    "error ({{kind}})",
                    "B",
                ),
            ],
            field_defaults(unit="short", color={"mode": "palette-classic"}),
            draw="bars",
        ),
        8,
        5,
    )
    b.add(section("Market feeder: Binance and price alerts"), 24, 1)
    b.add(
        stat(
            "Binance streams",
            [
                prom_target("sum(bbdash_binance_connections)", "connections", "A", instant=True),
                prom_target("sum(bbdash_binance_streams)", "streams", "B", instant=True),
            ],
            field_defaults(decimals=0),
            text_mode="value_and_name",
            orientation="horizontal",
            description="Open WebSocket connections and the streams they carry.",
        ),
        6,
        7,
    )
    b.add(
        timeseries(
            "Reconnects and REST fallbacks",
            [
                prom_target(
                    "sum by (reason) (increase(bbdash_binance_reconnects_total[$__rate_interval]))",
                    "reconnect ({{reason}})",
                    "A",
                ),
                prom_target(
                    "sum by (source) (increase(bbdash_fallback_fetches_total[$__rate_interval]))",
                    "fallback ({{source}})",
                    "B",
                ),
            ],
            field_defaults(unit="short", color={"mode": "palette-classic"}),
            draw="bars",
        ),
        6,
        7,
    )
    b.add(
        timeseries(
            "Price alerts",
            [
                prom_target(
                    "sum by (condition) (increase(bbdash_alerts_fired_total[$__rate_interval]))",
                    "fired ({{condition}})",
                    "A",
                ),
                prom_target(
                    "sum(increase(bbdash_alerts_sent_total[$__rate_interval]))", "sent", "B"
                ),
                prom_target(
                    "sum by (kind) (increase(bbdash_alerts_send_errors_total[$__rate_interval]))",
                    "send error ({{kind}})",
                    "C",
                ),
                prom_target(
                    "sum by (reason) (increase(bbdash_alerts_dropped_total[$__rate_interval]))",
                    "dropped ({{reason}})",
                    "D",
                ),
            ],
            field_defaults(unit="short", color={"mode": "palette-classic"}),
            overrides=[
                override(
                    "byRegexp", "/error|dropped/", {"color": {"mode": "fixed", "fixedColor": DOWN}}
                )
            ],
            draw="bars",
            description="Watchlist price alerts evaluated by the market feeder and posted to Alertmanager.",
        ),
        8,
        7,
    )
    b.add(
        stat(
            "Alert rules / queue",
            [
                prom_target("sum(bbdash_alert_rules)", "rules", "A", instant=True),
                prom_target("sum(bbdash_alerts_queued)", "queued", "B", instant=True),
            ],
            field_defaults(decimals=0),
            text_mode="value_and_name",
            orientation="horizontal",
        ),
        4,
        7,
    )
    b.add(section("News feeder and watchlist API"), 24, 1)
    b.add(
        timeseries(
            "Articles",
            [
                prom_target(
                    "sum by (source, outcome) (increase(bbdash_news_articles_total[$__rate_interval]))",
                    "{{source}} {{outcome}}",
                )
            ],
            field_defaults(unit="short", color={"mode": "palette-classic"}),
            draw="bars",
            stack=True,
            description="Articles handled per source: submitted, duplicate, unencodable.",
        ),
        8,
        7,
    )
    b.add(
        timeseries(
            "API requests / s",
            [
                prom_target(
                    "sum by (status) (rate(bbdash_api_requests_total[$__rate_interval]))",
                    "{{status}}",
                    "A",
                ),
                prom_target(
                    "sum(rate(bbdash_api_auth_failures_total[$__rate_interval]))",
                    "auth failures",
                    "B",
                ),
            ],
            field_defaults(unit="reqps", color={"mode": "palette-classic"}),
            overrides=[
                override("byRegexp", "/^5|auth/", {"color": {"mode": "fixed", "fixedColor": DOWN}})
            ],
        ),
        8,
        7,
    )
    b.add(
        timeseries(
            "API latency p95",
            [
                prom_target(
                    "histogram_quantile(0.95, sum by (le, route) "
                    "(rate(bbdash_api_request_duration_seconds_bucket[$__rate_interval])))",
                    "{{route}}",
                )
            ],
            field_defaults(unit="s", color={"mode": "palette-classic"}),
        ),
        5,
        7,
    )
    b.add(
        stat(
            "API database",
            [
                prom_target("min(bbdash_api_db_up)", "db", "A", instant=True),
                prom_target("min(bbdash_api_schema_current)", "schema", "B", instant=True),
            ],
            field_defaults(
                th=thresholds((None, DOWN), (1, UP)),
                mappings=[
                    {
                        "type": "value",
                        "options": {
                            "0": {"text": "NO", "index": 0},
                            "1": {"text": "OK", "index": 1},
                        },
                    }
                ],
            ),
            text_mode="value_and_name",
            color_mode="background",
            orientation="horizontal",
            description="db: the last health check reached PostgreSQL; schema: migrations at the code's head.",
        ),
        3,
        7,
    )
    b.add(section("Backups", "metrics written by the backup role (textfile collector)"), 24, 1)
    b.add(
        stat(
            "Last successful backup",
            [
                prom_target(
                    "time() - max without (instance, job) (bbdash_backup_last_success_timestamp_seconds)",
                    "last complete backup",
                    instant=True,
                )
            ],
            field_defaults(
                unit="s",
                decimals=0,
                th=thresholds((None, UP), (93600, AMBER), (180000, DOWN)),
                noValue="no backup metric",
            ),
            text_mode="value_and_name",
            color_mode="background",
            orientation="horizontal",
            description="Age of the last complete backup (node-exporter textfile collector, as the prometheus role's BackupTooOld reads it): amber after 26 h, red after 50 h.",
        ),
        12,
        5,
    )
    b.add(
        stat(
            "Backup size",
            [
                prom_target(
                    "max without (instance, job) (bbdash_backup_size_bytes)",
                    "{{kind}}",
                    instant=True,
                )
            ],
            field_defaults(unit="bytes", decimals=1, noValue="no backup metric"),
            text_mode="value_and_name",
            orientation="horizontal",
        ),
        12,
        5,
    )
    variables = [
        var_prom("job", "Job", "label_values(bbdash_heartbeat_timestamp_seconds, job)"),
        var_prom("source", "Source", "label_values(bbdash_source_messages_total, source)"),
    ]
    return dashboard(
        "pipeline",
        ["pipeline", "operations"],
        b,
        variables,
        time_from="now-6h",
        description="Feeders, sources, rate budgets, InfluxDB sink and spool, watchlist sync, backups.",
    )


BUILDERS = {
    "market-overview.json": market_overview,
    "asset-detail.json": asset_detail,
    "crypto.json": crypto,
    "stocks-and-forex.json": stocks_forex,
    "news-and-sentiment.json": news,
    "infrastructure.json": infrastructure,
    "pipeline-health.json": pipeline,
}


def render() -> dict[str, str]:
    return {
        name: json.dumps(build(), indent=2, ensure_ascii=False) + "\n"
        for name, build in BUILDERS.items()
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check", action="store_true", help="exit 1 when a JSON file differs from the build"
    )
    args = parser.parse_args()
    stale = []
    for name, text in render().items():
        path = OUT / name
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(name)
        else:
            path.write_text(text, encoding="utf-8")
    if stale:
        print("stale dashboards (run build_dashboards.py):", ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
