"""Alpha Vantage: fallback quotes for stocks and forex when Yahoo fails.

The free key allows 25 requests a day, and Alpha Vantage signals "over the
limit" with HTTP 200 and a JSON object holding "Information" or "Note" instead
of data: that is a rate limit (budget drained, circuit tripped), not a quote.
Each request serves one symbol, so a symbol is refreshed at most every
`min_refresh_s` and the stalest symbols go first.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

import httpx

from bbdash.common.metrics import Metrics
from bbdash.common.resilience import CircuitBreaker, TokenBucket
from bbdash.common.watchlist import Asset
from bbdash.market_feeder.config import AlphaVantageSettings
from bbdash.market_feeder.metrics import MarketMetrics
from bbdash.market_feeder.records import (
    InvalidValueError,
    MarketRecord,
    optional_number,
    parse_price,
)
from bbdash.market_feeder.routing import forex_pair
from bbdash.market_feeder.sources._base import Emit, RestSource
from bbdash.market_feeder.sources._http import FetchError, get_json

log = logging.getLogger(__name__)

SOURCE = "alphavantage"


class RateLimitNotice(Exception):  # noqa: N818 - the upstream's own word
    """HTTP 200 carrying "Information" or "Note": the daily limit is reached."""


def check_payload(payload: Any) -> dict[str, Any]:
    """Raise for rate-limit notices and errors; return the payload as a dict."""
    if not isinstance(payload, dict):
        raise InvalidValueError("malformed_response")
    if "Information" in payload or "Note" in payload:
        raise RateLimitNotice(str(payload.get("Information") or payload.get("Note"))[:200])
    if "Error Message" in payload:
        raise InvalidValueError("unknown_symbol", str(payload["Error Message"])[:100])
    return payload


def _trading_day_ns(day: str, fetched_at: float) -> int:
    """GLOBAL_QUOTE only dates its quote: stamp today's at the fetch minute, older days at close.

    Flooring to the minute makes a re-fetch within the minute overwrite the
    same point, and a past day's quote always lands on the same instant.
    """
    try:
        date = datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError as exc:
        raise InvalidValueError("bad_timestamp", day[:20]) from exc
    fetched = datetime.fromtimestamp(fetched_at, tz=UTC)
    if date.date() == fetched.date():
        return int(fetched_at // 60 * 60) * 1_000_000_000
    return int(date.timestamp() + 86_399) * 1_000_000_000


def parse_global_quote(payload: Any, asset: Asset, fetched_at: float) -> MarketRecord:
    """A GLOBAL_QUOTE response → record."""
    quote = check_payload(payload).get("Global Quote")
    if not isinstance(quote, dict) or not quote:
        raise InvalidValueError("unknown_symbol", asset.symbol)
    return MarketRecord(
        exchange=SOURCE,
        symbol=asset.symbol,
        asset_type=asset.asset_type,
        event_time_ns=_trading_day_ns(str(quote.get("07. latest trading day", "")), fetched_at),
        price=parse_price(quote.get("05. price")),
        volume_24h=optional_number(quote.get("06. volume"), minimum=0.0),
        change_pct_24h=optional_number(quote.get("10. change percent"), percent=True),
    )


def parse_fx_rate(payload: Any, asset: Asset) -> MarketRecord:
    """A CURRENCY_EXCHANGE_RATE response → record (timestamped by "Last Refreshed", UTC)."""
    rate = check_payload(payload).get("Realtime Currency Exchange Rate")
    if not isinstance(rate, dict):
        raise InvalidValueError("unknown_symbol", asset.symbol)
    refreshed = str(rate.get("6. Last Refreshed", ""))
    try:
        moment = datetime.strptime(refreshed, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
    except ValueError as exc:
        raise InvalidValueError("bad_timestamp", refreshed[:30]) from exc
    return MarketRecord(
        exchange=SOURCE,
        symbol=asset.symbol,
        asset_type=asset.asset_type,
        event_time_ns=int(moment.timestamp()) * 1_000_000_000,
        price=parse_price(rate.get("5. Exchange Rate")),
    )


class AlphaVantageSource(RestSource[AlphaVantageSettings]):
    """Fetches fallback quotes on demand, within the daily budget."""

    def __init__(
        self,
        settings: AlphaVantageSettings,
        emit: Emit,
        metrics: Metrics,
        market_metrics: MarketMetrics,
        *,
        client: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(SOURCE, settings, emit, metrics)
        self._market_metrics = market_metrics
        self._client = client if client is not None else httpx.AsyncClient()
        self._api_key = settings.api_key_value()
        self._clock = clock
        self._last: dict[str, float] = {}
        self.budget = TokenBucket.per_period(
            settings.daily_budget, 86_400.0, burst=min(5, settings.daily_budget), clock=clock
        )
        self.breaker = CircuitBreaker(3, 3600.0, 6 * 3600.0, clock=clock)

    @property
    def enabled(self) -> bool:
        """On when enabled in the settings and a key is configured."""
        return self.settings.enabled and bool(self._api_key)

    async def fetch(self, assets: Iterable[Asset]) -> list[Asset]:
        """Fetch what the budget allows (stalest first); return the assets not served."""
        pending = [a for a in assets if a.asset_type in ("stock", "forex")]
        unserved = [a for a in assets if a.asset_type not in ("stock", "forex")]
        if not self.enabled:
            return unserved + pending
        now = self._clock()
        pending.sort(key=lambda a: self._last.get(a.symbol, 0.0))
        for asset in pending:
            if now - self._last.get(asset.symbol, 0.0) < self.settings.min_refresh_s:
                continue  # served recently enough; its last point still stands
            if self.budget.available() < 1 or not self.breaker.allow():
                unserved.append(asset)
                continue
            self.budget.try_acquire()
            if not await self._fetch_one(asset, now):
                unserved.append(asset)
        self._metrics.source_guards(SOURCE, self.budget, self.breaker)
        return unserved

    async def _fetch_one(self, asset: Asset, now: float) -> bool:
        if asset.asset_type == "forex":
            pair = forex_pair(asset.symbol)
            if pair is None:
                self._invalid("unknown_symbol")
                return False
            params = {
                "function": "CURRENCY_EXCHANGE_RATE",
                "from_currency": pair[0],
                "to_currency": pair[1],
            }
        else:
            params = {"function": "GLOBAL_QUOTE", "symbol": asset.symbol}
        params["apikey"] = self._api_key or ""
        try:
            payload = await get_json(
                self._client,
                self.settings.base_url,
                source=SOURCE,
                metrics=self._metrics,
                params=params,
                timeout_s=self.settings.timeout_s,
                attempts=2,
            )
            if asset.asset_type == "forex":
                record = parse_fx_rate(payload, asset)
            else:
                record = parse_global_quote(payload, asset, now)
        except RateLimitNotice as exc:
            self._metrics.source_error(SOURCE, "rate_limited")
            self.budget.drain()
            self.breaker.trip()
            log.warning("alpha vantage daily limit reached", extra={"notice": str(exc)})
            return False
        except FetchError as exc:
            self._metrics.source_error(SOURCE, exc.kind)
            self.breaker.record_failure()
            return False
        except InvalidValueError as exc:
            self._invalid(exc.reason)
            self.breaker.record_success()  # the service answered; the symbol is the problem
            return False
        self.breaker.record_success()
        self._metrics.source_ok(SOURCE)
        self._last[asset.symbol] = now
        self._market_metrics.fallback_used.labels(SOURCE).inc()
        self._emit(record)
        return True
