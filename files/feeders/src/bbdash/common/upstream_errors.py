"""The one error hierarchy of every upstream call, and what each error makes the caller do.

An upstream error carries its `kind` (the `bbdash_source_errors_total` label, a
bounded set), a short message that never holds a secret, and `detail`, the
upstream's own text (an error body, a rate-limit notice) for the log. Its
class says the policy, read by `bbdash.common.upstream.Upstream`:

| class | kinds | in the poll | then |
| --- | --- | --- | --- |
| `TransientError` | `timeout`, `connection`, `http_5xx` | retried, backoff | breaker failure |
| `RateLimitedError` | `rate_limited` (429, a notice in a 200) | never retried | held |
| `BannedError` | `banned` (418) | never retried | held |
| `AuthError` | `auth` (401, 403, "invalid key" notices) | not retried | breaker failure |
| `GeoBlockedError` | `geo_blocked` (451) | not retried | breaker failure |
| `ClientError` | `http_4xx`, `http_3xx` | not retried | breaker failure |
| `PayloadError` | `malformed`, `api_error` | not retried | none: it did answer |
| `BudgetExhaustedError` | `budget_exhausted` | no request went out | none |
| `SourceHeldError` | `circuit_open` | no request went out | none |

"Held": the source's breaker stays open until the upstream's Retry-After
(seconds or an HTTP-date), or for its own cool-down when none was given.

Parsers raise the same classes for error documents that arrive with HTTP 200
(Alpha Vantage "Note", ExchangeRate "error-type", NewsAPI "status": "error"),
so they are counted, logged and obeyed exactly like their HTTP counterparts.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import ClassVar


class UpstreamError(Exception):
    """A call that gave no usable answer; the class says what the caller does next."""

    kind: str = "upstream"
    # Worth another attempt within the same poll.
    retry: ClassVar[bool] = False
    # Stop calling the source until `retry_after_s` (or its breaker's cool-down).
    holds: ClassVar[bool] = False
    # Counts as a failure for the circuit breaker.
    breaker_failure: ClassVar[bool] = True
    # Concerns the whole source, not this one request: skip the rest of the poll.
    source_wide: ClassVar[bool] = True

    def __init__(
        self,
        message: str,
        *,
        kind: str | None = None,
        status: int | None = None,
        detail: str = "",
        retry_after_s: float | None = None,
        drains_budget: bool = False,
    ) -> None:
        super().__init__(message)
        if kind is not None:
            self.kind = kind
        self.status = status
        self.detail = detail
        self.retry_after_s = retry_after_s
        # The upstream says the plan's quota is spent (Alpha Vantage's daily notice).
        self.drains_budget = drains_budget


class TransientError(UpstreamError):
    """Timeouts, connection resets, 5xx: retried with backoff within the poll."""

    kind = "connection"
    retry = True


class RateLimitedError(UpstreamError):
    """HTTP 429 or an upstream's "slow down" notice: never retried in the same poll."""

    kind = "rate_limited"
    holds = True
    breaker_failure = False


class BannedError(RateLimitedError):
    """HTTP 418: the upstream banned this address for ignoring its rate limits."""

    kind = "banned"


class AuthError(UpstreamError):
    """The API key is invalid, missing or not allowed this call (never "unknown symbol")."""

    kind = "auth"


class GeoBlockedError(UpstreamError):
    """HTTP 451: the upstream refuses this address's country (Binance's geo-block)."""

    kind = "geo_blocked"


class ClientError(UpstreamError):
    """Another refusal of this one request (404, 400, an unexpected redirect)."""

    kind = "http_4xx"
    source_wide = False


class PayloadError(UpstreamError):
    """The upstream answered, but not with data: not the format, or an error document."""

    kind = "malformed"
    breaker_failure = False
    source_wide = False


class BudgetExhaustedError(UpstreamError):
    """Our own rate budget for the source is spent: no request went out."""

    kind = "budget_exhausted"
    breaker_failure = False


class SourceHeldError(UpstreamError):
    """The source's circuit is open (failures, or held after a 429/418): no request went out."""

    kind = "circuit_open"
    breaker_failure = False


def retry_after_s(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: delay-seconds or an HTTP-date; None if absent.

    `now` is the wall clock (Unix time) an HTTP-date is measured from.
    """
    if not value or not value.strip():
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)  # an HTTP-date is always GMT
    return max(0.0, moment.timestamp() - (time.time() if now is None else now))


def error_for_status(
    status: int,
    body: str,
    headers: Mapping[str, str],
    *,
    base_url_hint: str = "base URL",
    now: float | None = None,
) -> UpstreamError | None:
    """The error an HTTP status means (None for 2xx and 304), with the body as `detail`.

    `base_url_hint` says which URL setting to change when the upstream
    geo-blocks us, e.g. "market-data base URL (binance.ws_url:
    wss://data-stream.binance.vision serves market data where the API is blocked)".
    """
    if 200 <= status < 300 or status == 304:
        return None
    wait = retry_after_s(headers.get("retry-after") or headers.get("Retry-After"), now)
    if status == 429:
        return RateLimitedError(
            "HTTP 429 too many requests", status=status, detail=body, retry_after_s=wait
        )
    if status == 418:
        return BannedError(
            "HTTP 418 banned for exceeding the rate limits",
            status=status,
            detail=body,
            retry_after_s=wait,
        )
    if status in (401, 403):
        return AuthError(
            f"HTTP {status}: API key invalid or not authorised", status=status, detail=body
        )
    if status == 451:
        return GeoBlockedError(
            f"HTTP 451 geo-blocked: set the {base_url_hint}",
            status=status,
            detail=body,
        )
    if status >= 500:
        return TransientError(f"HTTP {status}", kind="http_5xx", status=status, detail=body)
    kind = "http_4xx" if status >= 400 else f"http_{status // 100}xx"
    return ClientError(f"HTTP {status}", kind=kind, status=status, detail=body)
