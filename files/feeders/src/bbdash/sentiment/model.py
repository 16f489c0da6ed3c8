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
from typing import Any

from bbdash.sentiment.features import DENSE, FeatureExtractor
from bbdash.sentiment.labels import Bands, Label

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
        self._lookup = self.weights.sparse.get

    def probabilities(self, text: str) -> Triple:
        """P(negative), P(neutral), P(positive) of one headline."""
        features = self._extract(text)
        # Comprehensions and sum(): the cheapest pure-Python way to add ~50 triples.
        found = [w for w in map(self._lookup, features.names) if w is not None]
        neg = sum([w[0] for w in found], 0.0)
        neu = sum([w[1] for w in found], 0.0)
        pos = sum([w[2] for w in found], 0.0)
        for value, w in zip(features.dense, self.weights.dense, strict=True):
            if value:
                neg += value * w[0]
                neu += value * w[1]
                pos += value * w[2]
        top = max(neg, neu, pos)
        e_neg, e_neu, e_pos = math.exp(neg - top), math.exp(neu - top), math.exp(pos - top)
        total = e_neg + e_neu + e_pos
        return e_neg / total, e_neu / total, e_pos / total

    def score(self, text: str) -> float:
        """Sentiment of one headline in [-1, 1]: P(positive) - P(negative)."""
        p_neg, _, p_pos = self.probabilities(text)
        return p_pos - p_neg

    def label(self, text: str) -> Label:
        """Three-class reading of `score` through the shipped bands."""
        return self.bands.label(self.score(text))
