"""No symbol or upstream error vanishes without a word (issue 10, item 6), on recorded payloads.

- A ticker a source's answer leaves out goes to the fallback (Yahoo) and is
  logged once when it goes missing and once when it is back, never per poll.
- What no source serves is said once, with the gauge
  `bbdash_source_symbols_missing{source="fallbacks"}`.
- A Binance error frame that answers no request (the "Error Messages" table
  of binance-spot-api-docs, web-socket-streams.md: `{"code": 2, "msg":
  "Invalid request: request ID must be an unsigned integer"}` has no id) is
  logged with Binance's own text, rate limited per kind.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from bbdash.common.config import load_settings
from bbdash.common.metrics import Metrics
from bbdash.common.watchlist import Asset, WatchlistSnapshot
from bbdash.market_feeder.app import MarketFeeder
from bbdash.market_feeder.config import (
    AlphaVantageSettings,
    BinanceSettings,
    CoinGeckoSettings,
    MarketFeederSettings,
    YahooSettings,
)
from bbdash.market_feeder.coverage import MAX_NAMED, SymbolCoverage
from bbdash.market_feeder.metrics import MarketMetrics
from bbdash.market_feeder.records import MarketRecord
from bbdash.market_feeder.sources.alphavantage import AlphaVantageSource
from bbdash.market_feeder.sources.binance import BinanceStreams
from bbdash.market_feeder.sources.coingecko import CoinGeckoSource
from bbdash.market_feeder.sources.yahoo import YahooSource
from fake_binance import FakeBinance, wait_until
from feeder_testkit import TOKEN, FakeClock, payload
from test_market_binance import Harness, _settings, run
from test_market_rest_sources import (
    AAPL,
    BROKEN,
    EURUSD,
    GSPC,
    FakeQuoteClient,
    exchangerate_source,
    mock_client,
)

# AAPL, ^GSPC, EURUSD=X and BROKEN (a NaN price) are in yahoo/quote_batch.json.
GONE = Asset("GONE", "stock")  # not in the batch payload: Yahoo left it out
FTSE = Asset("^FTSE", "index")
COVERAGE_LOGGER = "bbdash.market_feeder.coverage"


def _missing(metrics: Metrics, source: str) -> float:
    return metrics.value("bbdash_source_symbols_missing", {"source": source})


def _lines(caplog: pytest.LogCaptureFixture, level: int = logging.WARNING) -> list[str]:
    return [
        r.getMessage() for r in caplog.records if r.name == COVERAGE_LOGGER and r.levelno == level
    ]


def test_coverage_logs_a_symbol_once_when_it_goes_and_once_when_it_comes_back(caplog):
    caplog.set_level(logging.INFO, logger=COVERAGE_LOGGER)
    metrics = Metrics()
    coverage = SymbolCoverage("yahoo", metrics)
    assert coverage.observe(["A", "B"], ["A"], then="handed on") == {"B"}
    assert coverage.observe(["A", "B"], ["A"], then="handed on") == {"B"}  # no new line
    assert _lines(caplog) == ["yahoo: 1 wanted symbol(s) absent from the answer: B; handed on"]
    assert _missing(metrics, "yahoo") == 1
    # Another batch says nothing of B: B stays missing.
    assert coverage.observe(["C"], ["C"], then="handed on") == set()
    assert coverage.missing == {"B"}
    coverage.observe(["A", "B"], ["A", "B"], then="handed on")
    assert _lines(caplog, logging.INFO) == ["yahoo: 1 symbol(s) served again: B"]
    assert _missing(metrics, "yahoo") == 0
    # A symbol that leaves every watchlist while missing is no longer missing.
    coverage.observe(["D"], [], then="handed on")
    coverage.retain(["A"])
    assert coverage.missing == frozenset() and _missing(metrics, "yahoo") == 0


def test_coverage_names_a_bounded_number_of_symbols_in_one_line(caplog):
    caplog.set_level(logging.WARNING, logger=COVERAGE_LOGGER)
    coverage = SymbolCoverage("yahoo", Metrics())
    asked = [f"S{i:03d}" for i in range(MAX_NAMED + 5)]
    coverage.observe(asked, [], then="handed on")
    (line,) = _lines(caplog)
    assert line.startswith(f"yahoo: {MAX_NAMED + 5} wanted symbol(s) absent")
    assert "and 5 more" in line and "S024" not in line


def test_yahoo_hands_a_ticker_its_answer_left_out_to_the_fallbacks(caplog):
    caplog.set_level(logging.INFO, logger=COVERAGE_LOGGER)
    handed: list[list[str]] = []

    async def on_failure(assets: list[Asset]) -> None:
        handed.append([a.symbol for a in assets])

    records: list[MarketRecord] = []
    metrics = Metrics()
    batch = payload("yahoo/quote_batch.json")
    with_gone = payload("yahoo/quote_batch.json")
    with_gone["quoteResponse"]["result"].append(
        {"symbol": "GONE", "regularMarketPrice": 10.5, "regularMarketTime": 1707753600}
    )
    client = FakeQuoteClient([batch, batch, with_gone])
    source = YahooSource(
        YahooSettings(), records.append, metrics, client=client, on_failure=on_failure
    )
    source.set_assets([AAPL, GSPC, EURUSD, BROKEN, GONE])

    async def scenario() -> None:
        for _ in range(3):
            await source.poll_once()

    asyncio.run(scenario())
    # Left out (GONE) or refused by parsing (BROKEN): the fallbacks get both, every poll.
    assert handed == [["BROKEN", "GONE"], ["BROKEN", "GONE"], ["BROKEN"]]
    assert _lines(caplog) == [
        "yahoo: 2 wanted symbol(s) absent from the answer: BROKEN, GONE; handed to the fallbacks"
    ]
    assert _lines(caplog, logging.INFO) == ["yahoo: 1 symbol(s) served again: GONE"]
    assert _missing(metrics, "yahoo") == 1
    assert [r.price for r in records if r.symbol == "GONE"] == [10.5]
    # Removed from the watchlist: no longer reported missing.
    source.set_assets([AAPL])
    assert _missing(metrics, "yahoo") == 0


def test_coingecko_says_which_coins_it_does_not_list(caplog):
    caplog.set_level(logging.WARNING, logger=COVERAGE_LOGGER)
    metrics = Metrics()
    client = mock_client({"/api/v3/coins/markets": payload("coingecko/coins_markets.json")}, [])
    source = CoinGeckoSource(CoinGeckoSettings(), lambda r: None, metrics, client=client)
    source.set_assets([Asset("BTC/USDT", "crypto"), Asset("NOPE/USDT", "crypto")])

    async def scenario() -> None:
        await source.poll_once()
        await source.poll_once()

    asyncio.run(scenario())
    (line,) = _lines(caplog)
    assert line.startswith("coingecko: 1 wanted symbol(s) absent from the answer: NOPE/USDT;")
    assert _missing(metrics, "coingecko") == 1


def test_exchangerate_hands_a_currency_it_lacks_to_alpha_vantage(caplog):
    caplog.set_level(logging.WARNING, logger=COVERAGE_LOGGER)
    source = exchangerate_source(Metrics(), "exchangerate/latest_usd.json")
    xau = Asset("XAUUSD=X", "forex")
    assert asyncio.run(source.fetch([EURUSD, xau])) == [xau]
    assert _lines(caplog) == [
        "exchangerate: 1 wanted symbol(s) absent from the answer: XAUUSD=X;"
        " handed to the next fallback (Alpha Vantage)"
    ]


def test_alphavantage_names_the_ticker_it_does_not_know(caplog):
    caplog.set_level(logging.WARNING, logger=COVERAGE_LOGGER)
    metrics = Metrics()
    source = AlphaVantageSource(
        AlphaVantageSettings(api_key="k"),
        lambda r: None,
        metrics,
        MarketMetrics(metrics),
        # What Alpha Vantage answers for an unknown ticker.
        client=mock_client({"/query": {"Global Quote": {}}}, []),
    )
    assert asyncio.run(source.fetch([GONE])) == [GONE]
    assert _lines(caplog) == [
        "alphavantage: 1 wanted symbol(s) absent from the answer: GONE; refused as unknown_symbol"
    ]


def _feeder(tmp_path, routes: dict[str, Any]) -> MarketFeeder:
    settings = load_settings(
        MarketFeederSettings,
        influx={"url": "http://127.0.0.1:9", "token": TOKEN},
        spool={"path": tmp_path / "spool.sqlite"},
        metrics={"host": "127.0.0.1"},
        coingecko={"enabled": False},
        alphavantage={"api_key": "k"},
        alerts={"enabled": False},
        backfill={"enabled": False},
    )
    return MarketFeeder(
        settings,
        metrics=Metrics(),
        yahoo_client=FakeQuoteClient([payload("yahoo/quote_batch.json")]),
        http_client=mock_client(routes, []),
        serve_http=False,
    )


def test_what_no_source_serves_is_said_once_with_its_count(tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger=COVERAGE_LOGGER)
    feeder = _feeder(
        tmp_path,
        {
            "/v6/latest/USD": payload("exchangerate/latest_usd.json"),
            "/query": {"Global Quote": {}},
        },
    )
    assets = [AAPL, GSPC, EURUSD, GONE, FTSE]
    assert feeder.yahoo is not None

    async def scenario() -> None:
        await feeder.on_watchlist(WatchlistSnapshot(assets=frozenset(assets)))
        await feeder.yahoo.poll_once()
        await feeder.yahoo.poll_once()

    asyncio.run(scenario())
    lines = _lines(caplog)
    # Yahoo's answer lacks GONE and ^FTSE; Alpha Vantage does not know GONE and
    # serves no index: both are said to be served by no source, once.
    assert (
        lines.count(
            "fallbacks: 2 wanted symbol(s) absent from the answer: GONE, ^FTSE;"
            " no source serves them now; their panels keep the last value"
        )
        == 1
    )
    assert _missing(feeder.metrics, "fallbacks") == 2

    async def removed() -> None:
        await feeder.on_watchlist(WatchlistSnapshot(assets=frozenset([AAPL])))

    asyncio.run(removed())
    assert _missing(feeder.metrics, "fallbacks") == 0


def test_binance_error_frames_without_an_id_are_logged_with_binance_text(caplog):
    caplog.set_level(logging.WARNING, logger="bbdash.market_feeder.sources.binance")
    harnesses: list[Harness] = []

    async def scenario(server: FakeBinance) -> None:
        h = Harness(_settings(server.url, stale_after_s=10))
        harnesses.append(h)
        h.streams.set_symbols(["BTC/USDT"])
        h.start()
        try:
            assert await wait_until(lambda: server.connect_count == 1)
            for raw in payload("binance/error_frames_without_id.json"):
                await server.send_raw(raw)
            await server.push_ticker("btcusdt@ticker", "42.0", 9_000)
            assert await wait_until(lambda: len(h.records) == 1)
        finally:
            await h.stop()

    run(scenario)
    (h,) = harnesses
    errors = {"source": "binance", "kind": "api_error"}
    assert h.metrics.value("bbdash_source_errors_total", errors) == 2
    logged = [r for r in caplog.records if getattr(r, "kind", None) == "api_error"]
    # One line per kind a minute: the first frame's text; the second is held back.
    assert len(logged) == 1
    assert "request ID must be an unsigned integer" in logged[0].upstream
    assert (
        h.metrics.value(
            "bbdash_records_invalid_total", {"source": "binance", "reason": "unexpected_message"}
        )
        == 0
    )


@pytest.mark.parametrize(
    ("name", "kind", "text"),
    [
        ("yahoo/error_invalid_crumb.json", "auth", "Invalid Crumb"),
        ("yahoo/error_quote_response.json", "api_error", "Missing value for the"),
    ],
)
def test_a_yahoo_error_document_is_logged_with_its_text_and_the_tickers_handed_on(
    caplog, name, kind, text
):
    """Yahoo's `{"finance": {"result": null, "error": {"code", "description"}}}`, as yfinance
    users see it with an expired crumb, is an upstream error, not a malformed answer."""
    caplog.set_level(logging.WARNING, logger="bbdash.common.upstream")
    handed: list[list[str]] = []

    async def on_failure(assets: list[Asset]) -> None:
        handed.append([a.symbol for a in assets])

    metrics = Metrics()
    source = YahooSource(
        YahooSettings(),
        lambda r: None,
        metrics,
        client=FakeQuoteClient([payload(name)]),
        on_failure=on_failure,
    )
    source.set_assets([AAPL, EURUSD])
    asyncio.run(source.poll_once())
    assert handed == [["AAPL", "EURUSD=X"]]
    assert metrics.value("bbdash_source_errors_total", {"source": "yahoo", "kind": kind}) == 1
    assert (
        metrics.value(
            "bbdash_records_invalid_total", {"source": "yahoo", "reason": "malformed_response"}
        )
        == 0
    )
    logged = [r for r in caplog.records if getattr(r, "kind", None) == kind]
    assert len(logged) == 1 and text in logged[0].upstream


def test_a_subscribed_binance_pair_that_stays_silent_is_reported_once(caplog):
    """Binance accepts a SUBSCRIBE to a pair it does not list and then sends nothing."""
    caplog.set_level(logging.INFO, logger=COVERAGE_LOGGER)
    clock = FakeClock()
    metrics = Metrics()
    streams = BinanceStreams(
        BinanceSettings(silent_after_s=900),
        lambda r: None,
        metrics,
        MarketMetrics(metrics),
        clock=clock,
    )

    def tick(symbol: str) -> None:
        streams.deliver(MarketRecord("binance", symbol, "crypto", 1, price=1.0))

    streams.set_symbols(["BTC/USDT", "NOPE/USDT"])
    clock.advance(600)
    tick("BTC/USDT")
    clock.advance(301)
    streams.check_silent()  # NOPE/USDT: 901 s since it was wanted; BTC/USDT ticked 301 s ago
    clock.advance(500)
    tick("BTC/USDT")
    streams.check_silent()
    assert _lines(caplog) == [
        "binance: 1 wanted symbol(s) absent from the answer: NOPE/USDT;"
        " no tick for 900 s: is the pair listed on Binance?"
    ]
    assert _missing(metrics, "binance") == 1
    clock.advance(1000)  # BTC/USDT is silent too now (a connection outage, say)
    streams.check_silent()
    assert len(_lines(caplog)) == 2 and "BTC/USDT;" in _lines(caplog)[1]
    tick("NOPE/USDT")
    tick("BTC/USDT")
    streams.check_silent()
    assert _lines(caplog, logging.INFO) == [
        "binance: 2 symbol(s) served again: BTC/USDT, NOPE/USDT"
    ]
    clock.advance(1000)
    streams.check_silent()
    streams.set_symbols(["ETH/USDT"])  # removed pairs are no longer missing
    assert _missing(metrics, "binance") == 0
