"""Candles → line protocol, on exactly the series the live points of the asset write.

The tags come from `MarketRecord.to_point_tags`, the live path's own code, so a
backfilled series and the live one cannot drift apart: Binance and CoinGecko
write `asset_type=crypto` whatever the watchlist says, Yahoo the asset's type.
Raw points carry `price` only (the bar's close) and the candle buckets
`open`, `high`, `low`, `close` and `price` (= close); all stamped with the
window's end in ns (docs/contracts.md).
"""

from __future__ import annotations

from collections.abc import Iterable

from bbdash.backfill.candles import Candle
from bbdash.backfill.plan import COINGECKO, RAW, Chunk
from bbdash.common.lineprotocol import Point
from bbdash.market_feeder.records import MEASUREMENT, MarketRecord

_CRYPTO_ONLY = frozenset({"binance", COINGECKO})


def live_tags(source: str, symbol: str, asset_type: str, *, demo: bool = False) -> dict[str, str]:
    """The tags a live point of `symbol` from `source` carries (`demo=true` in demo mode,
    where the history comes from a fake upstream and joins the demo's series)."""
    kind = "crypto" if source in _CRYPTO_ONLY else asset_type
    record = MarketRecord(
        exchange=source, symbol=symbol, asset_type=kind, event_time_ns=0, demo=demo
    )
    return record.to_point_tags()


def candle_point(tags: dict[str, str], candle: Candle, bucket: str) -> Point:
    """The point of one candle in `bucket` (raw: `price` only)."""
    if bucket == RAW:
        fields: dict[str, float] = {"price": candle.close}
    else:
        fields = {
            "open": candle.open,
            "high": candle.high,
            "low": candle.low,
            "close": candle.close,
            "price": candle.close,
        }
    return Point(MEASUREMENT, tags, fields, candle.end_ns)


def chunk_lines(chunk: Chunk, candles: Iterable[Candle], *, demo: bool = False) -> list[str]:
    """Lines for the candles that lie whole inside `chunk` (others are another chunk's)."""
    tags = live_tags(chunk.source, chunk.symbol, chunk.asset_type, demo=demo)
    return [
        candle_point(tags, c, chunk.bucket).to_line()
        for c in candles
        if chunk.holds(c.start_s, c.end_s)
    ]
