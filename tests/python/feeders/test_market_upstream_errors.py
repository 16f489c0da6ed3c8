"""Market sources against loopback upstreams that fail: what is counted, logged and obeyed.

Recorded error documents (Alpha Vantage, ExchangeRate, CoinGecko) and
hand-written refusals (401, 403, 451, a refused WebSocket handshake) are
served by real local HTTP servers; every source goes through the shared
upstream client, so each error is counted under its kind and logged once with
the upstream's own text.
"""

from __future__ import annotations

import asyncio
import logging

import pytest
from bbdash.common.metrics import Metrics
from bbdash.common.watchlist import Asset
from bbdash.market_feeder.config import (
    AlphaVantageSettings,
    BinanceSettings,
    CoinGeckoSettings,
    ExchangeRateSettings,
)
from bbdash.market_feeder.metrics import MarketMetrics
from bbdash.market_feeder.sources.alphavantage import AlphaVantageSource
from bbdash.market_feeder.sources.binance import BinanceStreams
from bbdash.market_feeder.sources.coingecko import CoinGeckoSource
from bbdash.market_feeder.sources.exchangerate import ExchangeRateSource
from fake_binance import wait_until
from feeder_testkit import payload
from upstream_server import Answer, ScriptedServer

IBM, MSFT = Asset("IBM", "stock"), Asset("MSFT", "stock")


def errors(metrics: Metrics, source: str, kind: str) -> float:
    return metrics.value("bbdash_source_errors_total", {"source": source, "kind": kind})


def unknown_symbols(metrics: Metrics) -> float:
    labels = {"source": "alphavantage", "reason": "unknown_symbol"}
    return metrics.value("bbdash_records_invalid_total", labels)


def logged(caplog, text: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if text in getattr(r, "upstream", "")]


def alphavantage(server: ScriptedServer, metrics: Metrics) -> AlphaVantageSource:
    settings = AlphaVantageSettings(api_key="av-key-1234", base_url=f"{server.url}/query")
    return AlphaVantageSource(settings, lambda r: None, metrics, MarketMetrics(metrics))


def test_alphavantage_error_message_is_logged_with_its_text_once(caplog):
    metrics = Metrics()
    with ScriptedServer(Answer(200, payload("alphavantage/error_symbol.json"))) as server:
        source = alphavantage(server, metrics)
        with caplog.at_level(logging.WARNING):
            unserved = asyncio.run(source.fetch([IBM, MSFT]))
        # An error about one call: the next symbol is still asked for.
        assert [r.query["symbol"] for r in server.requests] == ["IBM", "MSFT"]
    assert unserved == [IBM, MSFT]
    assert errors(metrics, "alphavantage", "api_error") == 2
    (record,) = logged(caplog, "Invalid API call. Please retry or visit the documentation")
    assert record.kind == "api_error" and record.source == "alphavantage"
    assert "av-key-1234" not in caplog.text
    assert unknown_symbols(metrics) == 0


@pytest.mark.parametrize(
    "answer",
    [
        Answer(200, {"Error Message": "the parameter apikey is invalid or missing. Please "
                     "claim your free API key on (https://www.alphavantage.co/support/#api-key)."}),
        Answer(401, {"message": "Unauthorized"}),
        Answer(403, "Forbidden"),
    ],
    ids=["apikey-notice", "401", "403"],
)  # fmt: skip
def test_alphavantage_refused_key_is_auth_never_unknown_symbol(answer, caplog):
    metrics = Metrics()
    with ScriptedServer(answer) as server:
        source = alphavantage(server, metrics)
        with caplog.at_level(logging.WARNING):
            unserved = asyncio.run(source.fetch([IBM, MSFT]))
        assert len(server.requests) == 1  # a refused key refuses every symbol: round over
    assert unserved == [IBM, MSFT]
    assert errors(metrics, "alphavantage", "auth") == 1
    assert unknown_symbols(metrics) == 0
    assert not any("symbol" in r.getMessage() for r in caplog.records)


