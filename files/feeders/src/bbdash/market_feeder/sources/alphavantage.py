"""Alpha Vantage: fallback quotes for stocks and forex when Yahoo fails.

The free key allows 25 requests a day, and Alpha Vantage answers errors with
HTTP 200: a JSON object holding "Information" or "Note" instead of data is a
rate limit (budget drained, source held), "Error Message" an error in the
call, or a refused key when it names the apikey. `check_payload` raises them
as the shared upstream errors, with Alpha Vantage's own text, so
`bbdash.common.upstream` counts, logs and obeys them like HTTP errors.
Each request serves one symbol, so a symbol is refreshed at most every
`min_refresh_s` and the stalest symbols go first.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

import httpx

from bbdash.common.budgets import SECONDS_PER_DAY
from bbdash.common.metrics import Metrics
from bbdash.common.upstream import Response, UpstreamLimits, new_http_client
from bbdash.common.upstream_errors import (
    AuthError,
    PayloadError,
    RateLimitedError,
    UpstreamError,
)
from bbdash.common.watchlist import Asset
from bbdash.market_feeder.config import AlphaVantageSettings
from bbdash.market_feeder.coverage import SymbolCoverage
from bbdash.market_feeder.metrics import MarketMetrics
from bbdash.market_feeder.records import (
    InvalidValueError,
    MarketRecord,
    optional_number,
    parse_price,
)
from bbdash.market_feeder.routing import forex_pair
from bbdash.market_feeder.sources._base import USER_AGENT, Emit, RestSource

SOURCE = "alphavantage"


def check_payload(payload: Any) -> dict[str, Any]:
    """The payload as a dict; Alpha Vantage's error documents raised as upstream errors."""
    if not isinstance(payload, dict):
        raise PayloadError("response is not a JSON object", detail=str(payload))
    if "Information" in payload or "Note" in payload:
        notice = str(payload.get("Information") or payload.get("Note"))
        # Over the plan's limit (a day's or a minute's): nothing more today.
        raise RateLimitedError("rate-limit notice", detail=notice, drains_budget=True)
    if "Error Message" in payload:
        text = str(payload["Error Message"])
        if "apikey" in text.lower():
            raise AuthError("API key invalid or missing", detail=text)
        raise PayloadError("error message", kind="api_error", detail=text)
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


def upstream_limits(settings: AlphaVantageSettings) -> UpstreamLimits:
    """The daily budget (5 requests at once at most) and a slow breaker: 25 calls go far."""
    return UpstreamLimits(
        calls=settings.daily_budget,
        period_s=SECONDS_PER_DAY,
        burst=min(5, settings.daily_budget),
        timeout_s=settings.timeout_s,
        reset_s=3600.0,
        max_reset_s=6 * 3600.0,
        base_url_hint="market-data base URL (alphavantage.base_url)",
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
        self.upstream = upstream_limits(settings).build(
            SOURCE, client or new_http_client(USER_AGENT), metrics, clock=clock
        )
        self._api_key = settings.api_key_value()
        self._clock = clock
        self._last: dict[str, float] = {}
        self.coverage = SymbolCoverage(SOURCE, metrics)

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
        stopped = False
        for asset in pending:
            if now - self._last.get(asset.symbol, 0.0) < self.settings.min_refresh_s:
                continue  # served recently enough; its last point still stands
            if stopped:
                unserved.append(asset)
                continue
            try:
                record = await self._fetch_one(asset, now)
            except UpstreamError as exc:
                # Counted and logged by the upstream; held, over budget or a bad key
                # concern every symbol, so the others wait for the next round.
                stopped = exc.source_wide
                record = None
            except InvalidValueError as exc:
                self._invalid(exc.reason)  # the service answered; the symbol is the problem
                self.coverage.observe([asset.symbol], [], then=f"refused as {exc.reason}")
                record = None
            if record is None:
                unserved.append(asset)
                continue
            self.coverage.observe([asset.symbol], [asset.symbol], then="")
            self._last[asset.symbol] = now
            self._market_metrics.fallback_used.labels(SOURCE).inc()
            self._emit(record)
        return unserved

    async def _fetch_one(self, asset: Asset, now: float) -> MarketRecord:
        if asset.asset_type == "forex":
            pair = forex_pair(asset.symbol)
            if pair is None:
                raise InvalidValueError("unknown_symbol", asset.symbol)
            params = {
                "function": "CURRENCY_EXCHANGE_RATE",
                "from_currency": pair[0],
                "to_currency": pair[1],
            }
        else:
            params = {"function": "GLOBAL_QUOTE", "symbol": asset.symbol}
        params["apikey"] = self._api_key or ""

        def parse(response: Response) -> MarketRecord:
            payload = response.json()
            self._received()
            if asset.asset_type == "forex":
                return parse_fx_rate(payload, asset)
            return parse_global_quote(payload, asset, now)

        return await self.upstream.fetch(self.settings.base_url, parse, params=params)
