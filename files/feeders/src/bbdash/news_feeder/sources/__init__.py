"""One module per upstream: each turns a recorded/fetched payload into `Article`s.

Parsers are pure functions of bytes, so tests feed them recorded payloads; the
network side lives in `bbdash.news_feeder.poller`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bbdash.news_feeder.records import Article


class PayloadError(ValueError):
    """The whole payload is unusable (not the format at all, or an upstream error body)."""

    def __init__(self, message: str, kind: str = "malformed") -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(slots=True)
class ParseResult:
    """Good articles, plus why the others were skipped (reason -> count)."""

    articles: list[Article] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)

    def skip(self, reason: str) -> None:
        """Count one skipped item."""
        self.skipped[reason] = self.skipped.get(reason, 0) + 1
