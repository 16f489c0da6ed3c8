"""Speed work must not move a score: the shipped model and the lexicon against stored scores.

data/golden_scores.tsv holds the model's and the lexicon's scores of the project's
dev, held-out and post-freeze headlines, 25-word sentences cut from them (the bench's
shape) and edge cases (tickers, links, money, percentages, clause dashes, questions),
written by the scorer before its fast path existed. Rewrite it only when the weights
or the lexicon change on purpose:

    .venv/bin/python tests/python/sentiment/test_golden_scores.py --write
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from bbdash.sentiment import SentimentScorer, default_scorer
from bbdash.sentiment.features import FeatureExtractor
from bbdash.sentiment.tokenize import _TOKEN_RE, CLAUSE_BREAK, MONEY, NUM, PCT, stem, tokenize
from hypothesis import given, settings
from hypothesis import strategies as st

DATA = Path(__file__).parent / "data"
GOLDEN = DATA / "golden_scores.tsv"
TOLERANCE = 1e-12
WORDS = 25

EDGE_CASES = (
    "",
    "?",
    ",,,",
    "$AAPL $MSFT - Apple beats estimates https://t.co/x1 via @Reuters",
    "RT @trader: Tesla shares slump 12.5% after deliveries miss, guidance cut",
    "Gold up 1.2 % to $2,400bn; silver - flat \u2014 copper \u2013 lower",
    "Is the rally over? Stocks fall for a third day",
    "Nvidia's profit triples to $22.1 billion, beats; shares jump 8%",
    "Moody's cuts outlook on S&P-rated year-on-year laggards: 3bn loss",
    "Revenue did not meet expectations, but margins widened sharply",
    "Shares rise despite quarterly loss as costs fall 5m",
    "Intel cut to Sell at Goldman; price target lowered to $18 from $25",
    "UNEMPLOYMENT RISES TO 4.3%!!! www.example.com/jobs",
)


def _rows(name: str) -> list[str]:
    lines = (DATA / f"headlines_{name}.tsv").read_text("utf-8").splitlines()
    return [line.split("\t", 1)[1] for line in lines if line and not line.startswith("#")]


def golden_texts() -> list[str]:
    """The texts whose scores are stored, in file order."""
    headlines = [t for name in ("dev", "heldout", "postfreeze") for t in _rows(name)]
    stream = [w for text in headlines for w in text.split()]
    sentences = [" ".join(stream[i : i + WORDS]) for i in range(0, len(stream) - WORDS + 1, WORDS)]
    return [*headlines, *sentences, *EDGE_CASES]


def _load() -> list[tuple[float, float, str]]:
    rows = []
    for line in GOLDEN.read_text("utf-8").splitlines():
        if line.startswith("#"):
            continue
        model, lexicon, text = line.split("\t", 2)
        rows.append((float(model), float(lexicon), text))
    return rows


def test_golden_file_covers_the_current_texts():
    assert [text for _, _, text in _load()] == golden_texts()


@pytest.mark.parametrize("which", ["model", "lexicon"])
def test_scores_match_the_stored_scores(which):
    score = default_scorer().score if which == "model" else SentimentScorer().score
    moved = [
        (text, expected, got)
        for m, lx, text in _load()
        if abs((got := score(text)) - (expected := m if which == "model" else lx)) > TOLERANCE
    ]
    assert not moved, f"{len(moved)} {which} scores moved, first: {moved[:3]}"


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from("abcdefghistu $%,.-?!:;\u20ac5019 "), max_size=200))
def test_fast_path_equals_the_feature_extractor(text):
    # The scorer's fused path against the plain one the training script uses:
    # the same features must give the same probabilities, bit for bit.
    scorer = default_scorer()
    assert scorer.probabilities(text) == scorer.probabilities_of(FeatureExtractor()(text))


def _tokenize_by_groups(text: str) -> list[str]:
    # The tokenizer before its match cache: which named group matched decides the token.
    out = []
    for pct, money, num, word, _punct in _TOKEN_RE.findall(text.lower()):
        if word:
            out.append(stem(word))
        elif pct:
            out.append(PCT)
        elif money:
            out.append(MONEY)
        elif num:
            out.append(NUM)
        else:
            out.append(CLAUSE_BREAK)
    return out


@settings(max_examples=500, deadline=None)
@given(
    st.text(
        alphabet=st.sampled_from("aAbeinst'&-$\u20ac\u00a3%+,.:;!?50\u0663\u00b2 \t\u2014\u2013kmb")
    )
)
def test_cached_tokenizer_equals_the_group_tokenizer(text):
    assert tokenize(text) == _tokenize_by_groups(text)
    assert tokenize(text) == _tokenize_by_groups(text)  # again, from the cache


def _write() -> None:
    model, lexicon = default_scorer(), SentimentScorer()
    lines = [
        f"# Golden scores of `{model.version}` and `{lexicon.version}` "
        "(test_golden_scores.py says when to rewrite).",
        "# Format: model score<TAB>lexicon score<TAB>text",
    ]
    lines += [f"{model.score(t)!r}\t{lexicon.score(t)!r}\t{t}" for t in golden_texts()]
    GOLDEN.write_text("\n".join(lines) + "\n", "utf-8")


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        raise SystemExit(__doc__)
    _write()
