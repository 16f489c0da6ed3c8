"""ExchangeRate API (open.er-api.com style): the first forex fallback when Yahoo fails.

`GET {base_url}/USD` returns every rate against USD, refreshed upstream about
once a day, so one cached response serves every pair (cross rates computed as
rates[quote] / rates[base]) and the API is asked at most every `interval_s`.
Points carry the upstream's `time_last_update_unix`, so re-serving the cache
overwrites the same points. Errors come back with HTTP 200 as
`{"result": "error", "error-type": "..."}`: `parse_rates` raises them as the
shared upstream errors (a refused key is `auth`, a spent quota a rate limit).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

import httpx

from bbdash.common.metrics import Metrics
from bbdash.common.upstream import Response, UpstreamLimits, new_http_client
from bbdash.common.upstream_errors import (
    AuthError,
    PayloadError,
    RateLimitedError,
    UpstreamError,
)
from bbdash.common.watchlist import Asset
from bbdash.market_feeder.config import ExchangeRateSettings
from bbdash.market_feeder.coverage import SymbolCoverage
from bbdash.market_feeder.metrics import MarketMetrics
from bbdash.market_feeder.records import InvalidValueError, MarketRecord, parse_price, seconds_to_ns
from bbdash.market_feeder.routing import forex_pair
from bbdash.market_feeder.sources._base import USER_AGENT, Emit, RestSource

SOURCE = "exchangerate"
# The API's documented error types that are not about one request.
_AUTH_ERRORS = {"invalid-key", "inactive-account"}
_QUOTA_ERRORS = {"quota-reached"}


def parse_rates(payload: Any) -> tuple[int, dict[str, float]]:
    """(update time in ns, rates against the base) from a `latest` response."""
    if not isinstance(payload, dict):
        raise PayloadError("response is not a JSON object", detail=str(payload))
    if payload.get("result") != "success":
        error = str(payload.get("error-type") or payload.get("result"))
        if error in _AUTH_ERRORS:
            raise AuthError("API key refused", detail=error)
        if error in _QUOTA_ERRORS:
            raise RateLimitedError("quota reached", detail=error, drains_budget=True)
        raise PayloadError("error document", kind="api_error", detail=error)
    raw = payload.get("rates")
    if not isinstance(raw, dict):
        raise PayloadError("no rates in the response", detail=str(payload))
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


def upstream_limits(settings: ExchangeRateSettings) -> UpstreamLimits:
    """One request (and its retry) per `interval_s`: the cache serves every pair meanwhile."""
    return UpstreamLimits(
        calls=2,
        period_s=settings.interval_s,
        burst=2,
        timeout_s=settings.timeout_s,
        reset_s=settings.interval_s,
        max_reset_s=6 * 3600.0,
        base_url_hint="market-data base URL (exchangerate.base_url)",
    )


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
        self.upstream = upstream_limits(settings).build(
            SOURCE, client or new_http_client(USER_AGENT), metrics, clock=clock
        )
        self._clock = clock
        self._cache: tuple[int, dict[str, float]] | None = None
        self.coverage = SymbolCoverage(SOURCE, metrics)
        self._fetched_at: float | None = None

    async def _rates(self) -> tuple[int, dict[str, float]] | None:
        now = self._clock()
        if self._fetched_at is not None and now - self._fetched_at < self.settings.interval_s:
            return self._cache
        self._fetched_at = now  # failures also wait for the next interval: no hammering

        def parse(response: Response) -> tuple[int, dict[str, float]]:
            payload = response.json()
            self._received()
            return parse_rates(payload)

        try:
            self._cache = await self.upstream.fetch(
                self.settings.base_url.rstrip("/") + "/USD", parse
            )
        except UpstreamError:
            pass  # counted, logged and obeyed by the upstream; the cache still serves
        except InvalidValueError as exc:
            self._invalid(exc.reason)
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
        self.coverage.observe(
            (a.symbol for a in wanted),
            (a.symbol for a in wanted if a not in unserved),
            then="handed to the next fallback (Alpha Vantage)",
        )
        return unserved
