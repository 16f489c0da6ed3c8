"""The three classes, and the score bands that turn a score into one of them."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Label(StrEnum):
    """The three classes the evaluation uses."""

    NEGATIVE = "negative"
    NEUTRAL = "neutral"
    POSITIVE = "positive"


@dataclass(frozen=True, slots=True)
class Bands:
    """score <= negative reads negative, score >= positive reads positive, else neutral."""

    negative: float
    positive: float

    def __post_init__(self) -> None:
        if not -1.0 <= self.negative < self.positive <= 1.0:
            raise ValueError(f"bands must satisfy -1 <= negative < positive <= 1: {self!r}")

    def label(self, score: float) -> Label:
        """The class of one score."""
        if score >= self.positive:
            return Label.POSITIVE
        if score <= self.negative:
            return Label.NEGATIVE
        return Label.NEUTRAL
