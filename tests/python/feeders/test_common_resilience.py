"""Backoff, token bucket, sliding window, circuit breaker, retry: driven by a fake clock."""

from __future__ import annotations

import asyncio
import itertools
import random

import pytest
from bbdash.common.resilience import (
    Backoff,
    CircuitBreaker,
    CircuitOpenError,
    CircuitState,
    SlidingWindowLimiter,
    TokenBucket,
    retry_async,
)
from feeder_testkit import FakeClock


def test_backoff_grows_is_capped_and_jittered():
    backoff = Backoff(base=1.0, cap=8.0, floor=0.0, rng=random.Random(1))
    delays = [backoff.next_delay() for _ in range(50)]
    assert all(0.0 <= d <= 8.0 for d in delays)
    assert len({round(d, 6) for d in delays}) > 40  # jittered, not lock-step
    # Ceilings 1, 2, 4, then 8 forever: the first draw cannot exceed 1.
    assert delays[0] <= 1.0
    backoff.reset()
    assert backoff.attempts == 0


def test_token_bucket_budget_and_refill():
    clock = FakeClock()
    bucket = TokenBucket.per_period(10, 60, burst=2, clock=clock)
    assert bucket.try_acquire()
    assert bucket.try_acquire()
    assert not bucket.try_acquire()
    assert bucket.delay_for() == pytest.approx(6.0)
    clock.advance(6.0)
    assert bucket.try_acquire()
    assert bucket.available() == pytest.approx(0.0)
    clock.advance(1000)
    assert bucket.available() == 2  # capped at the burst


def test_sliding_window_never_exceeds_limit():
    clock = FakeClock()
    limiter = SlidingWindowLimiter(3, 300.0, clock=clock)
    for _ in range(3):
        assert limiter.delay() == 0
        limiter.record()
    assert limiter.delay() == pytest.approx(300.0)
    clock.advance(299.9)
    assert limiter.delay() > 0
    clock.advance(0.1)
    assert limiter.delay() == 0
    assert limiter.remaining() == 3  # all three were recorded at the same instant


def test_sliding_window_with_a_minimum_gap_spreads_events_out():
    """Four a second, a quarter of a second apart: never a burst of four."""
    clock = FakeClock()
    limiter = SlidingWindowLimiter(4, 1.0, clock=clock, min_gap_s=0.25)
    times = []
    for _ in range(12):
        clock.advance(limiter.delay())
        times.append(clock())
        limiter.record()
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert min(gaps) == pytest.approx(0.25)
    assert max(sum(1 for u in times if t <= u < t + 1.0) for t in times) == 4
    clock.advance(10)
    assert limiter.delay() == 0  # an idle limiter lets the next one through at once


def test_circuit_breaker_opens_probes_and_backs_off():
    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=3, reset_after_s=10, max_reset_s=40, clock=clock)
    for _ in range(3):
        assert breaker.allow()
        breaker.record_failure()
    assert breaker.state is CircuitState.OPEN
    assert not breaker.allow()
    clock.advance(10)
    assert breaker.state is CircuitState.HALF_OPEN
    assert breaker.allow()  # one probe
    assert not breaker.allow()  # and only one
    breaker.record_failure()  # probe failed: reopen for twice as long
    assert breaker.state is CircuitState.OPEN
    clock.advance(10)
    assert breaker.state is CircuitState.OPEN
    clock.advance(10)
    assert breaker.allow()
    breaker.record_success()
    assert breaker.state is CircuitState.CLOSED


def test_circuit_breaker_call_refuses_when_open():
    breaker = CircuitBreaker(failure_threshold=1, reset_after_s=60)

    async def boom() -> None:
        raise OSError("down")

    async def scenario() -> None:
        with pytest.raises(OSError):
            await breaker.call(boom)
        with pytest.raises(CircuitOpenError):
            await breaker.call(boom)

    asyncio.run(scenario())


def test_retry_async_retries_only_listed_errors():
    calls: list[int] = []
    slept: list[float] = []

    async def no_sleep(delay: float) -> None:
        slept.append(delay)

    async def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise TimeoutError
        return "ok"

    result = asyncio.run(
        retry_async(
            flaky,
            attempts=5,
            backoff=Backoff(base=0.1),
            retry_on=(TimeoutError,),
            sleep=no_sleep,
        )
    )
    assert result == "ok"
    assert len(calls) == 3
    assert len(slept) == 2

    async def wrong() -> None:
        raise ValueError

    with pytest.raises(ValueError):
        asyncio.run(
            retry_async(
                wrong,
                attempts=5,
                backoff=Backoff(),
                retry_on=(TimeoutError,),
                sleep=no_sleep,
            )
        )
