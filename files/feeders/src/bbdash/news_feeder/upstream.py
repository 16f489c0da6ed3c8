"""One HTTP upstream with every guard the style guide asks for.

Each call: circuit breaker (a dead upstream is not hammered) -> rate budget
(one token per HTTP request, retries included, since quotas count requests)
-> request with a timeout -> retries with jittered exponential backoff on
transient failures (timeouts, connection errors, 429, 5xx). Every outcome is a
metric; secrets in query strings never reach a log line.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass

import httpx

from bbdash.common.metrics import Metrics
from bbdash.common.resilience import Backoff, CircuitBreaker, TokenBucket, retry_async

log = logging.getLogger(__name__)

# httpx logs every request URL at INFO, and CryptoPanic only takes its token in the
# query string: keep the client libraries' own request logs off.
for _noisy in ("httpx", "httpcore"):
    logging.getLogger(_noisy).setLevel(logging.WARNING)


class UpstreamError(RuntimeError):
    """A call that did not produce a usable response; `kind` is the metric label."""

    def __init__(self, message: str, kind: str) -> None:
        super().__init__(message)
        self.kind = kind


class TransientError(UpstreamError):
    """Worth retrying (timeout, connection, 429, 5xx)."""


@dataclass(frozen=True, slots=True)
class Response:
    """Status and body of a successful (2xx or 304) response."""

    status: int
    content: bytes
    headers: Mapping[str, str]


class Upstream:
    """Guarded GETs against one upstream (one instance per metrics `source` label)."""

    def __init__(
        self,
        name: str,
        client: httpx.AsyncClient,
        *,
        metrics: Metrics,
        budget: TokenBucket,
        breaker: CircuitBreaker,
        backoff: Backoff,
        attempts: int,
        timeout_s: float,
    ) -> None:
        self.name = name
        self._client = client
        self._metrics = metrics
        self._budget = budget
        self.breaker = breaker
        self._backoff = backoff
        self._attempts = attempts
        self._timeout = timeout_s
        self._export_state()

    def _export_state(self) -> None:
        self._metrics.source_guards(self.name, self._budget, self.breaker)

    async def get(
        self,
        url: str,
        *,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Response:
        """GET `url`; raise `UpstreamError` (already counted) when no usable answer came."""
        if not self.breaker.allow():
            self._export_state()
            raise UpstreamError(
                f"{self.name}: circuit open, retry in {self.breaker.retry_in():.0f}s",
                "circuit_open",
            )
        try:
            response = await retry_async(
                lambda: self._attempt(url, params, headers),
                attempts=self._attempts,
                backoff=self._backoff,
                retry_on=(TransientError,),
                on_retry=self._on_retry,
            )
        except UpstreamError as exc:
            if exc.kind != "budget_exhausted":
                self.breaker.record_failure()
            self._metrics.source_error(self.name, exc.kind)
            self._export_state()
            raise
        self.breaker.record_success()
        self._metrics.source_ok(self.name)
        self._export_state()
        return response

    def _on_retry(self, exc: BaseException, delay: float) -> None:
        kind = getattr(exc, "kind", "unknown")
        self._metrics.source_error(self.name, kind)
        log.warning(
            "upstream call failed, retrying",
            extra={"source": self.name, "kind": kind, "retry_in_s": round(delay, 2)},
        )

    async def _attempt(
        self, url: str, params: Mapping[str, str] | None, headers: Mapping[str, str] | None
    ) -> Response:
        if not self._budget.try_acquire():
            msg = (
                f"{self.name}: rate budget exhausted, next call in {self._budget.delay_for():.0f}s"
            )
            raise UpstreamError(msg, "budget_exhausted")
        self._metrics.source_budget_remaining.labels(self.name).set(self._budget.available())
        started = time.monotonic()
        try:
            reply = await self._client.get(
                url, params=params, headers=headers, timeout=self._timeout
            )
        except httpx.TimeoutException as exc:
            raise TransientError(f"{self.name}: timeout", "timeout") from exc
        except httpx.TransportError as exc:
            # The exception text may embed the URL (and a token in its query): keep it out.
            raise TransientError(f"{self.name}: {type(exc).__name__}", "connect") from exc
        status = reply.status_code
        if status == 429:
            raise TransientError(f"{self.name}: HTTP 429", "rate_limited")
        if status >= 500:
            raise TransientError(f"{self.name}: HTTP {status}", "http_5xx")
        if status in (401, 403):
            raise UpstreamError(f"{self.name}: HTTP {status} (check the credential)", "auth")
        if status >= 400:
            raise UpstreamError(f"{self.name}: HTTP {status}", "http_4xx")
        log.debug(
            "upstream answered",
            extra={
                "source": self.name,
                "status": status,
                "s": round(time.monotonic() - started, 3),
            },
        )
        return Response(status, reply.content, dict(reply.headers))
