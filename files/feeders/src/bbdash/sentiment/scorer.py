"""Offline finance headline sentiment: lexicon + composition rules.

Why rules and not a model: no labelled financial data could be obtained from
the allowed package registries (see docs/sentiment.md), and the feeder must
run with nothing downloaded. General-purpose lexicons read finance badly
("loss narrows" is good news, "cut to Sell" is bad, "profit" is not praise),
so the lexicon here separates *movements* (rise, slump, cut) from *quantities*
whose rise is good or bad (profit vs. loss, sales vs. costs) and scores their
product; phrases such as analyst actions override single words.
"""

from __future__ import annotations

import math
from itertools import compress

from bbdash.sentiment.labels import Label
from bbdash.sentiment.lexicon import Entry, Kind, Lexicon, load_default
from bbdash.sentiment.tokenize import CLAUSE_BREAK, tokenize

# A movement looks this many units left and right for the quantity it moves.
OBJECT_WINDOW = 4
# A negator reaches this many units to its right, within its clause.
NEGATION_WINDOW = 3
NEGATION_FACTOR = -0.8
# Squashes the raw sum into (-1, 1): raw / sqrt(raw^2 + ALPHA).
ALPHA = 4.0
# |score| below this reads as neutral (tuned on the dev split only).
NEUTRAL_BAND = 0.25


def label_for(score: float, band: float = NEUTRAL_BAND) -> Label:
    """Map a score in [-1, 1] to a class."""
    if score >= band:
        return Label.POSITIVE
    if score <= -band:
        return Label.NEGATIVE
    return Label.NEUTRAL


def squash(raw: float) -> float:
    """The raw sum mapped into (-1, 1)."""
    if raw == 0.0:
        return 0.0
    return raw / math.sqrt(raw * raw + ALPHA)


_BREAK = Entry(Kind.BUT, 1.0, 0.0)  # placeholder unit for clause punctuation
# Module-level aliases: the hot loop compares kinds by identity without enum lookups.
_VAL, _DIR, _OBJ, _NEG, _INT = Kind.VAL, Kind.DIR, Kind.OBJ, Kind.NEG, Kind.INT


