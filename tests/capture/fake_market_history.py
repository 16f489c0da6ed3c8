"""TEST HELPER, never shipped: a fake Binance klines endpoint for the history backfill.

The molecule test host has no route to Binance. The local inventory points the
market feeder's backfill at this fake (`http://bbdash-capture:8080/binance`),
so verify can watch the real backfill code fill a year of candles for a symbol
added through the API.

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
