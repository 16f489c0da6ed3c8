"""The trained scorer: a multinomial logistic regression over `features.Features`.

Its weights ship as package data (`model_weights.json`, written by
`files/feeders/training/train.py`); nothing is downloaded at run time. The
score is P(positive) - P(negative), in [-1, 1]; the label comes from two bands
on that score chosen on the training corpus's dev split (docs/sentiment.md).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from importlib import resources
from itertools import pairwise
from typing import Any

from bbdash.sentiment.features import (
    BIAS,
    DENSE,
    QUESTION,
    FeatureExtractor,
    Features,
    clean,
    lex_bucket,
)
from bbdash.sentiment.labels import Bands, Label
from bbdash.sentiment.scorer import SentimentScorer, squash
from bbdash.sentiment.tokenize import CLAUSE_BREAK, tokenize

WEIGHTS_FILE = "model_weights.json"
CLASSES = (Label.NEGATIVE, Label.NEUTRAL, Label.POSITIVE)

Triple = tuple[float, float, float]


@dataclass(frozen=True, slots=True)
class Weights:
    """What the training script writes: per-feature class weights, bands, version."""

    version: str
    sparse: dict[str, Triple]
    dense: tuple[Triple, ...]
    bands: Bands

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Weights:
        if list(data["classes"]) != [str(c) for c in CLASSES]:
            raise ValueError(f"unexpected class order {data['classes']!r}")
        if list(data["dense_names"]) != list(DENSE):
            raise ValueError(f"unexpected dense features {data['dense_names']!r}")
        sparse = {name: (w[0], w[1], w[2]) for name, w in data["sparse"].items()}
        dense = tuple((w[0], w[1], w[2]) for w in data["dense"])
        bands = Bands(float(data["bands"]["negative"]), float(data["bands"]["positive"]))
        return cls(str(data["version"]), sparse, dense, bands)


def load_weights() -> Weights:
    """The shipped weights (package data)."""
    text = resources.files("bbdash.sentiment").joinpath(WEIGHTS_FILE).read_text("utf-8")
    return Weights.from_json(json.loads(text))


class ModelScorer:
    """Lexicon + trained linear model; pure Python, thread-safe after construction."""

    def __init__(self, weights: Weights | None = None) -> None:
        self.weights = weights if weights is not None else load_weights()
        self.version = self.weights.version
        self.bands = self.weights.bands
        self._extract = FeatureExtractor()
        sparse = self.weights.sparse
        self._lookup = sparse.get
        self._lexicon_raw = SentimentScorer().raw_tokens
        # The fast path looks every word and every adjacent pair up unfiltered: a
        # clause break is no feature and in no feature, so such lookups find nothing.
        if any(CLAUSE_BREAK in name.split(" ") for name in sparse):
            raise ValueError(f"a feature holds the clause break {CLAUSE_BREAK!r}")
        self._head = [w for w in (sparse.get(BIAS),) if w is not None]
        self._question = sparse.get(QUESTION)
        self._lex_bucket = {k: sparse.get(lex_bucket(k)) for k in range(-4, 5)}
        self._dense_pos, self._dense_neg, self._dense_none = self.weights.dense

    def probabilities(self, text: str) -> Triple:
        """P(negative), P(neutral), P(positive) of one headline.

        The features of `FeatureExtractor`, looked up as they are made (no name
        list, no pair filter, the lexicon bucket and the dense weight picked by
        the lexicon's sign): the same weights in the same order, so the same sums
        bit for bit as `probabilities_of(FeatureExtractor()(text))` (tested).
        """
        tokens = tokenize(clean(text))
        lex = squash(self._lexicon_raw(tokens))
        get = self._lookup
        found = [
            *self._head,
            *filter(None, map(get, tokens)),
            *filter(None, map(get, map(" ".join, pairwise(tokens)))),
        ]
        if "?" in text and self._question is not None:
            found.append(self._question)
        bucket = self._lex_bucket[round(lex * 4)]
        if bucket is not None:
            found.append(bucket)
        neg = neu = pos = 0.0
        if found:
            col_neg, col_neu, col_pos = zip(*found, strict=True)
            neg, neu, pos = sum(col_neg, 0.0), sum(col_neu, 0.0), sum(col_pos, 0.0)
        # Exactly one dense feature is non-zero: the lexicon's sign picks it.
        if lex > 0:
            value, w = lex, self._dense_pos
        elif lex < 0:
            value, w = -lex, self._dense_neg
        else:
            value, w = 1.0, self._dense_none
        return _softmax(neg + value * w[0], neu + value * w[1], pos + value * w[2])

    def probabilities_of(self, features: Features) -> Triple:
        """P(negative), P(neutral), P(positive) of extracted features (the plain path)."""
        found = [w for w in map(self._lookup, features.names) if w is not None]
        neg = sum([w[0] for w in found], 0.0)
        neu = sum([w[1] for w in found], 0.0)
        pos = sum([w[2] for w in found], 0.0)
        for value, w in zip(features.dense, self.weights.dense, strict=True):
            if value:
                neg += value * w[0]
                neu += value * w[1]
                pos += value * w[2]
        return _softmax(neg, neu, pos)

    def score(self, text: str) -> float:
        """Sentiment of one headline in [-1, 1]: P(positive) - P(negative)."""
        p_neg, _, p_pos = self.probabilities(text)
        return p_pos - p_neg

    def label(self, text: str) -> Label:
        """Three-class reading of `score` through the shipped bands."""
        return self.bands.label(self.score(text))


def _softmax(neg: float, neu: float, pos: float) -> Triple:
    top = max(neg, neu, pos)
    e_neg, e_neu, e_pos = math.exp(neg - top), math.exp(neu - top), math.exp(pos - top)
    total = e_neg + e_neu + e_pos
    return e_neg / total, e_neu / total, e_pos / total
