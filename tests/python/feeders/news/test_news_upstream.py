"""The guarded upstream: retries with backoff, budget, circuit breaker, metrics."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from bbdash.common.resilience import Backoff, CircuitBreaker, CircuitState, TokenBucket
from bbdash.news_feeder.upstream import Upstream, UpstreamError


class Script:
    """A MockTransport handler answering from a list (statuses or exceptions), recording calls."""

    def __init__(self, *steps):
        self.steps = list(steps)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        step = self.steps.pop(0) if len(self.steps) > 1 else self.steps[0]
        if isinstance(step, Exception):
            raise step
        return httpx.Response(step, content=b"body")


def make(script, metrics, *, tokens=100.0, attempts=3, breaker=None):
    client = httpx.AsyncClient(transport=httpx.MockTransport(script))
    upstream = Upstream(
        "feed",
        client,
        metrics=metrics,
        budget=TokenBucket(rate=1e-9, capacity=tokens),
        breaker=breaker or CircuitBreaker(failure_threshold=2, reset_after_s=3600),
        backoff=Backoff(base=0.001, cap=0.002, floor=0.0),
        attempts=attempts,
        timeout_s=1.0,
    )
    return upstream, client


def errors(metrics, kind):
    return metrics.value("bbdash_source_errors_total", {"source": "feed", "kind": kind})


def test_success_records_last_success_and_budget(metrics):
    script = Script(200)
    upstream, _ = make(script, metrics, tokens=5)
    response = asyncio.run(upstream.get("https://a.example/rss"))
    assert response.status == 200 and response.content == b"body"
    labels = {"source": "feed"}
    assert metrics.value("bbdash_source_last_success_timestamp_seconds", labels) > 0
    assert metrics.value("bbdash_source_budget_remaining", labels) == pytest.approx(4, abs=0.01)


def test_transient_failures_are_retried_then_succeed(metrics):
    script = Script(503, httpx.ConnectError("refused"), 200)
    upstream, _ = make(script, metrics)
    assert asyncio.run(upstream.get("https://a.example/rss")).status == 200
    assert len(script.requests) == 3
    assert errors(metrics, "http_5xx") == 1
    assert errors(metrics, "connect") == 1


def test_timeouts_and_429_exhaust_attempts(metrics):
    script = Script(httpx.ReadTimeout("slow"), 429, 429)
    upstream, _ = make(script, metrics)
    with pytest.raises(UpstreamError) as err:
        asyncio.run(upstream.get("https://a.example/rss"))
    assert err.value.kind == "rate_limited"
    assert len(script.requests) == 3
    assert errors(metrics, "timeout") == 1
    assert errors(metrics, "rate_limited") == 2


def test_client_errors_are_not_retried(metrics):
    script = Script(401)
    upstream, _ = make(script, metrics)
    with pytest.raises(UpstreamError) as err:
        asyncio.run(upstream.get("https://a.example/rss"))
    assert err.value.kind == "auth"
    assert len(script.requests) == 1


def test_budget_stops_calls_and_retries(metrics):
    script = Script(500)
    upstream, _ = make(script, metrics, tokens=2, attempts=5)
    with pytest.raises(UpstreamError) as err:
        asyncio.run(upstream.get("https://a.example/rss"))
    # Two tokens: two requests, then the budget says no (no third request went out).
    assert len(script.requests) == 2
    assert err.value.kind == "budget_exhausted"


def test_circuit_opens_and_stops_calling(metrics):
    script = Script(500)
    breaker = CircuitBreaker(failure_threshold=2, reset_after_s=3600)
    upstream, _ = make(script, metrics, attempts=1, breaker=breaker)
    for _ in range(2):
        with pytest.raises(UpstreamError):
            asyncio.run(upstream.get("https://a.example/rss"))
    assert breaker.state is CircuitState.OPEN
    calls = len(script.requests)
    with pytest.raises(UpstreamError) as err:
        asyncio.run(upstream.get("https://a.example/rss"))
    assert err.value.kind == "circuit_open"
    assert len(script.requests) == calls
    assert metrics.value("bbdash_source_circuit_state", {"source": "feed"}) == 2


def test_transport_errors_do_not_leak_the_url(metrics):
    script = Script(httpx.ConnectError("failed for https://x.example/?auth_token=SECRET"))
    upstream, _ = make(script, metrics, attempts=1)
    with pytest.raises(UpstreamError) as err:
        asyncio.run(upstream.get("https://x.example/", params={"auth_token": "SECRET"}))
    assert "SECRET" not in str(err.value)
