"""Binance source against a local WebSocket server: parsing, reconnects, watchdog, live changes."""

from __future__ import annotations

import asyncio
import contextlib
import json

import pytest
from bbdash.common.metrics import Metrics
from bbdash.market_feeder.config import BinanceSettings
from bbdash.market_feeder.metrics import MarketMetrics
from bbdash.market_feeder.records import InvalidValueError, MarketRecord
from bbdash.market_feeder.sources.binance import (
    BinanceStreams,
    parse_ticker,
    stream_name,
)
from fake_binance import FakeBinance, wait_until
from feeder_testkit import PAYLOADS, payload


def test_ticker_payload_maps_to_the_contract_fields():
    frame = payload("binance/ticker_btcusdt.json")
    record = parse_ticker(frame["data"], "BTC/USDT")
    assert record.price == 67234.5
    assert record.volume_24h == 28500000000.0  # quote volume (USDT)
    assert record.change_pct_24h == 2.3
    assert record.change_pct_1h is None and record.market_cap is None
    assert record.event_time_ns == 1707753600000 * 1_000_000
    assert record.to_point().to_line() == (
        "market_data,asset_type=crypto,exchange=binance,symbol=BTC/USDT "
        "price=67234.5,volume_24h=28500000000.0,change_pct_24h=2.3 1707753600000000000"
    )


@pytest.mark.parametrize(
    ("price", "reason"),
    [
        ("NaN", "non_finite"),
        ("-1", "negative"),
        ("0", "zero_price"),
        ("abc", "not_a_number"),
        (None, "missing"),
    ],
)
def test_bad_prices_are_refused(price, reason):
    data = dict(payload("binance/ticker_btcusdt.json")["data"], c=price)
    with pytest.raises(InvalidValueError) as info:
        parse_ticker(data, "BTC/USDT")
    assert info.value.reason == reason


def test_stream_names():
    assert stream_name("BTC/USDT") == "btcusdt@ticker"
    assert stream_name("eth/btc") == "ethbtc@ticker"
    assert stream_name("AAPL") is None


def _settings(url: str, **overrides) -> BinanceSettings:
    base = {
        "ws_url": url,
        "stale_after_s": 0.6,
        "reconnect_base_s": 0.05,
        "reconnect_cap_s": 0.2,
        "open_timeout_s": 2,
    }
    base.update(overrides)
    return BinanceSettings(**base)


class Harness:
    def __init__(self, settings: BinanceSettings) -> None:
        self.records: list[MarketRecord] = []
        self.metrics = Metrics()
        self.market = MarketMetrics(self.metrics)
        self.streams = BinanceStreams(settings, self.records.append, self.metrics, self.market)
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.task = asyncio.create_task(self.streams.run())

    async def stop(self) -> None:
        assert self.task is not None
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task

    def reconnects(self, reason: str) -> float:
        return self.metrics.value("bbdash_binance_reconnects_total", {"reason": reason})


def run(scenario):
    async def wrapper():
        server = await FakeBinance().start()
        try:
            await scenario(server)
        finally:
            await server.stop()

    asyncio.run(wrapper())


def test_streams_flow_and_symbols_change_live_without_reconnecting():
    async def scenario(server: FakeBinance) -> None:
        h = Harness(_settings(server.url))
        h.streams.set_symbols(["BTC/USDT", "ETH/USDT"])
        h.start()
        try:
            assert await wait_until(
                lambda: server.live_streams() == {"btcusdt@ticker", "ethusdt@ticker"}
            )
            await server.push_ticker("btcusdt@ticker", "67000.5", 1_000)
            assert await wait_until(lambda: len(h.records) == 1)
            assert h.records[0].symbol == "BTC/USDT" and h.records[0].price == 67000.5
            # Add one, remove one: SUBSCRIBE/UNSUBSCRIBE on the same connection.
            h.streams.set_symbols(["BTC/USDT", "SOL/USDT"])
            assert await wait_until(
                lambda: server.live_streams() == {"btcusdt@ticker", "solusdt@ticker"}
            )
            await server.push_ticker("solusdt@ticker", "101.25", 2_000)
            assert await wait_until(lambda: any(r.symbol == "SOL/USDT" for r in h.records))
            assert server.connect_count == 1
            methods = [m["method"] for _, m in server.sent_messages()]
            assert methods == ["UNSUBSCRIBE", "SUBSCRIBE"]
        finally:
            await h.stop()

    run(scenario)


