"""Crypto: the watchlists' crypto assets, their dominance and the venues quoting them.

Quotes, market-cap dominance, 24 h and 1 h heatmaps, performance rebased to
100, volume, and the last price on each exchange side by side.
"""

from __future__ import annotations

from typing import Any

from ..chrome import demo_banner, header
from ..columns import symbol_col
from ..fields import field_defaults
from ..flux import LAST_KNOWN, MARKET, snapshot, tag_values
from ..frame import PRICE_REFRESH, dashboard
from ..layout import Board
from ..links import asset_link
from ..panels import bargauge, piechart, table
from ..style import AMBER
from ..targets import influx_target
from ..variables import var_influx, var_pg, var_watchlist, watchlist_symbols
from ..widgets import change_grid, market_table, rebased_chart, ticker_tape

SYMBOLS = "${symbol:json}"


def build() -> dict[str, Any]:
    """The crypto dashboard."""
    b = Board()
    b.add(header("crypto", "crypto watchlist · venues · dominance"), 24, 3)
    b.add(demo_banner("markets", "market_data", "price"), 24, 2)
    b.add(ticker_tape(SYMBOLS), 24, 4)
    b.add(market_table(SYMBOLS), 14, 10)
    b.add(dominance_chart(), 10, 10)
    b.add(change_grid("24h change", "change_pct_24h", SYMBOLS), 12, 6)
    b.add(change_grid("1h change", "change_pct_1h", SYMBOLS, -2, 2), 12, 6)
    b.add(
        rebased_chart(
            "Performance (rebased to 100)",
            SYMBOLS,
            2,
            "Price of each symbol divided by its first value in the range, times 100: lines are comparable.",
        ),
        24,
        9,
    )
    b.add(volume_bars(), 10, 9)
    b.add(price_by_exchange(), 14, 9)
    return dashboard(
        "crypto",
        ["markets", "crypto"],
        b,
        variables(),
        refresh=PRICE_REFRESH,
        description="Crypto assets of the watchlists: quotes, dominance, heatmaps, rebased performance, volume, venues.",
    )


def dominance_chart() -> dict[str, Any]:
    """Each asset's share of the selected assets' total market cap."""
    return piechart(
        "Dominance (market cap share)",
        [
            influx_target(
                snapshot(["market_cap"], SYMBOLS) + "\n  |> filter(fn: (r) => exists r.market_cap)"
            )
        ],
        "/^market_cap$/",
        field_defaults(unit="currencyUSD", color={"mode": "palette-classic"}, links=[asset_link()]),
    )


def volume_bars() -> dict[str, Any]:
    """24 h volume per asset, largest first."""
    return bargauge(
        "Volume 24h",
        [
            influx_target(
                snapshot(["volume_24h"], SYMBOLS)
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
    )


def price_by_exchange() -> dict[str, Any]:
    """Last price of each asset on each selected exchange, one column per exchange."""
    query = "\n".join(
        [
            'from(bucket: "markets")',
            f"  {LAST_KNOWN}",
            f'  |> filter(fn: (r) => {MARKET} and r._field == "price")',
            "  |> last()",  # pushed down to one point per series before contains()
            f"  |> filter(fn: (r) => contains(value: r.symbol, set: {SYMBOLS}))",
            "  |> filter(fn: (r) => contains(value: r.exchange, set: ${exchange:json}))",
            "  |> group()",
            '  |> keep(columns: ["symbol", "exchange", "_value"])',
            '  |> pivot(rowKey: ["symbol"], columnKey: ["exchange"], valueColumn: "_value")',
            '  |> sort(columns: ["symbol"])',
        ]
    )
    return table(
        "Price by exchange",
        [influx_target(query)],
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
    )


def variables() -> list[dict[str, Any]]:
    """The watchlists' crypto assets, and the exchanges quoting any crypto asset."""
    return [
        var_watchlist(),
        var_pg(
            "symbol",
            "Crypto",
            watchlist_symbols("'crypto'"),
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
