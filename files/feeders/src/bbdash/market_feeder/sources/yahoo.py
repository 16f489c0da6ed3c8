"""Yahoo Finance (stocks, indices, forex) through yfinance, polled in batches.

One request carries up to `symbols_per_request` tickers (Yahoo's v7 quote
endpoint takes a comma-separated list), so 50 tickers cost one request per poll,
not fifty: polling tickers one by one every 15 s is what gets clients banned.
yfinance supplies the session, cookie and crumb Yahoo requires; it is imported
lazily and wrapped behind `QuoteClient`, so tests feed recorded payloads.

Requests go through the shared `Upstream` (budget, breaker, retries, error
policy) with yfinance as the transport: `as_upstream_error` turns what
yfinance raises into the shared error classes. A rate-limit answer holds the
source (no request until it cools down); any failure hands the affected
assets to the fallback callback (ExchangeRate API / Alpha Vantage) so the
panels keep moving, and so does a ticker the answer leaves out (logged once
when it goes missing, once when it is back: `SymbolCoverage`). Each quote's
`marketState` goes to `emit_state` when it changed (`market_state`).
"""

from __future__ import annotations

import asyncio
import functools
import json
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol

from bbdash.common.metrics import Metrics
from bbdash.common.upstream import UpstreamLimits
from bbdash.common.upstream_errors import (
    AuthError,
    PayloadError,
    RateLimitedError,
    TransientError,
    UpstreamError,
    error_for_status,
)
from bbdash.common.watchlist import Asset
from bbdash.market_feeder.config import YahooSettings
from bbdash.market_feeder.coverage import SymbolCoverage
from bbdash.market_feeder.market_state import MarketState, StateChanges, from_yahoo
from bbdash.market_feeder.records import (
    InvalidValueError,
    MarketRecord,
    optional_number,
    parse_price,
    seconds_to_ns,
)
from bbdash.market_feeder.sources._base import Emit, PolledSource

SOURCE = "yahoo"
QUOTE_URL = "https://query1.finance.yahoo.com/v7/finance/quote"
# Yahoo has no base URL setting: without Yahoo, the fallbacks serve stocks and forex.
_GEO_HINT = "market-data source (yahoo.enabled: false leaves stocks and forex to the fallbacks)"
FailureCallback = Callable[[list[Asset]], Awaitable[None]]

__all__ = ["RateLimitedError", "YahooSource", "as_upstream_error", "parse_quotes"]


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
            raise RateLimitedError("too many requests", detail=str(exc)) from exc


def as_upstream_error(exc: BaseException) -> UpstreamError:
    """What a failed yfinance fetch means, as one of the shared upstream errors."""
    if isinstance(exc, UpstreamError):
        return exc
    text = str(exc)
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None)
    if isinstance(status, int):
        headers = getattr(response, "headers", None) or {}
        body = str(getattr(response, "text", "") or text)
        error = error_for_status(status, body, headers, base_url_hint=_GEO_HINT)
        if error is not None:
            return error
    if "Too Many Requests" in text:
        return RateLimitedError("too many requests", detail=text)
    if isinstance(exc, TimeoutError) or "timed out" in text.lower():
        return TransientError("timed out", kind="timeout", detail=text)
    return TransientError(type(exc).__name__, kind="connection", detail=text)


def check_error_document(payload: Any) -> None:
    """Raise Yahoo's error document (`{"finance": {"error": {...}}}`) as an upstream error.

    Yahoo wraps errors as `{"<root>": {"result": null, "error": {"code",
    "description"}}}`, root `finance` or `quoteResponse`; "Unauthorized" /
    "Invalid Crumb" means the session (cookie and crumb) was refused.
    """
    if not isinstance(payload, dict):
        return
    for root in ("quoteResponse", "finance"):
        body = payload.get(root)
        error = body.get("error") if isinstance(body, dict) else None
        if not error:
            continue
        detail = json.dumps(error, ensure_ascii=False)
        code = str(error.get("code", "")) if isinstance(error, dict) else ""
        if code.lower() in ("unauthorized", "forbidden"):
            raise AuthError("Yahoo refused the session (cookie and crumb)", detail=detail)
        raise PayloadError("error document", kind="api_error", detail=detail)


def parse_quotes(
    payload: Any, wanted: Mapping[str, Asset], invalid: Callable[[str], None]
) -> list[MarketRecord]:
    """Records for the wanted tickers found in a v7 quote response; bad items counted."""
    check_error_document(payload)
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


