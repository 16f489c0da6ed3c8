"""NewsAPI v2 (`GET /v2/top-headlines` or `/v2/everything`) with an API key header.

Response: `{"status": "ok", "totalResults": n, "articles": [...]}`, each article
with `source{id,name}`, `title`, `url`, `publishedAt`, `description`; errors are
`{"status": "error", "code": "rateLimited" | "apiKeyInvalid" | ..., "message": ...}`.
The free Developer plan allows 100 requests a day and serves articles 24 h
late; titles end with " - <Publisher>", and withdrawn items read "[Removed]".
"""

from __future__ import annotations

from datetime import UTC, datetime

from bbdash.common.upstream_errors import AuthError, RateLimitedError
from bbdash.news_feeder.sources import ParseResult, PayloadError, json_list, load_json_object
from bbdash.news_feeder.sources.text import clean_text, parse_rfc3339

SOURCE = "newsapi"
_RATE_CODES = {"rateLimited", "maximumResultsReached"}
_KEY_CODES = {"apiKeyDisabled", "apiKeyExhausted", "apiKeyInvalid", "apiKeyMissing"}


def parse_articles(content: bytes, *, now: datetime | None = None) -> ParseResult:
    """Articles of one NewsAPI response."""
    payload = load_json_object(content, SOURCE)
    if payload.get("status") != "ok":
        code = str(payload.get("code") or "unknown")
        text = f"{code}: {clean_text(payload.get('message'))}"
        if code in _RATE_CODES:
            raise RateLimitedError(f"newsapi: {code}", detail=text)
        if code in _KEY_CODES:
            raise AuthError(f"newsapi: {code}", detail=text)
        raise PayloadError(f"newsapi: {code}", kind="api_error", detail=text)
    articles = json_list(payload, "articles", SOURCE)
    fetched = now or datetime.now(UTC)
    out = ParseResult()
    for item in out.objects(articles):
        title = clean_text(item.get("title"))
        if title == "[Removed]":
            out.skip("removed")
            continue
        publisher = item.get("source")
        publisher_name = clean_text(publisher.get("name")) if isinstance(publisher, dict) else ""
        title = strip_publisher(title, publisher_name)
        url = str(item.get("url") or "").strip()
        published = parse_rfc3339(item.get("publishedAt"))
        if out.admit(title, url):
            out.add(SOURCE, title, url, published, fetched=fetched, summary=item.get("description"))
    return out


def strip_publisher(title: str, publisher: str) -> str:
    """Drop NewsAPI's trailing " - Publisher" so titles dedupe against the RSS copy."""
    if publisher:
        for sep in (" - ", " | ", " — "):
            suffix = f"{sep}{publisher}"
            if title.endswith(suffix):
                return title[: -len(suffix)].strip()
    return title
