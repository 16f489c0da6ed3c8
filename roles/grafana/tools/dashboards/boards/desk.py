"""The panels a person may put on their own dashboard from "My desk".

Not a provisioned dashboard: a catalogue the watchlist API reads to build each
saved layout's dashboard (bbdash.watchlist_api.layout_dashboards). Every panel is
the asset detail's own, so a personal chart reads the same buckets with the same
queries; its ``${symbol}`` is replaced by the layout's symbol when the dashboard
is built, and the exchanges come from a variable over every exchange.
"""

from __future__ import annotations

from typing import Any

from ..fields import price_defaults
from ..flux import tag_values
from ..frame import PRICE_REFRESH, envelope
from ..variables import var_influx
from ..widgets import news_headlines_table
from . import asset_detail

# Bumped when a panel's meaning changes, so the API rewrites every layout's dashboard.
CATALOG_VERSION = 1


def _titled(panel: dict[str, Any], title: str) -> dict[str, Any]:
    panel["title"] = title
    return panel


def _quote() -> dict[str, Any]:
    return _titled(
        asset_detail.stat_figure("LAST", "price", price_defaults()),
        "${symbol} LAST",
    )


def panels() -> dict[str, dict[str, Any]]:
    """Each kind: its label on the page, its size on the grid and its panel."""
    return {
        "quote": {"label": "Last price", "w": 6, "h": 4, "panel": _quote()},
        "price": {"label": "Price chart", "w": 12, "h": 8, "panel": asset_detail.price_chart()},
        "candles": {"label": "OHLC candles", "w": 12, "h": 8, "panel": asset_detail.ohlc_chart()},
        "volume": {
            "label": "Volume 24h",
            "w": 12,
            "h": 7,
            "panel": _titled(asset_detail.volume_chart(), "${symbol} volume 24h"),
        },
        "change": {
            "label": "Change %",
            "w": 12,
            "h": 7,
            "panel": _titled(asset_detail.change_chart(), "${symbol} change %"),
        },
        "exchanges": {
            "label": "Exchanges",
            "w": 8,
            "h": 8,
            "panel": _titled(asset_detail.exchanges_table(), "${symbol} exchanges"),
        },
        "news": {
            "label": "News",
            "w": 16,
            "h": 8,
            "panel": news_headlines_table("News on ${symbol}", symbol_filter=True, limit=30),
        },
    }


def build() -> dict[str, Any]:
    """The catalogue: its version, the dashboard envelope and the panel kinds."""
    exchanges = var_influx(
        "exchange",
        "Exchange",
        tag_values("exchange", 'r._measurement == "market_data"'),
        multi=True,
        include_all=True,
    )
    return {
        "version": CATALOG_VERSION,
        "envelope": envelope(
            ["desk"],
            [exchanges],
            refresh=PRICE_REFRESH,
            description="A layout saved on My desk; edit it there, not here.",
        ),
        "panels": panels(),
    }
