"""RSS 2.0 / Atom 1.0 feeds, parsed with feedparser (it copes with both and with sloppy XML)."""

from __future__ import annotations

import calendar
from datetime import UTC, datetime

import feedparser

from bbdash.news_feeder.records import MAX_TITLE_CHARS, Article
from bbdash.news_feeder.sources import ParseResult, PayloadError
from bbdash.news_feeder.sources.text import clean_text, is_http_url


def parse_feed(
    content: bytes, *, source: str, category: str | None = None, now: datetime | None = None
) -> ParseResult:
    """Articles of one feed document; items without title or http link are skipped."""
    parsed = feedparser.parse(content)
    version = getattr(parsed, "version", "")
    if not version and not parsed.entries:
        # feedparser accepts anything; no version and no entries means "not a feed"
        # (an HTML error page, a captive portal, an empty body).
        raise PayloadError(f"{source}: not an RSS/Atom document")
    fetched = now or datetime.now(UTC)
    result = ParseResult()
    for entry in parsed.entries:
        title = clean_text(entry.get("title"))
        link = str(entry.get("link") or "").strip()
        if not title or len(title) > MAX_TITLE_CHARS:
            result.skip("no_title")
            continue
        if not is_http_url(link):
            result.skip("no_link")
            continue
        published = _entry_time(entry)
        if published is None:
            # Some feeds (central banks' among them) omit item dates; the fetch
            # time is the best honest bound on when we learned of the item.
            published = fetched
        result.articles.append(
            Article(
                source=source,
                title=title,
                url=link,
                published_at=min(published, fetched),
                summary=clean_text(entry.get("summary"))[:1000],
                category_hint=category,
            )
        )
    return result


def _entry_time(entry: feedparser.FeedParserDict) -> datetime | None:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        value = entry.get(key)
        if value:
            # feedparser normalises to a UTC struct_time; timegm reads it as UTC.
            return datetime.fromtimestamp(calendar.timegm(value), tz=UTC)
    return None
