"""Small text helpers shared by the parsers: headlines arrive with HTML and odd spacing."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime

_TAG_RE = re.compile(r"<[^>]+>")
_SPACE_RE = re.compile(r"\s+")


def clean_text(raw: object) -> str:
    """Plain text: tags stripped, entities decoded, whitespace collapsed."""
    if not isinstance(raw, str):
        return ""
    return _SPACE_RE.sub(" ", html.unescape(_TAG_RE.sub(" ", raw))).strip()


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
