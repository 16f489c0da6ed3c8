"""What the trained model sees in a headline: words, word pairs and the lexicon's verdict.

Shared by the runtime model and the training script, so both read text the
same way. Tickers (`$AAPL`), links, `@handles` and a leading `RT` are removed
first: they name things, they do not say whether the news is good.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import pairwise

from bbdash.sentiment.scorer import SentimentScorer, squash
from bbdash.sentiment.tokenize import CLAUSE_BREAK, tokenize

_NOISE_RE = re.compile(r"https?://\S+|www\.\S+|\$[A-Za-z][A-Za-z0-9._-]*|@\w+|^\s*RT\b")

BIAS = "<bias>"
QUESTION = "<?>"
# Dense features, in this order: the lexicon's score split by sign, and "no lexicon hit".
DENSE = ("lex_pos", "lex_neg", "lex_none")


def clean(text: str) -> str:
    """The headline without tickers, links, handles and retweet marks."""
    if "$" in text or "/" in text or "@" in text or "www." in text or "RT" in text:
        return _NOISE_RE.sub(" ", text)
    return text  # nothing to remove: most news headlines


def lex_bucket(quarter: int) -> str:
    """The feature naming the lexicon's score rounded to quarters."""
    return f"<lex{quarter:+d}>"


@dataclass(frozen=True, slots=True)
class Features:
    """Sparse binary feature names and the dense lexicon values of one headline."""

    names: list[str]
    dense: tuple[float, float, float]


class FeatureExtractor:
    """Turns a headline into `Features`; pure Python, thread-safe after construction."""

    def __init__(self, lexicon: SentimentScorer | None = None) -> None:
        self._lexicon = lexicon if lexicon is not None else SentimentScorer()

    def __call__(self, text: str) -> Features:
        tokens = tokenize(clean(text))
        lex = squash(self._lexicon.raw_tokens(tokens))
        # Words, then adjacent pairs that do not cross a clause break: comprehensions,
        # because this runs for every headline the feeder stores.
        words = [t for t in tokens if t != CLAUSE_BREAK]
        names = [BIAS, *words]
        names += [
            a + " " + b for a, b in pairwise(tokens) if a != CLAUSE_BREAK and b != CLAUSE_BREAK
        ]
        if "?" in text:
            names.append(QUESTION)
        # The lexicon's score also as a coarse bucket, so the model can bend its scale.
        names.append(lex_bucket(round(lex * 4)))
        return Features(names, (lex if lex > 0 else 0.0, -lex if lex < 0 else 0.0, float(lex == 0)))
