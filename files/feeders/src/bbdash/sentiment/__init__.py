"""Offline financial sentiment for headlines: `score(text)` in [-1, 1].

The default scorer is the finance lexicon plus a small linear model trained on
public finance headlines and tweets (docs/sentiment.md). Nothing is downloaded
at run time: the lexicon and the weights ship as package data.
"""

from __future__ import annotations

from functools import cache
from typing import Protocol

from bbdash.sentiment.labels import Bands, Label
from bbdash.sentiment.model import ModelScorer
from bbdash.sentiment.scorer import NEUTRAL_BAND, SentimentScorer, label_for

__all__ = [
    "NEUTRAL_BAND",
    "Bands",
    "Label",
    "ModelScorer",
    "Scorer",
    "SentimentScorer",
    "default_scorer",
    "label_for",
    "score",
]


class Scorer(Protocol):
    """What the news feeder needs from a scorer."""

    @property
    def version(self) -> str:
        """Names the scorer whose scores these are (stored beside every score)."""
        ...

    def score(self, text: str) -> float:
        """Sentiment of one headline in [-1, 1]."""
        ...


@cache
def default_scorer() -> ModelScorer:
    """The process-wide scorer: lexicon + shipped weights (built once)."""
    return ModelScorer()


def score(text: str) -> float:
    """Sentiment of one headline in [-1, 1] with the shipped model."""
    return default_scorer().score(text)
