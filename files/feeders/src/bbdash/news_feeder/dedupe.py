"""Cross-source, cross-restart deduplication.

The same story reaches us as an RSS item, a CryptoPanic post and a NewsAPI
article, with tracking parameters on the link and a publisher suffix on the
title. An article is a duplicate when either its normalised URL or its
normalised title was seen before. Keys are SHA-1 fingerprints (fixed size)
kept in a small SQLite file on the data volume, bounded by age and count, so
a restart does not re-publish the last hours of headlines.
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
import time
import unicodedata
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

_TRACKING_PREFIXES = ("utm_", "mc_", "icid", "cmpid", "ocid", "ncid")
_TRACKING_KEYS = frozenset(
    {"fbclid", "gclid", "dclid", "msclkid", "yclid", "ref", "ref_src", "src", "cid", "taid",
     "guccounter", "guce_referrer", "guce_referrer_sig", ".tsrc", "soc_src", "soc_trk", "mod"}
)  # fmt: skip
_PUNCT_RE = re.compile(r"[^\w\s]", re.UNICODE)
_SPACE_RE = re.compile(r"\s+")
# A title shorter than this says too little to be a fingerprint ("Markets", "Update").
MIN_TITLE_KEY_CHARS = 16


def normalise_url(url: str) -> str:
    """Scheme-less, lower-case host without www, no fragment, no tracking, sorted query."""
    parts = urlsplit(url.strip())
    host = (parts.hostname or "").lower().removeprefix("www.").removeprefix("m.")
    if parts.port and parts.port not in (80, 443):
        host = f"{host}:{parts.port}"
    path = re.sub(r"/{2,}", "/", parts.path or "/")
    if len(path) > 1:
        path = path.rstrip("/")
    query = sorted(
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if k.lower() not in _TRACKING_KEYS and not k.lower().startswith(_TRACKING_PREFIXES)
    )
    return urlunsplit(("", host, path, urlencode(query), ""))


def normalise_title(title: str) -> str:
    """Case-, accent-, punctuation- and spacing-insensitive form of a headline."""
    text = unicodedata.normalize("NFKD", title.casefold())
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = _PUNCT_RE.sub(" ", text)
    return _SPACE_RE.sub(" ", text).strip()


def fingerprints(url: str, title: str) -> list[str]:
    """The keys one article claims: its URL, and its title when informative enough."""
    keys = ["u:" + _digest(normalise_url(url))]
    norm = normalise_title(title)
    if len(norm) >= MIN_TITLE_KEY_CHARS:
        keys.append("t:" + _digest(norm))
    return keys


def _digest(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8"), usedforsecurity=False).hexdigest()


class DedupeStore:
    """Persistent set of seen fingerprints with a maximum age and size.

    Not thread-safe: owned by the feeder's event loop (SQLite calls take
    microseconds on a file this small, so they run inline).
    """

    def __init__(
        self,
        path: Path | str,
        *,
        max_entries: int = 50_000,
        max_age_s: float = 14 * 86_400,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS seen (key TEXT PRIMARY KEY, seen_at REAL NOT NULL)"
        )
        self._db.execute("CREATE INDEX IF NOT EXISTS seen_at_idx ON seen (seen_at)")
        self._max_entries = max_entries
        self._max_age_s = max_age_s
        self._clock = clock
        self._since_prune = 0
        self.prune()

    def seen_or_add(self, url: str, title: str) -> bool:
        """True if the article was seen before; otherwise remember it and return False."""
        keys = fingerprints(url, title)
        placeholders = ",".join("?" * len(keys))
        cutoff = self._clock() - self._max_age_s
        row = self._db.execute(
            f"SELECT 1 FROM seen WHERE key IN ({placeholders}) AND seen_at >= ? LIMIT 1",  # noqa: S608 - placeholders only
            (*keys, cutoff),
        ).fetchone()
        if row is not None:
            return True
        now = self._clock()
        self._db.executemany(
            "INSERT OR REPLACE INTO seen (key, seen_at) VALUES (?, ?)", [(k, now) for k in keys]
        )
        self._since_prune += 1
        if self._since_prune >= 500:
            self.prune()
        return False

    def prune(self) -> int:
        """Drop entries older than the maximum age, then the oldest beyond the maximum count."""
        self._since_prune = 0
        removed = self._db.execute(
            "DELETE FROM seen WHERE seen_at < ?", (self._clock() - self._max_age_s,)
        ).rowcount
        excess = len(self) - self._max_entries
        if excess > 0:
            removed += self._db.execute(
                "DELETE FROM seen WHERE key IN (SELECT key FROM seen ORDER BY seen_at LIMIT ?)",
                (excess,),
            ).rowcount
        return removed

    def __len__(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM seen").fetchone()[0])

    def close(self) -> None:
        """Close the database file."""
        self._db.close()