def test_alphavantage_daily_notice_holds_the_source_and_drains_the_budget(caplog):
    metrics = Metrics()
    with ScriptedServer(Answer(200, payload("alphavantage/information_limit.json"))) as server:
        source = alphavantage(server, metrics)
        with caplog.at_level(logging.WARNING):
            asyncio.run(source.fetch([IBM]))
            asyncio.run(source.fetch([MSFT]))  # held: no request
        assert len(server.requests) == 1
    assert errors(metrics, "alphavantage", "rate_limited") == 1
    assert metrics.value("bbdash_source_circuit_state", {"source": "alphavantage"}) == 2
    assert source.upstream.budget.available() < 1
    assert logged(caplog, "standard API rate limit is 25 requests per day")


@pytest.mark.parametrize(
    ("error_type", "kind"),
    [("unsupported-code", "api_error"), ("invalid-key", "auth"), ("quota-reached", "rate_limited")],
)
def test_exchangerate_error_type_is_raised_with_the_upstream_text(error_type, kind, caplog):
    metrics = Metrics()
    body = {**payload("exchangerate/error.json"), "error-type": error_type}
    with ScriptedServer(Answer(200, body)) as server:
        source = ExchangeRateSource(
            ExchangeRateSettings(base_url=f"{server.url}/v6/latest"),
            lambda r: None,
            metrics,
            MarketMetrics(metrics),
        )
        with caplog.at_level(logging.WARNING):
            assert asyncio.run(source.fetch([Asset("EURUSD=X", "forex")])) == [
                Asset("EURUSD=X", "forex")
            ]
        assert [r.path for r in server.requests] == ["/v6/latest/USD"]
    assert errors(metrics, "exchangerate", kind) == 1
    (record,) = logged(caplog, error_type)
    assert record.kind == kind


def test_coingecko_geo_block_names_the_base_url_setting(caplog):
    metrics = Metrics()
    with ScriptedServer(Answer(451, {"error": "restricted location"})) as server:
        source = CoinGeckoSource(
            CoinGeckoSettings(base_url=f"{server.url}/api/v3"), lambda r: None, metrics
        )
        source.set_assets([Asset("BTC/USDT", "crypto")])
        with caplog.at_level(logging.WARNING):
            assert asyncio.run(source.poll_once()) == 0
        assert len(server.requests) == 1
    assert errors(metrics, "coingecko", "geo_blocked") == 1
    (record,) = logged(caplog, "restricted location")
    assert "geo-blocked: set the market-data base URL (coingecko.base_url)" in record.getMessage()


def test_binance_handshake_refused_with_451_names_binance_ws_url(caplog):
    metrics = Metrics()
    body = {"code": 0, "msg": "Service unavailable from a restricted location according to "
            "'b. Eligibility' in https://www.binance.com/en/terms."}  # fmt: skip
    with ScriptedServer(Answer(451, body)) as server:
        settings = BinanceSettings(
            ws_url=server.url.replace("http://", "ws://"),
            reconnect_base_s=0.05,
            reconnect_cap_s=0.1,
            open_timeout_s=2,
        )
        streams = BinanceStreams(settings, lambda r: None, metrics, MarketMetrics(metrics))
        streams.set_symbols(["BTC/USDT"])

        async def scenario() -> None:
            task = asyncio.create_task(streams.run())
            try:
                assert await wait_until(lambda: errors(metrics, "binance", "geo_blocked") >= 2)
            finally:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)

        with caplog.at_level(logging.WARNING):
            asyncio.run(scenario())
    assert errors(metrics, "binance", "connection") == 0
    (record,) = logged(caplog, "restricted location")  # once, however many attempts
    message = record.getMessage()
    assert "geo-blocked: set the market-data base URL (binance.ws_url" in message
    assert "wss://data-stream.binance.vision" in message
