"""Building blocks that keep a source polite to its upstream and alive through outages.

Every upstream call in the feeders goes through the same four pieces:

- `Backoff`: exponential delays with full jitter, so that many clients (or many
  restarts) never retry in lock-step against a recovering server.
- `TokenBucket`: a rate budget (N calls per period, with a burst) checked before
  each call; its `available()` is exported as the "budget left" metric.
- `SlidingWindowLimiter`: a hard "at most N events in any window of T seconds"
  (Binance: 300 connection attempts per 5 minutes per IP), which a token bucket
  with a burst cannot guarantee.
- `CircuitBreaker`: after repeated failures stop calling for a cool-down, then
  let one probe through; this keeps a dead upstream from eating the rate budget.

All of them take an injectable monotonic `clock` so tests use a fake clock
instead of sleeping. They are not thread-safe on purpose: each instance belongs
to one asyncio task or one thread.
"""

from __future__ import annotations

import asyncio
import enum
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

Clock = Callable[[], float]
T = TypeVar("T")


@dataclass
class Backoff:
    """Exponential backoff with full jitter (delay drawn in [0, min(cap, base*2^n)]).

    `floor` keeps a minimum delay so that a jitter draw near 0 does not turn a
    retry loop into a busy loop against a server that refuses connections.
    """

    base: float = 0.5
    cap: float = 30.0
    floor: float = 0.05
    rng: random.Random = field(default_factory=random.Random)
    attempts: int = 0

    def next_delay(self) -> float:
        """Return the delay before the next attempt and count the attempt."""
        ceiling = min(self.cap, self.base * (2 ** min(self.attempts, 32)))
        self.attempts += 1
        return max(self.floor, self.rng.uniform(0.0, ceiling))

    def reset(self) -> None:
        """Forget past failures (call after a success)."""
        self.attempts = 0


class TokenBucket:
    """Token bucket: `rate` tokens per second, at most `capacity` stored.

    `try_acquire()` never blocks (for hot paths); `acquire()` waits asynchronously.
    """

    def __init__(self, rate: float, capacity: float, clock: Clock = time.monotonic) -> None:
        if rate <= 0 or capacity <= 0:
            msg = "token bucket rate and capacity must be positive"
            raise ValueError(msg)
        self.rate = rate
        self.capacity = capacity
        self._clock = clock
        self._tokens = capacity
        self._stamp = clock()

    @classmethod
    def per_period(
        cls,
        calls: float,
        period_s: float,
        burst: float | None = None,
        clock: Clock = time.monotonic,
    ) -> TokenBucket:
        """A bucket allowing `calls` per `period_s` seconds, `burst` at once (default: all)."""
        return cls(calls / period_s, burst if burst is not None else calls, clock)

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.capacity, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now

    def available(self) -> float:
        """Tokens available now (the "budget left")."""
        self._refill()
        return self._tokens

    def try_acquire(self, tokens: float = 1.0) -> bool:
        """Take `tokens` if available now; return whether it did."""
        self._refill()
        if self._tokens >= tokens:
            self._tokens -= tokens
            return True
        return False

    def drain(self) -> None:
        """Spend every token now (an upstream says the budget is gone before we think so)."""
        self._refill()
        self._tokens = 0.0

    def delay_for(self, tokens: float = 1.0) -> float:
        """Seconds until `tokens` would be available (0 if they are now)."""
        self._refill()
        missing = tokens - self._tokens
        return 0.0 if missing <= 0 else missing / self.rate

    async def acquire(self, tokens: float = 1.0) -> None:
        """Wait until `tokens` are available, then take them."""
        if tokens > self.capacity:
            msg = f"cannot acquire {tokens} tokens from a bucket of capacity {self.capacity}"
            raise ValueError(msg)
        while not self.try_acquire(tokens):
            await asyncio.sleep(self.delay_for(tokens))


class SlidingWindowLimiter:
    """At most `limit` events in any `window_s` seconds, and, with `min_gap_s`, at
    least that long between two events: spread out rather than in bursts, so that
    network jitter bunching them on the way cannot push the receiver's count over."""

    def __init__(
        self,
        limit: int,
        window_s: float,
        clock: Clock = time.monotonic,
        *,
        min_gap_s: float = 0.0,
    ) -> None:
        self.limit = limit
        self.window_s = window_s
        self.min_gap_s = min_gap_s
        self._clock = clock
        self._events: deque[float] = deque()

    def _trim(self, now: float) -> None:
        while self._events and now - self._events[0] >= self.window_s:
            self._events.popleft()

    def delay(self) -> float:
        """Seconds to wait before the next event would be allowed."""
        now = self._clock()
        self._trim(now)
        gap = self._events[-1] + self.min_gap_s - now if self._events else 0.0
        if len(self._events) < self.limit:
            return max(gap, 0.0)
        return max(self._events[0] + self.window_s - now, gap)

    def record(self) -> None:
        """Record one event now (call after `delay()` returned 0 or was waited out)."""
        self._events.append(self._clock())

    def remaining(self) -> int:
        """Events still allowed in the current window."""
        self._trim(self._clock())
        return self.limit - len(self._events)

    async def acquire(self) -> None:
        """Wait for room in the window, then record the event."""
        while (wait := self.delay()) > 0:
            await asyncio.sleep(wait)
        self.record()