def test_reconnects_after_disconnect_and_resubscribes_everything():
    async def scenario(server: FakeBinance) -> None:
        h = Harness(_settings(server.url, streams_per_url=1))
        h.streams.set_symbols(["BTC/USDT", "ETH/USDT", "XRP/USDT"])
        h.start()
        try:
            assert await wait_until(lambda: len(server.live_streams()) == 3)
            await server.drop_all()
            assert await wait_until(lambda: server.connect_count == 2)
            assert await wait_until(lambda: len(server.live_streams()) == 3)
            await server.push_ticker("xrpusdt@ticker", "0.5", 5_000)
            assert await wait_until(lambda: len(h.records) == 1)
        finally:
            await h.stop()
        assert h.reconnects("error") + h.reconnects("closed") >= 1

    run(scenario)


def test_silent_stream_is_restarted_by_the_watchdog():
    async def scenario(server: FakeBinance) -> None:
        h = Harness(_settings(server.url, stale_after_s=0.4))
        h.streams.set_symbols(["BTC/USDT"])
        h.start()
        try:
            assert await wait_until(lambda: server.connect_count == 1)
            await server.push_ticker("btcusdt@ticker", "1.5", 1_000)
            # Then nothing: the watchdog must reconnect.
            assert await wait_until(lambda: server.connect_count >= 2, timeout=5)
            assert h.reconnects("stale") >= 1
        finally:
            await h.stop()

    run(scenario)


def test_repeated_event_time_counts_as_stale():
    async def scenario(server: FakeBinance) -> None:
        h = Harness(_settings(server.url, stale_after_s=0.4))
        h.streams.set_symbols(["BTC/USDT"])
        h.start()
        try:
            assert await wait_until(lambda: server.connect_count == 1)
            for _ in range(12):  # frames keep coming, but their event time is frozen
                await server.push_ticker("btcusdt@ticker", "1.5", 1_000)
                await asyncio.sleep(0.1)
            assert await wait_until(lambda: h.reconnects("stale") >= 1, timeout=3)
        finally:
            await h.stop()

    run(scenario)


def test_server_shutdown_notice_reconnects_at_once():
    async def scenario(server: FakeBinance) -> None:
        h = Harness(_settings(server.url, reconnect_base_s=30, reconnect_cap_s=30))
        h.streams.set_symbols(["BTC/USDT"])
        h.start()
        try:
            assert await wait_until(lambda: server.connect_count == 1)
            await server.send_raw((PAYLOADS / "binance/server_shutdown.json").read_text())
            # A 30 s backoff would fail this: planned reconnects do not wait.
            assert await wait_until(lambda: server.connect_count == 2, timeout=3)
            assert h.reconnects("server_shutdown") == 1
        finally:
            await h.stop()

    run(scenario)


def test_connection_is_renewed_before_max_age():
    async def scenario(server: FakeBinance) -> None:
        h = Harness(_settings(server.url, max_connection_age_s=0.5, stale_after_s=10))
        h.streams.set_symbols(["BTC/USDT"])
        h.start()
        try:
            assert await wait_until(lambda: server.connect_count >= 2, timeout=4)
            assert h.reconnects("max_age") >= 1
        finally:
            await h.stop()

    run(scenario)


