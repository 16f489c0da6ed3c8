"""Headline tokenizer and a deliberately small stemmer.

The scorer looks tokens up in dictionaries, so what matters is that a lexicon
entry and a headline word reduce to the same key ("tumbles", "tumbled",
"tumbling" -> "tumbl"), not that the key is a real English stem. Numbers are
folded into placeholders so phrases like "up <pct>" can be listed once.
"""

from __future__ import annotations

import re

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
        if len(_STEM_CACHE) < 200_000:  # bounded: a long-running feeder sees open text
            _STEM_CACHE[word] = cached
    return cached


def tokenize(text: str) -> list[str]:
    """Lower-case, split, and stem a headline; clause punctuation becomes ","."""
    out: list[str] = []
    append = out.append
    cache = _STEM_CACHE
    # findall gives one tuple of groups per token, cheaper than match objects;
    # exactly one group of each tuple is non-empty.
    for pct, money, num, word, _punct in _TOKEN_RE.findall(text.lower()):
        if word:
            stemmed = cache.get(word)
            append(stemmed if stemmed is not None else stem(word))
        elif pct:
            append(PCT)
        elif money:
            append(MONEY)
        elif num:
            append(NUM)
        else:
            append(CLAUSE_BREAK)
    return out
