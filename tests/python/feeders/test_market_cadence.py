"""Each source's effective update interval for the symbols watched now (issue 15: past
~100 tickers Yahoo's hourly budget stretches every quote, and the operator is told)."""

from __future__ import annotations

import asyncio
import logging

import pytest
from bbdash.common.config import load_settings
from bbdash.common.metrics import Metrics
from bbdash.common.watchlist import Asset, WatchlistSnapshot
from bbdash.market_feeder.app import MarketFeeder
from bbdash.market_feeder.cadence import Cadence, yahoo_interval
from bbdash.market_feeder.config import MarketFeederSettings
from feeder_testkit import TOKEN


@pytest.mark.parametrize(
    ("symbols", "expected"),
    [
        (1, 15.0),  # one request every 15 s: 240/h, within 360
        (100, 20.0),  # two requests a round: 720/h wanted, 360 allowed
        (150, 30.0),  # the "one every 20-30 s"
        (500, 100.0),
    ],
)
def test_yahoo_interval_follows_the_hourly_budget(symbols: int, expected: float) -> None:
    assert yahoo_interval(symbols, 15.0, 50, 360) == expected


def _settings(tmp_path) -> MarketFeederSettings:
    return load_settings(
        MarketFeederSettings,
        influx={"url": "http://127.0.0.1:9", "token": TOKEN},
        spool={"path": tmp_path / "spool.sqlite"},
        alerts={"enabled": False},
        backfill={"enabled": False},
    )


def test_gauges_and_one_log_line_per_change(tmp_path, caplog) -> None:
    metrics = Metrics()
    cadence = Cadence(_settings(tmp_path), metrics)
    caplog.set_level(logging.INFO, logger="bbdash.market_feeder.cadence")

    cadence.update(binance=3, yahoo=40, coingecko=0)
    value = metrics.value
    assert value("bbdash_source_update_interval_seconds", {"source": "yahoo"}) == 15.0
    assert value("bbdash_source_update_interval_seconds", {"source": "binance"}) == 1.0
    assert value("bbdash_source_update_interval_seconds", {"source": "coingecko"}) == 0
    assert value("bbdash_source_symbols", {"source": "yahoo"}) == 40
    assert caplog.records == []

    cadence.update(binance=3, yahoo=150, coingecko=0)
    cadence.update(binance=4, yahoo=151, coingecko=0)
    assert value("bbdash_source_update_interval_seconds", {"source": "yahoo"}) == 40.0
    slowed = [r.getMessage() for r in caplog.records]
    assert slowed == [
        "yahoo: 150 symbols take 3 requests a round; the budget of 360 requests/h "
        "refreshes each quote every 30 s instead of 15 s"
    ]

    cadence.update(binance=4, yahoo=20, coingecko=0)
    assert [r.getMessage() for r in caplog.records][1:] == [
        "yahoo: each quote is refreshed every 15 s again"
    ]


def test_the_feeder_updates_them_with_the_watchlist(tmp_path) -> None:
    feeder = MarketFeeder(_settings(tmp_path), metrics=Metrics(), serve_http=False)
    stocks = frozenset(Asset(f"S{i:03d}", "stock") for i in range(150))
    crypto = frozenset({Asset("BTC/USDT", "crypto"), Asset("ETH/USDT", "crypto")})
    asyncio.run(feeder.on_watchlist(WatchlistSnapshot(stocks | crypto)))
    value = feeder.metrics.value
    assert value("bbdash_source_update_interval_seconds", {"source": "yahoo"}) == 30.0
    assert value("bbdash_source_symbols", {"source": "binance"}) == 2
