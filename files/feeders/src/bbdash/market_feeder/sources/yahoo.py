"""Yahoo Finance (stocks, indices, forex) through yfinance, polled in batches.

One request carries up to `symbols_per_request` tickers (Yahoo's v7 quote
endpoint takes a comma-separated list), so 50 tickers cost one request per poll,
not fifty: polling tickers one by one every 15 s is what gets clients banned.
yfinance supplies the session, cookie and crumb Yahoo requires; it is imported
lazily and wrapped behind `QuoteClient`, so tests feed recorded payloads.

A rate-limit answer trips the circuit breaker (no request until it cools
down); any failure hands the affected assets to the fallback callback
(ExchangeRate API / Alpha Vantage) so the panels keep moving.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol

from bbdash.common.metrics import Metrics
from bbdash.common.resilience import CircuitBreaker, TokenBucket
from bbdash.common.watchlist import Asset
from bbdash.market_feeder.config import YahooSettings
from bbdash.market_feeder.records import (
    InvalidValueError,
    MarketRecord,
    optional_number,
    parse_price,
    seconds_to_ns,
)
from bbdash.market_feeder.sources._base import Emit, PolledSource

log = logging.getLogger(__name__)

SOURCE = "yahoo"
QUOTE_URL = "https://query1.finance.yahoo.com/v7/finance/quote"
FailureCallback = Callable[[list[Asset]], Awaitable[None]]


class RateLimitedError(Exception):
    """Yahoo answered "Too Many Requests"."""


class QuoteClient(Protocol):
    """Fetches the raw v7 quote JSON for a batch of tickers (blocking; run in a thread)."""

    def fetch_quotes(self, symbols: Sequence[str], timeout_s: float) -> Any: ...


class YFinanceQuoteClient:
    """The real client: yfinance's shared session (cookie + crumb) on the batch endpoint."""

    def fetch_quotes(self, symbols: Sequence[str], timeout_s: float) -> Any:
        # Imported here: yfinance pulls in pandas, which only this source needs.
        from yfinance.data import YfData
        from yfinance.exceptions import YFRateLimitError

        try:
            return YfData().get_raw_json(
                QUOTE_URL,
                params={"symbols": ",".join(symbols), "formatted": "false"},
                timeout=timeout_s,
            )
        except YFRateLimitError as exc:
            raise RateLimitedError(str(exc)) from exc


def classify_error(exc: BaseException) -> str:
    """Short metric label for a failed fetch."""
    if isinstance(exc, RateLimitedError):
        return "rate_limited"
    status = getattr(getattr(exc, "response", None), "status_code", None)
    if status == 429 or "Too Many Requests" in str(exc):
        return "rate_limited"
    if isinstance(exc, TimeoutError) or "timed out" in str(exc).lower():
        return "timeout"
    if isinstance(status, int):
        return "http_5xx" if status >= 500 else f"http_{status}"
    return "connection"


def parse_quotes(
    payload: Any, wanted: Mapping[str, Asset], invalid: Callable[[str], None]
) -> list[MarketRecord]:
    """Records for the wanted tickers found in a v7 quote response; bad items counted."""
    try:
        results = payload["quoteResponse"]["result"]
    except (KeyError, TypeError):
        invalid("malformed_response")
        return []
    if not isinstance(results, list):
        invalid("malformed_response")
        return []
    records = []
    for item in results:
        if not isinstance(item, dict):
            invalid("malformed_item")
            continue
        asset = wanted.get(str(item.get("symbol", "")))
        if asset is None:
            continue
        try:
            volume = optional_number(item.get("regularMarketVolume"), minimum=0.0)
            if volume == 0.0 and asset.asset_type in ("forex", "index"):
                volume = None  # Yahoo reports 0 where volume is unknown: omit, never write 0
            records.append(
                MarketRecord(
                    exchange=SOURCE,
                    symbol=asset.symbol,
                    asset_type=asset.asset_type,
                    event_time_ns=seconds_to_ns(item.get("regularMarketTime")),
                    price=parse_price(item.get("regularMarketPrice")),
                    volume_24h=volume,
                    change_pct_24h=optional_number(
                        item.get("regularMarketChangePercent"), percent=True
                    ),
                    market_cap=optional_number(item.get("marketCap"), minimum=0.0),
                )
            )
        except InvalidValueError as exc:
            invalid(exc.reason)
    return records


class YahooSource(PolledSource[YahooSettings]):
    """Polls Yahoo every `interval_s` for the assets routed to it."""

    def __init__(
        self,
        settings: YahooSettings,
        emit: Emit,
        metrics: Metrics,
        *,
        client: QuoteClient | None = None,
        on_failure: FailureCallback | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(SOURCE, settings, emit, metrics)
        self._client = client if client is not None else YFinanceQuoteClient()
        self._on_failure = on_failure
        self._assets: dict[str, Asset] = {}
        self.budget = TokenBucket.per_period(
            settings.max_requests_per_hour,
            3600.0,
            burst=min(10, settings.max_requests_per_hour),
            clock=clock,
        )
        self.breaker = CircuitBreaker(
            settings.failure_threshold,
            settings.circuit_reset_s,
            settings.circuit_max_reset_s,
            clock=clock,
        )

    def set_assets(self, assets: Iterable[Asset]) -> None:
        """Collect these from now on; new ones are fetched at once, not at the next poll."""
        new = {a.symbol: a for a in assets}
        added = new.keys() - self._assets.keys()
        self._assets = new
        if added:
            self._poll_now.set()

    async def poll_once(self) -> int:
        """One round over every asset; returns how many records were emitted."""
        assets = dict(self._assets)
        symbols = sorted(assets)
        size = self.settings.symbols_per_request
        failed: list[Asset] = []
        emitted = 0
        for start in range(0, len(symbols), size):
            chunk = symbols[start : start + size]
            if self.budget.available() < 1:
                # Budget spent (e.g. many watchlist changes): wait for the next poll.
                self._metrics.source_error(SOURCE, "budget_exhausted")
                continue
            if not self.breaker.allow():
                failed.extend(assets[s] for s in chunk)
                continue
            self.budget.try_acquire()
            try:
                payload = await asyncio.wait_for(
                    asyncio.to_thread(self._client.fetch_quotes, chunk, self.settings.timeout_s),
                    timeout=self.settings.timeout_s + 5,
                )
            except Exception as exc:
                kind = classify_error(exc)
                self._metrics.source_error(SOURCE, kind)
                if kind == "rate_limited":
                    self.breaker.trip()
                else:
                    self.breaker.record_failure()
                log.warning(
                    "yahoo fetch failed",
                    extra={"kind": kind, "error": str(exc)[:200], "symbols": len(chunk)},
                )
                failed.extend(assets[s] for s in chunk)
                continue
            self.breaker.record_success()
            self._metrics.source_messages.labels(SOURCE).inc()
            self._metrics.source_ok(SOURCE)
            wanted = {s: assets[s] for s in chunk}
            for record in parse_quotes(payload, wanted, self._invalid):
                self._emit(record)
                emitted += 1
        self._metrics.source_guards(SOURCE, self.budget, self.breaker)
        if failed and self._on_failure is not None:
            await self._on_failure(failed)
        return emitted
