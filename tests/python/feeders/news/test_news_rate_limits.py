"""The news pollers as `build_pollers` makes them, against loopback upstreams that say "slow down".

A rate limit is never retried within the poll: NewsAPI's 429 costs one request
of the daily budget (with three attempts allowed it used to cost three), holds
the source until Retry-After, and the other categories wait for a later poll.
"""

from __future__ import annotations

import asyncio
import logging

import pytest
from bbdash.common.metrics import Metrics
from bbdash.news_feeder.config import NewsSettings
from bbdash.news_feeder.metrics import NewsMetrics
from bbdash.news_feeder.pipeline import NewsPipeline
from bbdash.news_feeder.pollers import build_pollers
from bbdash.sentiment import default_scorer
from httpx import AsyncClient
from upstream_server import Answer, ScriptedServer


@pytest.fixture(autouse=True)
def _no_env(monkeypatch):
    for key in list(__import__("os").environ):
        if key.startswith("BBDASH_"):
            monkeypatch.delenv(key)


def budget_left(metrics: Metrics, source: str) -> float:
    return metrics.value("bbdash_source_budget_remaining", {"source": source})


def poll_newsapi(server: ScriptedServer, metrics: Metrics, **newsapi) -> list:
    settings = NewsSettings(
        rss={"enabled": False},
        newsapi={"key": "newsapi-key-1234", "base_url": f"{server.url}/v2", **newsapi},
    )
    pipeline = NewsPipeline(
        submit=lambda p: True, dedupe=None, scorer=default_scorer(), metrics=NewsMetrics(metrics)
    )

    async def scenario():
        async with AsyncClient() as client:
            (poller,) = build_pollers(settings, client, metrics, pipeline)
            assert settings.http.attempts == 3  # retries were allowed
            before = budget_left(metrics, "newsapi")
            articles = await poller.poll()
            return before, articles, await poller.poll()

    return asyncio.run(scenario())


def test_newsapi_429_spends_one_request_of_the_daily_budget(payload, caplog):
    metrics = Metrics()
    body = payload("newsapi_rate_limited.json")
    with ScriptedServer(Answer(429, body, {"Retry-After": "3600"})) as server:
        with caplog.at_level(logging.WARNING):
            before, first, second = poll_newsapi(
                server, metrics, categories=["business", "technology"]
            )
        # One request: no retry, and the second category waits (source held).
        assert [r.query["category"] for r in server.requests] == ["business"]
        assert server.requests[0].headers["x-api-key"] == "newsapi-key-1234"
    assert first == second == []
    assert before - budget_left(metrics, "newsapi") == pytest.approx(1, abs=0.01)
    labels = {"source": "newsapi"}
    assert metrics.value("bbdash_source_errors_total", {**labels, "kind": "rate_limited"}) == 1
    assert metrics.value("bbdash_source_circuit_state", labels) == 2
    (record,) = [r for r in caplog.records if "too many requests" in getattr(r, "upstream", "")]
    assert record.retry_after_s == 3600
    assert "newsapi-key-1234" not in caplog.text


def test_newsapi_rate_limit_notice_in_a_200_is_obeyed_the_same_way(payload):
    metrics = Metrics()
    with ScriptedServer(Answer(200, payload("newsapi_rate_limited.json"))) as server:
        before, first, second = poll_newsapi(server, metrics)
        assert len(server.requests) == 1  # the second poll finds the source held
    assert first == second == []
    assert before - budget_left(metrics, "newsapi") == pytest.approx(1, abs=0.01)
    assert metrics.value("bbdash_source_circuit_state", {"source": "newsapi"}) == 2
