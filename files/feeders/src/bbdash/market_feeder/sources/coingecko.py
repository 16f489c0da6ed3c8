"""CoinGecko /coins/markets: market cap and 1 h / 24 h change for the watched crypto.

One request covers up to `per_page` (250) coins, looked up by symbol
(`symbols=btc,eth&include_tokens=top`, CoinGecko picking the top-ranked coin for
a symbol) or by id where `coingecko.ids` maps a symbol explicitly. The free
(demo) plan allows about 10,000 calls a month: the default cadence (300 s) and
the start-up check (`bbdash.common.budgets`) keep a month's calls under
`coingecko.monthly_budget`, and a token bucket refilling at budget/month
enforces it at run time, extra polls for newly watched coins included.
Upstream errors (429 holds the source until Retry-After) are handled by
`bbdash.common.upstream`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import httpx

from bbdash.common.budgets import SECONDS_PER_MONTH
from bbdash.common.metrics import Metrics
from bbdash.common.upstream import Response, UpstreamLimits, new_http_client
from bbdash.common.upstream_errors import UpstreamError
from bbdash.common.watchlist import Asset
from bbdash.market_feeder.config import CoinGeckoSettings
from bbdash.market_feeder.coverage import SymbolCoverage
from bbdash.market_feeder.records import (
    InvalidValueError,
    MarketRecord,
    optional_number,
    parse_price,
)
from bbdash.market_feeder.routing import split_pair
from bbdash.market_feeder.sources._base import USER_AGENT, Emit, PolledSource

SOURCE = "coingecko"
# What becomes of a coin CoinGecko leaves out (said in the log line).
_THEN = (
    "no market cap or 1 h change for them; Binance pairs keep their price,"
    " coingecko-only coins get none"
)
USD_LIKE = frozenset({"USD", "USDT", "USDC", "BUSD", "FDUSD", "TUSD", "DAI"})
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def base_symbol(asset: Asset) -> str:
    """'BTC/USDT' → 'BTC'; a bare 'BTC' stays 'BTC'."""
    pair = split_pair(asset.symbol)
    return pair[0] if pair else asset.symbol.upper()


def iso_to_ns(value: object) -> int:
    """'2024-02-12T15:59:59.123Z' → epoch nanoseconds (exact to the microsecond)."""
    if not isinstance(value, str) or not value:
        raise InvalidValueError("bad_timestamp", repr(value)[:40])
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise InvalidValueError("bad_timestamp", value[:40]) from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1_000


def parse_markets(
    payload: Any,
    assets_by_base: Mapping[str, list[Asset]],
    vs_currency: str,
    invalid: Callable[[str], None],
) -> list[MarketRecord]:
    """Records from a /coins/markets response (a JSON list of coins)."""
    if not isinstance(payload, list):
        invalid("malformed_response")
        return []
    best: dict[str, dict[str, Any]] = {}
    for item in payload:
        if not isinstance(item, dict) or not isinstance(item.get("symbol"), str):
            invalid("malformed_item")
            continue
        base = item["symbol"].upper()
        if base not in assets_by_base:
            continue
        # Several coins can share a symbol: keep the largest by market cap.
        current = best.get(base)
        cap = item.get("market_cap") if isinstance(item.get("market_cap"), int | float) else 0
        if current is None or cap > (current.get("market_cap") or 0):
            best[base] = item
    records = []
    quote_ok = {vs_currency.upper()} | (USD_LIKE if vs_currency.lower() == "usd" else set())
    for base, item in best.items():
        try:
            event_ns = iso_to_ns(item.get("last_updated"))
            price = parse_price(item.get("current_price"))
            volume = optional_number(item.get("total_volume"), minimum=0.0)
            market_cap = optional_number(item.get("market_cap"), minimum=0.0)
            change_1h = optional_number(item.get("price_change_percentage_1h_in_currency"))
            change_24h = optional_number(
                item.get(
                    "price_change_percentage_24h_in_currency",
                    item.get("price_change_percentage_24h"),
                )
            )
        except InvalidValueError as exc:
            invalid(exc.reason)
            continue
        if market_cap == 0.0:
            market_cap = None  # CoinGecko sends 0 when it does not know: omit
        for asset in assets_by_base[base]:
            pair = split_pair(asset.symbol)
            same_currency = pair is None or pair[1] in quote_ok
            records.append(
                MarketRecord(
                    exchange=SOURCE,
                    symbol=asset.symbol,
                    asset_type="crypto",
                    event_time_ns=event_ns,
                    # A USD price written under BTC/EUR would be wrong: only
                    # currency-independent fields go to other quotes.
                    price=price if same_currency else None,
                    volume_24h=volume if same_currency else None,
                    change_pct_1h=change_1h,
                    change_pct_24h=change_24h,
                    market_cap=market_cap,
                )
            )
    return records


def upstream_limits(settings: CoinGeckoSettings) -> UpstreamLimits:
    """The monthly budget as a token bucket (3 requests at once), and the breaker."""
    return UpstreamLimits(
        calls=settings.monthly_budget,
        period_s=SECONDS_PER_MONTH,
        burst=3,
        timeout_s=settings.timeout_s,
        failure_threshold=settings.failure_threshold,
        reset_s=settings.circuit_reset_s,
        base_url_hint="market-data base URL (coingecko.base_url)",
    )


class CoinGeckoSource(PolledSource[CoinGeckoSettings]):
    """Polls /coins/markets for every watched crypto asset."""

    def __init__(
        self,
        settings: CoinGeckoSettings,
        emit: Emit,
        metrics: Metrics,
        *,
        client: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(SOURCE, settings, emit, metrics)
        self.upstream = upstream_limits(settings).build(
            SOURCE, client or new_http_client(USER_AGENT), metrics, clock=clock
        )
        self._api_key = settings.api_key_value()
        self._assets: dict[str, list[Asset]] = {}
        self.coverage = SymbolCoverage(SOURCE, metrics)

    def set_assets(self, assets: Iterable[Asset]) -> None:
        """Crypto assets to enrich; new coins are fetched at once (budget permitting)."""
        by_base: dict[str, list[Asset]] = {}
        for asset in assets:
            by_base.setdefault(base_symbol(asset), []).append(asset)
        added = by_base.keys() - self._assets.keys()
        self._assets = by_base
        self.coverage.retain(a.symbol for listed in by_base.values() for a in listed)
        if added:
            self._poll_soon()

    def _requests(self) -> list[tuple[dict[str, str], list[str]]]:
        """Query parameters of each request needed to cover the watched coins, and its symbols."""
        assets = self._assets
        by_id: dict[str, list[str]] = {}
        for base, listed in assets.items():
            if base in self.settings.ids:
                by_id.setdefault(self.settings.ids[base], []).extend(a.symbol for a in listed)
        ids = sorted(by_id)
        symbols = sorted(b.lower() for b in assets if b not in self.settings.ids)
        common = {
            "vs_currency": self.settings.vs_currency,
            "price_change_percentage": "1h,24h",
            "per_page": str(self.settings.per_page),
            "page": "1",
        }
        size = self.settings.per_page
        out = []
        for start in range(0, len(ids), size):
            chunk = ids[start : start + size]
            asked = [symbol for coin in chunk for symbol in by_id[coin]]
            out.append(({**common, "ids": ",".join(chunk)}, asked))
        for start in range(0, len(symbols), size):
            bases = symbols[start : start + size]
            asked = [a.symbol for b in bases for a in assets[b.upper()]]
            out.append(({**common, "symbols": ",".join(bases), "include_tokens": "top"}, asked))
        return out

    async def poll_once(self) -> int:
        """One round; returns how many records were emitted."""
        emitted = 0
        headers = {"accept": "application/json"}
        if self._api_key:
            headers["x-cg-demo-api-key"] = self._api_key
        assets = dict(self._assets)
        url = self.settings.base_url.rstrip("/") + "/coins/markets"

        def parse(response: Response) -> list[MarketRecord]:
            payload = response.json()
            self._received()
            return parse_markets(payload, assets, self.settings.vs_currency, self._invalid)

        for params, asked in self._requests():
            try:
                records = await self.upstream.fetch(url, parse, params=params, headers=headers)
            except UpstreamError as exc:
                if exc.source_wide:
                    break  # held, over budget or down: the next poll tries again
                continue
            for record in records:
                self._emit(record)
                emitted += 1
            # Binance still streams the price of a pair CoinGecko does not list.
            self.coverage.observe(asked, (r.symbol for r in records), then=_THEN)
        return emitted
