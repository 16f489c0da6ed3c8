"""RSS 2.0 / Atom 1.0 feeds, parsed with feedparser (it copes with both and with sloppy XML)."""

from __future__ import annotations

import calendar
from datetime import UTC, datetime

import feedparser

from bbdash.news_feeder.sources import ParseResult, PayloadError
from bbdash.news_feeder.sources.text import clean_text


def parse_feed(
    content: bytes, *, source: str, category: str | None = None, now: datetime | None = None
) -> ParseResult:
    """Articles of one feed document; items without title or http link are skipped."""
    parsed = feedparser.parse(content)
    version = getattr(parsed, "version", "")
    if not version and not parsed.entries:
        # feedparser accepts anything; no version and no entries means "not a feed"
        # (an HTML error page, a captive portal, an empty body).
        text = content[:2000].decode("utf-8", errors="replace")
        raise PayloadError(f"{source}: not an RSS/Atom document", detail=text)
    fetched = now or datetime.now(UTC)
    result = ParseResult()
    for entry in parsed.entries:
        title = clean_text(entry.get("title"))
        link = str(entry.get("link") or "").strip()
        if not result.admit(title, link):
            continue
        published = _entry_time(entry)
        if published is None:
            # Some feeds (central banks' among them) omit item dates; the fetch
            # time is the best honest bound on when we learned of the item.
            published = fetched
        result.add(
            source,
            title,
            link,
            published,
            fetched=fetched,
            summary=entry.get("summary"),
            category_hint=category,
        )
    return result


def _entry_time(entry: feedparser.FeedParserDict) -> datetime | None:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        value = entry.get(key)
        if value:
            # feedparser normalises to a UTC struct_time; timegm reads it as UTC.
            try:
                return datetime.fromtimestamp(calendar.timegm(value), tz=UTC)
            except (ValueError, OverflowError, OSError):
                # Out of datetime's range (year 9999 and a negative offset): this
                # item's date is unusable, the rest of the feed is not.
                continue
    return None
