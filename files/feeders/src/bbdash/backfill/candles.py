"""The candle every history parser produces, and the one way bars become window candles.

Upstream bars are not always on our windows (Yahoo's 1 h bars of US stocks
start at :30, CoinGecko sends prices at arbitrary seconds), so every parser
hands its bars to `rebucket`, which files each bar under the epoch-aligned
window holding its start: the same window grid as the downsampling tasks, so
backfilled and downsampled candles share timestamps.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

NS = 1_000_000_000


@dataclass(frozen=True, slots=True)
class Candle:
    """One candle of price over [start_s, end_s) (epoch seconds); stamped with its end."""

    start_s: int
    end_s: int
    open: float
    high: float
    low: float
    close: float

    @property
    def start_ns(self) -> int:
        return self.start_s * NS

    @property
    def end_ns(self) -> int:
        return self.end_s * NS


@dataclass(frozen=True, slots=True)
class Parsed:
    """A parser's result: the candles, and how many bars it refused (bad prices)."""

    candles: list[Candle]
    dropped: int = 0


def usable_price(value: object) -> float | None:
    """A finite, strictly positive price (numbers or numeric strings), else None."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) and number > 0 else None


def rebucket(bars: Iterable[Candle], window: int) -> list[Candle]:
    """Bars (any width, any order) as candles of `window` seconds: first/max/min/last.

    A zero-width bar is a single price at `start_s` (CoinGecko's points).
    """
    merged: dict[int, Candle] = {}
    for bar in sorted(bars, key=lambda b: b.start_s):
        start = bar.start_s - bar.start_s % window
        seen = merged.get(start)
        if seen is None:
            merged[start] = Candle(start, start + window, bar.open, bar.high, bar.low, bar.close)
        else:
            merged[start] = Candle(
                start,
                start + window,
                seen.open,
                max(seen.high, bar.high),
                min(seen.low, bar.low),
                bar.close,
            )
    return [merged[start] for start in sorted(merged)]