class CircuitState(enum.IntEnum):
    """Exported as a gauge: 0 closed (normal), 1 half-open (probing), 2 open (not calling)."""

    CLOSED = 0
    HALF_OPEN = 1
    OPEN = 2


class CircuitOpenError(RuntimeError):
    """Raised instead of calling an upstream whose circuit is open."""


class CircuitBreaker:
    """Open after `failure_threshold` consecutive failures, probe after `reset_after_s`.

    While half-open a single call is allowed; its success closes the circuit,
    its failure reopens it with a doubled cool-down (capped at `max_reset_s`).
    """

    def __init__(
        self,
        failure_threshold: int = 5,
        reset_after_s: float = 30.0,
        max_reset_s: float = 600.0,
        clock: Clock = time.monotonic,
    ) -> None:
        self.failure_threshold = failure_threshold
        self.reset_after_s = reset_after_s
        self.max_reset_s = max_reset_s
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        self._current_reset = reset_after_s
        self._probing = False

    @property
    def state(self) -> CircuitState:
        """Current state (moves from open to half-open when the cool-down has elapsed)."""
        if self._opened_at is None:
            return CircuitState.CLOSED
        if self._clock() - self._opened_at >= self._current_reset:
            return CircuitState.HALF_OPEN
        return CircuitState.OPEN

    def retry_in(self) -> float:
        """Seconds until a call would be allowed (0 when it would be now)."""
        if self._opened_at is None:
            return 0.0
        return max(0.0, self._opened_at + self._current_reset - self._clock())

    def allow(self) -> bool:
        """Whether a call may go out now; in half-open, only one probe at a time."""
        state = self.state
        if state is CircuitState.CLOSED:
            return True
        if state is CircuitState.HALF_OPEN and not self._probing:
            self._probing = True
            return True
        return False

    def trip(self, reset_after_s: float | None = None) -> None:
        """Open now, whatever the failure count (an upstream said "rate limited")."""
        self._probing = False
        self._failures = max(self._failures, self.failure_threshold)
        if reset_after_s is not None:
            self._current_reset = min(self.max_reset_s, max(reset_after_s, self._current_reset))
        self._opened_at = self._clock()

    def hold(self, seconds: float) -> None:
        """Open now for `seconds`, no more, no less: the upstream said when to come back
        (Retry-After), and its word wins over our own cool-down and its cap."""
        self._probing = False
        self._failures = max(self._failures, self.failure_threshold)
        self._current_reset = max(0.0, seconds)
        self._opened_at = self._clock()

    def record_success(self) -> None:
        """A call succeeded: close the circuit and forget failures."""
        self._failures = 0
        self._opened_at = None
        self._current_reset = self.reset_after_s
        self._probing = False

    def record_failure(self) -> None:
        """A call failed: count it, open (or reopen, longer) when over the threshold."""
        self._failures += 1
        if self._probing:
            self._probing = False
            self._current_reset = min(self.max_reset_s, self._current_reset * 2)
            self._opened_at = self._clock()
        elif self._opened_at is None and self._failures >= self.failure_threshold:
            self._opened_at = self._clock()

    async def call(self, fn: Callable[[], Awaitable[T]]) -> T:
        """Run `fn` through the breaker; raise `CircuitOpenError` without calling when open."""
        if not self.allow():
            msg = f"circuit open, retry in {self.retry_in():.1f}s"
            raise CircuitOpenError(msg)
        try:
            result = await fn()
        except BaseException:
            self.record_failure()
            raise
        self.record_success()
        return result


async def retry_async(
    fn: Callable[[], Awaitable[T]],
    *,
    attempts: int,
    backoff: Backoff,
    retry_on: tuple[type[BaseException], ...],
    on_retry: Callable[[BaseException, float], None] | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> T:
    """Call `fn` up to `attempts` times, sleeping a jittered backoff between failures.

    Only exceptions in `retry_on` are retried; the last one is re-raised.
    `on_retry(exc, delay)` is called before each sleep (for logs and metrics).
    """
    for attempt in range(1, attempts + 1):
        try:
            result = await fn()
        except retry_on as exc:
            if attempt == attempts:
                raise
            delay = backoff.next_delay()
            if on_retry is not None:
                on_retry(exc, delay)
            await sleep(delay)
        else:
            backoff.reset()
            return result
    msg = "attempts must be >= 1"
    raise ValueError(msg)
