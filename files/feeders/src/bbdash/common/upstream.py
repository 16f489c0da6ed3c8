"""One client for the upstream APIs of both feeders, and one way to build it from settings.

Every call goes: rate budget (the source's token bucket; each attempt spends a
token, since quotas count requests) -> circuit breaker (a failing or held
source is not called) -> request with a timeout -> transient faults
(timeouts, connection resets, 5xx) retried with jittered backoff within the
poll -> the answer classified (`bbdash.common.upstream_errors`) -> the
source's own parser, whose error documents raise the same errors.

HTTP 429 and 418, and a rate-limit notice in a 200, are never retried in the
poll: a server that asked us to slow down gets no second request. The source
is held (its breaker open) until Retry-After, seconds or an HTTP-date; for
its breaker's cool-down when the upstream gave none. 401/403 are an
invalid or unauthorised key (`auth`), 451 a geo-block naming the base URL
setting to change.

Every error is counted (`bbdash_source_errors_total{source,kind}`) and logged
with the upstream's own text, secrets removed, at most once a minute per
(source, kind) (`bbdash.common.upstream_log`); the budget left and the
circuit state are exported after every call.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx

from bbdash.common.metrics import Metrics
from bbdash.common.resilience import Backoff, CircuitBreaker, TokenBucket, retry_async
from bbdash.common.upstream_errors import (
    BannedError,
    BudgetExhaustedError,
    ClientError,
    PayloadError,
    SourceHeldError,
    TransientError,
    UpstreamError,
    error_for_status,
)
from bbdash.common.upstream_log import UpstreamLog, clean_text, secret_values

log = logging.getLogger(__name__)

# httpx logs every request URL at INFO, and CryptoPanic only takes its token in the
# query string: keep the client libraries' own request logs off.
for _noisy in ("httpx", "httpcore"):
    logging.getLogger(_noisy).setLevel(logging.WARNING)

T = TypeVar("T")
R = TypeVar("R")

# Retry-After is honoured up to a day: a wrong or hostile date must not silence
# a source for good (after a day one probe goes out, and is held again if the
# ban still runs; the circuit alert has long fired by then).
MAX_HOLD_S = 86_400.0


@dataclass(frozen=True, slots=True)
class Response:
    """A usable answer (2xx or 304): status, body and headers (case-insensitive)."""

    status: int
    content: bytes
    headers: Mapping[str, str]
    encoding: str = "utf-8"

    @property
    def text(self) -> str:
        """The body as text (undecodable bytes replaced)."""
        return self.content.decode(self.encoding, errors="replace")

    def json(self) -> Any:
        """The body as JSON; `PayloadError` ("malformed", with the body) when it is not."""
        try:
            return json.loads(self.content)
        except (ValueError, UnicodeDecodeError) as exc:
            raise PayloadError("response is not JSON", detail=self.text) from exc


def new_http_client(user_agent: str) -> httpx.AsyncClient:
    """The HTTP client a feeder shares between its upstreams (timeouts are per request)."""
    return httpx.AsyncClient(headers={"User-Agent": user_agent}, follow_redirects=True)


def _as_is(response: Response) -> Response:
    return response


class Upstream:
    """Guarded calls to one upstream; one instance per metrics `source` label.

    `client` is None for an upstream reached through another library (yfinance),
    which calls `run()` with its own request function.
    """

    def __init__(
        self,
        source: str,
        client: httpx.AsyncClient | None,
        *,
        metrics: Metrics,
        budget: TokenBucket,
        breaker: CircuitBreaker,
        backoff: Backoff,
        attempts: int,
        timeout_s: float,
        base_url_hint: str = "base URL",
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        log_every_s: float = 60.0,
    ) -> None:
        self.source = source
        self.budget = budget
        self.breaker = breaker
        self._client = client
        self._metrics = metrics
        self._backoff = backoff
        self._attempts = attempts
        self._timeout_s = timeout_s
        self._base_url_hint = base_url_hint
        self._wall_clock = wall_clock
        self._log = UpstreamLog(log, every_s=log_every_s, clock=clock)
        self._export()

    async def get(
        self,
        url: str,
        *,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Response:
        """GET `url`; the response as it came (2xx or 304)."""
        return await self.fetch(url, _as_is, params=params, headers=headers)

    async def fetch(
        self,
        url: str,
        parse: Callable[[Response], T],
        *,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> T:
        """GET `url` and parse the answer; raise `UpstreamError` (already counted and logged).

        `parse` raises `UpstreamError`s for error documents (a rate-limit notice
        in a 200): they are obeyed like the same error over HTTP. Other
        exceptions (a value a strict parser refused) pass through untouched.
        """
        secrets = secret_values(params, headers)
        return await self.run(lambda: self._send(url, params, headers, secrets), parse, secrets)

    async def run(
        self,
        request: Callable[[], Awaitable[R]],
        parse: Callable[[R], T],
        secrets: Iterable[str] = (),
    ) -> T:
        """`fetch` for another transport (yfinance): `request` raises `UpstreamError`s itself."""
        secrets = tuple(secrets)
        answer = await self._guarded(request, secrets)
        try:
            result = parse(answer)
        except UpstreamError as exc:
            self._failed(exc, secrets)
            raise
        self._metrics.source_ok(self.source)
        return result

    async def _guarded(self, request: Callable[[], Awaitable[R]], secrets: tuple[str, ...]) -> R:
        self._admit(secrets)
        attempted = False

        async def attempt() -> R:
            nonlocal attempted
            if attempted and not self.budget.try_acquire():
                raise BudgetExhaustedError(self._budget_message())
            attempted = True
            return await request()

        def retrying(exc: BaseException, delay: float) -> None:
            if isinstance(exc, UpstreamError):
                self._report(exc, secrets, f"retrying in {delay:.2f} s")

        try:
            answer = await retry_async(
                attempt,
                attempts=self._attempts,
                backoff=self._backoff,
                retry_on=(TransientError,),
                on_retry=retrying,
            )
        except BudgetExhaustedError as exc:
            # A retry the budget could not pay for: the attempts made did fail.
            self.breaker.record_failure()
            self._report(exc, secrets)
            raise
        except UpstreamError as exc:
            self._failed(exc, secrets)
            raise
        except BaseException:
            # A bug in a request adapter, or cancellation: settle the breaker so a
            # half-open probe is never left pending.
            self.breaker.record_failure()
            self._export()
            raise
        self.breaker.record_success()
        self._export()
        return answer

    def _admit(self, secrets: tuple[str, ...]) -> None:
        """Refuse (counted, logged) when the budget is spent or the source is held."""
        # The budget first: a half-open breaker's single probe must not be spent
        # on a call the budget then refuses.
        if self.budget.available() < 1:
            exhausted = BudgetExhaustedError(self._budget_message())
            self._report(exhausted, secrets)
            raise exhausted
        if not self.breaker.allow():
            held = SourceHeldError(
                f"not called: circuit open, next call in {self.breaker.retry_in():.0f} s"
            )
            self._report(held, secrets)
            raise held
        self.budget.try_acquire()

    def _budget_message(self) -> str:
        return f"rate budget spent, next call in {self.budget.delay_for():.0f} s"

    def _failed(self, exc: UpstreamError, secrets: tuple[str, ...]) -> None:
        """Apply the error's policy (hold, breaker, budget), then count and log it."""
        action = ""
        if exc.holds:
            action = f"source held {self._hold(exc):.0f} s"
        elif exc.breaker_failure:
            self.breaker.record_failure()
        if exc.drains_budget:
            self.budget.drain()
        self._report(exc, secrets, action)

    def _hold(self, exc: UpstreamError) -> float:
        """Stop calling until the upstream's Retry-After (capped), else for a cool-down."""
        if exc.retry_after_s is not None:
            seconds = min(exc.retry_after_s, MAX_HOLD_S)
        elif isinstance(exc, BannedError):
            seconds = self.breaker.max_reset_s  # a ban without a date: our longest cool-down
        else:
            self.breaker.trip()
            return self.breaker.retry_in()
        self.breaker.hold(seconds)
        return seconds

    def _report(self, exc: UpstreamError, secrets: tuple[str, ...], action: str = "") -> None:
        self._metrics.source_error(self.source, exc.kind)
        self._log.error(self.source, exc, secrets=secrets, action=action)
        self._export()

    def _export(self) -> None:
        self._metrics.source_guards(self.source, self.budget, self.breaker)

    async def _send(
        self,
        url: str,
        params: Mapping[str, str] | None,
        headers: Mapping[str, str] | None,
        secrets: tuple[str, ...],
    ) -> Response:
        if self._client is None:
            msg = f"{self.source}: no HTTP client, use run() with the source's own transport"
            raise RuntimeError(msg)
        try:
            reply = await self._client.get(
                url, params=params, headers=headers, timeout=self._timeout_s
            )
        except httpx.TimeoutException as exc:
            raise TransientError(f"no answer within {self._timeout_s:g} s", kind="timeout") from exc
        except httpx.TransportError as exc:
            # The exception text may embed the URL (and a token in its query).
            detail = clean_text(f"{type(exc).__name__}: {exc}", secrets)
            raise TransientError(detail, kind="connection") from exc
        except httpx.HTTPError as exc:
            detail = clean_text(f"{type(exc).__name__}: {exc}", secrets)
            raise ClientError(detail, kind="connection") from exc
        error = error_for_status(
            reply.status_code,
            reply.text,
            reply.headers,
            base_url_hint=self._base_url_hint,
            now=self._wall_clock(),
        )
        if error is not None:
            raise error
        return Response(reply.status_code, reply.content, reply.headers, reply.encoding or "utf-8")


