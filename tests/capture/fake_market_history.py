"""TEST HELPER, never shipped: fake Binance klines and Yahoo chart endpoints for the
history backfill.

The molecule test host has no route to Binance or Yahoo. The local inventory
points the market feeder's backfill at this fake (`http://bbdash-capture:8080/
binance`, `.../yahoo`), so verify can watch the real backfill code (yfinance's
session included, which goes on without a crumb when Yahoo's cookie host is
unreachable) fill a year of candles for the symbols it watches.

It answers `GET /binance/api/v3/klines` the way Binance's spot REST API
documents it (binance-spot-api-docs, rest-api.md, "Kline/Candlestick data",
checked against the 2026 changelog):

- parameters `symbol`, `interval`, `startTime`, `endTime` (ms), `limit`
  (default 500, at most 1000; more is error -1130);
- the bars whose open time lies in [startTime, endTime], oldest first, at most
  `limit` of them, none opening after now; without startTime the most recent
  `limit` bars up to endTime (or now);
- each bar the documented 12-element array: open time, open, high, low,
  close, volume (strings), close time (open time + interval - 1 ms), quote
  volume, trades, taker base and quote volume, an unused "0";
- header `X-MBX-USED-WEIGHT-1M` (klines cost 2);
- an unknown symbol answers 400 `{"code": -1121, "msg": "Invalid symbol."}`,
  an unknown interval 400 `{"code": -1120, "msg": "Invalid interval."}`.

Prices: the bars of `payloads/binance_klines_btcusdt_1h.json` (24 hourly bars
written for this fake in the documented shape, not recorded from Binance), scaled to the symbol's own level and repeated
along time: bar n of any interval is recorded bar n mod the file's length.
The same request always answers the same bars. Symbols starting with
`INVALID` are unknown, for the error path.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any

KLINE_WEIGHT = 2
INTERVALS_MS = {
    "1s": 1_000,
    "1m": 60_000,
    "3m": 180_000,
    "5m": 300_000,
    "15m": 900_000,
    "30m": 1_800_000,
    "1h": 3_600_000,
    "2h": 7_200_000,
    "4h": 14_400_000,
    "6h": 21_600_000,
    "8h": 28_800_000,
    "12h": 43_200_000,
    "1d": 86_400_000,
}
PAYLOAD = Path(__file__).with_name("payloads") / "binance_klines_btcusdt_1h.json"


def _recorded() -> list[list[Any]]:
    return json.loads(PAYLOAD.read_text(encoding="utf-8"))


RECORDED = _recorded()
# The recorded bars' own level: each symbol's bars are scaled from it.
RECORDED_LEVEL = float(RECORDED[0][4])


def _level(symbol: str) -> float:
    """A stable price level per symbol, between 1 and 50,000."""
    digest = int(hashlib.sha256(symbol.encode()).hexdigest()[:8], 16)
    return 1.0 + digest % 50_000


def _bar(symbol: str, open_ms: int, step_ms: int) -> list[Any]:
    row = RECORDED[(open_ms // step_ms) % len(RECORDED)]
    scale = _level(symbol) / RECORDED_LEVEL
    o, h, lo, c = (float(row[i]) * scale for i in (1, 2, 3, 4))
    return [
        open_ms,
        f"{o:.8f}",
        f"{h:.8f}",
        f"{lo:.8f}",
        f"{c:.8f}",
        row[5],
        open_ms + step_ms - 1,
        row[7],
        row[8],
        row[9],
        row[10],
        "0",
    ]


def klines(query: dict[str, list[str]], now_ms: int | None = None) -> tuple[int, Any]:
    """(HTTP status, JSON body) for GET /api/v3/klines with these query parameters."""
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    symbol = query.get("symbol", [""])[0]
    interval = query.get("interval", [""])[0]
    if not symbol:
        return 400, {"code": -1102, "msg": "Mandatory parameter 'symbol' was not sent."}
    if symbol.startswith("INVALID"):
        return 400, {"code": -1121, "msg": "Invalid symbol."}
    if interval not in INTERVALS_MS:
        return 400, {"code": -1120, "msg": "Invalid interval."}
    try:
        limit = int(query.get("limit", ["500"])[0])
        start = int(query["startTime"][0]) if "startTime" in query else None
        end = int(query["endTime"][0]) if "endTime" in query else now_ms
    except ValueError:
        return 400, {"code": -1100, "msg": "Illegal characters found in a parameter."}
    if not 1 <= limit <= 1000:
        return 400, {"code": -1130, "msg": "Invalid data sent for a parameter."}
    step = INTERVALS_MS[interval]
    last_open = min(end, now_ms) // step * step
    # Without startTime the latest `limit` bars; with it, the first bar opening at or after it.
    first_open = last_open - (limit - 1) * step if start is None else -(-start // step) * step
    bars = []
    t = first_open
    while t <= last_open and len(bars) < limit:
        bars.append(_bar(symbol, t, step))
        t += step
    return 200, bars


# --- Yahoo chart ------------------------------------------------------------------------
# GET /yahoo/v8/finance/chart/<symbol>?period1=&period2=&interval=&includePrePost=false,
# as yfinance 1.7.0 calls it (yfinance/scrapers/history.py) and the backfill does:
#
# - bars of the regular session only: stocks and indices 09:30-16:00 New York,
#   Monday to Friday (the fake uses EST, UTC-5, all year: no DST, no holidays);
#   forex (`=X`) around the clock Monday to Friday;
# - each bar stamped with its start; 1 h bars start at the session's :30, the
#   last one cut at the close;
# - Yahoo's depth limits, each refused with 422 and its wording: 1 m within the
#   last 30 days and at most 7 days a request, 2 m-90 m within 60 days, 1 h
#   (60m) within 730 days;
# - an unknown symbol (`INVALID...`): 404 "No data found, symbol may be delisted".
YAHOO_INTERVALS = {"1m": 60, "2m": 120, "5m": 300, "15m": 900, "30m": 1800, "60m": 3600, "1h": 3600}
YAHOO_REACH = {60: 30 * 86_400, 3600: 730 * 86_400}  # others: 60 days
EST = -5 * 3600
OPEN_S, CLOSE_S = 9 * 3600 + 1800, 16 * 3600


def _yahoo_error(status: int, code: str, description: str) -> tuple[int, Any]:
    return status, {"chart": {"result": None, "error": {"code": code, "description": description}}}


def _sessions(symbol: str, first: int, last: int) -> list[tuple[int, int]]:
    """[open, close) of each regular session touching [first, last), epoch seconds."""
    out = []
    day = (first + EST) // 86_400 * 86_400 - EST  # local midnight, in UTC
    while day < last:
        weekday = ((day + EST) // 86_400 + 3) % 7  # 1970-01-01 was a Thursday: 0 = Monday
        if weekday < 5:
            if symbol.endswith("=X"):
                out.append((day, day + 86_400))
            else:
                out.append((day + OPEN_S, day + CLOSE_S))
        day += 86_400
    return out


def yahoo_chart(
    symbol: str, query: dict[str, list[str]], now_s: int | None = None
) -> tuple[int, Any]:
    """(HTTP status, JSON body) for GET /v8/finance/chart/<symbol>."""
    now_s = int(time.time()) if now_s is None else now_s
    if symbol.startswith("INVALID"):
        return _yahoo_error(404, "Not Found", "No data found, symbol may be delisted")
    name = query.get("interval", ["1d"])[0]
    if name not in YAHOO_INTERVALS:
        return _yahoo_error(
            400, "Bad Request", f"Invalid input - interval={name} is not supported."
        )
    step = YAHOO_INTERVALS[name]
    try:
        first = int(query["period1"][0])
        last = min(int(query.get("period2", [str(now_s)])[0]), now_s)
    except (KeyError, ValueError):
        return _yahoo_error(400, "Bad Request", "Invalid input - period1 and period2 are required.")
    reach = YAHOO_REACH.get(step, 60 * 86_400)
    if first < now_s - reach:
        return _yahoo_error(
            422,
            "Unprocessable Entity",
            f"{name} data not available for startTime={first} and endTime={last}. "
            f"The requested range must be within the last {reach // 86_400} days.",
        )
    if step == 60 and last - first > 7 * 86_400:
        return _yahoo_error(
            422,
            "Unprocessable Entity",
            f"{name} data not available for startTime={first} and endTime={last}. Only 7 days "
            "worth of 1m granularity data are allowed to be fetched per request.",
        )
    stamps: list[int] = []
    columns: dict[str, list[float | None]] = {k: [] for k in ("open", "high", "low", "close")}
    volume: list[int] = []
    scale = _level(symbol) / RECORDED_LEVEL
    for opens, closes in _sessions(symbol, first, last):
        t = opens
        while t < closes:
            if first <= t < last:
                row = RECORDED[(t // step) % len(RECORDED)]
                stamps.append(t)
                for i, key in enumerate(("open", "high", "low", "close"), start=1):
                    columns[key].append(round(float(row[i]) * scale, 4))
                volume.append(int(float(row[5]) * 1000))
            t += step
    kind = "CURRENCY" if symbol.endswith("=X") else "INDEX" if symbol.startswith("^") else "EQUITY"
    meta = {
        "currency": "USD",
        "symbol": symbol,
        "exchangeName": "CCY" if kind == "CURRENCY" else "NMS",
        "instrumentType": kind,
        "gmtoffset": EST,
        "timezone": "EST",
        "exchangeTimezoneName": "America/New_York",
        "regularMarketPrice": columns["close"][-1] if stamps else None,
        "dataGranularity": name,
        "range": "",
    }
    result = {
        "meta": meta,
        "timestamp": stamps,
        "indicators": {"quote": [{**columns, "volume": volume}]},
    }
    return 200, {"chart": {"result": [result], "error": None}}
