"""NewsAPI v2 (`GET /v2/top-headlines` or `/v2/everything`) with an API key header.

Response: `{"status": "ok", "totalResults": n, "articles": [...]}`, each article
with `source{id,name}`, `title`, `url`, `publishedAt`, `description`; errors are
`{"status": "error", "code": "rateLimited" | "apiKeyInvalid" | ..., "message": ...}`.
The free Developer plan allows 100 requests a day and serves articles 24 h
late; titles end with " - <Publisher>", and withdrawn items read "[Removed]".
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from bbdash.news_feeder.records import MAX_TITLE_CHARS, Article
from bbdash.news_feeder.sources import ParseResult, PayloadError
from bbdash.news_feeder.sources.text import clean_text, is_http_url, parse_rfc3339

SOURCE = "newsapi"
_RATE_CODES = {"rateLimited", "maximumResultsReached"}


def parse_articles(content: bytes, *, now: datetime | None = None) -> ParseResult:
    """Articles of one NewsAPI response."""
    try:
        payload = json.loads(content)
    except (ValueError, UnicodeDecodeError) as exc:
        raise PayloadError(f"newsapi: invalid JSON: {exc}") from exc
    if not isinstance(payload, dict):
        raise PayloadError("newsapi: response is not an object")
    if payload.get("status") != "ok":
        code = str(payload.get("code") or "unknown")
        kind = "rate_limited" if code in _RATE_CODES else "api_error"
        raise PayloadError(f"newsapi: {code}: {clean_text(payload.get('message'))[:200]}", kind)
    articles = payload.get("articles")
    if not isinstance(articles, list):
        raise PayloadError("newsapi: articles is not a list")
    fetched = now or datetime.now(UTC)
    out = ParseResult()
    for item in articles:
        if not isinstance(item, dict):
            out.skip("not_an_object")
            continue
        title = clean_text(item.get("title"))
        if title == "[Removed]":
            out.skip("removed")
            continue
        publisher = item.get("source")
        publisher_name = clean_text(publisher.get("name")) if isinstance(publisher, dict) else ""
        title = strip_publisher(title, publisher_name)
        url = str(item.get("url") or "").strip()
        published = parse_rfc3339(item.get("publishedAt"))
        if not title or len(title) > MAX_TITLE_CHARS:
            out.skip("no_title")
            continue
        if not is_http_url(url):
            out.skip("no_link")
            continue
        if published is None:
            out.skip("no_date")
            continue
        out.articles.append(
            Article(
                source=SOURCE,
                title=title,
                url=url,
                published_at=min(published, fetched),
                summary=clean_text(item.get("description"))[:1000],
            )
        )
    return out


def strip_publisher(title: str, publisher: str) -> str:
    """Drop NewsAPI's trailing " - Publisher" so titles dedupe against the RSS copy."""
    if publisher:
        for sep in (" - ", " | ", " — "):
            suffix = f"{sep}{publisher}"
            if title.endswith(suffix):
                return title[: -len(suffix)].strip()
    return title
