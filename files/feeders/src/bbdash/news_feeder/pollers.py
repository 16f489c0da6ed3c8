"""One poller per upstream, and `build_pollers`, which gives each its budget and guards.

A poller builds its request, calls it through its `Upstream` (the shared
client: budget, breaker, retries, error policy, logs) with the source's parser,
and returns the articles of one poll (possibly none). It never raises for
upstream trouble or for an unusable payload: both are counted and logged by
the `Upstream`, and a poll that failed yields no articles.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol

import httpx

from bbdash.common.budgets import SECONDS_PER_DAY, SECONDS_PER_MONTH
from bbdash.common.metrics import Metrics
from bbdash.common.upstream import Response, Upstream
from bbdash.common.upstream_errors import UpstreamError
from bbdash.news_feeder.config import CryptoPanicSettings, FeedSpec, NewsApiSettings, NewsSettings
from bbdash.news_feeder.demo import DemoPoller
from bbdash.news_feeder.pipeline import NewsPipeline
from bbdash.news_feeder.records import Article
from bbdash.news_feeder.sources import ParseResult, cryptopanic, newsapi, rss


class Poller(Protocol):
    """What the service's poll loops drive."""

    name: str
    interval_s: float

    async def poll(self) -> list[Article]:
        """Articles of one poll."""
        ...


def build_pollers(
    settings: NewsSettings,
    client: httpx.AsyncClient,
    metrics: Metrics,
    pipeline: NewsPipeline,
) -> list[Poller]:
    """The pollers this configuration asks for (demo mode: the sample feeds only)."""
    if settings.demo.enabled:
        return [DemoPoller(settings.demo.interval_s)]
    http = settings.http
    pollers: list[Poller] = []
    if settings.rss.enabled:
        interval = settings.rss.interval_s
        for feed in settings.rss.feeds:
            # Room for one poll and its retries per interval: enough, never a burst.
            limits = http.limits(
                calls=http.attempts,
                period_s=interval,
                burst=http.attempts,
                url_setting=f"rss.feeds[{feed.name}].url",
            )
            upstream = limits.build(feed.name, client, metrics)
            pollers.append(RssPoller(feed, upstream, metrics, interval))
    cp = settings.cryptopanic
    token = cp.token_value()
    if token is not None:
        limits = http.limits(
            calls=cp.monthly_quota,
            period_s=SECONDS_PER_MONTH,
            burst=http.attempts,
            url_setting="cryptopanic.base_url",
        )
        upstream = limits.build(cryptopanic.SOURCE, client, metrics)

        def watched_crypto() -> list[str]:
            return sorted(
                key
                for key, kind in pipeline.matcher_types().items()
                if kind == "crypto" and key.isalnum()
            )

        pollers.append(CryptoPanicPoller(cp, token, upstream, metrics, watched_crypto))
    na = settings.newsapi
    key = na.key_value()
    if key is not None:
        limits = http.limits(
            calls=na.daily_limit,
            period_s=SECONDS_PER_DAY,
            burst=min(na.daily_limit, http.attempts * len(na.categories)),
            url_setting="newsapi.base_url",
        )
        upstream = limits.build(newsapi.SOURCE, client, metrics)
        pollers.append(NewsApiPoller(na, key, upstream, metrics))
    return pollers


def _account(metrics: Metrics, source: str, result: ParseResult) -> list[Article]:
    metrics.source_messages.labels(source).inc(len(result.articles) + sum(result.skipped.values()))
    for reason, count in result.skipped.items():
        metrics.records_invalid.labels(source, reason).inc(count)
    return result.articles


class RssPoller:
    """One RSS/Atom feed, with conditional GET (ETag / Last-Modified) to spare publishers."""

    def __init__(
        self, feed: FeedSpec, upstream: Upstream, metrics: Metrics, interval_s: float
    ) -> None:
        self.name = feed.name
        self.interval_s = interval_s
        self._feed = feed
        self._upstream = upstream
        self._metrics = metrics
        self._validators: dict[str, str] = {}

    async def poll(self) -> list[Article]:
        try:
            result = await self._upstream.fetch(
                self._feed.url, self._parse, headers=self._validators
            )
        except UpstreamError:
            return []
        return [] if result is None else _account(self._metrics, self.name, result)

    def _parse(self, response: Response) -> ParseResult | None:
        if response.status == 304:
            return None  # not modified since the last poll
        validators = {}
        if "etag" in response.headers:
            validators["If-None-Match"] = response.headers["etag"]
        if "last-modified" in response.headers:
            validators["If-Modified-Since"] = response.headers["last-modified"]
        self._validators = validators
        return rss.parse_feed(response.content, source=self.name, category=self._feed.category)


class CryptoPanicPoller:
    """CryptoPanic v2 posts about the watched crypto assets (all crypto news if none)."""

    name = cryptopanic.SOURCE

    def __init__(
        self,
        settings: CryptoPanicSettings,
        token: str,
        upstream: Upstream,
        metrics: Metrics,
        currencies: Callable[[], list[str]],
    ) -> None:
        self.interval_s = settings.interval_s
        self._url = f"{settings.base_url.rstrip('/')}/{settings.plan}/v2/posts/"
        self._settings = settings
        self._token = token
        self._upstream = upstream
        self._metrics = metrics
        self._currencies = currencies

    async def poll(self) -> list[Article]:
        params = cryptopanic.request_params(
            self._token, currencies=self._currencies(), kind=self._settings.kind
        )
        try:
            result = await self._upstream.fetch(self._url, _posts, params=params)
        except UpstreamError:
            return []
        return _account(self._metrics, self.name, result)


def _posts(response: Response) -> ParseResult:
    return cryptopanic.parse_posts(response.content, now=datetime.now(UTC))


class NewsApiPoller:
    """NewsAPI top headlines, one request per configured category."""

    name = newsapi.SOURCE

    def __init__(
        self, settings: NewsApiSettings, key: str, upstream: Upstream, metrics: Metrics
    ) -> None:
        self.interval_s = settings.interval_s
        self._url = f"{settings.base_url.rstrip('/')}/top-headlines"
        self._settings = settings
        self._headers = {"X-Api-Key": key}  # header, not query: keeps the key out of URLs
        self._upstream = upstream
        self._metrics = metrics

    async def poll(self) -> list[Article]:
        articles: list[Article] = []
        for category in self._settings.categories:
            params = {
                "category": category,
                "language": self._settings.language,
                "pageSize": "100",
            }
            try:
                result = await self._upstream.fetch(
                    self._url, _headlines, params=params, headers=self._headers
                )
            except UpstreamError as exc:
                if exc.source_wide:
                    break  # held (429), over budget or a refused key: no other category
                continue
            articles += _account(self._metrics, self.name, result)
        return articles


def _headlines(response: Response) -> ParseResult:
    return newsapi.parse_articles(response.content, now=datetime.now(UTC))
