"""Which source collects which asset (collected_assets.source may be NULL: we pick).

- crypto → Binance (real-time price) and CoinGecko (market cap, 1 h change);
  `source = 'coingecko'` → CoinGecko only (coins not listed on Binance);
- stock, index, forex → Yahoo; when Yahoo fails, forex falls back to the
  ExchangeRate API then Alpha Vantage, stocks to Alpha Vantage (indices have
  no free fallback).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from bbdash.common.watchlist import Asset


@dataclass(frozen=True, slots=True)
class Routes:
    """Assets per primary source."""

    binance: frozenset[Asset] = field(default_factory=frozenset)
    coingecko: frozenset[Asset] = field(default_factory=frozenset)
    yahoo: frozenset[Asset] = field(default_factory=frozenset)


def route(assets: Iterable[Asset]) -> Routes:
    """Split assets between sources."""
    binance: set[Asset] = set()
    coingecko: set[Asset] = set()
    yahoo: set[Asset] = set()
    for asset in assets:
        if asset.asset_type == "crypto":
            coingecko.add(asset)
            if asset.source != "coingecko" and "/" in asset.symbol:
                binance.add(asset)
        else:
            yahoo.add(asset)
    return Routes(frozenset(binance), frozenset(coingecko), frozenset(yahoo))


def split_pair(symbol: str) -> tuple[str, str] | None:
    """'BTC/USDT' → ('BTC', 'USDT'); None if the symbol is not a pair."""
    base, sep, quote = symbol.partition("/")
    if not sep or not base or not quote:
        return None
    return base.upper(), quote.upper()


def forex_pair(symbol: str) -> tuple[str, str] | None:
    """Yahoo forex symbols: 'EURUSD=X' → ('EUR', 'USD'); 'JPY=X' → ('USD', 'JPY')."""
    core = symbol.upper().removesuffix("=X")
    if "/" in core:
        pair = split_pair(core)
        return pair
    if len(core) == 6 and core.isalpha():
        return core[:3], core[3:]
    if len(core) == 3 and core.isalpha():
        return "USD", core
    return None
