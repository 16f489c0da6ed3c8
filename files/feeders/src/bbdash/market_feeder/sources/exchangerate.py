"""ExchangeRate API (open.er-api.com style): the first forex fallback when Yahoo fails.

`GET {base_url}/USD` returns every rate against USD, refreshed upstream about
once a day, so one cached response serves every pair (cross rates computed as
rates[quote] / rates[base]) and the API is asked at most every `interval_s`.
Points carry the upstream's `time_last_update_unix`, so re-serving the cache
overwrites the same points.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

import httpx

from bbdash.common.metrics import Metrics
from bbdash.common.watchlist import Asset
from bbdash.market_feeder.config import ExchangeRateSettings
from bbdash.market_feeder.metrics import MarketMetrics
from bbdash.market_feeder.records import InvalidValueError, MarketRecord, parse_price, seconds_to_ns
from bbdash.market_feeder.routing import forex_pair
from bbdash.market_feeder.sources._base import Emit, RestSource
from bbdash.market_feeder.sources._http import FetchError, get_json

log = logging.getLogger(__name__)

SOURCE = "exchangerate"


def parse_rates(payload: Any) -> tuple[int, dict[str, float]]:
    """(update time in ns, rates against the base) from a `latest` response."""
    if not isinstance(payload, dict) or payload.get("result") != "success":
        error = payload.get("error-type") if isinstance(payload, dict) else None
        raise InvalidValueError("upstream_error", str(error)[:60])
    raw = payload.get("rates")
    if not isinstance(raw, dict):
        raise InvalidValueError("malformed_response")
    rates = {}
    for code, value in raw.items():
        try:
            rates[str(code).upper()] = parse_price(value)
        except InvalidValueError:
            continue  # one bad currency must not hide the others
    return seconds_to_ns(payload.get("time_last_update_unix")), rates


def cross_rate(rates: dict[str, float], base: str, quote: str) -> float | None:
    """Price of 1 `base` in `quote`, from rates expressed against a common currency."""
    if base not in rates or quote not in rates:
        return None
    return rates[quote] / rates[base]


class ExchangeRateSource(RestSource[ExchangeRateSettings]):
    """Serves forex pairs from a cached `latest/USD` response."""

    def __init__(
        self,
        settings: ExchangeRateSettings,
        emit: Emit,
        metrics: Metrics,
        market_metrics: MarketMetrics,
        *,
        client: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(SOURCE, settings, emit, metrics)
        self._market_metrics = market_metrics
        self._client = client if client is not None else httpx.AsyncClient()
        self._clock = clock
        self._cache: tuple[int, dict[str, float]] | None = None
        self._fetched_at: float | None = None

    async def _rates(self) -> tuple[int, dict[str, float]] | None:
        now = self._clock()
        if self._fetched_at is not None and now - self._fetched_at < self.settings.interval_s:
            return self._cache
        self._fetched_at = now  # failures also wait for the next interval: no hammering
        try:
            payload = await get_json(
                self._client,
                self.settings.base_url.rstrip("/") + "/USD",
                source=SOURCE,
                metrics=self._metrics,
                timeout_s=self.settings.timeout_s,
                attempts=2,
            )
            self._cache = parse_rates(payload)
        except FetchError as exc:
            self._metrics.source_error(SOURCE, exc.kind)
            log.warning("exchangerate fetch failed", extra={"kind": exc.kind})
        except InvalidValueError as exc:
            self._invalid(exc.reason)
        else:
            self._metrics.source_ok(SOURCE)
        return self._cache

    async def fetch(self, assets: Iterable[Asset]) -> list[Asset]:
        """Emit what the rates cover; return the assets not served."""
        wanted = list(assets)
        if not self.settings.enabled or not wanted:
            return wanted
        cached = await self._rates()
        if cached is None:
            return wanted
        event_ns, rates = cached
        unserved = []
        for asset in wanted:
            pair = forex_pair(asset.symbol) if asset.asset_type == "forex" else None
            price = cross_rate(rates, *pair) if pair else None
            if price is None:
                unserved.append(asset)
                continue
            self._market_metrics.fallback_used.labels(SOURCE).inc()
            self._emit(MarketRecord(SOURCE, asset.symbol, "forex", event_ns, price=price))
        return unserved
