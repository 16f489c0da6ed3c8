"""Yahoo v8 chart JSON → candles.

`chart.result[0].timestamp` holds each bar's start (epoch seconds) and
`indicators.quote[0]` its open/high/low/close, with nulls where a bar has no
trades (skipped, not counted). The raw `close` is used, never `adjclose`:
history must match the live quotes, which are not dividend-adjusted. An
error arrives as `{"chart": {"result": null, "error": {"code", "description"}}}`.
"""

from __future__ import annotations

from typing import Any

from bbdash.backfill.candles import Candle, Parsed, rebucket, usable_price
from bbdash.common.upstream_errors import PayloadError


def error_text(payload: Any) -> str | None:
    """Yahoo's own words from a chart error document, or None."""
    chart = payload.get("chart") if isinstance(payload, dict) else None
    error = chart.get("error") if isinstance(chart, dict) else None
    if not error:
        return None
    if isinstance(error, dict):
        return f"Yahoo {error.get('code')}: {error.get('description')}"
    return f"Yahoo: {error}"


def parse_chart(payload: Any, interval: int, bar_s: int | None = None) -> Parsed:
    """Candles of `interval` seconds from bars `bar_s` wide (default: the same).

    Bars that do not start on our windows (1 h bars of US stocks start at :30)
    go to the window holding their start.
    """
    text = error_text(payload)
    if text is not None:
        raise PayloadError(text, kind="api_error", detail=str(payload)[:500])
    try:
        result = payload["chart"]["result"][0]
        quote = result["indicators"]["quote"][0]
        stamps = result.get("timestamp") or []
        columns = [quote.get(name) or [] for name in ("open", "high", "low", "close")]
    except (KeyError, IndexError, TypeError, AttributeError) as exc:
        raise PayloadError("Yahoo chart: unexpected shape", detail=str(payload)[:500]) from exc
    if not isinstance(stamps, list) or any(len(col) != len(stamps) for col in columns):
        raise PayloadError("Yahoo chart: columns of unequal length", detail=str(payload)[:500])
    width = bar_s or interval
    bars, dropped = [], 0
    for i, stamp in enumerate(stamps):
        raw = [col[i] for col in columns]
        if all(value is None for value in raw):
            continue  # no trade in that bar: nothing to write
        prices = [usable_price(value) for value in raw]
        if not isinstance(stamp, int) or any(p is None for p in prices):
            dropped += 1
            continue
        open_, high, low, close = (float(p) for p in prices if p is not None)
        bars.append(Candle(stamp, stamp + width, open_, high, low, close))
    return Parsed(rebucket(bars, interval), dropped)
