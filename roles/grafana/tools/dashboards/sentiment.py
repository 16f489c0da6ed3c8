"""The shipped sentiment scorer's version and label bands, read from its weights file.

The news feeder tags every score with the scorer's version (`sentiment_scorer`,
docs/contracts.md); the sentiment panels read that version only and colour by
the bands the model was shipped with (chosen on its dev split,
docs/sentiment.md). Reading them from the weights file keeps one source: a
retrained model changes the generated dashboards, and the check that the
JSON files are what this generator writes says so.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from .fields import thresholds
from .style import DOWN, FLAT, UP

WEIGHTS = (
    Path(__file__).resolve().parents[4] / "files/feeders/src/bbdash/sentiment/model_weights.json"
)


@cache
def _shipped() -> dict[str, Any]:
    data = json.loads(WEIGHTS.read_text(encoding="utf-8"))
    return {"version": data["version"], "bands": data["bands"]}


def version() -> str:
    """The scorer version the panels read (tag `sentiment_scorer`)."""
    return str(_shipped()["version"])


def bands() -> tuple[float, float]:
    """(negative, positive): score <= negative reads negative, >= positive positive."""
    b = _shipped()["bands"]
    return float(b["negative"]), float(b["positive"])


def scored_by_shipped() -> str:
    """Flux predicate: the point's score comes from the shipped scorer."""
    return f'r.sentiment_scorer == "{version()}"'


def band_thresholds() -> dict[str, Any]:
    """Red, grey, green by the label bands (scores are stored with 4 decimals)."""
    negative, positive = bands()
    return thresholds((None, DOWN), (round(negative + 0.0001, 4), FLAT), (positive, UP))


def label_expression() -> str:
    """Flux expression for a row's label, or "other scorer" for another version's score."""
    negative, positive = bands()
    label = (
        f'if r.sentiment_score >= {positive} then "positive" '
        f'else if r.sentiment_score <= {negative} then "negative" else "neutral"'
    )
    same = f'r.sentiment_scorer == "{version()}"'
    other = '"other scorer"'
    return f"if exists r.sentiment_scorer then (if {same} then ({label}) else {other}) else {other}"


def band_text() -> str:
    """The bands in words, for panel descriptions."""
    negative, positive = bands()
    return (
        f"Labels: positive at {positive:+.2f} and above, negative at {negative:+.2f} and "
        f"below, neutral between (bands chosen on the model's dev split), for scores made "
        f"by scorer {version()}; another scorer's scores are not mixed in."
    )
