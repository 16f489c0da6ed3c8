"""Small text helpers shared by the parsers: headlines arrive with HTML and odd spacing."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime

_TAG_RE = re.compile(r"<[^>]+>")
_SPACE_RE = re.compile(r"\s+")
# Half of a UTF-16 pair, left alone by a broken emoji escape ("\ud83d" in a
# JSON feed): Python keeps it in the str, but it is not UTF-8, and InfluxDB
# takes UTF-8 only.
_LONE_SURROGATE_RE = re.compile("[\ud800-\udfff]")


def valid_unicode(text: str) -> str:
    """`text` with every lone surrogate replaced by U+FFFD, so it encodes as UTF-8."""
    return _LONE_SURROGATE_RE.sub("\ufffd", text)


def clean_text(raw: object) -> str:
    """Plain text: tags stripped, entities decoded, whitespace collapsed, lone
    surrogates replaced with U+FFFD (an entity may decode to one too)."""
    if not isinstance(raw, str):
        return ""
    text = html.unescape(_TAG_RE.sub(" ", raw))
    return _SPACE_RE.sub(" ", valid_unicode(text)).strip()


def parse_rfc3339(raw: object) -> datetime | None:
    """Parse '2024-02-12T16:00:00Z' / '+00:00' / fractional seconds; None if not a date."""
    if not isinstance(raw, str) or not raw:
        return None
    text = raw.strip().replace("Z", "+00:00").replace("z", "+00:00")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)  # upstreams that omit the zone mean UTC
    try:
        return moment.astimezone(UTC)
    except OverflowError:  # 9999-12-31T23:59:59-14:00 is past datetime's range in UTC
        return None


def is_http_url(url: str) -> bool:
    """Only http(s) links become dashboard links (no javascript:, no relative paths)."""
    return url.startswith(("http://", "https://")) and len(url) > len("https://x")
