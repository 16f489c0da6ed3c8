"""The real history fetchers: one HTTP call per chunk, errors as the shared upstream errors.

Each fetcher returns the upstream's JSON for a chunk or raises an
`UpstreamError` whose message carries the upstream's own text (Binance `msg`,
Yahoo `description`, CoinGecko `error_message`). They are synchronous (the
backfill runs in its own thread) and take a `Transport`, so tests run them on
recorded answers.

Yahoo: the v8 chart endpoint, through yfinance's session (cookie and crumb, as
the live quote client uses), not `yfinance.Ticker.history`: `history` returns a
reshaped DataFrame, logs "possibly delisted" and returns an empty frame instead
of raising (an error would vanish without our log line), and would need
`auto_adjust=False` to stay unadjusted. The chart JSON is what the parser and
the recorded payloads test, and its base URL can point at a fake upstream.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote

import httpx

from bbdash.backfill import binance_klines, coingecko_chart, yahoo_chart
from bbdash.backfill.plan import BINANCE_BARS_PER_CALL, Chunk
from bbdash.common.upstream_errors import PayloadError, TransientError, error_for_status
from bbdash.market_feeder.routing import split_pair

# Base URLs are settings (BackfillSettings, CoinGeckoSettings): none is written here.
BINANCE_HINT = (
    "market-data base URL (https://data-api.binance.vision serves market data "
    "where api.binance.com is blocked)"
)


@dataclass(frozen=True, slots=True)
class Answer:
    """An HTTP answer as the fetchers need it."""

    status: int
    text: str
    headers: Mapping[str, str]


Transport = Callable[[str, Mapping[str, str], Mapping[str, str], float], Answer]


class Fetcher(Protocol):
    """Fetches one chunk's payload (parsed JSON); raises `UpstreamError`."""

    def fetch(self, chunk: Chunk) -> Any: ...


def httpx_transport(client: httpx.Client | None = None) -> Transport:
    """GET through httpx; connection faults and timeouts become `TransientError`."""
    session = client or httpx.Client(follow_redirects=True)

    def get(
        url: str, params: Mapping[str, str], headers: Mapping[str, str], timeout: float
    ) -> Answer:
        try:
            response = session.get(url, params=dict(params), headers=dict(headers), timeout=timeout)
        except httpx.TimeoutException as exc:
            raise TransientError("timed out", kind="timeout", detail=str(exc)) from exc
        except httpx.HTTPError as exc:
            raise TransientError(type(exc).__name__, detail=str(exc)) from exc
        return Answer(response.status_code, response.text, response.headers)

    return get


def answer_json(
    answer: Answer, upstream_text: Callable[[Any], str | None], *, hint: str = "base URL"
) -> Any:
    """The JSON of a 2xx answer; else the error its status means, naming the upstream's text."""
    try:
        payload = json.loads(answer.text)
    except ValueError:
        payload = None
    error = error_for_status(answer.status, answer.text, answer.headers, base_url_hint=hint)
    if error is not None:
        said = upstream_text(payload) or answer.text.strip()[:300]
        raise type(error)(
            f"{error}: {said}" if said else str(error),
            kind=error.kind,
            status=answer.status,
            detail=answer.text[:1000],
            retry_after_s=error.retry_after_s,
        )
    if payload is None:
        raise PayloadError("response is not JSON", detail=answer.text[:1000])
    return payload


