"""One module per upstream: each turns a recorded/fetched payload into `Article`s.

Parsers are pure functions of bytes, so tests feed them recorded payloads; the
network side lives in `bbdash.news_feeder.pollers`. A payload that is not the
format, or an upstream's error document, raises the shared upstream errors
(`PayloadError`, `RateLimitedError`, `AuthError`) with the upstream's own text
as `detail`, so the client counts, logs and obeys them like HTTP errors.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bbdash.common.upstream_errors import PayloadError
from bbdash.news_feeder.records import MAX_TITLE_CHARS, Article
from bbdash.news_feeder.sources.text import clean_text, is_http_url, valid_unicode

MAX_SUMMARY_CHARS = 1000

__all__ = ["MAX_SUMMARY_CHARS", "ParseResult", "PayloadError", "json_list", "load_json_object"]


@dataclass(slots=True)
class ParseResult:
    """Good articles, plus why the others were skipped (reason -> count)."""

    articles: list[Article] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)

    def skip(self, reason: str) -> None:
        """Count one skipped item."""
        self.skipped[reason] = self.skipped.get(reason, 0) + 1

    def objects(self, items: Iterable[object]) -> Iterator[dict[str, Any]]:
        """The JSON objects among `items`; each other item is counted as "not_an_object"."""
        for item in items:
            if isinstance(item, dict):
                yield item
            else:
                self.skip("not_an_object")

    def admit(self, title: str, url: str) -> bool:
        """Whether an item has the title and link every article needs; if not, count why.

        `title` is the cleaned title: empty, or longer than `MAX_TITLE_CHARS` (a
        body pasted into the title field), is "no_title"; a link that is not
        http(s) is "no_link".
        """
        if not title or len(title) > MAX_TITLE_CHARS:
            self.skip("no_title")
            return False
        if not is_http_url(url):
            self.skip("no_link")
            return False
        return True

    def add(
        self,
        source: str,
        title: str,
        url: str,
        published: datetime | None,
        *,
        fetched: datetime,
        summary: object = None,
        category_hint: str | None = None,
        symbols_hint: tuple[str, ...] = (),
    ) -> None:
        """Keep an admitted item as an `Article`, or count it "no_date" when it has no date.

        A date after `fetched` is clamped to it (no news from the future);
        `summary` is the raw upstream text, cleaned and cut here.
        """
        if published is None:
            self.skip("no_date")
            return
        self.articles.append(
            Article(
                source=source,
                title=title,
                url=valid_unicode(url),
                published_at=min(published, fetched),
                summary=clean_text(summary)[:MAX_SUMMARY_CHARS],
                category_hint=category_hint,
                symbols_hint=symbols_hint,
            )
        )


def load_json_object(content: bytes, source: str) -> dict[str, Any]:
    """The payload as a JSON object; `PayloadError` ("malformed") naming `source` otherwise."""
    try:
        payload = json.loads(content)
    except (ValueError, UnicodeDecodeError) as exc:
        text = content.decode("utf-8", errors="replace")
        raise PayloadError(f"{source}: invalid JSON: {exc}", detail=text) from exc
    if not isinstance(payload, dict):
        raise PayloadError(f"{source}: response is not an object", detail=str(payload))
    return payload


def json_list(payload: dict[str, Any], key: str, source: str) -> list[Any]:
    """`payload[key]` if it is a JSON list; `PayloadError` ("malformed") naming `source` if not."""
    items = payload.get(key)
    if not isinstance(items, list):
        raise PayloadError(f"{source}: {key} is not a list")
    return items
