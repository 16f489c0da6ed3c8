"""Demo mode: a deterministic synthetic market, so a local deployment moves with no network.

Each symbol walks from a plausible start price by a seeded geometric random
walk: the same seed gives the same sequence of prices, tick after tick, on
every machine. Every record is tagged demo=true (docs/contracts.md) so no panel
or alert can take it for a market; the exchange tag is the one the real source
would use (binance for crypto, yahoo otherwise) so the same panels show it.

The synthetic market never closes: it writes the `market_state` "open" for
every asset that is not crypto (on change and hourly, like Yahoo's), so the
MARKET columns say what the prices do instead of staying blank.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from bbdash.common.watchlist import Asset
from bbdash.market_feeder.market_state import MarketState, StateChanges
from bbdash.market_feeder.records import MarketRecord

Emit = Callable[[MarketRecord], None]

_START = {
    "BTC/USDT": 67_000.0,
    "ETH/USDT": 3_500.0,
    "SOL/USDT": 150.0,
    "BNB/USDT": 580.0,
    "XRP/USDT": 0.55,
    "AAPL": 190.0,
    "MSFT": 420.0,
    "NVDA": 880.0,
    "TSLA": 180.0,
    "AMZN": 180.0,
    "EURUSD=X": 1.08,
    "GBPUSD=X": 1.27,
    "USDJPY=X": 151.0,
    "^GSPC": 5_200.0,
    "^IXIC": 16_300.0,
    "^DJI": 39_000.0,
    "^FCHI": 8_100.0,
}
# Per-tick volatility (log-return standard deviation) by asset type.
_SIGMA = {"crypto": 0.0008, "stock": 0.0004, "index": 0.0002, "forex": 0.00005}
_SUPPLY = {
    "BTC/USDT": 19.7e6,
    "ETH/USDT": 120e6,
    "SOL/USDT": 445e6,
    "BNB/USDT": 150e6,
    "XRP/USDT": 54e9,
}
_TICKS_PER_HOUR = 3600


@dataclass(slots=True)
class _Walk:
    rng: random.Random
    price: float
    open_price: float
    history: list[float]


def _seed_for(seed: int, symbol: str) -> int:
    # hashlib, not hash(): Python salts str hashes per process.
    return int.from_bytes(hashlib.sha256(f"{seed}:{symbol}".encode()).digest()[:8], "big")


class DemoMarket:
    """The deterministic walk; `tick(asset, t_ns)` advances one symbol by one step."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self._walks: dict[str, _Walk] = {}

    def _walk(self, asset: Asset) -> _Walk:
        walk = self._walks.get(asset.symbol)
        if walk is None:
            rng = random.Random(_seed_for(self.seed, asset.symbol))  # noqa: S311 - not crypto
            start = _START.get(asset.symbol) or round(rng.uniform(10, 500), 2)
            walk = _Walk(rng, start, start, [start])
            self._walks[asset.symbol] = walk
        return walk

    def tick(self, asset: Asset, t_ns: int) -> MarketRecord:
        walk = self._walk(asset)
        sigma = _SIGMA.get(asset.asset_type, 0.0005)
        walk.price *= math.exp(walk.rng.gauss(0.0, sigma))
        walk.history.append(walk.price)
        if len(walk.history) > _TICKS_PER_HOUR + 1:
            del walk.history[0]
        hour_ago = walk.history[0]
        supply = _SUPPLY.get(asset.symbol)
        return MarketRecord(
            exchange="binance" if asset.asset_type == "crypto" else "yahoo",
            symbol=asset.symbol,
            asset_type=asset.asset_type,
            event_time_ns=t_ns,
            price=round(walk.price, 8),
            volume_24h=None
            if asset.asset_type in ("forex", "index")
            else round(walk.price * walk.rng.uniform(1e5, 1e6), 2),
            change_pct_1h=round((walk.price / hour_ago - 1) * 100, 4),
            change_pct_24h=round((walk.price / walk.open_price - 1) * 100, 4),
            market_cap=round(walk.price * supply, 2) if supply else None,
            demo=True,
        )


class DemoSource:
    """Emits one tick per asset every `interval_s`, for the defaults plus the watchlist."""

    def __init__(
        self,
        defaults: Iterable[Asset],
        emit: Emit,
        *,
        seed: int = 42,
        interval_s: float = 1.0,
        clock_ns: Callable[[], int] = time.time_ns,
        emit_state: Callable[[MarketState], None] | None = None,
    ) -> None:
        self._defaults = {a.symbol: a for a in defaults}
        self._assets = dict(self._defaults)
        self._emit = emit
        self._emit_state = emit_state
        self._state_changes = StateChanges()
        self._interval_ns = int(interval_s * 1_000_000_000)
        self._clock_ns = clock_ns
        self.market = DemoMarket(seed)

    def set_assets(self, assets: Iterable[Asset]) -> None:
        """Watched assets are simulated too, on top of the defaults."""
        self._assets = {**self._defaults, **{a.symbol: a for a in assets}}
        self._state_changes.retain(self._assets)

    def tick_all(self) -> int:
        """One tick for every asset, stamped on the interval grid; returns the count."""
        t_ns = self._clock_ns() // self._interval_ns * self._interval_ns
        for asset in sorted(self._assets.values(), key=lambda a: a.symbol):
            record = self.market.tick(asset, t_ns)
            self._emit(record)
            if (
                self._emit_state is not None
                and asset.asset_type != "crypto"
                and self._state_changes.due(asset.symbol, "open", t_ns / 1e9)
            ):
                self._emit_state(
                    MarketState(
                        record.exchange, asset.symbol, asset.asset_type, "open", t_ns, demo=True
                    )
                )
        return len(self._assets)

    async def run(self) -> None:
        """Tick until cancelled."""
        interval = self._interval_ns / 1_000_000_000
        while True:
            self.tick_all()
            await asyncio.sleep(interval - (time.time() % interval))
