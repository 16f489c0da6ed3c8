"""Settings (CoinGecko monthly budget), routing, and the deterministic demo market."""

from __future__ import annotations

import pytest
from bbdash.common.config import ConfigError, load_settings
from bbdash.common.watchlist import Asset
from bbdash.market_feeder.config import (
    CoinGeckoSettings,
    MarketFeederSettings,
    coingecko_monthly_calls,
)
from bbdash.market_feeder.market_state import MarketState
from bbdash.market_feeder.records import MarketRecord
from bbdash.market_feeder.routing import forex_pair, route
from bbdash.market_feeder.sources.demo import DemoMarket, DemoSource


def test_default_coingecko_cadence_fits_the_free_plan():
    calls = coingecko_monthly_calls(CoinGeckoSettings())
    assert calls == 8928  # 31 days every 300 s, one request for up to 250 coins
    assert calls <= 10_000


def test_monthly_calls_formula():
    assert coingecko_monthly_calls({"interval_s": 60}) == 44_640  # the seed's cadence
    assert coingecko_monthly_calls({"interval_s": 600, "max_coins": 600}) == 4464 * 3
    assert coingecko_monthly_calls({"enabled": False, "interval_s": 10}) == 0


def test_a_configuration_over_budget_is_refused_at_start():
    with pytest.raises(ConfigError, match=r"44640 calls a month .* exceed .*at least 268"):
        load_settings(MarketFeederSettings, coingecko={"interval_s": 60})
    # A paid plan's budget makes the same cadence acceptable.
    settings = load_settings(
        MarketFeederSettings, coingecko={"interval_s": 60, "monthly_budget": 500_000}
    )
    assert settings.coingecko.interval_s == 60
    # Demo mode never calls CoinGecko.
    load_settings(MarketFeederSettings, demo={"enabled": True}, coingecko={"interval_s": 60})


def test_market_defaults():
    settings = load_settings(MarketFeederSettings)
    assert settings.influx.bucket == "markets"
    assert settings.metrics.port == 9108
    assert str(settings.spool.path) == "/var/lib/bbdash/spool/market-feeder.sqlite"
    assert settings.binance.max_outgoing_per_s <= 5


def test_routing_picks_sources():
    routes = route(
        [
            Asset("BTC/USDT", "crypto"),
            Asset("PEPE", "crypto", "coingecko"),
            Asset("AAPL", "stock"),
            Asset("EURUSD=X", "forex"),
            Asset("^GSPC", "index"),
        ]
    )
    assert {a.symbol for a in routes.binance} == {"BTC/USDT"}
    assert {a.symbol for a in routes.coingecko} == {"BTC/USDT", "PEPE"}
    assert {a.symbol for a in routes.yahoo} == {"AAPL", "EURUSD=X", "^GSPC"}
    assert forex_pair("EURUSD=X") == ("EUR", "USD")
    assert forex_pair("JPY=X") == ("USD", "JPY")
    assert forex_pair("^GSPC") is None


def test_demo_market_is_deterministic_and_tagged():
    assets = [
        Asset("BTC/USDT", "crypto"),
        Asset("AAPL", "stock"),
        Asset("NEW", "stock"),
    ]
    a, b = DemoMarket(seed=7), DemoMarket(seed=7)
    run_a = [a.tick(x, i).price for i in range(50) for x in assets]
    run_b = [b.tick(x, i).price for i in range(50) for x in assets]
    assert run_a == run_b
    assert run_a != [DemoMarket(seed=8).tick(x, i).price for i in range(50) for x in assets]
    record = DemoMarket(seed=7).tick(assets[0], 5)
    point = record.to_point()
    assert point.tags["demo"] == "true"
    assert point.tags["exchange"] == "binance"
    assert set(point.fields) == {
        "price",
        "volume_24h",
        "change_pct_1h",
        "change_pct_24h",
        "market_cap",
    }


def test_demo_source_covers_defaults_and_watchlist_on_the_interval_grid():
    records: list[MarketRecord] = []
    source = DemoSource(
        [Asset("BTC/USDT", "crypto")],
        records.append,
        interval_s=1.0,
        clock_ns=lambda: 1707753600_400_000_000,
    )
    source.set_assets([Asset("AAPL", "stock")])
    assert source.tick_all() == 2
    assert {r.symbol for r in records} == {"BTC/USDT", "AAPL"}
    assert {r.event_time_ns for r in records} == {1707753600_000_000_000}
    assert all(r.demo for r in records)


def test_the_demo_market_is_open_and_says_so_on_change_and_hourly():
    """Its prices tick around the clock: stocks, forex and indices get the state "open"
    (crypto is 24/7 on the dashboards without one), written once, then hourly."""
    now = [1707753600_000_000_000]
    states: list[MarketState] = []
    source = DemoSource(
        [Asset("BTC/USDT", "crypto"), Asset("AAPL", "stock"), Asset("EURUSD=X", "forex")],
        lambda record: None,
        clock_ns=lambda: now[0],
        emit_state=states.append,
    )
    source.tick_all()
    assert [(s.symbol, s.exchange, s.state, s.time_ns) for s in states] == [
        ("AAPL", "yahoo", "open", now[0]),
        ("EURUSD=X", "yahoo", "open", now[0]),
    ]
    now[0] += 3599 * 1_000_000_000
    source.tick_all()
    assert len(states) == 2
    now[0] += 1_000_000_000
    source.tick_all()
    assert len(states) == 4
    assert all(s.demo and ",demo=true" in s.to_line().split(" ")[0] for s in states)


def test_fast_line_encoding_matches_the_point_encoding():
    import math

    from bbdash.common.lineprotocol import PointError

    records = [
        MarketRecord(
            "binance",
            "BTC/USDT",
            "crypto",
            1707753600000000000,
            price=67234.5,
            volume_24h=2.85e10,
            change_pct_24h=-2.3,
        ),
        MarketRecord("yahoo", "^GSPC", "index", 5, price=5021.84, change_pct_24h=0.0917),
        MarketRecord(
            "coingecko",
            "ETH/EUR",
            "crypto",
            7,
            market_cap=3.019e11,
            change_pct_1h=-0.12,
        ),
        DemoMarket(seed=1).tick(Asset("A B,C=D", "stock"), 9),
    ]
    for record in records:
        assert record.to_line() == record.to_point().to_line()
    with pytest.raises(PointError):
        MarketRecord("x", "Y", "stock", 1, price=math.nan).to_line()
    with pytest.raises(PointError):
        MarketRecord("x", "Y", "stock", 1).to_line()
