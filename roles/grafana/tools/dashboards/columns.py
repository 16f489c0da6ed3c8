"""Table columns shared by the quote tables (symbol, figures, changes).

Gainers, losers, quotes, exchanges and currency pairs show the same columns;
one definition keeps their labels, alignment and colours identical.
"""

from __future__ import annotations

from typing import Any

from .fields import UPDOWN, override
from .links import SYMBOL_LINKS
from .style import AMBER, DOWN, FLAT, UP


def symbol_col(name: str = "symbol") -> dict[str, Any]:
    """The amber SYMBOL column, linking to the asset's detail and news."""
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
    """A right-aligned figure column."""
    props: dict[str, Any] = {"displayName": label, "unit": unit, "custom.align": "right"}
    if decimals is not None:
        props["decimals"] = decimals
    return override("byName", name, props)


def pct_col(name: str, label: str) -> dict[str, Any]:
    """A change column in percent, red below zero and green from zero up."""
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


def market_col(name: str = "market") -> dict[str, Any]:
    """MARKET: open and 24/7 green, pre/post amber, closed grey, "stale since …" red."""
    return override(
        "byName",
        name,
        {
            "displayName": "MARKET",
            "custom.cellOptions": {"type": "color-text"},
            "mappings": [
                {
                    "type": "value",
                    "options": {
                        "open": {"color": UP, "index": 0},
                        "24/7": {"color": UP, "index": 1},
                        "pre": {"color": AMBER, "index": 2},
                        "post": {"color": AMBER, "index": 3},
                        "closed": {"color": FLAT, "index": 4},
                    },
                },
                {
                    "type": "regex",
                    "options": {"pattern": "^stale.*", "result": {"color": DOWN, "index": 5}},
                },
            ],
            "custom.width": 190,
        },
    )