class SentimentScorer:
    """Scores headlines in [-1, 1]; pure Python, thread-safe after construction."""

    # What stored scores made by this scorer are tagged with (docs/contracts.md).
    version = "lexicon-1"

    def __init__(self, lexicon: Lexicon | None = None) -> None:
        self._lexicon = lexicon if lexicon is not None else load_default()
        self._entries = self._lexicon.entries
        self._max_len = self._lexicon.max_len
        # Most words start no phrase: one lookup for them, the phrase search only
        # for words that start one (and only as long as their longest phrase).
        self._single = {key[0]: e for key, e in self._entries.items() if len(key) == 1}
        self._phrase_len: dict[str, int] = {}
        for key in self._entries:
            if len(key) > 1:
                self._phrase_len[key[0]] = max(len(key), self._phrase_len.get(key[0], 0))
        # A token's unit when it starts no phrase; clause punctuation is never a phrase start.
        self._unit_of = {**self._single, CLAUSE_BREAK: _BREAK}.get
        self._phrase_len.pop(CLAUSE_BREAK, None)

    def _units(self, tokens: list[str]) -> list[Entry | None]:
        """Longest-match the tokens against the lexicon; None for unknown words."""
        # Every token as a single word first (one C-level pass), then the phrases,
        # left to right, from the tokens that start one; a phrase replaces its words.
        units = list(map(self._unit_of, tokens))
        phrase_len = self._phrase_len
        if phrase_len.keys().isdisjoint(tokens):
            return units
        entries = self._entries
        out: list[Entry | None] = []
        done, n = 0, len(tokens)
        for i in [i for i, token in enumerate(tokens) if token in phrase_len]:
            if i < done:
                continue  # inside a phrase already matched
            for size in range(min(phrase_len[tokens[i]], n - i), 1, -1):
                entry = entries.get(tuple(tokens[i : i + size]))
                if entry is not None:
                    out += units[done:i]
                    out.append(entry)
                    done = i + size
                    break
        if not out:
            return units
        out += units[done:]
        return out

    def raw(self, text: str) -> float:
        """Unbounded sum of the headline's contributions (for inspection and tests)."""
        return self.raw_tokens(tokenize(text))

    def raw_tokens(self, tokens: list[str]) -> float:
        """`raw` of an already tokenized headline (the trained model shares the tokens)."""
        units = self._units(tokens)
        n = len(units)
        contrib = [0.0] * n
        used_obj = [False] * n
        # Later passes run only when a unit of their kind is present (same result, faster).
        has_obj = has_modifier = False
        # compress() skips the unknown words (None) in C: most of a sentence.
        hits = list(compress(range(n), units))
        for i in hits:
            unit = units[i]
            assert unit is not None
            if unit is _BREAK:
                continue
            kind = unit.kind
            if kind is _VAL:
                contrib[i] = unit.weight
            elif kind is _DIR:
                j = self._nearest_object(units, i)
                if j is None:
                    contrib[i] = unit.alone
                else:
                    target = units[j]
                    assert target is not None
                    contrib[i] = unit.weight * target.weight * 1.3
                    used_obj[j] = True
            elif kind is _OBJ:
                has_obj = True
            elif kind is _NEG or kind is _INT:
                has_modifier = True
        if has_obj:
            for i in hits:
                unit = units[i]
                if unit is not None and unit.kind is _OBJ and not used_obj[i]:
                    contrib[i] = unit.alone
        if has_modifier:
            self._apply_modifiers(units, contrib)
        if not any(contrib):
            return 0.0  # about half of real sentences: no scored unit at all
        return self._combine(units, contrib, hits)

    @staticmethod
    def _nearest_object(units: list[Entry | None], i: int) -> int | None:
        """Index of the quantity a movement acts on, or None.

        First the closest OBJ in the same clause (ties go right: verb, object).
        Failing that, one look left across a comma, for the appositive
        "unemployment falls to 3.5%, lowest since 1969".
        """
        n = len(units)
        for distance in range(1, OBJECT_WINDOW + 1):
            for j in (i + distance, i - distance):
                if 0 <= j < n:
                    unit = units[j]
                    if unit is not None and unit.kind is Kind.OBJ and not _crosses(units, i, j):
                        return j
        for j in range(i - 1, max(-1, i - OBJECT_WINDOW - 3), -1):
            unit = units[j]
            if unit is not None and unit.kind in _HARD_STOPS:
                return None
            if unit is not None and unit.kind is Kind.OBJ:
                return j
        return None

    @staticmethod
    def _apply_modifiers(units: list[Entry | None], contrib: list[float]) -> None:
        n = len(units)
        for i, unit in enumerate(units):
            if unit is None:
                continue
            if unit.kind is Kind.NEG:
                flipped = False
                for j in range(i + 1, min(n, i + 1 + NEGATION_WINDOW)):
                    if units[j] is _BREAK:
                        break
                    if contrib[j]:
                        contrib[j] *= NEGATION_FACTOR
                        flipped = True
                        break
                if not flipped:
                    contrib[i] = unit.alone
            elif unit.kind is Kind.INT:
                for j in (i + 1, i - 1, i + 2, i - 2):
                    if 0 <= j < n and contrib[j] and not _crosses(units, i, j):
                        contrib[j] *= unit.weight
                        break

    @staticmethod
    def _combine(units: list[Entry | None], contrib: list[float], hits: list[int]) -> float:
        # Only the units in `hits`: an unknown word contributes 0.0, which adds nothing
        # (at most the sign of a zero total, and squash maps both zeros to 0.0).
        total = 0.0
        clause_factor = 1.0
        for i in hits:
            unit = units[i]
            if unit is _BREAK:
                clause_factor = 1.0
                continue
            if unit is not None and unit.kind is Kind.DESPITE:
                clause_factor = unit.weight
            elif unit is not None and unit.kind is Kind.BUT:
                total *= unit.weight
            total += contrib[i] * clause_factor
        return total

    def score(self, text: str) -> float:
        """Sentiment of one headline in [-1, 1] (0.0 for no signal)."""
        return squash(self.raw(text))

    def label(self, text: str) -> Label:
        """Three-class reading of `score`."""
        return label_for(self.score(text))


# Words a movement does not reach across: "X jumps as Y worries ease" moves X
# and Y separately; "drops on fears" is a drop caused by fears, not of them.
_HARD_STOPS = frozenset({Kind.SEP, Kind.DESPITE})
_STOPS = frozenset({Kind.SEP, Kind.DESPITE, Kind.BUT})


def _crosses(units: list[Entry | None], i: int, j: int) -> bool:
    lo, hi = (i, j) if i < j else (j, i)
    for k in range(lo + 1, hi):
        unit = units[k]
        if unit is _BREAK or (unit is not None and unit.kind in _STOPS):
            return True
    return False
