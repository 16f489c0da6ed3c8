"""Binance `GET /api/v3/klines` arrays → candles.

A kline is `[openTime, open, high, low, close, volume, closeTime, ...]` with
times in ms and prices as strings. Its window is [openTime, openTime +
interval): closeTime is openTime + interval - 1 ms, so the end is computed,
not read. An error arrives as `{"code": -1121, "msg": "Invalid symbol."}`.
"""

from __future__ import annotations

from typing import Any

from bbdash.backfill.candles import Candle, Parsed, rebucket, usable_price
from bbdash.common.upstream_errors import PayloadError


def error_text(payload: Any) -> str | None:
    """Binance's own words from an error body (`{"code", "msg"}`), or None."""
    if isinstance(payload, dict) and "msg" in payload:
        return f"Binance error {payload.get('code')}: {payload.get('msg')}"
    return None


def parse_klines(payload: Any, interval: int) -> Parsed:
    """Candles of `interval` seconds; a bar with a bad price is dropped and counted."""
    text = error_text(payload)
    if text is not None:
        raise PayloadError(text, kind="api_error", detail=str(payload)[:500])
    if not isinstance(payload, list):
        raise PayloadError("Binance klines: not a list", detail=str(payload)[:500])
    bars, dropped = [], 0
    for row in payload:
        if not isinstance(row, list) or len(row) < 5 or not isinstance(row[0], int):
            raise PayloadError("Binance klines: malformed kline", detail=str(row)[:200])
        prices = [usable_price(value) for value in row[1:5]]
        if any(p is None for p in prices):
            dropped += 1
            continue
        open_, high, low, close = (float(p) for p in prices if p is not None)
        start = row[0] // 1000
        bars.append(Candle(start, start + interval, open_, high, low, close))
    return Parsed(rebucket(bars, interval), dropped)
