"""Rules for free text and JSON documents that clients store.

PostgreSQL refuses NUL in text and lone surrogates cannot be encoded as UTF-8:
both would surface as 500s if they reached a query, so they are refused here
with a 422. Bidirectional overrides and zero-width characters make a name
display differently from what it is ("Trojan Source"), so names refuse the
whole Unicode "format" category too.
"""

from __future__ import annotations

import math
import unicodedata
from typing import Any

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


class JsonLimits:
    """Bounds for a stored JSON document (dashboard layouts)."""

    MAX_DEPTH = 16
    MAX_NODES = 10_000
    MAX_STRING = 4_096
    MAX_INT = 2**53  # what every JSON reader (JavaScript's included) round-trips exactly


def check_json_document(document: Any) -> None:
    """Raise ValueError naming where the first value PostgreSQL or a browser refuses sits."""
    nodes = 0
    stack: list[tuple[Any, str, int]] = [(document, "", 0)]
    while stack:
        value, path, depth = stack.pop()
        nodes += 1
        if nodes > JsonLimits.MAX_NODES:
            raise ValueError(f"has more than {JsonLimits.MAX_NODES} values")
        if depth > JsonLimits.MAX_DEPTH:
            raise ValueError(f"nests deeper than {JsonLimits.MAX_DEPTH} levels at {path or '/'}")
        if isinstance(value, dict):
            for key, child in value.items():
                _check_json_string(key, f"{path}/{key}", what="key")
                stack.append((child, f"{path}/{key}", depth + 1))
        elif isinstance(value, list):
            stack.extend((child, f"{path}/{i}", depth + 1) for i, child in enumerate(value))
        elif isinstance(value, str):
            _check_json_string(value, path, what="string")
        elif isinstance(value, bool) or value is None:
            continue
        elif isinstance(value, int):
            if abs(value) > JsonLimits.MAX_INT:
                raise ValueError(f"integer out of range at {path or '/'}")
        elif isinstance(value, float):
            if not math.isfinite(value):
                raise ValueError(f"NaN or Infinity at {path or '/'}")
            # jsonb keeps numbers as numeric and writes 1e20 back as the integer
            # 100000000000000000000, which no JSON reader round-trips (and orjson refuses).
            if abs(value) > JsonLimits.MAX_INT:
                raise ValueError(f"number out of range at {path or '/'}")
        else:
            raise ValueError(f"unsupported value at {path or '/'}")


def _check_json_string(value: str, path: str, *, what: str) -> None:
    if len(value) > JsonLimits.MAX_STRING:
        raise ValueError(f"{what} longer than {JsonLimits.MAX_STRING} characters at {path or '/'}")
    for char in value:
        if char == "\x00" or unicodedata.category(char) == "Cs":
            raise ValueError(f"{what} with a NUL or lone surrogate at {path or '/'}")
