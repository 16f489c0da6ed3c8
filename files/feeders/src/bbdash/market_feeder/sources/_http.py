"""One polite JSON GET for the REST sources: timeout, retries with jittered backoff, error kinds.

Rate limiting (HTTP 429) is never retried here: the caller trips its circuit
breaker, because hammering a server that asked us to slow down gets us banned.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import httpx

from bbdash.common.metrics import Metrics
from bbdash.common.resilience import Backoff, retry_async


class FetchError(Exception):
    """A failed upstream call; `kind` is the metric label, `retry_after` a server hint."""

    def __init__(self, kind: str, detail: str = "", retry_after: float | None = None) -> None:
        super().__init__(f"{kind}: {detail}" if detail else kind)
        self.kind = kind
        self.retry_after = retry_after


class _TransientError(FetchError):
    """Worth retrying within the same poll (timeouts, resets, 5xx)."""


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return float(response.headers.get("Retry-After", ""))
    except ValueError:
        return None


async def _get_once(
    client: httpx.AsyncClient,
    url: str,
    params: Mapping[str, str],
    headers: Mapping[str, str],
    timeout_s: float,
) -> Any:
    try:
        response = await client.get(url, params=params, headers=headers, timeout=timeout_s)
    except httpx.TimeoutException as exc:
        raise _TransientError("timeout", str(exc)) from exc
    except httpx.HTTPError as exc:
        raise _TransientError("connection", str(exc)) from exc
    status = response.status_code
    if status == 429:
        raise FetchError("rate_limited", response.text[:200], _retry_after(response))
    if status >= 500:
        raise _TransientError("http_5xx", f"{status} {response.text[:200]}")
    if status >= 400:
        raise FetchError(f"http_{status}", response.text[:200])
    try:
        return response.json()
    except ValueError as exc:
        raise FetchError("malformed", "response is not JSON") from exc


async def get_json(
    client: httpx.AsyncClient,
    url: str,
    *,
    source: str,
    metrics: Metrics,
    params: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
    timeout_s: float = 10.0,
    attempts: int = 3,
    backoff: Backoff | None = None,
) -> Any:
    """GET `url` and decode JSON; raise `FetchError` after `attempts` transient failures."""

    def on_retry(exc: BaseException, _delay: float) -> None:
        metrics.source_error(source, getattr(exc, "kind", "unknown"))

    async def once() -> Any:
        return await _get_once(client, url, params or {}, headers or {}, timeout_s)

    try:
        result = await retry_async(
            once,
            attempts=attempts,
            backoff=backoff or Backoff(base=1.0, cap=8.0),
            retry_on=(_TransientError,),
            on_retry=on_retry,
            sleep=asyncio.sleep,
        )
    except _TransientError as exc:
        raise FetchError(exc.kind, str(exc)) from exc
    metrics.source_messages.labels(source).inc()
    return result