class BinanceKlinesFetcher:
    """`GET {base_url}/api/v3/klines`, 1000 bars of the chunk's interval."""

    def __init__(
        self,
        base_url: str,
        transport: Transport | None = None,
        timeout_s: float = 10.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._get = transport or httpx_transport()
        self._timeout_s = timeout_s

    def fetch(self, chunk: Chunk) -> Any:
        pair = split_pair(chunk.symbol)
        if pair is None:
            raise PayloadError(f"{chunk.symbol!r} is not a Binance pair", kind="api_error")
        params = {
            "symbol": f"{pair[0]}{pair[1]}",
            "interval": chunk.interval_name,
            "startTime": str(chunk.start * 1000),
            "endTime": str(chunk.end * 1000 - 1),
            "limit": str(BINANCE_BARS_PER_CALL),
        }
        answer = self._get(f"{self.base_url}/api/v3/klines", params, {}, self._timeout_s)
        return answer_json(answer, binance_klines.error_text, hint=BINANCE_HINT)


def yfinance_transport() -> Transport:
    """GET through yfinance's shared session (cookie + crumb); imported on first use."""

    def get(
        url: str, params: Mapping[str, str], headers: Mapping[str, str], timeout: float
    ) -> Answer:
        from yfinance.data import YfData  # pulls in pandas: only when Yahoo is used

        try:
            response = YfData().get(url, params=dict(params), timeout=timeout)
        except Exception as exc:
            raise TransientError(type(exc).__name__, detail=str(exc)) from exc
        return Answer(response.status_code, response.text, response.headers)

    return get


class YahooChartFetcher:
    """`GET {base_url}/v8/finance/chart/{symbol}?period1&period2&interval`, regular hours."""

    def __init__(
        self, base_url: str, transport: Transport | None = None, timeout_s: float = 10.0
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._get = transport or yfinance_transport()
        self._timeout_s = timeout_s

    def fetch(self, chunk: Chunk) -> Any:
        params = {
            "period1": str(chunk.start),
            "period2": str(chunk.end),
            "interval": chunk.interval_name,
            # Live quotes are regular-session prices: history too.
            "includePrePost": "false",
            "events": "",
        }
        url = f"{self.base_url}/v8/finance/chart/{quote(chunk.symbol, safe='')}"
        answer = self._get(url, params, {}, self._timeout_s)
        payload = _json_or_none(answer.text)
        said = yahoo_chart.error_text(payload)
        if answer.status == 404 and said:
            # "No data found, symbol may be delisted": this symbol, not the source.
            raise PayloadError(said, kind="api_error", status=404, detail=answer.text[:1000])
        return answer_json(answer, yahoo_chart.error_text, hint="market-data source")


class CoinGeckoChartFetcher:
    """`GET {base_url}/coins/{id}/market_chart?vs_currency=&days=` for the chunk's `days`.

    The coin id comes from `ids` (base symbol → id, as `coingecko.ids`), else one
    `/coins/markets?symbols=` lookup per coin, picking the largest market cap
    like the live source (that lookup is not charged to the backfill budget).
    """

    def __init__(
        self,
        base_url: str,
        transport: Transport | None = None,
        *,
        api_key: str | None = None,
        ids: Mapping[str, str] | None = None,
        vs_currency: str = "usd",
        timeout_s: float = 10.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._get = transport or httpx_transport()
        self._headers = {"accept": "application/json"}
        if api_key:
            self._headers["x-cg-demo-api-key"] = api_key
        self._ids = dict(ids or {})
        self.vs_currency = vs_currency
        self._timeout_s = timeout_s

    def _call(self, path: str, params: Mapping[str, str]) -> Any:
        answer = self._get(f"{self.base_url}{path}", params, self._headers, self._timeout_s)
        payload = _json_or_none(answer.text)
        said = coingecko_chart.error_text(payload)
        if said and "10012" in said:
            # Beyond the plan's 365 days: a wrong request, not a bad key (HTTP 401).
            raise PayloadError(said, kind="api_error", status=answer.status, detail=answer.text)
        return answer_json(answer, coingecko_chart.error_text, hint="market-data base URL")

    def coin_id(self, symbol: str) -> str:
        """CoinGecko's id of a symbol ('BTC/USD' or 'BTC')."""
        pair = split_pair(symbol)
        base = pair[0] if pair else symbol.upper()
        if base not in self._ids:
            params = {"vs_currency": self.vs_currency, "symbols": base.lower()}
            found = self._call("/coins/markets", {**params, "include_tokens": "top"})
            coins = [c for c in found if isinstance(c, dict)] if isinstance(found, list) else []
            if not coins:
                raise PayloadError(f"CoinGecko lists no coin {base!r}", kind="api_error")
            best = max(coins, key=lambda c: c.get("market_cap") or 0)
            self._ids[base] = str(best["id"])
        return self._ids[base]

    def fetch(self, chunk: Chunk) -> Any:
        params = {"vs_currency": self.vs_currency, "days": str(chunk.days)}
        return self._call(
            f"/coins/{quote(self.coin_id(chunk.symbol), safe='')}/market_chart", params
        )


def _json_or_none(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None
