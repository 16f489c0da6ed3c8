"""Market overview (home): the watchlist at a glance, the entry point of the drill-down.

Ticker tape, 24 h heatmap, top movers, market caps and the latest headlines;
every symbol links to the asset detail and its news.
"""

from __future__ import annotations

from typing import Any

from ..catalog import INFLUX, url
from ..chrome import demo_banner, header, section
from ..columns import num_col, pct_col, symbol_col
from ..fields import field_defaults, override
from ..flux import snapshot
from ..frame import PRICE_REFRESH, dashboard
from ..layout import Board
from ..links import asset_link
from ..panels import bargauge, table
from ..style import AMBER, DOWN, FLAT, MONO, UP
from ..targets import influx_target
from ..variables import WATCHLIST_SQL, var_asset_type, var_pg, var_watchlist
from ..widgets import change_grid, news_headlines_table, ticker_tape


def build() -> dict[str, Any]:
    """The market overview dashboard."""
    b = Board()
    b.add(header("overview", "watchlist snapshot · click a symbol for its detail"), 24, 3)
    b.add(demo_banner("markets", "market_data", "price"), 24, 2)
    b.add(ticker_tape(), 24, 4)
    b.add(plugin_ticker(), 24, 2)
    b.add(section("24h change heatmap", "tiles: red to green, -5% to +5%"), 24, 1)
    b.add(change_grid("24h change", "change_pct_24h"), 24, 7)
    add_movers(b)
    add_market_caps(b)
    b.add(section("Latest headlines"), 24, 1)
    b.add(news_headlines_table("Headlines", symbol_filter=False, limit=15), 24, 8)
    variables = [
        var_watchlist(),
        var_asset_type(),
        var_pg("symbol", "Symbol", WATCHLIST_SQL, multi=True, include_all=True),
    ]
    return dashboard(
        "overview",
        ["markets"],
        b,
        variables,
        refresh=PRICE_REFRESH,
        description="Watchlist snapshot: ticker, 24 h heatmap, top movers, market caps, headlines.",
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


def add_movers(b: Board) -> None:
    """Gainers and losers: the 10 best and worst 24 h changes, side by side."""
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


def add_market_caps(b: Board) -> None:
    """The 30 largest market caps: treemap (plugin) and the core bar gauge beside it."""
    b.add(section("Market caps"), 24, 1)
    mcap_q = (
        snapshot(["market_cap", "change_pct_24h"])
        + '\n  |> filter(fn: (r) => exists r.market_cap)\n  |> sort(columns: ["market_cap"], desc: true)\n  |> limit(n: 30)'
    )
    b.add(treemap(mcap_q), 14, 10)
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


def treemap(query: str) -> dict[str, Any]:
    """Market caps as areas coloured by 24 h change (Treemap plugin)."""
    return {
        "type": "marcusolsson-treemap-panel",
        "title": "Market caps (plugin: Treemap)",
        "description": "Area = market cap, colour = 24 h change. Needs the marcusolsson-treemap-panel plugin; the bar gauge beside it is the core fallback with the same data.",
        "datasource": INFLUX,
        "targets": [influx_target(query)],
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
    }
