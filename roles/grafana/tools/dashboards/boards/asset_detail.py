"""Asset detail: one symbol in depth, where the overview's and the lists' links lead.

Quote figures, price per exchange, OHLC candles, volume, changes, prices across
exchanges, and the news and sentiment on the asset. The charts read the bucket
that suits the time range (raw, 5-minute or hourly candles), as RESOLUTION shows.
"""

from __future__ import annotations

from typing import Any

from .. import sentiment
from ..catalog import INFLUX
from ..chrome import demo_banner, header
from ..columns import market_col, num_col, pct_col
from ..fields import field_defaults, override, pct_defaults, price_defaults
from ..flux import (
    BUCKET_PRELUDE,
    LAST_KNOWN,
    MARKET,
    RANGE,
    fields_eq,
    quotes,
    sentiment_series,
    tag_values,
)
from ..frame import PRICE_REFRESH, dashboard
from ..layout import Board
from ..links import selected_symbol_news_link
from ..panels import stat, table, timeseries
from ..style import AMBER, DOWN, FLAT, UP
from ..targets import influx_target
from ..variables import var_influx, var_pg, var_watchlist, watchlist_symbols
from ..widgets import news_headlines_table

# The selected symbol on the selected exchanges, from the bucket the range calls for.
SERIES_BASE = BUCKET_PRELUDE + "\n".join(
    [
        "from(bucket: bucket)",
        f"  {RANGE}",
        f'  |> filter(fn: (r) => {MARKET} and r.symbol == "${{symbol}}")',
        "  |> filter(fn: (r) => contains(value: r.exchange, set: ${exchange:json}))",
    ]
)

RESOLUTION_QUERY = (
    'import "array"\n\n'
    + BUCKET_PRELUDE
    + 'array.from(rows: [{resolution: if bucket == "markets" then "RAW" else if bucket == "markets_5min" then "5 MIN CANDLES" else "1 H CANDLES"}])'
)


def build() -> dict[str, Any]:
    """The asset detail dashboard."""
    b = Board()
    b.add(header("asset", "price, volume, exchanges and news of one symbol"), 24, 3)
    b.add(demo_banner("markets", "market_data", "price"), 24, 2)
    add_quote_stats(b)
    b.add(price_chart(), 24, 9)
    b.add(ohlc_chart(), 24, 9)
    b.add(volume_chart(), 12, 7)
    b.add(change_chart(), 12, 7)
    b.add(exchanges_table(), 8, 8)
    add_news(b)
    return dashboard(
        "asset",
        ["markets"],
        b,
        variables(),
        refresh=PRICE_REFRESH,
        description="One symbol: price (bucket by time range), OHLC, volume, change, exchanges, news and sentiment.",
    )


def latest_query(field: str) -> str:
    """The symbol's last known value of ``field`` across all exchanges, whatever the range."""
    return "\n".join(
        [
            'from(bucket: "markets")',
            f"  {LAST_KNOWN}",
            f'  |> filter(fn: (r) => {MARKET} and r.symbol == "${{symbol}}" and r._field == "{field}")',
            "  |> last()",
            "  |> group()",
            '  |> sort(columns: ["_time"])',
            "  |> last()",
            '  |> keep(columns: ["_time", "_value"])',
        ]
    )


def stat_figure(title: str, field: str, defaults: dict[str, Any]) -> dict[str, Any]:
    """The symbol's last known ``field`` as one figure."""
    return stat(title, [influx_target(latest_query(field))], defaults)


def add_quote_stats(b: Board) -> None:
    """The row of figures: last, changes, volume, market cap, and the bucket in use."""

    b.add(stat_figure("LAST", "price", price_defaults()), 4, 4)
    b.add(stat_figure("CHG 1H", "change_pct_1h", pct_defaults()), 3, 4)
    b.add(stat_figure("CHG 24H", "change_pct_24h", pct_defaults()), 3, 4)
    b.add(stat_figure("VOL 24H", "volume_24h", field_defaults(unit="short", decimals=2)), 3, 4)
    b.add(
        stat_figure("MKT CAP", "market_cap", field_defaults(unit="currencyUSD", decimals=2)), 3, 4
    )
    b.add(
        stat(
            "MARKET",
            [influx_target(quotes(["price"], match='r.symbol == "${symbol}"'))],
            field_defaults(),
            fields="/^(market|age_s)$/",
            text_mode="value_and_name",
            overrides=[market_col(), num_col("age_s", "AGE", "dtdurations")],
            description=(
                "The market of the last quote (open, pre, post, closed; 24/7 for crypto;"
                " stale since when the feed stalled while it is open) and the quote's age."
            ),
        ),
        5,
        4,
    )
    b.add(
        stat(
            "RESOLUTION",
            [influx_target(RESOLUTION_QUERY)],
            field_defaults(),
            fields="/^resolution$/",
            description="Bucket the charts read for this time range: raw markets up to 7 d, markets_5min (candles) up to 30 d, markets_1h (candles) beyond.",
        ),
        3,
        4,
    )


def per_exchange_query(field: str, fn: str) -> str:
    """One series per exchange: ``fn`` of ``field`` per window."""
    return (
        SERIES_BASE
        + f'\n  |> filter(fn: (r) => r._field == "{field}")'
        + f"\n  |> aggregateWindow(every: v.windowPeriod, fn: {fn}, createEmpty: false)"
        + '\n  |> keep(columns: ["_time", "_value", "exchange"])'
    )


