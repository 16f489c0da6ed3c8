"""Composite panels that several dashboards share: tape, heatmap, quotes, lines, headlines, status.

The market dashboards (overview, crypto, stocks and forex) show the same panels
over different symbol variables, three dashboards list headlines the same way,
and the health tiles of infrastructure and pipeline read alike; each is built
once, here.
"""

from __future__ import annotations

from typing import Any

from . import sentiment
from .columns import market_col, num_col, pct_col, symbol_col
from .fields import field_defaults, override, pct_defaults, thresholds, two_states
from .flux import latest_per_symbol, news_table, quotes, rebased, ticker
from .links import LABEL_SYMBOL, RELATED_ASSET, asset_link, news_link
from .panels import stat, table, timeseries
from .style import AMBER, DOWN, FLAT, UP
from .targets import influx_target


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
            links=[asset_link(LABEL_SYMBOL)],
        ),
        text_mode="value_and_name",
        color_mode="background",
        orientation="horizontal",
        description=f"Latest {field} of each selected symbol; red to green from {lo}% to {hi}%. Click a tile for the asset.",
    )


def ticker_tape(symbols: str = "${symbol:json}") -> dict[str, Any]:
    """Last price and 24 h change per symbol with core panels only (no plugin needed)."""
    return stat(
        "Ticker tape",
        [influx_target(ticker(symbols))],
        pct_defaults(
            displayName="${__field.labels.symbol}  ${__field.labels.quote}",
            links=[asset_link(LABEL_SYMBOL)],
        ),
        text_mode="value_and_name",
        color_mode="value",
        orientation="vertical",
        description="Last price and 24 h change of each selected symbol (core panel; the monospace tape below needs the Business Text plugin).",
    )


def market_table(symbols: str) -> dict[str, Any]:
    """Quotes: last price, changes, volume, market cap, and the quote's age and market."""
    fields = ["price", "change_pct_1h", "change_pct_24h", "volume_24h", "market_cap"]
    cols = [
        symbol_col(),
        num_col("price", "LAST"),
        pct_col("change_pct_1h", "CHG 1H"),
        pct_col("change_pct_24h", "CHG 24H"),
        num_col("volume_24h", "VOL 24H", "short"),
        num_col("market_cap", "MKT CAP", "currencyUSD"),
        num_col("age_s", "AGE", "dtdurations"),
        market_col(),
    ]
    return table(
        "Quotes",
        [influx_target(quotes(fields, symbols) + '\n  |> sort(columns: ["symbol"])')],
        cols,
        description=(
            "Last known quote of each selected symbol, whatever the time range: its age, and"
            " its market (open, pre, post, closed, 24/7 for crypto; stale since when the feed"
            " stalled while the market is open). Click a symbol for its detail or its news."
        ),
    )


def rebased_chart(title: str, symbols: str, decimals: int, description: str = "") -> dict[str, Any]:
    """One line per symbol, rebased to 100 at the start of the range, so that they compare."""
    return timeseries(
        title,
        [influx_target(rebased(symbols))],
        field_defaults(
            unit="none",
            decimals=decimals,
            color={"mode": "palette-classic"},
            displayName="${__field.labels.symbol}",
        ),
        description=description,
        legend="table",
    )


def news_columns() -> list[dict[str, Any]]:
    """TIME, SRC, CAT, ASSET (links to its news), HEADLINE (opens the article), SENT."""
    return [
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
                "links": [news_link(RELATED_ASSET)],
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
            "sentiment_label",
            {
                "displayName": "SENT",
                "mappings": [sentiment_label_colours()],
                "custom.cellOptions": {"type": "color-text"},
                "custom.width": 100,
            },
        ),
        override(
            "byName",
            "sentiment_score",
            {
                "displayName": "SCORE",
                "decimals": 2,
                "min": -1,
                "max": 1,
                "color": {"mode": "thresholds"},
                "thresholds": sentiment.band_thresholds(),
                "custom.cellOptions": {"type": "color-background", "mode": "basic"},
                "custom.width": 70,
                "custom.align": "right",
            },
        ),
        # The headline links to it; a column of its own would only repeat it.
        override("byName", "url", {"custom.hidden": True}),
    ]


def news_headlines_table(
    title: str, symbol_filter: bool, limit: int = 100, category_filter: bool = False
) -> dict[str, Any]:
    """Latest articles, newest first, optionally filtered on $symbol and $category."""
    return table(
        title,
        [influx_target(news_table(symbol_filter, limit, category_filter))],
        news_columns(),
        description="Latest articles, newest first. Click a headline to open it, an asset to filter the news on it. SENT is the label, SCORE the sentiment score in [-1, 1] (P(positive) - P(negative)). "
        + sentiment.band_text(),
    )


def status_stat(
    title: str, targets: list[dict[str, Any]], zero: str, one: str, description: str = ""
) -> dict[str, Any]:
    """Red or green tiles for 0/1 health metrics, named ``zero`` and ``one``."""
    return stat(
        title,
        targets,
        field_defaults(th=thresholds((None, DOWN), (1, UP)), mappings=two_states(zero, one)),
        text_mode="value_and_name",
        color_mode="background",
        orientation="horizontal",
        description=description,
    )


def sentiment_label_colours() -> dict[str, Any]:
    """Value mapping: each label in its band's colour (red, grey, green)."""
    return {
        "type": "value",
        "options": {
            "negative": {"color": DOWN, "index": 0},
            "neutral": {"color": FLAT, "index": 1},
            "positive": {"color": UP, "index": 2},
            "other scorer": {"color": AMBER, "index": 3, "text": "other scorer"},
        },
    }
