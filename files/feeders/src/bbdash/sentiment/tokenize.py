"""Headline tokenizer and a deliberately small stemmer.

The scorer looks tokens up in dictionaries, so what matters is that a lexicon
entry and a headline word reduce to the same key ("tumbles", "tumbled",
"tumbling" -> "tumbl"), not that the key is a real English stem. Numbers are
folded into placeholders so phrases like "up <pct>" can be listed once.
"""

from __future__ import annotations

import re
from typing import cast

PCT = "<pct>"
NUM = "<num>"
MONEY = "<money>"

# One pass, alternatives in priority order: percentages, money, numbers, words
# (letters with inner apostrophes/hyphens/ampersands, so "s&p", "year-on-year",
# "moody's" stay one token), and the punctuation that separates clauses.
_TOKEN_RE = re.compile(
    r"""
    (?P<pct>[-+]?\d[\d.,]*\s?%)
  | (?P<money>[$€£¥]\s?\d[\d.,]*\s?(?:[kmbt]n?|billion|million|trillion)?\b)
  | (?P<num>\d[\d.,]*(?:[kmbt]n?\b)?)
  | (?P<word>[a-z][a-z'&]*(?:-[a-z][a-z'&]*)*)
  | (?P<punct>[,;:!?]|\s-\s|\s\u2014\s|\s\u2013\s)
    """,
    re.VERBOSE,
)

CLAUSE_BREAK = ","

_STEM_CACHE: dict[str, str] = {}
_CACHE_LIMIT = 200_000  # bounded: a long-running feeder sees open text
_VOWELS = frozenset("aeiouy")


def _stem_uncached(word: str) -> str:
    if len(word) <= 3 or word.startswith("<"):
        return word
    if word.endswith("'s"):
        word = word[:-2]
    if word.endswith(("ies", "ied")) and len(word) > 4:
        return word[:-3] + "y"
    for suffix in ("ing", "ed"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            base = word[: -len(suffix)]
            if not _VOWELS.intersection(base):
                break  # "red", "bring": not an inflection worth stripping
            # "slipping" -> "slipp" -> "slip", so it meets "slip" and "slips".
            if len(base) > 3 and base[-1] == base[-2] and base[-1] not in "ls":
                base = base[:-1]
            return _strip_e(base)
    if word.endswith("es") and len(word) > 4 and not word.endswith("ses"):
        return _strip_e(word[:-1])
    if word.endswith("s") and not word.endswith(("ss", "us", "is")) and len(word) > 3:
        return _strip_e(word[:-1])
    return _strip_e(word)


def _strip_e(word: str) -> str:
    # "rise"/"rises"/"rising" must all meet: drop a final silent e.
    if len(word) > 3 and word.endswith("e"):
        return word[:-1]
    return word


def stem(word: str) -> str:
    """Reduce a lower-case word to its lookup key (memoised: headlines repeat words)."""
    cached = _STEM_CACHE.get(word)
    if cached is None:
        cached = _stem_uncached(word)
        if len(_STEM_CACHE) < _CACHE_LIMIT:
            _STEM_CACHE[word] = cached
    return cached


# The same alternatives without capture groups: findall then returns the matched
# strings (no 5-tuple per token), and one dict lookup per string finds its token.
_MATCH_RE = re.compile(re.sub(r"\(\?P<\w+>", "(?:", _TOKEN_RE.pattern), re.VERBOSE)
_TOKEN_CACHE: dict[str, str] = {}
_CURRENCY = frozenset("$\u20ac\u00a3\u00a5")


def _token_of(match: str) -> str:
    """The token of one string `_MATCH_RE` matched, by the alternative that matched it.

    Only pct can hold "%", only money starts with a currency sign, num then is the
    only one starting with a digit, word the only one starting with a letter; the
    rest is clause punctuation.
    """
    first = match[0]
    if match[-1] == "%":
        token = PCT
    elif first in _CURRENCY:
        token = MONEY
    elif first.isdigit():
        token = NUM
    elif "a" <= first <= "z":
        token = stem(match)
    else:
        token = CLAUSE_BREAK
    if len(_TOKEN_CACHE) < _CACHE_LIMIT:
        _TOKEN_CACHE[match] = token
    return token


def tokenize(text: str) -> list[str]:
    """Lower-case, split, and stem a headline; clause punctuation becomes ","."""
    matches = _MATCH_RE.findall(text.lower())
    found = list(map(_TOKEN_CACHE.get, matches))
    if None in found:  # strings not seen yet: the cache fills up within a few headlines
        return [t if t is not None else _token_of(m) for t, m in zip(found, matches, strict=True)]
    return cast("list[str]", found)
