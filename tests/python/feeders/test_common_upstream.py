"""The shared upstream client: retries, budget, breaker, the 429/418/451/401 policy, the logs.

The first tests script each answer with httpx's MockTransport; the policy tests
talk to a real loopback HTTP server (`upstream_server`) answering hand-written
or recorded upstream payloads. Nothing leaves the machine.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest
from bbdash.common.metrics import Metrics
from bbdash.common.resilience import Backoff, CircuitBreaker, CircuitState, TokenBucket
from bbdash.common.upstream import Upstream
from bbdash.common.upstream_errors import (
    AuthError,
    BannedError,
    GeoBlockedError,
    RateLimitedError,
    SourceHeldError,
    TransientError,
    UpstreamError,
    retry_after_s,
)
from feeder_testkit import FakeClock, payload
from upstream_server import Answer, ScriptedServer

NOW = 1_707_753_600.0  # the wall clock of the HTTP-date tests


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


def errors(metrics, kind, source="feed"):
    return metrics.value("bbdash_source_errors_total", {"source": source, "kind": kind})


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
    assert errors(metrics, "connection") == 1


def test_a_timeout_is_retried_but_429_is_not(metrics):
    script = Script(httpx.ReadTimeout("slow"), 429, 200)
    upstream, _ = make(script, metrics)
    with pytest.raises(UpstreamError) as err:
        asyncio.run(upstream.get("https://a.example/rss"))
    assert err.value.kind == "rate_limited"
    # The timeout was retried; the 429 ended the call: no third request.
    assert len(script.requests) == 2
    assert errors(metrics, "timeout") == 1
    assert errors(metrics, "rate_limited") == 1
    assert upstream.breaker.state is CircuitState.OPEN


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


def test_a_half_open_probe_is_not_spent_on_a_call_the_budget_refuses(metrics):
    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=1, reset_after_s=10, clock=clock)
    script = Script(500, 200)
    upstream, _ = make(script, metrics, tokens=1, attempts=1, breaker=breaker)
    with pytest.raises(UpstreamError):
        asyncio.run(upstream.get("https://a.example/rss"))  # spends the only token, opens
    clock.advance(10)
    with pytest.raises(UpstreamError) as err:
        asyncio.run(upstream.get("https://a.example/rss"))
    assert err.value.kind == "budget_exhausted"
    assert breaker.allow()  # the probe is still there for when the budget refills


def test_transport_errors_do_not_leak_the_url(metrics, caplog):
    script = Script(httpx.ConnectError("failed for https://x.example/?auth_token=SECRET"))
    upstream, _ = make(script, metrics, attempts=1)
    with caplog.at_level(logging.DEBUG), pytest.raises(UpstreamError) as err:
        asyncio.run(upstream.get("https://x.example/", params={"auth_token": "SECRET"}))
    assert "SECRET" not in str(err.value)
    assert "SECRET" not in caplog.text


def test_retry_after_reads_seconds_and_http_dates():
    assert retry_after_s("120") == 120
    assert retry_after_s(" 1.5 ") == 1.5
    assert retry_after_s("-3") == 0
    date = format_datetime(datetime.fromtimestamp(NOW + 90, UTC), usegmt=True)
    assert retry_after_s(date, now=NOW) == 90
    assert retry_after_s("Wed, 21 Oct 2015 07:28:00 GMT", now=NOW) == 0  # in the past
    for absent in (None, "", "soon"):
        assert retry_after_s(absent) is None


# --- Through a loopback HTTP server ---------------------------------------------------------


def server_upstream(
    metrics: Metrics,
    clock: FakeClock,
    *,
    attempts: int = 3,
    failure_threshold: int = 3,
    wall_clock=lambda: NOW,
    timeout_s: float = 2.0,
) -> Upstream:
    return Upstream(
        "upstream",
        httpx.AsyncClient(),
        metrics=metrics,
        budget=TokenBucket(rate=1e-9, capacity=100, clock=clock),
        breaker=CircuitBreaker(failure_threshold, reset_after_s=60, max_reset_s=600, clock=clock),
        backoff=Backoff(base=0.001, cap=0.002, floor=0.0),
        attempts=attempts,
        timeout_s=timeout_s,
        base_url_hint="market-data base URL (example.base_url)",
        clock=clock,
        wall_clock=wall_clock,
    )


async def outcome(upstream: Upstream, url: str, **kwargs) -> UpstreamError | httpx.Response:
    try:
        return await upstream.get(url, **kwargs)
    except UpstreamError as exc:
        return exc


def records_with(caplog, text: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if text in getattr(r, "upstream", "")]


def test_429_with_retry_after_seconds_is_not_retried_and_holds_the_source(metrics, caplog):
    body = payload("coingecko/rate_limited.json")
    clock = FakeClock()
    with ScriptedServer(Answer(429, body, {"Retry-After": "120"}), Answer(200, {})) as server:
        upstream = server_upstream(metrics, clock)

        async def scenario():
            first = await outcome(upstream, server.url)
            assert isinstance(first, RateLimitedError)
            assert len(server.requests) == 1  # three attempts allowed, one made
            assert upstream.breaker.retry_in() == 120
            clock.advance(119)
            assert isinstance(await outcome(upstream, server.url), SourceHeldError)
            assert len(server.requests) == 1  # held: nothing went out
            clock.advance(1)
            assert (await outcome(upstream, server.url)).status == 200

        with caplog.at_level(logging.WARNING):
            asyncio.run(scenario())
        assert len(server.requests) == 2
    assert errors(metrics, "rate_limited", "upstream") == 1
    assert errors(metrics, "circuit_open", "upstream") == 1
    (logged,) = records_with(caplog, "You've exceeded the Rate Limit")
    assert logged.kind == "rate_limited" and logged.status == 429
    assert logged.retry_after_s == 120 and "held 120 s" in logged.getMessage()


def test_429_with_an_http_date_holds_the_source_until_that_date(metrics):
    clock = FakeClock()
    until = format_datetime(datetime.fromtimestamp(NOW, UTC) + timedelta(minutes=5), usegmt=True)
    with ScriptedServer(Answer(429, "slow down", {"Retry-After": until})) as server:
        upstream = server_upstream(metrics, clock)

        async def scenario():
            assert isinstance(await outcome(upstream, server.url), RateLimitedError)
            assert upstream.breaker.retry_in() == 300
            clock.advance(299)
            assert isinstance(await outcome(upstream, server.url), SourceHeldError)

        asyncio.run(scenario())
        assert len(server.requests) == 1
    assert metrics.value("bbdash_source_circuit_state", {"source": "upstream"}) == 2


@pytest.mark.parametrize(("retry_after", "held"), [("3600", 3600), (None, 600)])
def test_418_ban_holds_the_source_until_retry_after(metrics, retry_after, held):
    clock = FakeClock()
    headers = {"Retry-After": retry_after} if retry_after else {}
    body = {"code": -1003, "msg": "Way too many requests; IP banned until 1707757200000."}
    with ScriptedServer(Answer(418, body, headers)) as server:
        upstream = server_upstream(metrics, clock)

        async def scenario():
            error = await outcome(upstream, server.url)
            assert isinstance(error, BannedError) and error.kind == "banned"
            # Without a date, the breaker's longest cool-down (max_reset_s).
            assert upstream.breaker.retry_in() == held
            clock.advance(held - 1)
            assert isinstance(await outcome(upstream, server.url), SourceHeldError)

        asyncio.run(scenario())
        assert len(server.requests) == 1
    assert errors(metrics, "banned", "upstream") == 1


def test_451_is_a_geo_block_naming_the_base_url_setting(metrics, caplog):
    clock = FakeClock()
    body = {"code": 0, "msg": "Service unavailable from a restricted location."}
    with ScriptedServer(Answer(451, body)) as server:
        upstream = server_upstream(metrics, clock)
        with caplog.at_level(logging.WARNING):
            error = asyncio.run(outcome(upstream, server.url))
        assert len(server.requests) == 1  # not retried
    assert isinstance(error, GeoBlockedError) and error.kind == "geo_blocked"
    assert "geo-blocked: set the market-data base URL (example.base_url)" in str(error)
    (logged,) = records_with(caplog, "restricted location")
    assert "geo-blocked: set the market-data base URL" in logged.getMessage()
    assert errors(metrics, "geo_blocked", "upstream") == 1


@pytest.mark.parametrize("status", [401, 403])
def test_401_and_403_are_an_auth_error_never_retried(metrics, caplog, status):
    clock = FakeClock()
    body = {"status": {"error_code": status, "error_message": "Invalid API Key"}}
    with ScriptedServer(Answer(status, body)) as server:
        upstream = server_upstream(metrics, clock)
        with caplog.at_level(logging.WARNING):
            error = asyncio.run(outcome(upstream, server.url))
        assert len(server.requests) == 1
    assert isinstance(error, AuthError) and error.kind == "auth"
    assert "API key invalid or not authorised" in str(error)
    assert "symbol" not in str(error)
    assert errors(metrics, "auth", "upstream") == 1
    (logged,) = records_with(caplog, "Invalid API Key")
    assert logged.status == status


def test_5xx_is_retried_with_backoff_then_succeeds(metrics):
    clock = FakeClock()
    answers = [Answer(503, "maintenance"), Answer(502, "bad gateway"), Answer(200, {"ok": 1})]
    with ScriptedServer(*answers) as server:
        upstream = server_upstream(metrics, clock)
        result = asyncio.run(upstream.fetch(server.url, lambda r: r.json()))
        assert len(server.requests) == 3
    assert result == {"ok": 1}
    assert errors(metrics, "http_5xx", "upstream") == 2
    assert upstream.breaker.state is CircuitState.CLOSED
    assert metrics.value("bbdash_source_last_success_timestamp_seconds", {"source": "upstream"})


def test_timeouts_are_retried_then_reported(metrics):
    clock = FakeClock()
    with ScriptedServer(Answer(200, {}, delay_s=0.5)) as server:
        upstream = server_upstream(metrics, clock, attempts=2, timeout_s=0.1)
        error = asyncio.run(outcome(upstream, server.url))
        assert len(server.requests) == 2
    assert isinstance(error, TransientError) and error.kind == "timeout"
    assert errors(metrics, "timeout", "upstream") == 2


def test_error_body_is_logged_once_a_minute_with_the_count_held_back(metrics, caplog):
    clock = FakeClock()
    text = "upstream exploded: maintenance window until 16:00 UTC"
    with ScriptedServer(Answer(500, text + " " + "x" * 1000)) as server:
        upstream = server_upstream(metrics, clock, attempts=1, failure_threshold=100)

        async def scenario():
            for _ in range(3):
                await outcome(upstream, server.url)
            clock.advance(61)
            await outcome(upstream, server.url)

        with caplog.at_level(logging.WARNING):
            asyncio.run(scenario())
    first, second = records_with(caplog, text)
    assert (first.kind, first.status, first.suppressed) == ("http_5xx", 500, 0)
    assert second.suppressed == 2  # the two lines held back in the first minute
    assert len(first.upstream) <= 300  # the body is cut, not dumped
    assert errors(metrics, "http_5xx", "upstream") == 4  # every error is still counted


def test_tokens_in_query_strings_never_reach_the_log(metrics, caplog):
    clock = FakeClock()
    echo = "bad request for https://api.example/v2/posts/?auth_token=tok-SECRET-1234&kind=news"
    with ScriptedServer(Answer(500, echo)) as server:
        upstream = server_upstream(metrics, clock, attempts=2)
        with caplog.at_level(logging.DEBUG):
            asyncio.run(outcome(upstream, server.url, params={"auth_token": "tok-SECRET-1234"}))
        assert server.requests[0].query["auth_token"] == "tok-SECRET-1234"
    assert "tok-SECRET-1234" not in caplog.text
    assert records_with(caplog, "bad request for https://api.example/v2/posts/?***")
