"""The whole market feeder: watchlist (real PostgreSQL) → sources → InfluxDB double, alerts."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import httpx
from bbdash.common.config import load_settings
from bbdash.common.metrics import Metrics
from bbdash.market_feeder.app import MarketFeeder
from bbdash.market_feeder.config import MarketFeederSettings
from fake_alertmanager import FakeAlertmanager
from fake_binance import FakeBinance, wait_until
from feeder_testkit import TOKEN, payload, wait_for


class StaticQuotes:
    def fetch_quotes(self, symbols, timeout_s):
        return payload("yahoo/quote_batch.json")


def _settings(tmp_path, influx_url: str, **overrides) -> MarketFeederSettings:
    base = {
        "influx": {"url": influx_url, "token": TOKEN, "flush_interval_s": 0.05},
        "spool": {"path": tmp_path / "spool.sqlite"},
        "metrics": {"host": "127.0.0.1"},
        "coingecko": {"enabled": False},
        "alphavantage": {"enabled": False},
        "exchangerate": {"enabled": False},
        "alerts": {"enabled": False},
        # No outside call: only the backfill test points it at a local fake.
        "backfill": {"enabled": False},
    }
    base.update(overrides)
    settings = load_settings(MarketFeederSettings, **base)
    settings.metrics.port = 0
    return settings


async def _stop(task: asyncio.Task) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def _healthz(feeder: MarketFeeder) -> int:
    assert feeder.runtime.health_server is not None
    url = f"http://127.0.0.1:{feeder.runtime.health_server.port}/healthz"
    with urllib.request.urlopen(url, timeout=3) as response:
        return response.status


def test_demo_mode_writes_tagged_points_with_no_network(tmp_path, influx_double):
    settings = _settings(
        tmp_path,
        influx_double.url,
        demo={"enabled": True, "interval_s": 0.2},
        watchlist={"fallback_assets": [{"symbol": "DOGE/USDT", "asset_type": "crypto"}]},
    )
    feeder = MarketFeeder(settings, metrics=Metrics())

    async def scenario() -> None:
        task = asyncio.create_task(feeder.run())
        try:
            assert await wait_until(lambda: influx_double.point_count("markets") >= 36, timeout=10)
            assert await asyncio.to_thread(_healthz, feeder) == 200
        finally:
            await _stop(task)

    asyncio.run(scenario())
    points = influx_double.points("markets")
    assert all(p["tags"]["demo"] == "true" for p in points)
    symbols = {p["tags"]["symbol"] for p in points}
    assert {"BTC/USDT", "AAPL", "EURUSD=X", "^GSPC", "DOGE/USDT"} <= symbols


def test_watchlist_changes_drive_sources_and_alerts(tmp_path, influx_double, watchlist_db):
    watchlist_db.add_asset("BTC/USDT", "crypto")
    watchlist_db.add_asset("AAPL", "stock")
    am = FakeAlertmanager().start()

    async def scenario() -> None:
        binance = await FakeBinance().start()
        settings = _settings(
            tmp_path,
            influx_double.url,
            binance={"ws_url": binance.url, "stale_after_s": 30},
            yahoo={"interval_s": 60},
            watchlist={"dsn": watchlist_db.dsn, "debounce_s": 0.05},
            alerts={"enabled": True, "alertmanager_url": am.url},
        )
        feeder = MarketFeeder(settings, metrics=Metrics(), yahoo_client=StaticQuotes())
        task = asyncio.create_task(feeder.run())
        try:
            assert await wait_until(lambda: binance.live_streams() == {"btcusdt@ticker"})
            # Yahoo's first poll stored AAPL at its upstream time.
            assert await wait_until(
                lambda: any(p["tags"]["symbol"] == "AAPL" for p in influx_double.points("markets"))
            )
            # Added to a watchlist: subscribed on the live connection within 5 s.
            loop = asyncio.get_running_loop()
            started = loop.time()
            await asyncio.to_thread(watchlist_db.add_asset, "ETH/USDT", "crypto")
            assert await wait_until(lambda: "ethusdt@ticker" in binance.live_streams())
            assert loop.time() - started < 5.0
            await binance.push_ticker("ethusdt@ticker", "2500.5", 1_707_753_600_000)
            assert await wait_until(
                lambda: any(
                    p["tags"]["symbol"] == "ETH/USDT" for p in influx_double.points("markets")
                )
            )
            # A price alert rule arrives live and fires on the next tick.
            await asyncio.to_thread(
                watchlist_db.add_rule,
                "ETH/USDT",
                "above",
                2600.0,
                channels=("telegram", "email"),
            )
            assert await wait_until(
                lambda: (
                    feeder.alerts is not None
                    and feeder.market_metrics.alert_rules._value.get() == 1
                )
            )
            await binance.push_ticker("ethusdt@ticker", "2650.0", 1_707_753_601_000)
            assert await wait_until(lambda: len(am.alerts) == 2)
            # Removed from the watchlist: unsubscribed, no new connection.
            await asyncio.to_thread(watchlist_db.remove_asset, "ETH/USDT")
            assert await wait_until(lambda: binance.live_streams() == {"btcusdt@ticker"})
            assert binance.connect_count == 1
        finally:
            await _stop(task)
            await binance.stop()
            am.stop()

    asyncio.run(scenario())
    assert {a["labels"]["channel"] for a in am.alerts} == {"telegram", "email"}
    assert all(a["labels"]["symbol"] == "ETH/USDT" for a in am.alerts)
    # Yahoo's marketState is stored beside the quote, in its own measurement.
    states = [p for p in influx_double.points("markets") if p["measurement"] == "market_state"]
    assert {(p["tags"]["symbol"], p["fields"]["state"]) for p in states} == {("AAPL", "open")}
    eth = [p for p in influx_double.points("markets") if p["tags"]["symbol"] == "ETH/USDT"]
    assert [p["fields"]["price"] for p in eth] == [2500.5, 2650.0]
    assert eth[0]["time"] == 1_707_753_600_000 * 1_000_000
    assert not any(p["tags"].get("demo") for p in influx_double.points("markets"))


def test_stop_drains_to_the_spool_when_influx_is_down(tmp_path, influx_double):
    settings = _settings(tmp_path, influx_double.url, demo={"enabled": True, "interval_s": 0.1})
    feeder = MarketFeeder(settings, metrics=Metrics())
    influx_double.stop()

    async def scenario() -> None:
        task = asyncio.create_task(feeder.run())
        try:
            assert await wait_until(lambda: feeder.pipeline.emitted >= 50)
        finally:
            await _stop(task)

    asyncio.run(scenario())
    # Prices, and the demo market's "open" state of each stock, pair and index.
    emitted = feeder.pipeline.emitted + feeder.pipeline.states_emitted
    assert feeder.pipeline.states_emitted == 12
    influx_double.start()
    again = MarketFeeder(
        _settings(tmp_path, influx_double.url, demo={"enabled": False}),
        metrics=Metrics(),
        serve_http=False,
    )
    assert again.runtime.sink.spooled == emitted  # every point on disk, none lost
    again.runtime.sink.start()
    try:
        assert wait_for(lambda: influx_double.point_count("markets") == emitted)
    finally:
        again.runtime.stop()


def test_a_late_quote_is_re_downsampled_by_the_feeder(tmp_path, influx_double, watchlist_db):
    """Yahoo stamps AAPL with its trade time, long past (the recorded payload's): no task
    run will read its window again, so the feeder journals it and runs the task's
    query over it. The double runs a `mean` task (it has no union() for candles);
    the first spec keeps its source forever, so the window is recomputable."""
    watchlist_db.add_asset("AAPL", "stock")
    mean = {
        "name": "downsample_5min",
        "source": "markets",
        "destination": "markets_5min",
        "every": "5m",
        "offset": "30s",
        "window": "5m",
        "lookback": "30m",
        "fn": "mean",
        "source_retention": "0",
    }
    # The double creates a bucket on its first write; the candles land in this one.
    created = httpx.post(
        f"{influx_double.url}/api/v2/write",
        params={"org": "bloomberg", "bucket": "markets_5min", "precision": "ns"},
        headers={"Authorization": f"Token {TOKEN}"},
        content="other x=1 1",
    )
    assert created.status_code == 204

    async def scenario() -> MarketFeeder:
        settings = _settings(
            tmp_path,
            influx_double.url,
            binance={"enabled": False},
            yahoo={"interval_s": 60},
            watchlist={"dsn": watchlist_db.dsn, "debounce_s": 0.05},
            redownsample={"tasks": [mean], "interval_s": 0.1},
        )
        feeder = MarketFeeder(settings, metrics=Metrics(), yahoo_client=StaticQuotes())
        task = asyncio.create_task(feeder.run())
        try:
            assert await wait_until(
                lambda: any(
                    p["measurement"] == "market_data" and p["tags"]["symbol"] == "AAPL"
                    for p in influx_double.points("markets_5min")
                ),
                timeout=10,
            )
        finally:
            await _stop(task)
        return feeder

    feeder = asyncio.run(scenario())
    candle = next(
        p
        for p in influx_double.points("markets_5min")
        if p["measurement"] == "market_data" and p["tags"]["symbol"] == "AAPL"
    )
    # 1707753600 is 16:00:00 UTC: the window 16:00-16:05, stamped with its end.
    assert candle["time"] == (1_707_753_600 + 300) * 1_000_000_000
    assert (
        feeder.metrics.value(
            "bbdash_downsample_recomputed_windows_total", {"task": "downsample_5min"}
        )
        >= 1
    )
    assert (
        feeder.metrics.value("bbdash_downsample_pending_seconds", {"task": "downsample_5min"}) == 0
    )


class FakeHistory:
    """The capture helper's fake Binance klines and Yahoo chart endpoints (tests/capture/
    fake_market_history.py, the ones the test host serves) on a loopback port;
    counts the calls."""

    def __init__(self) -> None:
        sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "capture"))
        from fake_market_history import klines, yahoo_chart

        calls: list[dict[str, list[str]]] = []

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                return

            def do_GET(self) -> None:
                url = urlsplit(self.path)
                query = parse_qs(url.query)
                calls.append(query)
                if url.path == "/binance/api/v3/klines":
                    status, body = klines(query)
                elif url.path.startswith("/yahoo/v8/finance/chart/"):
                    status, body = yahoo_chart(unquote(url.path.rsplit("/", 1)[1]), query)
                else:
                    status, body = 404, {}
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.calls = calls
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_watched_symbols_get_their_history_and_a_restart_redoes_nothing(tmp_path, influx_double):
    """Issue 10, item 4: a pair in the watchlist gets a year of 1 h candles, 30 days of
    5 min candles and a week of 1-minute closes from Binance klines, a stock its
    regular sessions' bars from Yahoo's chart through yfinance's own session (the
    fakes the test host serves), while live (demo) ticks keep flowing; a restart
    with the same journal fetches nothing again."""
    fake = FakeHistory()
    symbol = "DOGE/USDT"
    settings = _settings(
        tmp_path,
        influx_double.url,
        demo={"enabled": True, "interval_s": 0.5, "assets": []},
        watchlist={
            "fallback_assets": [
                {"symbol": symbol, "asset_type": "crypto"},
                {"symbol": "AAPL", "asset_type": "stock"},
            ]
        },
        backfill={
            "sources": ["binance", "yahoo"],
            "binance_url": f"{fake.url}/binance",
            "yahoo_url": f"{fake.url}/yahoo",
        },
    )

    def series(bucket: str, of: str = symbol) -> list[dict]:
        return [p for p in influx_double.points(bucket) if p["tags"].get("symbol") == of]

    async def run_until_done(feeder: MarketFeeder) -> None:
        task = asyncio.create_task(feeder.run())
        try:
            assert feeder.backfill is not None
            assert await wait_until(
                lambda: (
                    feeder.backfill is not None
                    and bool(feeder.backfill.backfiller.progress())
                    and feeder.backfill.backfiller.finished()
                ),
                timeout=60,
            )
            await asyncio.sleep(1.0)  # live ticks after the backfill
        finally:
            await _stop(task)

    try:
        started = time.time()
        feeder = MarketFeeder(settings, metrics=Metrics())
        asyncio.run(run_until_done(feeder))
        first_calls = len(fake.calls)
        hourly, five, raw = series("markets_1h"), series("markets_5min"), series("markets")
        # 365 days of 1 h candles, 30 days of 5 min, 7 days of 1 min (whole windows only).
        assert len(hourly) >= 365 * 24 - 1
        assert len(five) >= 30 * 288 - 1
        backfilled_raw = [p for p in raw if p["time"] < started * 1e9 - 60e9]
        assert len(backfilled_raw) >= 7 * 1440 - 2
        candle = hourly[-1]
        assert set(candle["fields"]) == {"open", "high", "low", "close", "price"}
        assert candle["fields"]["low"] <= candle["fields"]["close"] <= candle["fields"]["high"]
        assert candle["time"] % (3600 * 10**9) == 0  # stamped with the window's end
        # The demo's series: same tags as its live ticks, which kept flowing.
        assert candle["tags"] == {
            "exchange": "binance",
            "symbol": symbol,
            "asset_type": "crypto",
            "demo": "true",
        }
        assert any(p["time"] >= started * 1e9 for p in raw)
        # AAPL: regular sessions only (6.5 h, 1 h bars from :30 filed under the hour).
        stock = series("markets_1h", "AAPL")
        assert len(stock) >= 250 * 7
        assert {p["time"] // 10**9 % 86_400 // 3600 for p in stock} == set(range(15, 22))
        assert stock[0]["tags"] == {
            "exchange": "yahoo",
            "symbol": "AAPL",
            "asset_type": "stock",
            "demo": "true",
        }
        assert len(series("markets_5min", "AAPL")) >= 19 * 78
        assert len([p for p in series("markets", "AAPL") if p["time"] < started * 1e9]) >= 4 * 390
        value = feeder.metrics.value
        assert value("bbdash_backfill_chunks", {"source": "binance", "state": "pending"}) == 0
        done = sum(
            value("bbdash_backfill_chunks", {"source": source, "state": "done"})
            for source in ("binance", "yahoo")
        )
        assert done == first_calls
        assert value("bbdash_backfill_chunks", {"source": "yahoo", "state": "failed"}) == 0

        again = MarketFeeder(settings, metrics=Metrics())
        asyncio.run(run_until_done(again))
        assert len(fake.calls) == first_calls, "a restart fetched finished chunks again"
    finally:
        fake.stop()