@dataclass(frozen=True, slots=True)
class UpstreamLimits:
    """What one upstream may spend and how it is guarded, read from the source's settings.

    Every REST source of both feeders builds its budget, breaker and client
    through `build()`, so they are made one way. `calls` per `period_s` is the
    plan's quota (monthly quotas use `budgets.SECONDS_PER_MONTH`), `burst` how
    many requests may go out at once.
    """

    calls: float
    period_s: float
    burst: float
    timeout_s: float
    attempts: int = 2
    retry_base_s: float = 1.0
    retry_cap_s: float = 8.0
    failure_threshold: int = 3
    reset_s: float = 60.0
    max_reset_s: float = 3600.0
    # Which URL setting to change when the upstream geo-blocks us (HTTP 451).
    base_url_hint: str = "base URL"

    def build(
        self,
        source: str,
        client: httpx.AsyncClient | None,
        metrics: Metrics,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> Upstream:
        """The source's budget, circuit breaker and guarded client."""
        return Upstream(
            source,
            client,
            metrics=metrics,
            budget=TokenBucket.per_period(self.calls, self.period_s, burst=self.burst, clock=clock),
            breaker=CircuitBreaker(
                self.failure_threshold, self.reset_s, self.max_reset_s, clock=clock
            ),
            backoff=Backoff(base=self.retry_base_s, cap=self.retry_cap_s),
            attempts=self.attempts,
            timeout_s=self.timeout_s,
            base_url_hint=self.base_url_hint,
            clock=clock,
        )