def parse_states(payload: Any, wanted: Mapping[str, Asset], fetched_ns: int) -> list[MarketState]:
    """The `marketState` of each wanted ticker in a v7 quote response (unknown ones left out)."""
    try:
        results = payload["quoteResponse"]["result"]
    except (KeyError, TypeError):
        return []
    states = []
    for item in results if isinstance(results, list) else []:
        if not isinstance(item, dict):
            continue
        asset = wanted.get(str(item.get("symbol", "")))
        state = from_yahoo(item.get("marketState"))
        if asset is not None and state is not None:
            states.append(MarketState(SOURCE, asset.symbol, asset.asset_type, state, fetched_ns))
    return states


def upstream_limits(settings: YahooSettings) -> UpstreamLimits:
    """A ceiling on requests per hour, whatever the tickers, and the breaker."""
    return UpstreamLimits(
        calls=settings.max_requests_per_hour,
        period_s=3600.0,
        burst=min(10, settings.max_requests_per_hour),
        timeout_s=settings.timeout_s,
        failure_threshold=settings.failure_threshold,
        reset_s=settings.circuit_reset_s,
        max_reset_s=settings.circuit_max_reset_s,
        base_url_hint=_GEO_HINT,
    )


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
        emit_state: Callable[[MarketState], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(SOURCE, settings, emit, metrics)
        self._client = client if client is not None else YFinanceQuoteClient()
        self._on_failure = on_failure
        self._emit_state = emit_state
        self._state_changes = StateChanges()
        self._wall_clock = wall_clock
        self._assets: dict[str, Asset] = {}
        self.coverage = SymbolCoverage(SOURCE, metrics)
        # yfinance is the transport: no httpx client, requests go through `run()`.
        self.upstream = upstream_limits(settings).build(SOURCE, None, metrics, clock=clock)

    def set_assets(self, assets: Iterable[Asset]) -> None:
        """Collect these from now on; new ones are fetched at once, not at the next poll."""
        new = {a.symbol: a for a in assets}
        added = new.keys() - self._assets.keys()
        self._assets = new
        self.coverage.retain(new)
        self._state_changes.retain(new)
        if added:
            self._poll_soon()

    async def poll_once(self) -> int:
        """One round over every asset; returns how many records were emitted."""
        assets = dict(self._assets)
        symbols = sorted(assets)
        size = self.settings.symbols_per_request
        failed: list[Asset] = []
        emitted = 0
        stopped = False
        for start in range(0, len(symbols), size):
            wanted = {s: assets[s] for s in symbols[start : start + size]}
            if stopped:
                failed.extend(wanted.values())
                continue
            try:
                records = await self.upstream.run(
                    functools.partial(self._fetch, list(wanted)),
                    functools.partial(self._parse, wanted),
                )
            except UpstreamError as exc:
                # Counted, logged and obeyed by the upstream; the fallbacks take over.
                stopped = exc.source_wide
                failed.extend(wanted.values())
                continue
            for record in records:
                self._emit(record)
                emitted += 1
            # Left out of the answer (delisted, mistyped, a partial batch) or refused
            # by parsing: the fallbacks try them like a failed request.
            absent = self.coverage.observe(wanted, (r.symbol for r in records), then=self._then)
            failed.extend(wanted[s] for s in sorted(absent))
        if failed and self._on_failure is not None:
            await self._on_failure(failed)
        return emitted

    @property
    def _then(self) -> str:
        return "handed to the fallbacks" if self._on_failure is not None else "no fallback"

    async def _fetch(self, symbols: list[str]) -> Any:
        timeout_s = self.settings.timeout_s
        try:
            return await asyncio.wait_for(
                asyncio.to_thread(self._client.fetch_quotes, symbols, timeout_s),
                timeout=timeout_s + 5,
            )
        except UpstreamError:
            raise
        except Exception as exc:
            raise as_upstream_error(exc) from exc

    def _parse(self, wanted: Mapping[str, Asset], payload: Any) -> list[MarketRecord]:
        self._received()
        records = parse_quotes(payload, wanted, self._invalid)
        if self._emit_state is not None:
            now = self._wall_clock()
            for state in parse_states(payload, wanted, int(now) * 1_000_000_000):
                if self._state_changes.due(state.symbol, state.state, now):
                    self._emit_state(state)
        return records
