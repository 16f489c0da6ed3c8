"""What a layout turns into: the dashboard JSON model the sync loop saves in Grafana."""

from __future__ import annotations

import json

from api_support import LAYOUT
from bbdash.watchlist_api.layout_dashboards import catalog
from bbdash.watchlist_api.layout_dashboards.build import build, dashboard_url, folder_uid

CATALOG = catalog.load()


def _layout(*panels: tuple[str, str, str], range_: str = "24h") -> dict[str, object]:
    return {
        "panels": [{"kind": k, "asset_type": t, "symbol": s} for k, t, s in panels],
        "range": range_,
    }


def test_every_panel_is_the_catalogues_for_the_layouts_symbol() -> None:
    layout = _layout(("price", "crypto", "BTC/USDT"), ("candles", "index", "^GSPC"), range_="7d")
    model = build(7, "Morning", layout, CATALOG)
    assert model["uid"] == "bbdash-layout-7"
    assert model["title"] == "Morning"
    assert model["time"] == {"from": "now-7d", "to": "now"}
    assert [p["type"] for p in model["panels"]] == [
        CATALOG.kinds["price"].panel["type"],
        CATALOG.kinds["candles"].panel["type"],
    ]
    price, candles = (json.dumps(p) for p in model["panels"])
    # The symbol replaces the dashboard variable everywhere, including in the queries.
    assert "${symbol" not in price and "${symbol" not in candles
    assert 'r.symbol == \\"BTC/USDT\\"' in price
    assert 'r.symbol == \\"^GSPC\\"' in candles
    assert model["panels"][0]["title"] == "BTC/USDT price"


def test_links_carry_the_symbol_percent_encoded() -> None:
    model = build(1, "x", _layout(("price", "crypto", "BTC/USDT")), CATALOG)
    links = json.dumps(model["panels"][0].get("links", []))
    assert "BTC%2FUSDT" in links and "${symbol" not in links


def test_panels_fill_rows_of_the_24_column_grid() -> None:
    widths = {k: CATALOG.kinds[k].width for k in ("quote", "price", "news")}
    model = build(1, "x", _layout(*[(k, "crypto", "ETH/USDT") for k in widths]), CATALOG)
    positions = [p["gridPos"] for p in model["panels"]]
    assert positions[0]["x"] == 0 and positions[0]["y"] == 0
    assert positions[1]["x"] == widths["quote"]
    # The news panel does not fit beside the other two: it starts the next row.
    assert positions[2]["x"] == 0 and positions[2]["y"] > 0
    assert [p["id"] for p in model["panels"]] == [1, 2, 3]


def test_the_dashboard_links_back_to_the_desk_and_keeps_the_exchange_variable() -> None:
    model = build(1, "x", LAYOUT, CATALOG)
    assert any(link.get("title") == "My desk" for link in model["links"])
    variables = [v["name"] for v in model["templating"]["list"]]
    assert variables == ["exchange"]  # the panels' ${exchange:json}
    assert "desk" in model["tags"]


def test_a_layout_stored_before_panels_were_typed_gets_a_note_not_an_error() -> None:
    model = build(3, "old", {"theme": "amber", "x": 1e20}, CATALOG)
    assert [p["type"] for p in model["panels"]] == ["text"]
    assert "My desk" in model["panels"][0]["options"]["content"]


def test_uids_and_urls() -> None:
    assert folder_uid(12) == "bbdash-desk-12"
    assert dashboard_url("/grafana/", 5) == "/grafana/d/bbdash-layout-5"
    assert len("bbdash-layout-" + str(2**63 - 1)) <= 40  # Grafana's uid limit
