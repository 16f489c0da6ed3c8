"""`Metrics.source_guards`: every budgeted upstream exports its budget and circuit the same way."""

from __future__ import annotations

from bbdash.common.metrics import Metrics
from bbdash.common.resilience import CircuitBreaker, CircuitState, TokenBucket
from feeder_testkit import FakeClock


def test_source_guards_exports_budget_left_and_circuit_state():
    metrics = Metrics()
    clock = FakeClock()
    budget = TokenBucket(1.0, capacity=5, clock=clock)
    breaker = CircuitBreaker(1, 60.0, clock=clock)
    budget.try_acquire(2)
    metrics.source_guards("example", budget, breaker)
    labels = {"source": "example"}
    assert metrics.value("bbdash_source_budget_remaining", labels) == 3
    assert metrics.value("bbdash_source_circuit_state", labels) == CircuitState.CLOSED

    breaker.record_failure()
    metrics.source_guards("example", budget, breaker)
    assert metrics.value("bbdash_source_circuit_state", labels) == CircuitState.OPEN == 2
    clock.now += 60
    metrics.source_guards("example", budget, breaker)
    assert metrics.value("bbdash_source_circuit_state", labels) == CircuitState.HALF_OPEN == 1
    assert metrics.value("bbdash_source_budget_remaining", labels) == 5  # refilled meanwhile
