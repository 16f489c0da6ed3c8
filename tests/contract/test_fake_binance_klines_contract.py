"""The capture helper's fake Binance klines endpoint answers as Binance documents.

tests/capture/fake_market_history.py stands in for `GET /api/v3/klines` on the
test host (binance-spot-api-docs, rest-api.md, "Kline/Candlestick data"). These
checks pin the documented behaviour the backfill relies on: paging by
startTime/limit, bars aligned to the interval, closeTime = next open - 1 ms,
no bar opening after now, and Binance's error codes.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "capture"))
from fake_market_history import klines

HOUR = 3_600_000
NOW = 1_780_000_000_000 + 1_234  # not on a bar boundary


def q(**params: object) -> dict[str, list[str]]:
    return {k: [str(v)] for k, v in params.items()}


def test_bars_are_the_documented_arrays() -> None:
    status, bars = klines(q(symbol="BTCUSDT", interval="1h", limit=3), now_ms=NOW)
    assert status == 200
    assert len(bars) == 3
    for bar in bars:
        assert len(bar) == 12
        open_ms, o, h, lo, c, volume, close_ms = bar[:7]
        assert open_ms % HOUR == 0
        assert close_ms == open_ms + HOUR - 1
        assert all(isinstance(v, str) for v in (o, h, lo, c, volume))
        assert float(lo) <= min(float(o), float(c)) <= max(float(o), float(c)) <= float(h)
    # Without startTime: the most recent bars, the last one the bar open now.
    assert bars[-1][0] == NOW // HOUR * HOUR


def test_paging_by_start_time_and_limit() -> None:
    start = NOW - 2_500 * HOUR + 17
    _, first = klines(q(symbol="ETHUSDT", interval="1h", startTime=start, limit=1000), now_ms=NOW)
    assert len(first) == 1000
    assert first[0][0] == -(-start // HOUR) * HOUR  # the first bar opening at or after start
    _, second = klines(
        q(symbol="ETHUSDT", interval="1h", startTime=first[-1][0] + 1, limit=1000), now_ms=NOW
    )
    assert second[0][0] == first[-1][0] + HOUR
    # endTime bounds the bars by their open time; nothing opens after now.
    _, bounded = klines(
        q(symbol="ETHUSDT", interval="1h", startTime=start, endTime=start + 10 * HOUR, limit=1000),
        now_ms=NOW,
    )
    assert all(start <= bar[0] <= start + 10 * HOUR for bar in bounded)
    _, future = klines(q(symbol="ETHUSDT", interval="1h", startTime=NOW + HOUR), now_ms=NOW)
    assert future == []


def test_same_request_same_bars_and_each_symbol_its_own_level() -> None:
    args = q(symbol="SOLUSDT", interval="5m", startTime=NOW - 10**8, limit=50)
    assert klines(args, now_ms=NOW) == klines(args, now_ms=NOW)
    _, sol = klines(args, now_ms=NOW)
    _, btc = klines(q(symbol="BTCUSDT", interval="5m", startTime=NOW - 10**8, limit=50), now_ms=NOW)
    assert sol[0][4] != btc[0][4]


def test_errors_carry_binance_codes() -> None:
    assert klines(q(symbol="INVALIDPAIR", interval="1h"), now_ms=NOW) == (
        400,
        {"code": -1121, "msg": "Invalid symbol."},
    )
    assert klines(q(symbol="BTCUSDT", interval="7m"), now_ms=NOW)[1]["code"] == -1120
    assert klines(q(symbol="BTCUSDT", interval="1h", limit=1001), now_ms=NOW)[1]["code"] == -1130
    assert klines(q(interval="1h"), now_ms=NOW)[1]["code"] == -1102
