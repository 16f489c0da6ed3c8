"""Pollers on recorded payloads through the pipeline to `news_articles` line protocol."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import UTC, datetime

import httpx
import pytest
from bbdash.common.resilience import Backoff, CircuitBreaker, TokenBucket
from bbdash.common.upstream import Upstream
from bbdash.common.watchlist import Asset
from bbdash.news_feeder.assets import AssetMatcher
from bbdash.news_feeder.config import CryptoPanicSettings, FeedSpec, NewsApiSettings
from bbdash.news_feeder.dedupe import DedupeStore
from bbdash.news_feeder.demo import TITLE_PREFIX, DemoPoller, sample_articles
from bbdash.news_feeder.metrics import NewsMetrics
from bbdash.news_feeder.pipeline import NewsPipeline
from bbdash.news_feeder.pollers import CryptoPanicPoller, NewsApiPoller, RssPoller
from bbdash.news_feeder.records import Article
from bbdash.sentiment import default_scorer

WATCHED = [Asset("BTC/USDT", "crypto"), Asset("ETH/USDT", "crypto"), Asset("AAPL", "stock"),
           Asset("TSLA", "stock"), Asset("NVDA", "stock")]  # fmt: skip


def upstream_for(handler, metrics, name="src"):
    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return Upstream(
        name,
        client,
        metrics=metrics,
        budget=TokenBucket(rate=1.0, capacity=10),
        breaker=CircuitBreaker(),
        backoff=Backoff(base=0.001, cap=0.002, floor=0.0),
        attempts=2,
        timeout_s=1.0,
    )


def pipeline_for(metrics, points, dedupe=None, demo=False, news_metrics=None):
    return NewsPipeline(
        submit=lambda p: points.append(p) or True,
        dedupe=dedupe,
        scorer=default_scorer(),
        metrics=news_metrics or NewsMetrics(metrics),
        matcher=AssetMatcher(WATCHED),
        demo=demo,
    )


def test_rss_poll_to_line_protocol(payload, metrics):
    seen = []

    def handler(request):
        seen.append(request)
        return httpx.Response(200, content=payload("rss2.xml"), headers={"ETag": '"v1"'})

    feed = FeedSpec(name="example", url="https://news.example.com/rss", category="stocks")
    poller = RssPoller(feed, upstream_for(handler, metrics, "example"), metrics, 300)
    points = []
    outcome = pipeline_for(metrics, points).process(asyncio.run(poller.poll()))
    assert outcome.submitted == 3
    lines = [p.to_line() for p in points]
    # Oldest first; tags sorted; strings quoted; timestamp = publication time in ns.
    assert lines[0] == (
        "news_articles,category=stocks,related_asset=AAPL,"
        f"sentiment_scorer={default_scorer().version},source=example "
        'title="Apple shares climb after iPhone sales top forecasts",'
        'url="https://news.example.com/markets/apple-climbs?utm_source=rss&utm_medium=feed",'
        f"sentiment_score={points[0].fields['sentiment_score']!r},"
        'published_at="2024-02-12T14:00:00Z" 1707746400000000000'
    )
    assert points[0].fields["sentiment_score"] > 0.25
    assert points[1].tags["related_asset"] == "BTC"
    assert points[1].tags["category"] == "crypto"
    assert points[1].fields["sentiment_score"] < -0.25
    assert points[2].tags["related_asset"] == "none"
    # Malformed items were counted, not fatal.
    invalid = {"source": "example", "reason": "no_title"}
    assert metrics.value("bbdash_records_invalid_total", invalid) == 1
    assert metrics.value("bbdash_source_messages_total", {"source": "example"}) == 5
    # The second poll is conditional, and a 304 yields nothing.
    poller._upstream._client._transport = httpx.MockTransport(lambda r: httpx.Response(304))
    assert asyncio.run(poller.poll()) == []


def test_conditional_get_sends_validators(payload, metrics):
    requests = []

    def handler(request):
        requests.append(request)
        return httpx.Response(200, content=payload("atom.xml"), headers={"ETag": '"abc"'})

    feed = FeedSpec(name="atom", url="https://atom.example.org/feed")
    poller = RssPoller(feed, upstream_for(handler, metrics, "atom"), metrics, 300)
    asyncio.run(poller.poll())
    asyncio.run(poller.poll())
    assert "if-none-match" not in requests[0].headers
    assert requests[1].headers["if-none-match"] == '"abc"'


def test_unusable_feed_is_counted_and_yields_nothing(metrics):
    feed = FeedSpec(name="broken", url="https://broken.example/rss")
    poller = RssPoller(
        feed,
        upstream_for(
            lambda r: httpx.Response(200, content=b"<html>oops</html>"),
            metrics,
            "broken",
        ),
        metrics,
        300,
    )
    assert asyncio.run(poller.poll()) == []
    assert (
        metrics.value("bbdash_source_errors_total", {"source": "broken", "kind": "malformed"}) == 1
    )


def test_cryptopanic_poller_asks_for_watched_coins_and_keeps_token_out_of_logs(
    payload, metrics, caplog
):
    requests = []

    def handler(request):
        requests.append(request)
        return httpx.Response(200, content=payload("cryptopanic_v2_posts.json"))

    settings = CryptoPanicSettings(token="tok-SECRET", plan="growth")
    poller = CryptoPanicPoller(
        settings, "tok-SECRET", upstream_for(handler, metrics, "cryptopanic"), metrics,
        lambda: ["ETH", "BTC"],
    )  # fmt: skip
    points = []
    with caplog.at_level(logging.DEBUG):
        pipeline_for(metrics, points).process(asyncio.run(poller.poll()))
    url = requests[0].url
    assert url.path == "/api/growth/v2/posts/"
    assert url.params["currencies"] == "BTC,ETH"
    assert url.params["auth_token"] == "tok-SECRET"
    assert "tok-SECRET" not in caplog.text
    by_title = {p.fields["title"]: p for p in points}
    eth = by_title["Ethereum rallies 8% after successful network upgrade"]
    assert eth.tags == {
        "source": "cryptopanic",
        "category": "crypto",
        "related_asset": "ETH",
        "sentiment_scorer": default_scorer().version,
    }
    # BNB is not watched: no asset, but CryptoPanic is crypto news.
    other = by_title["Exchange token crashes 80% amid liquidity crisis"]
    assert other.tags["related_asset"] == "none" and other.tags["category"] == "crypto"
    assert other.fields["sentiment_score"] < -0.5


def test_newsapi_poller_uses_key_header_and_one_request_per_category(payload, metrics):
    requests = []

    def handler(request):
        requests.append(request)
        return httpx.Response(200, content=payload("newsapi_top_headlines.json"))

    settings = NewsApiSettings(key="k", categories=["business", "technology"])
    poller = NewsApiPoller(settings, "KEY", upstream_for(handler, metrics, "newsapi"), metrics)
    points = []
    dedupe = DedupeStore(":memory:")
    outcome = pipeline_for(metrics, points, dedupe).process(asyncio.run(poller.poll()))
    assert [r.url.params["category"] for r in requests] == ["business", "technology"]
    assert all(r.headers["x-api-key"] == "KEY" and "KEY" not in str(r.url) for r in requests)
    # The second category returned the same articles: deduplicated.
    assert outcome.submitted == 2 and outcome.duplicate == 2
    tesla = next(p for p in points if p.tags["related_asset"] == "TSLA")
    assert tesla.tags["category"] == "stocks"
    assert tesla.fields["sentiment_score"] < -0.25


def test_newsapi_error_body_counts_kind(payload, metrics):
    poller = NewsApiPoller(
        NewsApiSettings(key="k"),
        "KEY",
        upstream_for(lambda r: httpx.Response(200, content=payload("newsapi_rate_limited.json")),
                     metrics, "newsapi"),
        metrics,
    )  # fmt: skip
    assert asyncio.run(poller.poll()) == []
    labels = {"source": "newsapi", "kind": "rate_limited"}
    assert metrics.value("bbdash_source_errors_total", labels) == 1


def test_dedupe_across_sources_and_restart(tmp_path, metrics):
    path = tmp_path / "seen.sqlite"
    when = datetime(2024, 2, 12, tzinfo=UTC)
    rss_copy = Article(
        "coindesk", "Bitcoin slides below $40,000", "https://cd.example/a?utm_source=x", when
    )
    api_copy = Article("newsapi", "Bitcoin Slides Below $40,000", "https://other.example/b", when)
    points = []
    news_metrics = NewsMetrics(metrics)
    store = DedupeStore(path)
    first = pipeline_for(metrics, points, store, news_metrics=news_metrics).process(
        [rss_copy, api_copy]
    )
    assert (first.submitted, first.duplicate) == (1, 1)
    store.close()  # the process restarts
    again = pipeline_for(metrics, points, DedupeStore(path), news_metrics=news_metrics).process(
        [rss_copy]
    )
    assert (again.submitted, again.duplicate) == (0, 1)
    outcomes = {"source": "newsapi", "outcome": "duplicate"}
    assert metrics.value("bbdash_news_articles_total", outcomes) == 1


def test_unencodable_point_is_counted_not_fatal(metrics):
    when = datetime(2024, 2, 12, tzinfo=UTC)
    pipeline = NewsPipeline(
        submit=lambda p: False,
        dedupe=None,
        scorer=default_scorer(),
        metrics=NewsMetrics(metrics),
    )
    outcome = pipeline.process([Article("x", "Some headline here", "https://a.example/", when)])
    assert outcome.rejected == 1


def test_demo_poller_marks_everything_as_demo(metrics):
    assert len(sample_articles()) >= 10
    points = []
    pipeline = pipeline_for(metrics, points, demo=True)
    poller = DemoPoller(interval_s=1, per_poll=3)
    for _ in range(2):
        pipeline.process(asyncio.run(poller.poll()))
    assert len(points) == 6
    for point in points:
        assert point.tags["demo"] == "true"
        assert point.fields["title"].startswith(TITLE_PREFIX)
        assert "demo=true" in point.to_line()
    assert len({p.fields["url"] for p in points}) == 6


@pytest.mark.parametrize("fields", [json.loads('{"title": "a\\"b\\\\c"}')])
def test_string_fields_are_escaped(metrics, fields):
    when = datetime(2024, 2, 12, tzinfo=UTC)
    points = []
    pipeline_for(metrics, points).process(
        [Article("x", fields["title"] + " with quotes", "https://a.example/q", when)]
    )
    assert 'title="a\\"b\\\\c with quotes"' in points[0].to_line()
