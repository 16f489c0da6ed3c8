"""The trained scorer as the news feeder loads it, the split rule, and reproducible weights.

The macro-F1 guards read held-out text only to catch a regression at the
issue's targets; they are not a tuning signal (docs/sentiment.md).
"""

from __future__ import annotations

import json
import sys
from importlib import resources
from pathlib import Path

import pytest
from bbdash.sentiment import Label, ModelScorer, default_scorer, score
from bbdash.sentiment.features import clean
from bbdash.sentiment.labels import Bands
from hypothesis import given, settings
from hypothesis import strategies as st

TRAINING = Path(__file__).resolve().parents[3] / "files" / "feeders" / "training"
sys.path.insert(0, str(TRAINING))

from sentiment_training.build import WEIGHTS_PATH, build  # noqa: E402
from sentiment_training.corpus import (  # noqa: E402
    CORPUS,
    corpus_part,
    load_corpus,
    load_project,
    normalise,
    side,
)
from sentiment_training.metrics import macro_f1  # noqa: E402


def test_weights_ship_as_package_data_and_load_through_the_package():
    shipped = resources.files("bbdash.sentiment").joinpath("model_weights.json")
    assert shipped.is_file()
    data = json.loads(shipped.read_text("utf-8"))
    scorer = default_scorer()
    assert isinstance(scorer, ModelScorer)
    assert scorer.version == data["version"]
    assert scorer.version.startswith("lexlr-")
    assert scorer.bands == Bands(data["bands"]["negative"], data["bands"]["positive"])
    assert len(data["sparse"]) < 50_000  # small: a few hundred kB of JSON


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Intel cut to Sell at Goldman", Label.NEGATIVE),
        ("Morgan Stanley upgrades Tesla to Overweight", Label.POSITIVE),
        ("Profit fell 20% in the quarter", Label.NEGATIVE),
        ("Apple to report quarterly results on Thursday", Label.NEUTRAL),
    ],
)
def test_reads_plain_financial_headlines(text, expected):
    assert default_scorer().label(text) is expected


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_any_text_scores_within_bounds(text):
    assert -1.0 <= score(text) <= 1.0
    p = default_scorer().probabilities(text)
    assert abs(sum(p) - 1.0) < 1e-9


def test_tickers_and_links_do_not_change_the_score():
    plain = "Carnival shares sink on bookings weakness"
    noisy = "$CCL $RCL - Carnival shares sink on bookings weakness https://t.co/yGjpT2ReD3"
    assert score(plain) == pytest.approx(score(noisy))
    assert "$CCL" not in clean(noisy)


def test_bands_label_a_score():
    bands = Bands(-0.4, 0.4)
    assert bands.label(0.4) is Label.POSITIVE
    assert bands.label(-0.4) is Label.NEGATIVE
    assert bands.label(0.0) is Label.NEUTRAL
    with pytest.raises(ValueError, match="bands"):
        Bands(0.5, 0.1)


def test_split_rule_keeps_near_duplicates_together():
    rows = load_corpus()
    assert len(rows) == 9_543
    sides: dict[str, set[str]] = {}
    for _, text in rows:
        sides.setdefault(normalise(text), set()).add(side(text))
    assert all(len(found) == 1 for found in sides.values())
    assert normalise("$AAPL Apple beats! https://t.co/x") == normalise("Apple  beats $MSFT")
    parts = {name: len(corpus_part(name)) for name in ("train", "dev", "heldout")}
    assert sum(parts.values()) == len(rows)
    assert 0.15 < parts["heldout"] / len(rows) < 0.23  # 3 of 16 hex digits


def test_corpus_notice_travels_with_the_corpus():
    notice = (CORPUS.parent / "README.md").read_text("utf-8")
    assert "MIT" in notice
    assert "Source" in notice


@pytest.mark.parametrize(("part", "floor"), [("heldout", 0.75)])
def test_corpus_held_out_meets_the_target(part, floor):
    rows = corpus_part(part)
    scorer = default_scorer()
    assert macro_f1([g for g, _ in rows], [scorer.label(t) for _, t in rows]) >= floor


@pytest.mark.parametrize(("name", "floor"), [("heldout", 0.85), ("postfreeze", 0.75)])
def test_project_sets_meet_their_floor(name, floor):
    rows = load_project(name)
    scorer = default_scorer()
    assert macro_f1([g for g, _ in rows], [scorer.label(t) for _, t in rows]) >= floor


def test_shipped_weights_are_what_training_writes():
    # Retrains from the files in the repository (fixed seed, pure Python, ~10 s):
    # the shipped file must come out byte for byte.
    text, _ = build()
    assert text == WEIGHTS_PATH.read_text("utf-8"), (
        "model_weights.json differs from a retrain: run files/feeders/training/train.py"
    )