def test_malformed_frames_are_counted_and_skipped():
    async def scenario(server: FakeBinance) -> None:
        h = Harness(_settings(server.url, stale_after_s=10))
        h.streams.set_symbols(["BTC/USDT"])
        h.start()
        try:
            assert await wait_until(lambda: server.connect_count == 1)
            for raw in payload("binance/malformed_frames.json"):
                await server.send_raw(raw)
            await server.send_raw((PAYLOADS / "binance/error_reply.json").read_text())
            await server.push_ticker("btcusdt@ticker", "42.0", 9_000)
            assert await wait_until(lambda: len(h.records) == 1)
        finally:
            await h.stop()
        assert h.records[0].price == 42.0
        invalid = {
            reason: h.metrics.value(
                "bbdash_records_invalid_total", {"source": "binance", "reason": reason}
            )
            for reason in (
                "malformed_json",
                "malformed_frame",
                "non_finite",
                "negative",
                "bad_timestamp",
                "unexpected_event",
                "unexpected_message",
            )
        }
        assert invalid == {
            "malformed_json": 1,
            "malformed_frame": 1,
            "non_finite": 2,
            "negative": 1,
            "bad_timestamp": 1,
            "unexpected_event": 1,
            "unexpected_message": 1,
        }
        assert (
            h.metrics.value(
                "bbdash_source_errors_total",
                {"source": "binance", "kind": "request_refused"},
            )
            == 1
        )
        assert server.connect_count == 1  # none of it broke the connection

    run(scenario)


def test_outgoing_messages_stay_under_five_per_second():
    async def scenario(server: FakeBinance) -> None:
        h = Harness(
            _settings(
                server.url,
                streams_per_message=2,
                streams_per_url=1,
                max_outgoing_per_s=4,
                stale_after_s=30,
            )
        )
        symbols = [f"C{i}/USDT" for i in range(24)]
        h.streams.set_symbols(symbols[:1])
        h.start()
        try:
            assert await wait_until(lambda: server.connect_count == 1)
            h.streams.set_symbols(symbols)  # 23 new streams, 2 per message: 12 messages
            assert await wait_until(lambda: len(server.live_streams()) == 24, timeout=10)
            h.streams.set_symbols(symbols[12:])  # and 12 removals: 6 more
            assert await wait_until(lambda: len(server.live_streams()) == 12, timeout=10)
        finally:
            await h.stop()
        times = [t for t, _ in server.sent_messages()]
        assert len(times) == 18
        # Binance counts messages per second: no window of 1 s may hold more than 5.
        worst = max(sum(1 for u in times if t <= u < t + 1.0) for t in times)
        assert worst <= 5

    run(scenario)


def test_symbols_beyond_the_stream_limit_open_more_connections():
    async def scenario(server: FakeBinance) -> None:
        h = Harness(_settings(server.url, max_streams_per_connection=3, stale_after_s=30))
        h.streams.set_symbols([f"C{i}/USDT" for i in range(7)])
        h.start()
        try:
            assert await wait_until(lambda: len(server.connections) == 3)
            assert all(len(c.streams) <= 3 for c in server.connections)
            assert len(server.live_streams()) == 7
            h.streams.set_symbols(["C0/USDT"])  # emptied connections are closed
            assert await wait_until(lambda: len(server.connections) == 1)
        finally:
            await h.stop()

    run(scenario)


def test_unreachable_server_backs_off_and_counts():
    async def scenario(server: FakeBinance) -> None:
        url = server.url
        await server.stop()
        h = Harness(_settings(url))
        h.streams.set_symbols(["BTC/USDT"])
        h.start()
        try:
            assert await wait_until(lambda: h.reconnects("error") >= 3)
            assert (
                h.metrics.value(
                    "bbdash_source_errors_total",
                    {"source": "binance", "kind": "connection"},
                )
                >= 3
            )
        finally:
            await h.stop()

    run(scenario)


def test_subscribe_message_format():
    async def scenario(server: FakeBinance) -> None:
        h = Harness(_settings(server.url, streams_per_url=1))
        h.streams.set_symbols(["BTC/USDT", "ETH/USDT"])
        h.start()
        try:
            assert await wait_until(lambda: len(server.sent_messages()) == 1)
        finally:
            await h.stop()
        _, message = server.sent_messages()[0]
        assert message == {"method": "SUBSCRIBE", "params": ["ethusdt@ticker"], "id": 1}
        json.dumps(message)

    run(scenario)
