"""From the labelled rows to the shipped weights file: train, pick the bands, serialise.

Training rows: the corpus's train side plus the project's own dev headlines
(text the project wrote). The dev side of the corpus chooses the label bands.
The held-out side is never read here.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bbdash.sentiment.features import DENSE, FeatureExtractor
from bbdash.sentiment.labels import Bands, Label
from bbdash.sentiment.model import CLASSES, WEIGHTS_FILE, ModelScorer, Weights
from sentiment_training.corpus import Row, corpus_part, load_project
from sentiment_training.metrics import macro_f1
from sentiment_training.sgd import Example, Hyper, Trained, train

WEIGHTS_PATH = Path(__file__).resolve().parents[2] / "src" / "bbdash" / "sentiment" / WEIGHTS_FILE

# Chosen on the corpus's dev side by tune.py (dev macro-F1 0.763 with the dev bands).
HYPER = Hyper(
    epochs=16, learning_rate=0.1, min_count=2, seed=20261203, balance=0.5, project_weight=3.0
)
DECIMALS = 4
MODEL_NAME = "lexlr"
# The grid the bands are chosen on (step 0.02 on each side).
_BAND_GRID = [round(0.02 * i, 2) for i in range(1, 50)]


def examples(
    corpus_rows: Sequence[Row],
    project_rows: Sequence[Row],
    extract: FeatureExtractor,
    hyper: Hyper,
) -> list[Example]:
    """Training examples in a fixed order: corpus rows, then project rows."""
    counts = Counter(label for label, _ in corpus_rows)
    total = len(corpus_rows)
    class_weight = {cls: (total / (3 * counts[cls])) ** hyper.balance for cls in CLASSES}
    out = [
        Example(extract(text), CLASSES.index(label), class_weight[label])
        for label, text in corpus_rows
    ]
    out += [
        Example(extract(text), CLASSES.index(label), hyper.project_weight)
        for label, text in project_rows
    ]
    return out


def choose_bands(scores: Sequence[float], gold: Sequence[Label]) -> Bands:
    """The band pair with the best macro-F1 on these rows (ties: the narrower band)."""
    best: tuple[float, float, float] | None = None
    for neg in _BAND_GRID:
        for pos in _BAND_GRID:
            bands = Bands(-neg, pos)
            f1 = macro_f1(gold, [bands.label(s) for s in scores])
            if best is None or f1 > best[0] + 1e-12:
                best = (f1, -neg, pos)
    assert best is not None
    return Bands(best[1], best[2])


def _rounded(values: Sequence[float]) -> list[float]:
    return [round(v, DECIMALS) + 0.0 for v in values]


def serialise(trained: Trained, bands: Bands, hyper: Hyper) -> dict[str, Any]:
    """The weights file's content; the version is a digest of the numbers it holds."""
    sparse = {
        name: _rounded(values)
        for name, values in sorted(trained.sparse.items())
        if any(abs(v) >= 0.5 * 10**-DECIMALS for v in values)
    }
    dense = [_rounded(values) for values in trained.dense]
    body = {
        "classes": [str(c) for c in CLASSES],
        "dense_names": list(DENSE),
        "dense": dense,
        "bands": {"negative": bands.negative, "positive": bands.positive},
        "sparse": sparse,
    }
    digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:8]
    meta = {
        "version": f"{MODEL_NAME}-{digest}",
        "trained_by": "files/feeders/training/train.py",
        "hyper": {
            "epochs": hyper.epochs,
            "learning_rate": hyper.learning_rate,
            "min_count": hyper.min_count,
            "seed": hyper.seed,
            "balance": hyper.balance,
            "project_weight": hyper.project_weight,
        },
    }
    return meta | body


def dumps(content: dict[str, Any]) -> str:
    """The file's exact text (one feature per line keeps diffs readable)."""
    sparse = content["sparse"]
    head = {k: v for k, v in content.items() if k != "sparse"}
    lines = [json.dumps(head, sort_keys=True)[:-1] + ', "sparse": {']
    items = [f"{json.dumps(name)}: {json.dumps(values)}" for name, values in sparse.items()]
    lines.append(",\n".join(items))
    lines.append("}}")
    return "\n".join(lines) + "\n"


def build(hyper: Hyper = HYPER) -> tuple[str, dict[str, float]]:
    """Train from the files in the repository; the weights file's text and dev scores."""
    extract = FeatureExtractor()
    train_rows = corpus_part("train")
    dev_rows = corpus_part("dev")
    trained = train(examples(train_rows, load_project("dev"), extract, hyper), hyper)
    provisional = Weights.from_json(serialise(trained, Bands(-0.5, 0.5), hyper))
    scorer = ModelScorer(provisional)
    dev_scores = [scorer.score(text) for _, text in dev_rows]
    dev_gold = [label for label, _ in dev_rows]
    bands = choose_bands(dev_scores, dev_gold)
    content = serialise(trained, bands, hyper)
    argmax = [CLASSES[max(range(3), key=lambda k: p[k])] for p in _probs(scorer, dev_rows)]
    report = {
        "dev_macro_f1_bands": macro_f1(dev_gold, [bands.label(s) for s in dev_scores]),
        "dev_macro_f1_argmax": macro_f1(dev_gold, argmax),
        "features": float(len(content["sparse"])),
    }
    return dumps(content), report


def _probs(scorer: ModelScorer, rows: Sequence[Row]) -> list[tuple[float, float, float]]:
    return [scorer.probabilities(text) for _, text in rows]
