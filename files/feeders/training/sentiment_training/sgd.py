"""Multinomial logistic regression by averaged SGD, in pure Python, deterministic.

Deterministic by construction: the example order of every epoch comes from
`random.Random(seed)` shuffling a list built in a fixed order, features are
visited in the order the extractor yields them, and only float additions and
multiplications in that order touch the weights. The same inputs and seed give
the same weights bit for bit on any IEEE-754 machine with the same Python.

Averaging (the mean of the weights over every step, computed with the usual
"w - u / c" trick) stands in for explicit regularisation.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from bbdash.sentiment.features import DENSE, Features

Vector = list[float]


@dataclass(frozen=True, slots=True)
class Example:
    """One training row: its features, class index (0 neg, 1 neu, 2 pos) and weight."""

    features: Features
    target: int
    weight: float


@dataclass(frozen=True, slots=True)
class Hyper:
    """The knobs chosen on the dev split (docs/sentiment.md lists the grid)."""

    epochs: int
    learning_rate: float
    min_count: int
    seed: int
    # Each corpus class weighs (n / (3 n_class)) ** balance (the corpus is 65 % neutral);
    # each of the project's own headlines weighs project_weight.
    balance: float
    project_weight: float


@dataclass(frozen=True, slots=True)
class Trained:
    """Averaged weights: per sparse feature, and per dense feature, one value per class."""

    sparse: dict[str, Vector]
    dense: list[Vector]


def vocabulary(examples: Sequence[Example], min_count: int) -> set[str]:
    """Features seen in at least `min_count` examples (rarer ones are noise and size)."""
    counts: Counter[str] = Counter()
    for example in examples:
        counts.update(set(example.features.names))
    return {name for name, count in counts.items() if count >= min_count}


def _softmax(logits: Vector) -> Vector:
    top = max(logits)
    exps = [math.exp(v - top) for v in logits]
    total = sum(exps)
    return [v / total for v in exps]


def train(examples: Sequence[Example], hyper: Hyper) -> Trained:
    """Fit the model; `examples` order matters only through the seeded shuffles."""
    vocab = vocabulary(examples, hyper.min_count)
    kept = [[n for n in e.features.names if n in vocab] for e in examples]
    names = sorted({n for names in kept for n in names})
    w = {n: [0.0, 0.0, 0.0] for n in names}
    u = {n: [0.0, 0.0, 0.0] for n in names}
    wd = [[0.0, 0.0, 0.0] for _ in DENSE]
    ud = [[0.0, 0.0, 0.0] for _ in DENSE]
    rng = random.Random(hyper.seed)  # noqa: S311 (a reproducible shuffle, not a secret)
    order = list(range(len(examples)))
    step = 1.0
    for _ in range(hyper.epochs):
        rng.shuffle(order)
        for index in order:
            example = examples[index]
            features = kept[index]
            dense = example.features.dense
            logits = [0.0, 0.0, 0.0]
            for name in features:
                row = w[name]
                for k in range(3):
                    logits[k] += row[k]
            for value, row in zip(dense, wd, strict=True):
                for k in range(3):
                    logits[k] += value * row[k]
            probs = _softmax(logits)
            for k in range(3):
                gradient = (
                    hyper.learning_rate
                    * example.weight
                    * ((1.0 if k == example.target else 0.0) - probs[k])
                )
                if gradient == 0.0:
                    continue
                for name in features:
                    w[name][k] += gradient
                    u[name][k] += step * gradient
                for j, value in enumerate(dense):
                    if value:
                        wd[j][k] += value * gradient
                        ud[j][k] += step * value * gradient
            step += 1.0
    sparse = {n: [w[n][k] - u[n][k] / step for k in range(3)] for n in names}
    dense_avg = [[wd[j][k] - ud[j][k] / step for k in range(3)] for j in range(len(DENSE))]
    return Trained(sparse, dense_avg)
