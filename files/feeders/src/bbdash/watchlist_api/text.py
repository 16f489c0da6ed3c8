"""Rules for the free text that clients store.

PostgreSQL refuses NUL in text and lone surrogates cannot be encoded as UTF-8:
both would surface as 500s if they reached a query, so they are refused here
with a 422. Bidirectional overrides and zero-width characters make a name
display differently from what it is ("Trojan Source"), so names refuse the
whole Unicode "format" category too.
"""

from __future__ import annotations

import unicodedata

# Control, format, surrogate, private-use and unassigned code points.
_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn"})
_MULTILINE_ALLOWED = frozenset({"\n", "\t"})


def _within(value: str, max_length: int | None) -> str:
    # NFC can make a string longer (U+0958 becomes two code points): the length the
    # schema checked first is checked again on what is stored.
    if max_length is not None and len(value) > max_length:
        raise ValueError(
            f"is {len(value)} characters once normalised (NFC); the limit is {max_length}"
        )
    return value


def clean_name(value: str, max_length: int | None = None) -> str:
    """A single-line name: NFC-normalised, trimmed, no invisible or control characters."""
    value = _within(unicodedata.normalize("NFC", value).strip(), max_length)
    if not value:
        raise ValueError("must not be empty or only spaces")
    if "/" in value:
        raise ValueError("must not contain '/' (names appear in URLs)")
    _refuse_invisible(value, allowed=frozenset())
    return value


def clean_label(value: str, max_length: int | None = None) -> str:
    """A single-line label that may be empty (display names)."""
    value = _within(unicodedata.normalize("NFC", value).strip(), max_length)
    _refuse_invisible(value, allowed=frozenset())
    return value


def clean_text(value: str, max_length: int | None = None) -> str:
    """Free text (descriptions): like a name, but newlines and tabs are kept."""
    value = _within(unicodedata.normalize("NFC", value).strip(), max_length)
    _refuse_invisible(value, allowed=_MULTILINE_ALLOWED)
    return value


def _refuse_invisible(value: str, *, allowed: frozenset[str]) -> None:
    for position, char in enumerate(value):
        if char in allowed:
            continue
        category = unicodedata.category(char)
        if category in _REFUSED_CATEGORIES:
            raise ValueError(
                f"contains a control or invisible character U+{ord(char):04X} at position "
                f"{position}"
            )
