"""Yahoo, CoinGecko, Alpha Vantage and ExchangeRate sources on recorded payloads (no network)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from bbdash.common.metrics import Metrics
from bbdash.common.watchlist import Asset
from bbdash.market_feeder.config import (
    AlphaVantageSettings,
    CoinGeckoSettings,
    ExchangeRateSettings,
    YahooSettings,
)
from bbdash.market_feeder.metrics import MarketMetrics
from bbdash.market_feeder.records import MarketRecord, parse_number
from bbdash.market_feeder.sources._base import PolledSource
from bbdash.market_feeder.sources.alphavantage import AlphaVantageSource
from bbdash.market_feeder.sources.coingecko import CoinGeckoSource, iso_to_ns
from bbdash.market_feeder.sources.exchangerate import ExchangeRateSource
from bbdash.market_feeder.sources.yahoo import RateLimitedError, YahooSource
from feeder_testkit import payload

AAPL = Asset("AAPL", "stock")
GSPC = Asset("^GSPC", "index")
EURUSD = Asset("EURUSD=X", "forex")
BROKEN = Asset("BROKEN", "stock")


class FakeQuoteClient:
    """Stands in for yfinance: returns a recorded payload or raises what yfinance raises."""

    def __init__(self, results: list[Any]) -> None:
        self.results = results
        self.calls: list[list[str]] = []

    def fetch_quotes(self, symbols, timeout_s):
        self.calls.append(list(symbols))
        result = self.results.pop(0) if len(self.results) > 1 else self.results[0]
        if isinstance(result, BaseException):
            raise result
        return result


def mock_client(routes: dict[str, Any], seen: list[httpx.Request]) -> httpx.AsyncClient:
    """httpx client answering from `routes` (path → payload or (status, body))."""

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        answer = routes[request.url.path]
        if callable(answer):
            answer = answer(request)
        if isinstance(answer, tuple):
            status, body = answer
            return httpx.Response(status, json=body, headers={"Retry-After": "60"})
        return httpx.Response(200, json=answer)

    return httpx.AsyncClient(transport=httpx.MockTransport(handler))


def test_number_parsing_is_strict():
    assert parse_number("-0.4123%", percent=True) == -0.4123
    assert parse_number(" 67234.50 ") == 67234.5
    for bad in ("NaN", "nan", "inf", "-Infinity", "", "1,234", True, None, [1]):
        with pytest.raises(ValueError):
            parse_number(bad)


def test_yahoo_batches_many_tickers_in_one_request():
    records: list[MarketRecord] = []
    metrics = Metrics()
    client = FakeQuoteClient([payload("yahoo/quote_batch.json")])
    source = YahooSource(YahooSettings(), records.append, metrics, client=client)
    source.set_assets([AAPL, GSPC, EURUSD, BROKEN])
    assert asyncio.run(source.poll_once()) == 3
    assert client.calls == [["AAPL", "BROKEN", "EURUSD=X", "^GSPC"]]  # one request
    by_symbol = {r.symbol: r for r in records}
    aapl = by_symbol["AAPL"]
    assert (aapl.price, aapl.volume_24h, aapl.change_pct_24h, aapl.market_cap) == (
        189.98,
        45155216.0,
        -0.8965,
        2934104735744.0,
    )
    assert aapl.event_time_ns == 1707753600 * 10**9
    assert aapl.exchange == "yahoo" and aapl.asset_type == "stock"
    assert by_symbol["EURUSD=X"].volume_24h is None  # Yahoo's 0 volume for FX is omitted
    assert "volume_24h" not in by_symbol["^GSPC"].to_point().fields
    assert (
        metrics.value("bbdash_records_invalid_total", {"source": "yahoo", "reason": "non_finite"})
        == 1
    )


def test_yahoo_chunks_by_symbols_per_request():
    client = FakeQuoteClient([{"quoteResponse": {"result": [], "error": None}}])
    source = YahooSource(
        YahooSettings(symbols_per_request=2), lambda r: None, Metrics(), client=client
    )
    source.set_assets([Asset(f"S{i}", "stock") for i in range(5)])
    asyncio.run(source.poll_once())
    assert [len(c) for c in client.calls] == [2, 2, 1]


def test_yahoo_rate_limit_trips_the_breaker_and_hands_over_to_fallback():
    failed: list[list[Asset]] = []

    async def on_failure(assets: list[Asset]) -> None:
        failed.append(assets)

    metrics = Metrics()
    client = FakeQuoteClient([RateLimitedError("Too Many Requests. Rate limited.")])
    source = YahooSource(
        YahooSettings(), lambda r: None, metrics, client=client, on_failure=on_failure
    )
    source.set_assets([AAPL, EURUSD])

    async def scenario() -> None:
        await source.poll_once()
        await source.poll_once()  # the circuit is open: no second request

    asyncio.run(scenario())
    assert len(client.calls) == 1
    assert (
        metrics.value("bbdash_source_errors_total", {"source": "yahoo", "kind": "rate_limited"})
        == 1
    )
    assert metrics.value("bbdash_source_circuit_state", {"source": "yahoo"}) == 2
    assert [sorted(a.symbol for a in batch) for batch in failed] == [["AAPL", "EURUSD=X"]] * 2


def test_yahoo_malformed_response_is_counted():
    metrics = Metrics()
    source = YahooSource(
        YahooSettings(),
        lambda r: None,
        metrics,
        client=FakeQuoteClient([{"finance": {"results": "nope"}}]),
    )
    source.set_assets([AAPL])
    assert asyncio.run(source.poll_once()) == 0
    assert (
        metrics.value(
            "bbdash_records_invalid_total",
            {"source": "yahoo", "reason": "malformed_response"},
        )
        == 1
    )


async def until(condition: Callable[[], bool], timeout_s: float = 5.0) -> None:
    """Wait (on the loop) until `condition()` holds; fail after `timeout_s`."""
    async with asyncio.timeout(timeout_s):
        while not condition():
            await asyncio.sleep(0.005)


def test_polled_source_polls_at_once_and_again_when_new_assets_arrive():
    client = FakeQuoteClient([{"quoteResponse": {"result": [], "error": None}}])
    source = YahooSource(YahooSettings(interval_s=3600), lambda r: None, Metrics(), client=client)
    source.set_assets([AAPL])

    async def scenario() -> None:
        task = asyncio.create_task(source.run())
        try:
            await until(lambda: len(client.calls) == 1)  # first poll: no waiting
            source.set_assets([AAPL])  # nothing new: no early poll
            source.set_assets([AAPL, GSPC])  # a new asset: polled now, not in an hour
            await until(lambda: len(client.calls) == 2)
            await asyncio.sleep(0.05)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    asyncio.run(scenario())
    assert client.calls == [["AAPL"], ["AAPL", "^GSPC"]]


@dataclass
class _Every:
    interval_s: float


class _CountingSource(PolledSource[_Every]):
    def __init__(self, interval_s: float) -> None:
        super().__init__("counting", _Every(interval_s), lambda r: None, Metrics())
        self.polls = 0

    async def poll_once(self) -> int:
        self.polls += 1
        return 0


def test_polled_source_polls_again_every_interval():
    source = _CountingSource(0.01)

    async def scenario() -> None:
        task = asyncio.create_task(source.run())
        try:
            await until(lambda: source.polls >= 3)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    asyncio.run(scenario())


def test_coingecko_markets_enrich_every_pair_of_a_coin():
    records: list[MarketRecord] = []
    seen: list[httpx.Request] = []
    client = mock_client({"/api/v3/coins/markets": payload("coingecko/coins_markets.json")}, seen)
    settings = CoinGeckoSettings(api_key="demo-key")
    source = CoinGeckoSource(settings, records.append, Metrics(), client=client)
    source.set_assets(
        [
            Asset("BTC/USDT", "crypto"),
            Asset("ETH/USDT", "crypto"),
            Asset("ETH/EUR", "crypto"),
            Asset("BRK/USDT", "crypto"),
        ]
    )
    assert asyncio.run(source.poll_once()) == 3
    assert len(seen) == 1
    request = seen[0]
    assert request.headers["x-cg-demo-api-key"] == "demo-key"
    assert request.url.params["symbols"] == "brk,btc,eth"
    assert request.url.params["price_change_percentage"] == "1h,24h"
    btc = next(r for r in records if r.symbol == "BTC/USDT")
    assert (btc.price, btc.market_cap, btc.change_pct_1h, btc.change_pct_24h) == (
        67234.5,
        1320000000000.0,
        0.45,
        2.3,
    )
    assert btc.exchange == "coingecko"
    assert btc.event_time_ns == iso_to_ns("2024-02-12T16:00:00.000Z") == 1707753600 * 10**9
    eth_usdt = next(r for r in records if r.symbol == "ETH/USDT")
    assert eth_usdt.market_cap == 301900000000.0  # the top coin, not the wrapped token
    eth_eur = next(r for r in records if r.symbol == "ETH/EUR")
    assert eth_eur.price is None and eth_eur.market_cap == 301900000000.0


def test_coingecko_rate_limit_opens_the_circuit():
    seen: list[httpx.Request] = []
    client = mock_client(
        {"/api/v3/coins/markets": (429, payload("coingecko/rate_limited.json"))}, seen
    )
    metrics = Metrics()
    source = CoinGeckoSource(CoinGeckoSettings(), lambda r: None, metrics, client=client)
    source.set_assets([Asset("BTC/USDT", "crypto")])

    async def scenario() -> None:
        await source.poll_once()
        await source.poll_once()

    asyncio.run(scenario())
    assert len(seen) == 1  # 429 is never retried, and the open circuit stops the next poll
    assert (
        metrics.value(
            "bbdash_source_errors_total",
            {"source": "coingecko", "kind": "rate_limited"},
        )
        == 1
    )
    assert source.upstream.breaker.retry_in() >= 59  # honours Retry-After


def test_alphavantage_quotes_and_limits():
    records: list[MarketRecord] = []
    seen: list[httpx.Request] = []
    answers = {
        "GLOBAL_QUOTE": payload("alphavantage/global_quote_ibm.json"),
        "CURRENCY_EXCHANGE_RATE": payload("alphavantage/fx_eur_usd.json"),
    }

    def route(request: httpx.Request):
        return answers[request.url.params["function"]]

    metrics = Metrics()
    source = AlphaVantageSource(
        AlphaVantageSettings(api_key="k"),
        records.append,
        metrics,
        MarketMetrics(metrics),
        client=mock_client({"/query": route}, seen),
        clock=lambda: 1707753600.0,
    )
    unserved = asyncio.run(source.fetch([Asset("IBM", "stock"), EURUSD, GSPC]))
    assert [a.symbol for a in unserved] == ["^GSPC"]  # no free index fallback
    ibm = next(r for r in records if r.symbol == "IBM")
    assert (ibm.price, ibm.volume_24h, ibm.change_pct_24h) == (
        186.16,
        4526210.0,
        0.3937,
    )
    # Quote of a past trading day: stamped at that day's last second, stable across polls.
    assert ibm.event_time_ns == (1707436800 + 86399) * 10**9
    fx = next(r for r in records if r.symbol == "EURUSD=X")
    assert fx.price == 1.0772 and fx.event_time_ns == 1707753601 * 10**9
    assert (
        seen[1].url.params["from_currency"] == "EUR" and seen[1].url.params["to_currency"] == "USD"
    )
    # A second call within min_refresh_s costs nothing.
    asyncio.run(source.fetch([Asset("IBM", "stock")]))
    assert len(seen) == 2


@pytest.mark.parametrize("notice", ["information_limit.json", "note_limit.json"])
def test_alphavantage_http_200_information_is_a_rate_limit(notice):
    records: list[MarketRecord] = []
    seen: list[httpx.Request] = []
    metrics = Metrics()
    source = AlphaVantageSource(
        AlphaVantageSettings(api_key="k"),
        records.append,
        metrics,
        MarketMetrics(metrics),
        client=mock_client({"/query": payload(f"alphavantage/{notice}")}, seen),
    )
    unserved = asyncio.run(source.fetch([Asset("IBM", "stock"), Asset("MSFT", "stock")]))
    assert records == []  # not data
    assert len(seen) == 1  # the first notice stops the round
    assert {a.symbol for a in unserved} == {"IBM", "MSFT"}
    assert (
        metrics.value(
            "bbdash_source_errors_total",
            {"source": "alphavantage", "kind": "rate_limited"},
        )
        == 1
    )
    assert source.upstream.budget.available() < 1


def test_alphavantage_without_key_is_off():
    source = AlphaVantageSource(
        AlphaVantageSettings(),
        lambda r: None,
        Metrics(),
        MarketMetrics(Metrics()),
        client=mock_client({}, []),
    )
    assert not source.enabled
    assert asyncio.run(source.fetch([Asset("IBM", "stock")])) == [Asset("IBM", "stock")]


def test_alphavantage_error_message_is_an_api_error_and_an_empty_quote_an_unknown_symbol():
    metrics = Metrics()
    answers = {
        "NOPE": payload("alphavantage/error_symbol.json"),
        "GONE": {"Global Quote": {}},  # what Alpha Vantage answers for an unknown ticker
    }
    source = AlphaVantageSource(
        AlphaVantageSettings(api_key="k"),
        lambda r: None,
        metrics,
        MarketMetrics(metrics),
        client=mock_client({"/query": lambda r: answers[r.url.params["symbol"]]}, []),
    )
    unserved = asyncio.run(source.fetch([Asset("NOPE", "stock"), Asset("GONE", "stock")]))
    assert {a.symbol for a in unserved} == {"NOPE", "GONE"}
    # "Error Message" is the upstream's error document, counted as such ...
    assert (
        metrics.value(
            "bbdash_source_errors_total",
            {"source": "alphavantage", "kind": "api_error"},
        )
        == 1
    )
    # ... and only the empty quote is an unknown symbol.
    assert (
        metrics.value(
            "bbdash_records_invalid_total",
            {"source": "alphavantage", "reason": "unknown_symbol"},
        )
        == 1
    )


def test_exchangerate_serves_pairs_from_one_cached_response():
    records: list[MarketRecord] = []
    seen: list[httpx.Request] = []
    metrics = Metrics()
    source = ExchangeRateSource(
        ExchangeRateSettings(),
        records.append,
        metrics,
        MarketMetrics(metrics),
        client=mock_client({"/v6/latest/USD": payload("exchangerate/latest_usd.json")}, seen),
    )
    wanted = [
        EURUSD,
        Asset("USDJPY=X", "forex"),
        Asset("JPY=X", "forex"),
        Asset("EURGBP=X", "forex"),
        Asset("XAUUSD=X", "forex"),
    ]

    async def scenario() -> list[Asset]:
        first = await source.fetch(wanted)
        await source.fetch(wanted)  # served from the cache
        return first

    unserved = asyncio.run(scenario())
    assert len(seen) == 1
    assert [a.symbol for a in unserved] == ["XAUUSD=X"]
    prices = {r.symbol: r.price for r in records[:4]}
    assert prices["EURUSD=X"] == pytest.approx(1 / 0.928334)
    assert prices["USDJPY=X"] == prices["JPY=X"] == pytest.approx(149.283251)
    assert prices["EURGBP=X"] == pytest.approx(0.792121 / 0.928334)
    assert {r.event_time_ns for r in records} == {1707696151 * 10**9}
    assert all(r.exchange == "exchangerate" for r in records)


def exchangerate_source(metrics: Metrics, answer: str) -> ExchangeRateSource:
    """An ExchangeRate source whose `latest/USD` answers the recorded payload `answer`."""
    return ExchangeRateSource(
        ExchangeRateSettings(),
        lambda r: None,
        metrics,
        MarketMetrics(metrics),
        client=mock_client({"/v6/latest/USD": payload(answer)}, []),
    )


def test_exchangerate_error_payload_leaves_pairs_to_the_next_fallback():
    metrics = Metrics()
    source = exchangerate_source(metrics, "exchangerate/error.json")
    assert asyncio.run(source.fetch([EURUSD])) == [EURUSD]
    assert (
        metrics.value(
            "bbdash_source_errors_total",
            {"source": "exchangerate", "kind": "api_error"},
        )
        == 1
    )
