"""Logging upstream errors: the upstream's own words, no secret, and no flood.

A failing upstream fails on every poll and every retry; one line per
(source, kind) per `every_s` (a minute) says it all, and the next line counts
the ones held back (`suppressed`). Each line carries the upstream's own text
(`upstream`: an error body, a rate-limit notice), whitespace collapsed and cut
to `MAX_TEXT_CHARS`, with secrets removed: the values of the request's
credential parameters and headers, and any URL query string (CryptoPanic
takes its token in the query, and some upstreams echo the request URL).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from bbdash.common.upstream_errors import UpstreamError

MAX_TEXT_CHARS = 300
# Parameter and header names whose values are credentials.
_SECRET_NAME = re.compile(r"(?i)token|key|secret|passw|auth|sig")
# Shorter values are not credentials, and masking them would mangle the text.
_MIN_SECRET_CHARS = 4
_URL_QUERY = re.compile(r"(https?://[^\s?#\"'<>]*)\?[^\s\"'<>]*")
_SPACE = re.compile(r"\s+")


def secret_values(*named: Mapping[str, str] | None) -> tuple[str, ...]:
    """The values of credential-looking entries of query parameters or headers."""
    found = []
    for mapping in named:
        for key, value in (mapping or {}).items():
            if _SECRET_NAME.search(str(key)) and len(str(value)) >= _MIN_SECRET_CHARS:
                found.append(str(value))
    return tuple(found)


def clean_text(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` fit for a log line: secrets and query strings removed, one line, cut short."""
    for secret in secrets:
        text = text.replace(secret, "***")
    text = _URL_QUERY.sub(r"\1?***", text)
    text = _SPACE.sub(" ", text).strip()
    if len(text) > MAX_TEXT_CHARS:
        text = text[: MAX_TEXT_CHARS - 1] + "…"
    return text


@dataclass(slots=True)
class _Window:
    logged_at: float
    suppressed: int = 0


class UpstreamLog:
    """Logs upstream errors, at most one line per (source, kind) every `every_s` seconds."""

    def __init__(
        self,
        logger: logging.Logger,
        *,
        every_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._log = logger
        self._every_s = every_s
        self._clock = clock
        self._windows: dict[tuple[str, str], _Window] = {}

    def error(
        self,
        source: str,
        error: UpstreamError,
        *,
        secrets: Iterable[str] = (),
        action: str = "",
    ) -> bool:
        """Log `error` unless its (source, kind) was logged within `every_s`; True if logged.

        `action` says what happens next ("retrying in 1.2 s", "held 60 s").
        """
        now = self._clock()
        key = (source, error.kind)
        window = self._windows.get(key)
        if window is not None and now - window.logged_at < self._every_s:
            window.suppressed += 1
            return False
        suppressed = window.suppressed if window is not None else 0
        self._windows[key] = _Window(now)
        secrets = tuple(secrets)
        message = clean_text(str(error), secrets)
        extra: dict[str, object] = {"source": source, "kind": error.kind, "suppressed": suppressed}
        if error.detail:
            extra["upstream"] = clean_text(error.detail, secrets)
        if error.status is not None:
            extra["status"] = error.status
        if error.retry_after_s is not None:
            extra["retry_after_s"] = round(error.retry_after_s, 1)
        suffix = f"; {action}" if action else ""
        self._log.warning("%s %s: %s%s", source, error.kind, message, suffix, extra=extra)
        return True
