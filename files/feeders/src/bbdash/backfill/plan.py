"""Which chunks of history to fetch for one asset: pure window arithmetic, no I/O.

Three targets, the ranges the dashboards read from each bucket:

- raw `markets`: 7 days of 1-minute closes (field `price` only, stamped at the
  bar's end), so the 24 h and 7 d panels are not empty;
- `markets_5min`: 30 days of 5-minute candles;
- `markets_1h`: 365 days of 1-hour candles.

Chunks follow each upstream's per-call limit and lie on a grid of epoch
multiples of the chunk span, clipped to [now - depth, now) with both ends on
window boundaries: a rerun makes the same chunk ids and the same candle
timestamps, so InfluxDB overwrites what it already has. Only whole windows
are planned (the end is `now` rounded down to a window): the open window is
live data's.

- Binance klines: 1000 bars per call (weight 2), any depth.
- Yahoo chart: 1 m bars only within ~30 days and at most 7 days per call, 5 m
  within 60 days, 1 h within 730 days: one call per cell of the allowed span.
- CoinGecko demo `market_chart` picks the granularity from `days` (1 day: 5-min
  points; 2-90 days: hourly; beyond: daily) and serves at most 365 days. So a
  CoinGecko-only coin gets 5-min closes and candles for the last day only
  (`days=1`), hourly closes in raw for the rest of the week (`days=7`) and
  hourly candles for 90 days (`days=90`), not a year: daily points cannot make
  1 h candles. Candles are built locally from the points (`coingecko_chart`),
  so a window holding one point is a flat candle.

Order: a symbol's raw range of the last 24 h first, then the rest of its raw
week, then 5 min, then 1 h (`rank`); newest first within a rank.
"""

from __future__ import annotations

from dataclasses import dataclass

from bbdash.common.watchlist import Asset
from bbdash.market_feeder.routing import route, split_pair
from bbdash.market_feeder.sources.coingecko import USD_LIKE

DAY = 86_400
RAW, M5, H1 = "markets", "markets_5min", "markets_1h"
BINANCE, YAHOO, COINGECKO = "binance", "yahoo", "coingecko"
SOURCES = (BINANCE, YAHOO, COINGECKO)
BINANCE_BARS_PER_CALL = 1000
BINANCE_WEIGHT = 2
INTERVAL_NAMES = {60: "1m", 300: "5m", 3600: "1h"}


@dataclass(frozen=True, slots=True)
class Target:
    """What one bucket wants: windows of `interval` seconds reaching `depth_s` back."""

    bucket: str
    interval: int
    depth_s: int


TARGETS = (Target(RAW, 60, 7 * DAY), Target(M5, 300, 30 * DAY), Target(H1, 3600, 365 * DAY))
# Yahoo chart limits per interval: (how far back it serves, at most this much per call).
YAHOO_LIMITS = {60: (30 * DAY, 7 * DAY), 300: (60 * DAY, 60 * DAY), 3600: (730 * DAY, 730 * DAY)}


@dataclass(frozen=True, slots=True)
class Chunk:
    """One upstream call's worth of history for one asset and bucket.

    `interval` is the window (and bar) width in seconds; [start, end) are epoch
    seconds on window boundaries. `days` is CoinGecko's relative range (0 elsewhere).
    `cost` is what the call spends of the upstream's budget (Binance: weight).
    """

    source: str
    symbol: str
    asset_type: str
    bucket: str
    interval: int
    start: int
    end: int
    rank: int
    cost: int = 1
    days: int = 0
    cell: int = 0  # the grid cell's start: what names the chunk across reruns

    @property
    def id(self) -> str:
        """Stable across reruns: the grid cell (or CoinGecko's `days`), never `now`."""
        anchor = f"d{self.days}" if self.days else str(self.cell)
        return f"{self.source}:{self.symbol}:{self.bucket}:{self.interval}:{anchor}"

    @property
    def interval_name(self) -> str:
        """'1m', '5m', '1h': Binance's and Yahoo's spelling."""
        return INTERVAL_NAMES[self.interval]

    def holds(self, start_s: int, end_s: int) -> bool:
        """Whether a window [start_s, end_s) is this chunk's to write (whole, inside)."""
        return self.start <= start_s and end_s <= self.end


