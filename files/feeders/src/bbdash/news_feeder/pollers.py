"""One poller per upstream: build the request, call it through `Upstream`, parse.

A poller returns the articles of one poll (possibly none); it never raises
for upstream trouble, which is already counted by `Upstream`, nor for a
malformed payload, which it counts here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol

from bbdash.common.metrics import Metrics
from bbdash.news_feeder.config import CryptoPanicSettings, FeedSpec, NewsApiSettings
from bbdash.news_feeder.records import Article
from bbdash.news_feeder.sources import ParseResult, PayloadError, cryptopanic, newsapi, rss
from bbdash.news_feeder.upstream import Upstream, UpstreamError

log = logging.getLogger(__name__)


class Poller(Protocol):
    """What the service loop drives."""

    name: str
    interval_s: float

    async def poll(self) -> list[Article]:
        """Articles of one poll."""
        ...


def _account(metrics: Metrics, source: str, result: ParseResult) -> list[Article]:
    metrics.source_messages.labels(source).inc(len(result.articles) + sum(result.skipped.values()))
    for reason, count in result.skipped.items():
        metrics.records_invalid.labels(source, reason).inc(count)
    return result.articles


def _payload_failed(metrics: Metrics, source: str, exc: PayloadError) -> list[Article]:
    metrics.source_error(source, exc.kind)
    log.warning("upstream payload unusable", extra={"source": source, "error": str(exc)[:300]})
    return []


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
            response = await self._upstream.get(self._feed.url, headers=self._validators)
        except UpstreamError as exc:
            log.warning("feed poll failed", extra={"source": self.name, "kind": exc.kind})
            return []
        if response.status == 304:
            return []
        validators = {}
        headers = {k.lower(): v for k, v in response.headers.items()}
        if "etag" in headers:
            validators["If-None-Match"] = headers["etag"]
        if "last-modified" in headers:
            validators["If-Modified-Since"] = headers["last-modified"]
        self._validators = validators
        try:
            result = rss.parse_feed(
                response.content, source=self.name, category=self._feed.category
            )
        except PayloadError as exc:
            return _payload_failed(self._metrics, self.name, exc)
        return _account(self._metrics, self.name, result)


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
            response = await self._upstream.get(self._url, params=params)
        except UpstreamError as exc:
            log.warning("cryptopanic poll failed", extra={"kind": exc.kind})
            return []
        try:
            result = cryptopanic.parse_posts(response.content, now=datetime.now(UTC))
        except PayloadError as exc:
            return _payload_failed(self._metrics, self.name, exc)
        return _account(self._metrics, self.name, result)


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
                response = await self._upstream.get(self._url, params=params, headers=self._headers)
            except UpstreamError as exc:
                log.warning("newsapi poll failed", extra={"kind": exc.kind, "category": category})
                continue
            try:
                result = newsapi.parse_articles(response.content, now=datetime.now(UTC))
            except PayloadError as exc:
                articles += _payload_failed(self._metrics, self.name, exc)
                continue
            articles += _account(self._metrics, self.name, result)
        return articles
