"""Flux snippets for the InfluxDB panels and variables.

Every dashboard reads the same buckets and measurements the same way (latest
value per symbol, bucket chosen by the range's reach, news filtered by asset),
so those queries are written once here and only composed in the dashboards.
tests/static/test_grafana_queries.py compiles every query that comes out.
"""

from __future__ import annotations

from . import sentiment

RANGE = "|> range(start: v.timeRangeStart, stop: v.timeRangeStop)"
# The last known value is read back this far whatever the dashboard's range:
# the raw bucket's retention. On a Saturday, "Last 24 hours" still shows
# Friday's close (with its age and the market's state), never an empty table.
LAST_KNOWN = "|> range(start: -7d)"
# A quote older than this while its market is open (or crypto, always open)
# means the feed stalled: Yahoo is polled every 15 s, Binance streams.
STALE_AFTER_S = 300
MARKET = 'r._measurement == "market_data"'
NEWS = 'r._measurement == "news_articles"'

# Raw points are kept 7 days, 5-minute candles 30 days, hourly candles 365 days
# (the seed's retention table and its InfluxDB downsampling tasks). The bucket
# follows how far back the range reaches: its span, or its start's age when
# the range ends in the past. 5 minutes of grace keep "Last 7 days" on raw data.
BUCKET_PRELUDE = """// Bucket by reach: raw `markets` up to 7 d, `markets_5min` up to 30 d, `markets_1h` beyond.
span = int(v: v.timeRangeStop) - int(v: v.timeRangeStart)
age = int(v: now()) - int(v: v.timeRangeStart)
reach = if age > span then age else span
bucket = if reach <= int(v: 7d5m) then "markets" else if reach <= int(v: 30d5m) then "markets_5min" else "markets_1h"
"""


def symbols_in(symbols: str) -> str:
    """The predicate "r.symbol is one of `symbols`" (a Flux array, e.g. ${symbol:json})."""
    return f"contains(value: r.symbol, set: {symbols})"


def fields_eq(fields: list[str]) -> str:
    """``(r._field == "a" or r._field == "b")``: unlike contains(), InfluxDB pushes it down."""
    return "(" + " or ".join(f'r._field == "{f}"' for f in fields) + ")"


def _latest_rows(fields: list[str], match: str, asset_types: str | None = None) -> list[str]:
    """The last known row of each (symbol, field) matching `match`, across exchanges, ungrouped.

    Only comparisons with literals are pushed down to InfluxDB's storage
    (influxdb query/stdlib/influxdata/influxdb/rules.go, isPushableExpr), and a
    bare last() right after them reads one point per series however long the
    range: so last() comes first and the contains() filters after it, on a row
    per series instead of 7 days of ticks.
    """
    lines = [
        'from(bucket: "markets")',
        f"  {LAST_KNOWN}",
        f"  |> filter(fn: (r) => {MARKET} and {fields_eq(fields)})",
        "  |> last()",
        f"  |> filter(fn: (r) => {match})",
    ]
    if asset_types:
        lines.append(f"  |> filter(fn: (r) => contains(value: r.asset_type, set: {asset_types}))")
    return [
        *lines,
        '  |> group(columns: ["symbol", "_field"])',
        '  |> sort(columns: ["_time"])',
        "  |> last()",
        "  |> group()",
    ]


def snapshot(
    fields: list[str], symbols: str = "${symbol:json}", asset_types: str | None = None
) -> str:
    """Last known value of each field per symbol, one row per symbol, whatever the range."""
    return "\n".join(
        [
            *_latest_rows(fields, symbols_in(symbols), asset_types),
            '  |> keep(columns: ["symbol", "_field", "_value"])',
            '  |> pivot(rowKey: ["symbol"], columnKey: ["_field"], valueColumn: "_value")',
        ]
    )


def quotes(fields: list[str], symbols: str = "${symbol:json}", match: str = "") -> str:
    """`snapshot` plus the quote's age (`age_s`) and its market (`market`).

    `market` is the last `market_state` the feeder wrote (open, pre, post,
    closed), "24/7" for crypto, and "stale since <UTC time>" when the last
    price is older than STALE_AFTER_S while the market is open (or its state
    unknown): pre- and post-market the regular-session price rightly stays.
    `match` replaces the symbol predicate (one symbol: 'r.symbol == "${symbol}"').
    """
    match = match or symbols_in(symbols)
    if "price" not in fields:
        fields = ["price", *fields]
    return "\n".join(
        [
            'import "date"',
            'import "join"',
            "",
            "latest = " + "\n".join(_latest_rows(fields, match)),
            "ages = latest",
            '  |> filter(fn: (r) => r._field == "price")',
            "  |> map(fn: (r) => ({r with _value: float(v: int(v: now()) - int(v: r._time)) / 1000000000.0}))",
            '  |> set(key: "_field", value: "age_s")',
            "rows = union(tables: [latest, ages])",
            '  |> keep(columns: ["symbol", "asset_type", "_field", "_value"])',
            '  |> pivot(rowKey: ["symbol", "asset_type"], columnKey: ["_field"], valueColumn: "_value")',
            'states = from(bucket: "markets")',
            f"  {LAST_KNOWN}",
            '  |> filter(fn: (r) => r._measurement == "market_state" and r._field == "state")',
            "  |> last()",
            f"  |> filter(fn: (r) => {match})",
            '  |> group(columns: ["symbol"])',
            '  |> sort(columns: ["_time"])',
            "  |> last()",
            "  |> group()",
            '  |> keep(columns: ["symbol", "_value"])',
            "join.left(",
            "  left: rows,",
            "  right: states,",
            "  on: (l, r) => l.symbol == r.symbol,",
            "  as: (l, r) => {",
            '    state = if exists r._value then r._value else if l.asset_type == "crypto" then "24/7" else ""',
            "    // Pre- and post-market, Yahoo's regular-session price stays at the close: not stale.",
            f'    stale = exists l.age_s and l.age_s > {STALE_AFTER_S}.0 and (state == "open" or state == "24/7" or state == "")',
            "    // Evaluated only when stale (Flux's conditional is lazy): age_s exists then.",
            "    since = (age) => date.truncate(t: time(v: int(v: now()) - int(v: age * 1000000000.0)), unit: 1m)",
            '    return {l with market: if stale then "stale since " + string(v: since(age: l.age_s)) else state}',
            "  },",
            ")",
            '  |> drop(columns: ["asset_type"])',
        ]
    )


