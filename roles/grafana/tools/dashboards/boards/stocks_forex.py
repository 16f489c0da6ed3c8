"""Stocks and forex: equities and indices, then currency pairs, of the watchlists.

Two halves with their own symbol variables ($symbol, $pair): tape, quotes,
heatmap and rebased lines for equities; rates, 24 h change bars and rebased
lines for the pairs.
"""

from __future__ import annotations

from typing import Any

from ..chrome import demo_banner, header, section
from ..columns import market_col, num_col, pct_col, symbol_col
from ..fields import pct_defaults
from ..flux import quotes, snapshot
from ..frame import PRICE_REFRESH, dashboard
from ..layout import Board
from ..panels import barchart, table
from ..targets import influx_target
from ..variables import var_pg, var_watchlist, watchlist_symbols
from ..widgets import change_grid, market_table, rebased_chart, ticker_tape

STOCKS = "${symbol:json}"
PAIRS = "${pair:json}"


def build() -> dict[str, Any]:
    """The stocks and forex dashboard."""
    b = Board()
    b.add(header("stocks", "equities, indices and currency pairs"), 24, 3)
    b.add(demo_banner("markets", "market_data", "price"), 24, 2)
    add_equities(b)
    add_forex(b)
    return dashboard(
        "stocks",
        ["markets", "stocks", "forex"],
        b,
        variables(),
        refresh=PRICE_REFRESH,
        description="Equities, indices and currency pairs of the watchlists.",
    )


def add_equities(b: Board) -> None:
    """Equities and indices: tape, quotes, heatmap (±3 %) and rebased lines."""
    b.add(section("Equities & indices"), 24, 1)
    b.add(ticker_tape(STOCKS), 24, 4)
    b.add(market_table(STOCKS), 14, 10)
    b.add(change_grid("24h change", "change_pct_24h", STOCKS, -3, 3), 10, 10)
    b.add(
        rebased_chart(
            "Equities rebased to 100",
            STOCKS,
            2,
            "Each equity or index divided by its first value in the range, times 100.",
        ),
        24,
        9,
    )


def add_forex(b: Board) -> None:
    """Currency pairs: rates and changes, 24 h change bars, rebased lines."""
    b.add(section("Forex"), 24, 1)
    fx_cols = [
        symbol_col(),
        num_col("price", "RATE", decimals=5),
        pct_col("change_pct_1h", "CHG 1H"),
        pct_col("change_pct_24h", "CHG 24H"),
        num_col("age_s", "AGE", "dtdurations"),
        market_col(),
    ]
    rates = quotes(["price", "change_pct_1h", "change_pct_24h"], PAIRS)
    b.add(
        table(
            "Currency pairs",
            [influx_target(rates + '\n  |> sort(columns: ["symbol"])')],
            fx_cols,
            description=(
                "Last known rate and changes of each selected pair, whatever the time range,"
                " with its age and market (closed over the weekend)."
            ),
        ),
        10,
        9,
    )
    changes = (
        snapshot(["change_pct_24h"], PAIRS)
        + '\n  |> filter(fn: (r) => exists r.change_pct_24h)\n  |> sort(columns: ["change_pct_24h"], desc: true)'
    )
    b.add(
        barchart(
            "Pairs: 24h change",
            [influx_target(changes)],
            "symbol",
            "change_pct_24h",
            pct_defaults(),
        ),
        14,
        9,
    )
    b.add(rebased_chart("Pairs rebased to 100", PAIRS, 3), 24, 8)


def variables() -> list[dict[str, Any]]:
    """$symbol: the watchlists' equities and indices; $pair: their currency pairs."""
    return [
        var_watchlist(),
        var_pg(
            "symbol",
            "Equity / index",
            watchlist_symbols("'stock', 'index'"),
            multi=True,
            include_all=True,
        ),
        var_pg(
            "pair",
            "Pair",
            watchlist_symbols("'forex'"),
            multi=True,
            include_all=True,
        ),
    ]
