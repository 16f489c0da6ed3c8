"""Optimistic concurrency: ETags carry the row's version; writes must say which
version they were based on, through ``If-Match`` or a ``version`` body field.

A write that names no version is refused with 428, so two clients cannot
silently overwrite each other. ``If-Match`` failures answer 412 (RFC 9110); a
stale ``version`` in the body answers 409 (a conflict with the current state).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bbdash.watchlist_api.problems import ProblemError

_ETAG = re.compile(r'^(?:W/)?"v([0-9]{1,10})"$')


def etag(version: int) -> str:
    return f'"v{version}"'


@dataclass(frozen=True, slots=True)
class Expected:
    """The version a write is conditioned on, and how the client said it."""

    version: int
    from_header: bool

    def mismatch(self, current: int) -> ProblemError:
        if self.from_header:
            return ProblemError(
                412,
                f"If-Match does not match the current version {current}: re-read and retry",
                kind="version-mismatch",
                headers={"ETag": etag(current)},
            )
        return ProblemError(
            409,
            f"version {self.version} is stale, the current version is {current}: re-read and retry",
            kind="version-conflict",
            headers={"ETag": etag(current)},
        )


def parse_if_match(header: str | None) -> int | None:
    """The version an If-Match header names; None when absent. ``*`` is not supported
    (it would defeat the purpose); anything unparsable can never match."""
    if header is None:
        return None
    match = _ETAG.match(header.strip())
    if not match:
        raise ProblemError(
            412, 'If-Match must be one ETag as returned by the API, e.g. "v3"', kind="bad-if-match"
        )
    return int(match.group(1))


def expected_version(
    if_match: str | None, body_version: int | None, *, required: bool
) -> Expected | None:
    header_version = parse_if_match(if_match)
    if header_version is not None and body_version is not None and header_version != body_version:
        raise ProblemError(
            400, "If-Match and the body's version disagree", kind="version-ambiguous"
        )
    if header_version is not None:
        return Expected(header_version, from_header=True)
    if body_version is not None:
        return Expected(body_version, from_header=False)
    if required:
        raise ProblemError(
            428,
            "send If-Match with the ETag you read (or the version field) so concurrent "
            "edits cannot overwrite each other",
            kind="precondition-required",
        )
    return None
