"""Backfill's own share of each upstream's request budget, so live quotes never starve.

One token bucket per upstream (`bbdash.common.resilience.TokenBucket`, as the
live sources use), separate from the live sources' buckets and sized to fit
beside them:

- Binance: request weight per minute (6,000 per IP; live prices come over
  WebSocket and spend none; a klines call weighs 2);
- Yahoo: requests per hour, beside the live poll's `max_requests_per_hour`;
- CoinGecko: calls per month, beside the live poll's share of the plan's
  ~10,000 (at the default 300 s cadence the live poll makes 8,928 a month).

The shares are settings (`BackfillSettings`), turned into buckets by the
service. A chunk with no token is deferred for as long as the bucket says, never
dropped. An upstream that answered 429/418 is held until its Retry-After.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from bbdash.common.resilience import TokenBucket


@dataclass(frozen=True, slots=True)
class Share:
    """`calls` (or weight) per `period_s`, at most `burst` at once."""

    calls: float
    period_s: float
    burst: float


class BackfillBudget:
    """Per-upstream token buckets and holds; times from a monotonic `clock`."""

    def __init__(
        self,
        shares: Mapping[str, Share],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._clock = clock
        self._buckets = {
            source: TokenBucket.per_period(s.calls, s.period_s, s.burst, clock)
            for source, s in shares.items()
        }
        self._held_until: dict[str, float] = {}

    def take(self, source: str, cost: float = 1.0) -> float:
        """Spend `cost` for one call: 0.0 when done, else the seconds to wait first."""
        held = self._held_until.get(source, 0.0) - self._clock()
        if held > 0:
            return held
        bucket = self._buckets.get(source)
        if bucket is None or bucket.try_acquire(cost):
            return 0.0
        return max(bucket.delay_for(cost), 1.0)

    def hold(self, source: str, seconds: float) -> None:
        """No call to `source` for `seconds` (its Retry-After)."""
        until = self._clock() + seconds
        self._held_until[source] = max(self._held_until.get(source, 0.0), until)

    def available(self, source: str) -> float:
        """Tokens left now (for a gauge)."""
        bucket = self._buckets.get(source)
        return bucket.available() if bucket is not None else float("inf")