def price_chart() -> dict[str, Any]:
    """Mean price per window, one amber line per exchange."""
    return timeseries(
        "${symbol} price",
        [influx_target(per_exchange_query("price", "mean"))],
        field_defaults(
            color={"mode": "fixed", "fixedColor": AMBER},
            displayName="${__field.labels.exchange}",
        ),
        description="Mean price per window and exchange. The bucket follows the time range (see RESOLUTION).",
        links=[selected_symbol_news_link("News for ${symbol}")],
    )


def ohlc_query() -> str:
    """Open, high, low and close per window, over the selected exchanges together.

    Raw points give the candles from the price; the downsampled buckets hold
    candles (open, high, low, close fields), rolled up to the panel's window the
    same way, so highs and lows stay true at every range.
    """
    return BUCKET_PRELUDE + "\n".join(
        [
            "// The raw bucket has prices; the downsampled ones have candles.",
            'source = (name) => if bucket == "markets" then "price" else name',
            "data = from(bucket: bucket)",
            f"  {RANGE}",
            f'  |> filter(fn: (r) => {MARKET} and r.symbol == "${{symbol}}")',
            '  |> filter(fn: (r) => contains(value: r._field, set: ["price", "open", "high", "low", "close"]))',
            "  |> filter(fn: (r) => contains(value: r.exchange, set: ${exchange:json}))",
            "candle = (fn, name) => data",
            "  |> filter(fn: (r) => r._field == source(name: name))",
            '  |> group(columns: ["symbol"])',
            '  |> sort(columns: ["_time"])',
            "  |> aggregateWindow(every: v.windowPeriod, fn: fn, createEmpty: false)",
            '  |> set(key: "_field", value: name)',
            'union(tables: [candle(fn: first, name: "open"), candle(fn: max, name: "high"), candle(fn: min, name: "low"), candle(fn: last, name: "close")])',
            '  |> group(columns: ["symbol"])',
            '  |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")',
            '  |> keep(columns: ["_time", "open", "high", "low", "close"])',
        ]
    )


def ohlc_chart() -> dict[str, Any]:
    """Candlesticks, green when the window closed above its open, red below."""
    return {
        "type": "candlestick",
        "title": "${symbol} OHLC",
        "description": "Open/high/low/close of the price per window across the selected exchanges: from raw prices up to 7 days, from the 5-minute candles up to 30 days, from the hourly candles beyond.",
        "datasource": INFLUX,
        "targets": [influx_target(ohlc_query())],
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
    }


def volume_chart() -> dict[str, Any]:
    """24 h volume as reported per exchange, last value per window."""
    return timeseries(
        "Volume 24h",
        [influx_target(per_exchange_query("volume_24h", "last"))],
        field_defaults(
            unit="short",
            color={"mode": "palette-classic"},
            displayName="${__field.labels.exchange}",
        ),
        draw="bars",
    )


def change_query(field: str) -> str:
    """The reported change ``field``, last value per window, exchanges merged."""
    return (
        SERIES_BASE
        + f'\n  |> filter(fn: (r) => r._field == "{field}")'
        + "\n  |> aggregateWindow(every: v.windowPeriod, fn: last, createEmpty: false)"
        + "\n  |> group()"
        + '\n  |> keep(columns: ["_time", "_value"])'
    )


def change_chart() -> dict[str, Any]:
    """1 h and 24 h change on one chart (queries A and B)."""
    return timeseries(
        "Change %",
        [
            influx_target(change_query("change_pct_1h"), "A"),
            influx_target(change_query("change_pct_24h"), "B"),
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
    )


def exchanges_table() -> dict[str, Any]:
    """Last known quote of the symbol on each exchange: the spread between venues."""
    query = "\n".join(
        [
            'from(bucket: "markets")',
            f"  {LAST_KNOWN}",
            f'  |> filter(fn: (r) => {MARKET} and r.symbol == "${{symbol}}" and {fields_eq(["price", "volume_24h", "change_pct_24h"])})',
            "  |> last()",
            "  |> group()",
            '  |> keep(columns: ["exchange", "_field", "_value"])',
            '  |> pivot(rowKey: ["exchange"], columnKey: ["_field"], valueColumn: "_value")',
            '  |> sort(columns: ["exchange"])',
        ]
    )
    exchange_col = override(
        "byName",
        "exchange",
        {
            "displayName": "EXCH",
            "color": {"mode": "fixed", "fixedColor": AMBER},
            "custom.cellOptions": {"type": "color-text"},
        },
    )
    return table(
        "Exchanges",
        [influx_target(query)],
        [
            exchange_col,
            num_col("price", "LAST"),
            pct_col("change_pct_24h", "CHG 24H"),
            num_col("volume_24h", "VOL 24H", "short"),
        ],
        description="Latest quote of ${symbol} on each exchange (spread between venues).",
    )


def add_news(b: Board) -> None:
    """Headlines on the asset (linking to all its news) and its sentiment over time."""
    news = news_headlines_table("News on ${symbol}", symbol_filter=True, limit=30)
    news["links"] = [selected_symbol_news_link("All news on ${symbol}")]
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
                th=sentiment.band_thresholds(),
                custom={"thresholdsStyle": {"mode": "area"}},
            ),
            description="Mean sentiment score of the articles about this asset, per hour at least; "
            "the background shows the label bands. " + sentiment.band_text(),
        ),
        24,
        6,
    )


def variables() -> list[dict[str, Any]]:
    """One symbol of the watchlists, and the exchanges it is quoted on."""
    return [
        var_watchlist(),
        var_pg(
            "symbol",
            "Symbol",
            watchlist_symbols(),
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
