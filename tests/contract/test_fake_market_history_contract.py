"""The capture helper's fake history endpoints answer as Binance and Yahoo do.

tests/capture/fake_market_history.py stands in for Binance's `GET /api/v3/klines`
(binance-spot-api-docs, rest-api.md, "Kline/Candlestick data") and Yahoo's v8
chart (as yfinance 1.7.0 calls it) on the test host. These checks pin the
behaviour the backfill relies on: Binance's paging by startTime/limit, bars
aligned to the interval, closeTime = next open - 1 ms, no bar opening after
now, its error codes; Yahoo's regular-session bars stamped with their start
(1 h bars at :30), its depth limits and its error documents.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "capture"))
from fake_market_history import klines, yahoo_chart

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


# Wednesday 2026-07-01 18:00 UTC: a session day (the fake's New York is UTC-5).
WEDNESDAY = 1_782_928_800


def chart(symbol: str, **params: object) -> tuple[int, dict]:
    return yahoo_chart(symbol, q(**params), now_s=WEDNESDAY)


def test_yahoo_bars_are_the_regular_session_stamped_with_their_start() -> None:
    day = WEDNESDAY - WEDNESDAY % 86_400
    status, body = chart("AAPL", period1=day - 86_400, period2=day + 86_400, interval="1h")
    assert status == 200 and body["chart"]["error"] is None
    (result,) = body["chart"]["result"]
    stamps = result["timestamp"]
    # Tuesday's whole session (14:30 .. 20:30 UTC: 7 bars) and Wednesday's up to now.
    opens = [t for t in stamps if t < day]
    assert [(t % 86_400) // 60 for t in opens] == [14 * 60 + 30 + 60 * i for i in range(7)]
    assert all(t <= WEDNESDAY for t in stamps)
    quote = result["indicators"]["quote"][0]
    assert all(len(quote[k]) == len(stamps) for k in ("open", "high", "low", "close", "volume"))
    assert result["meta"]["instrumentType"] == "EQUITY"
    # Forex trades around the clock on weekdays; nobody trades on Saturday.
    _, fx = chart("EURUSD=X", period1=day - 86_400, period2=day, interval="1h")
    assert len(fx["chart"]["result"][0]["timestamp"]) == 24
    saturday = day + 3 * 86_400
    _, weekend = yahoo_chart(
        "AAPL",
        q(period1=saturday, period2=saturday + 86_400, interval="1h"),
        now_s=saturday + 86_400,
    )
    assert weekend["chart"]["result"][0]["timestamp"] == []


def test_yahoo_depth_limits_and_errors() -> None:
    day = 86_400
    status, body = chart("AAPL", period1=WEDNESDAY - 8 * day, period2=WEDNESDAY, interval="1m")
    assert status == 422 and "Only 7 days worth of 1m" in body["chart"]["error"]["description"]
    status, body = chart(
        "AAPL", period1=WEDNESDAY - 31 * day, period2=WEDNESDAY - 30 * day + 60, interval="1m"
    )
    assert status == 422 and "within the last 30 days" in body["chart"]["error"]["description"]
    assert chart("AAPL", period1=WEDNESDAY - 61 * day, period2=WEDNESDAY, interval="5m")[0] == 422
    assert chart("AAPL", period1=WEDNESDAY - 729 * day, period2=WEDNESDAY, interval="1h")[0] == 200
    assert chart("INVALIDX", period1=WEDNESDAY - day, period2=WEDNESDAY, interval="1h") == (
        404,
        {
            "chart": {
                "result": None,
                "error": {
                    "code": "Not Found",
                    "description": "No data found, symbol may be delisted",
                },
            }
        },
    )
