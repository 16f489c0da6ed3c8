"""Load the finance lexicon (package data) into lookup tables keyed by stems."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from importlib import resources

from bbdash.sentiment.tokenize import tokenize

LEXICON_FILE = "finance_lexicon.txt"


class Kind(Enum):
    """What a lexicon entry does when the scorer meets it."""

    VAL = "val"
    DIR = "dir"
    OBJ = "obj"
    NEG = "neg"
    INT = "int"
    DESPITE = "despite"
    BUT = "but"
    SEP = "sep"


@dataclass(frozen=True, slots=True)
class Entry:
    """One lexicon entry; `alone` is the score when it acts on nothing."""

    kind: Kind
    weight: float
    alone: float


class LexiconError(ValueError):
    """A malformed lexicon line (raised at load, so a bad edit fails the tests)."""


@dataclass(frozen=True, slots=True)
class Lexicon:
    """Entries by stem tuple; `max_len` bounds the phrase search."""

    entries: dict[tuple[str, ...], Entry]
    max_len: int

    def __len__(self) -> int:
        return len(self.entries)


def parse(text: str) -> Lexicon:
    """Parse lexicon text (see the header of finance_lexicon.txt for the format)."""
    entries: dict[tuple[str, ...], Entry] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        try:
            kind = Kind(parts[0])
            weight = 0.0 if kind is Kind.SEP else float(parts[1])
            if kind in (Kind.DIR, Kind.OBJ):
                alone = float(parts[2])
                words = parts[3:]
            elif kind is Kind.SEP:
                alone, weight = 0.0, 0.0
                words = parts[1:]
            elif kind is Kind.NEG:
                alone, weight = weight, 0.0
                words = parts[2:]
            else:
                alone = weight if kind is Kind.VAL else 0.0
                words = parts[2:]
        except (ValueError, IndexError) as exc:
            msg = f"lexicon line {number}: {raw!r}: {exc}"
            raise LexiconError(msg) from exc
        key = tuple(tokenize(" ".join(words)))
        if not key:
            msg = f"lexicon line {number}: no term in {raw!r}"
            raise LexiconError(msg)
        if key in entries:
            msg = f"lexicon line {number}: {' '.join(words)!r} listed twice"
            raise LexiconError(msg)
        entries[key] = Entry(kind, weight, alone)
    return Lexicon(entries, max(len(key) for key in entries))


def load_default() -> Lexicon:
    """The lexicon shipped with the package."""
    text = resources.files("bbdash.sentiment").joinpath(LEXICON_FILE).read_text("utf-8")
    return parse(text)
