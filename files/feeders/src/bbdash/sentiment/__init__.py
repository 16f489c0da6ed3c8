"""Offline financial sentiment for headlines: `score(text)` in [-1, 1].

Nothing is downloaded at run time: the lexicon ships as package data.
"""

from __future__ import annotations

from functools import cache

from bbdash.sentiment.scorer import NEUTRAL_BAND, Label, SentimentScorer, label_for

__all__ = ["NEUTRAL_BAND", "Label", "SentimentScorer", "default_scorer", "label_for", "score"]


@cache
def default_scorer() -> SentimentScorer:
    """The process-wide scorer over the shipped lexicon (built once)."""
    return SentimentScorer()


def score(text: str) -> float:
    """Sentiment of one headline in [-1, 1] with the shipped lexicon."""
    return default_scorer().score(text)
