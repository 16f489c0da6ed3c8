"""The normalised article every source produces, and its line-protocol point.

Contract (docs/contracts.md): measurement `news_articles`, tags `source`,
`category`, `related_asset`, `sentiment_scorer` (the scorer version that made
`sentiment_score`); fields `title`, `url`, `sentiment_score`,
`published_at` (RFC 3339); timestamp = publication time in ns; demo points
carry `demo=true`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from bbdash.common.lineprotocol import Point

MEASUREMENT = "news_articles"
CATEGORIES = ("crypto", "stocks", "forex", "macro", "general")
NO_ASSET = "none"  # tag value when no watched asset is named: keeps the tag set stable
MAX_TITLE_CHARS = 500  # a "title" longer than this is a body pasted into a title field


@dataclass(frozen=True, slots=True)
class Article:
    """One headline from any upstream, before enrichment."""

    source: str
    title: str
    url: str
    published_at: datetime  # timezone-aware, UTC
    summary: str = ""
    category_hint: str | None = None  # the feed's configured category, if any
    symbols_hint: tuple[str, ...] = field(default=())  # upstream's own tagging (CryptoPanic)


@dataclass(frozen=True, slots=True)
class EnrichedArticle:
    """An article with the fields the dashboard needs."""

    article: Article
    category: str
    related_asset: str
    sentiment: float
    scorer: str  # the version of the scorer that made `sentiment` (tag sentiment_scorer)

    def to_point(self, *, demo: bool = False) -> Point:
        """Encode as the `news_articles` point."""
        published = self.article.published_at.astimezone(UTC)
        tags = {
            "source": self.article.source,
            "category": self.category,
            "related_asset": self.related_asset,
            "sentiment_scorer": self.scorer,
        }
        if demo:
            tags["demo"] = "true"
        return Point(
            MEASUREMENT,
            tags,
            {
                "title": self.article.title,
                "url": self.article.url,
                "sentiment_score": round(max(-1.0, min(1.0, self.sentiment)), 4),
                "published_at": published.isoformat().replace("+00:00", "Z"),
            },
            to_ns(published),
        )


def to_ns(moment: datetime) -> int:
    """Nanoseconds since the epoch, exact (no float rounding)."""
    delta = moment.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1_000