def source_for(asset: Asset) -> str | None:
    """The upstream that backfills `asset`: the one whose live points its series carry.

    Crypto pairs Binance streams → Binance; CoinGecko-only coins → CoinGecko;
    stocks, indices, forex → Yahoo (the same routing as the live feeder).
    """
    routes = route([asset])
    if routes.binance:
        return BINANCE
    if routes.yahoo:
        return YAHOO
    if routes.coingecko:
        return COINGECKO
    return None


def _rank(bucket: str, end: int, now: int) -> int:
    if bucket == RAW:
        return 0 if end > now - DAY else 1
    return 2 if bucket == M5 else 3


def grid_chunks(
    source: str, asset: Asset, target: Target, now: int, *, depth_s: int, span_s: int, cost: int
) -> list[Chunk]:
    """The `depth_s` of whole windows before `now`, cut on a grid of `span_s`, newest first."""
    step = target.interval
    last = now - now % step
    first = last - depth_s
    out = []
    cell = first - first % span_s
    while cell < last:
        start, end = max(cell, first), min(cell + span_s, last)
        if start < end:
            out.append(
                Chunk(
                    source,
                    asset.symbol,
                    asset.asset_type,
                    target.bucket,
                    step,
                    start,
                    end,
                    _rank(target.bucket, end, now),
                    cost=cost,
                    cell=cell,
                )
            )
        cell += span_s
    return out


def _binance(asset: Asset, now: int) -> list[Chunk]:
    out = []
    for target in TARGETS:
        out += grid_chunks(
            BINANCE,
            asset,
            target,
            now,
            depth_s=target.depth_s,
            span_s=BINANCE_BARS_PER_CALL * target.interval,
            cost=BINANCE_WEIGHT,
        )
    return out


def _yahoo(asset: Asset, now: int) -> list[Chunk]:
    out = []
    for target in TARGETS:
        serves, span = YAHOO_LIMITS[target.interval]
        depth = min(target.depth_s, serves)
        out += grid_chunks(YAHOO, asset, target, now, depth_s=depth, span_s=span, cost=1)
    return out


def _coingecko(asset: Asset, now: int) -> list[Chunk]:
    """Relative ranges (the demo plan's market_chart has no start/end), in USD.

    A pair quoted in another currency gets none: its live series has no price
    from CoinGecko either (a USD price under BTC/EUR would be wrong).
    """
    pair = split_pair(asset.symbol)
    if pair is not None and pair[1] not in USD_LIKE:
        return []

    def chunk(bucket: str, interval: int, days: int, start: int, end: int) -> Chunk:
        start = -(-start // interval) * interval
        end -= end % interval
        return Chunk(
            COINGECKO,
            asset.symbol,
            asset.asset_type,
            bucket,
            interval,
            start,
            end,
            _rank(bucket, end, now),
            days=days,
        )

    return [
        chunk(RAW, 300, 1, now - DAY, now),
        chunk(RAW, 3600, 7, now - 7 * DAY, now - DAY),
        chunk(M5, 300, 1, now - DAY, now),
        chunk(H1, 3600, 90, now - 90 * DAY, now),
    ]


def plan_asset(asset: Asset, now: int, source: str | None = None) -> list[Chunk]:
    """Every chunk of `asset`'s history at `now` (epoch seconds), in fetch order."""
    source = source or source_for(asset)
    if source == BINANCE:
        chunks = _binance(asset, now)
    elif source == YAHOO:
        chunks = _yahoo(asset, now)
    elif source == COINGECKO:
        chunks = _coingecko(asset, now)
    else:
        return []
    chunks = [c for c in chunks if c.start < c.end]
    return sorted(chunks, key=lambda c: (c.rank, -c.end))