def latest_per_symbol(field: str, symbols: str = "${symbol:json}") -> str:
    """One series per symbol holding the field's last known value (for stat grids)."""
    return "\n".join(
        [
            'from(bucket: "markets")',
            f"  {LAST_KNOWN}",
            f'  |> filter(fn: (r) => {MARKET} and r._field == "{field}")',
            "  |> last()",  # pushed down: one point per series (see _latest_rows)
            f"  |> filter(fn: (r) => contains(value: r.symbol, set: {symbols}))",
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
    """Number of points tagged demo=true in the range (drives the DEMO DATA banner)."""
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


# Both need NEWS_SYMBOL_PRELUDE's `symbol` and `base`, or the `category` variable.
NEWS_SYMBOL_FILTER = '  |> filter(fn: (r) => symbol == "__all" or r.related_asset == symbol or r.related_asset == base)'
NEWS_CATEGORY_FILTER = "  |> filter(fn: (r) => contains(value: r.category, set: ${category:json}))"

NEWS_SYMBOL_PRELUDE = """import "strings"

// News tag related_asset holds a base asset or a whole symbol:
// match either the symbol or its base ("BASE/QUOTE" -> "BASE").
symbol = "${symbol}"
base = strings.split(v: symbol, t: "/")[0]
"""


def news_table(symbol_filter: bool, limit: int = 100, category_filter: bool = False) -> str:
    """Latest articles, newest first, one row each (title, url, score and tags)."""
    lines = [
        'from(bucket: "news")',
        f"  {RANGE}",
        f"  |> filter(fn: (r) => {NEWS})",
        '  |> filter(fn: (r) => contains(value: r._field, set: ["title", "url", "sentiment_score"]))',
    ]
    if symbol_filter:
        lines.append(NEWS_SYMBOL_FILTER)
    if category_filter:
        lines.append(NEWS_CATEGORY_FILTER)
    lines += [
        '  |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")',
        "  |> group()",
        '  |> sort(columns: ["_time"], desc: true)',
        f"  |> limit(n: {limit})",
        "  // The label by the shipped scorer's bands; another scorer's score is not relabelled.",
        f"  |> map(fn: (r) => ({{r with sentiment_label: {sentiment.label_expression()}}}))",
        '  |> keep(columns: ["_time", "source", "category", "related_asset", "title", "sentiment_label", "sentiment_score", "url"])',
    ]
    body = "\n".join(lines)
    return (NEWS_SYMBOL_PRELUDE + body) if symbol_filter else body


def sentiment_series(symbol_filter: bool, category_filter: bool = False) -> str:
    """Mean sentiment score per asset and window, a window being an hour at least."""
    lines = [
        "// Hourly at least: news are sparse, finer windows are mostly empty.",
        "period = if int(v: v.windowPeriod) < int(v: 1h) then 1h else v.windowPeriod",
        'from(bucket: "news")',
        f"  {RANGE}",
        f'  |> filter(fn: (r) => {NEWS} and r._field == "sentiment_score")',
        "  // One scorer's scores only: two versions' scores do not mean the same.",
        f"  |> filter(fn: (r) => {sentiment.scored_by_shipped()})",
    ]
    if symbol_filter:
        lines.append(NEWS_SYMBOL_FILTER)
    if category_filter:
        lines.append(NEWS_CATEGORY_FILTER)
    lines += [
        '  |> group(columns: ["related_asset"])',
        '  |> sort(columns: ["_time"])',
        "  |> aggregateWindow(every: period, fn: mean, createEmpty: false)",
    ]
    body = "\n".join(lines)
    return (NEWS_SYMBOL_PRELUDE + body) if symbol_filter else body


def tag_values(tag: str, predicate: str, measurement_bucket: str = "markets") -> str:
    """Values of a tag seen in the last 30 days (for variables: exchanges, categories)."""
    return (
        'import "influxdata/influxdb/schema"\n'
        f'schema.tagValues(bucket: "{measurement_bucket}", tag: "{tag}", predicate: (r) => {predicate}, start: -30d)'
    )
