"""CoinGecko `/coins/{id}/market_chart` points → candles built here.

The demo plan only returns points (`{"prices": [[ms, price], ...]}`) at a
granularity it picks from `days`; each window's candle is first/max/min/last
of the points inside it. An error arrives as
`{"status": {"error_code": 10012, "error_message": "..."}}` (or `{"error": "..."}`).
"""

from __future__ import annotations

from typing import Any

from bbdash.backfill.candles import Candle, Parsed, rebucket, usable_price
from bbdash.common.upstream_errors import PayloadError


def error_text(payload: Any) -> str | None:
    """CoinGecko's own words from an error body, or None."""
    if not isinstance(payload, dict):
        return None
    status = payload.get("status")
    if isinstance(status, dict) and status.get("error_code"):
        return f"CoinGecko error {status.get('error_code')}: {status.get('error_message')}"
    if payload.get("error"):
        return f"CoinGecko: {payload['error']}"
    return None


def parse_market_chart(payload: Any, interval: int) -> Parsed:
    """Candles of `interval` seconds from the `prices` points; bad points dropped, counted."""
    text = error_text(payload)
    if text is not None:
        raise PayloadError(text, kind="api_error", detail=str(payload)[:500])
    prices = payload.get("prices") if isinstance(payload, dict) else None
    if not isinstance(prices, list):
        raise PayloadError("CoinGecko market_chart: no prices", detail=str(payload)[:500])
    points, dropped = [], 0
    for item in prices:
        if not isinstance(item, list) or len(item) != 2 or not isinstance(item[0], int | float):
            raise PayloadError("CoinGecko market_chart: malformed point", detail=str(item)[:200])
        price = usable_price(item[1])
        if price is None:
            dropped += 1
            continue
        at = int(item[0]) // 1000
        points.append(Candle(at, at, price, price, price, price))
    return Parsed(rebucket(points, interval), dropped)
