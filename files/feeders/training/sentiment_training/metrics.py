"""Three-class F1 scores, as the issue measures them."""

from __future__ import annotations

from collections.abc import Sequence

from bbdash.sentiment.labels import Label

CLASSES = (Label.NEGATIVE, Label.NEUTRAL, Label.POSITIVE)


def per_class_f1(gold: Sequence[str], pred: Sequence[str]) -> dict[str, float]:
    """F1 of each class (0.0 for a class never predicted correctly)."""
    scores: dict[str, float] = {}
    for cls in CLASSES:
        tp = fp = fn = 0
        for g, p in zip(gold, pred, strict=True):
            if p == cls:
                if g == cls:
                    tp += 1
                else:
                    fp += 1
            elif g == cls:
                fn += 1
        scores[str(cls)] = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
    return scores


def macro_f1(gold: Sequence[str], pred: Sequence[str]) -> float:
    """Unweighted mean of the per-class F1 scores."""
    scores = per_class_f1(gold, pred)
    return sum(scores.values()) / len(scores)
