"""The labelled text the model learns from, and the fixed rule that splits it.

Split rule, decided before any training: sha256 of the *normalised* text
(lower-case, links and `$TICKERS` removed, every run of non-alphanumerics one
space), first hex digit 0-2 -> held-out, 3-4 -> dev, 5-f -> train. Rows that
differ only in tickers, links, case or punctuation (about 4 % of the corpus)
therefore always fall on the same side.
"""

from __future__ import annotations

import csv
import hashlib
import re
from pathlib import Path
from typing import Literal

from bbdash.sentiment.labels import Label

TRAINING_DIR = Path(__file__).resolve().parents[1]
REPO_ROOT = TRAINING_DIR.parents[2]
CORPUS = TRAINING_DIR / "data" / "twitter-financial-news" / "train.csv"
PROJECT_DATA = REPO_ROOT / "tests" / "python" / "sentiment" / "data"

# The corpus's own label codes (its README): 0 bearish, 1 bullish, 2 neutral.
_CORPUS_LABELS = {"0": Label.NEGATIVE, "1": Label.POSITIVE, "2": Label.NEUTRAL}

Side = Literal["heldout", "dev", "train"]
Row = tuple[Label, str]

_LINK_RE = re.compile(r"https?://\S+|www\.\S+")
_TICKER_RE = re.compile(r"\$[a-z][a-z0-9._-]*")
_NON_ALNUM_RE = re.compile(r"[^a-z0-9]+")


def normalise(text: str) -> str:
    """The text the split rule hashes: near-duplicates normalise to the same string."""
    text = _TICKER_RE.sub(" ", _LINK_RE.sub(" ", text.lower()))
    return _NON_ALNUM_RE.sub(" ", text).strip()


def side(text: str) -> Side:
    """Which part of the corpus a row belongs to (the rule in the module docstring)."""
    digit = hashlib.sha256(normalise(text).encode("utf-8")).hexdigest()[0]
    if digit in "012":
        return "heldout"
    if digit in "34":
        return "dev"
    return "train"


def load_corpus(path: Path = CORPUS) -> list[Row]:
    """Every row of the corpus, in file order."""
    with path.open(encoding="utf-8", newline="") as handle:
        return [(_CORPUS_LABELS[row["label"]], row["text"]) for row in csv.DictReader(handle)]


def corpus_part(part: Side, path: Path = CORPUS) -> list[Row]:
    """The rows of one side of the split, in file order."""
    return [row for row in load_corpus(path) if side(row[1]) == part]


def load_project(name: str) -> list[Row]:
    """One of the project's own headline files (`headlines_<name>.tsv`)."""
    rows: list[Row] = []
    for line in (PROJECT_DATA / f"headlines_{name}.tsv").read_text("utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            label, text = line.split("\t", 1)
            rows.append((Label(label), text))
    return rows
