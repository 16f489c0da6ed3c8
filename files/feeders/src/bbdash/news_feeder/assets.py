"""Which watched asset a headline is about.

Matches, in the title first and then the summary, the earliest of:
- a cashtag (`$AAPL`, any case);
- a bare ticker written in capitals (`NVDA`, `BTC`), unless the ticker is an
  ordinary English/finance abbreviation ("ON", "IT", "CEO", "SEC": those need a
  cashtag) or the whole headline shouts in capitals;
- a name from `asset_names.json` ("Bitcoin" -> BTC, "Apple" -> AAPL). Names that
  are ordinary words ("apple", "amazon", "visa", "gold") must be Capitalised
  and not followed by a word that gives them their ordinary meaning
  ("apple pie", "Amazon rainforest", "visa requirements").
Only watched assets are candidates: the dashboard tags news for what users follow.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from bbdash.common.watchlist import Asset
from bbdash.news_feeder.records import NO_ASSET

_WORD_RE = re.compile(r"\$?[A-Za-z0-9][A-Za-z0-9&\-]*(?:\.[A-Z])?")
MAX_NAME_WORDS = 3
# Tickers that are also words or ubiquitous abbreviations: matched only as cashtags.
AMBIGUOUS_TICKERS = frozenset(
    [
        "A",
        "I",
        "AI",
        "ALL",
        "AM",
        "AN",
        "ANY",
        "ARE",
        "AT",
        "BE",
        "BIG",
        "BIT",
        "CAN",
        "CEO",
        "CFO",
        "CPI",
        "DD",
        "DOW",
        "ECB",
        "EPS",
        "ETF",
        "EU",
        "EV",
        "FAST",
        "FED",
        "FDA",
        "FOR",
        "FUN",
        "GDP",
        "GO",
        "HAS",
        "HE",
        "IMF",
        "IPO",
        "IT",
        "LOW",
        "M&A",
        "NEW",
        "NOW",
        "ON",
        "ONE",
        "OPEN",
        "OUT",
        "PM",
        "RE",
        "SEC",
        "SO",
        "TV",
        "UK",
        "UN",
        "US",
        "USA",
        "WELL",
        "YOU",
    ]
)


@dataclass(frozen=True, slots=True)
class AssetMatch:
    """The tag value and the asset type of the matched asset."""

    tag: str
    asset_type: str | None


NO_MATCH = AssetMatch(NO_ASSET, None)


def asset_key(asset: Asset) -> str:
    """Tag value for an asset: BTC/USDT -> BTC, EURUSD=X -> EURUSD, AAPL and ^GSPC as is."""
    symbol = asset.symbol.strip()
    if asset.asset_type == "crypto" and "/" in symbol:
        return symbol.split("/", 1)[0].upper()
    if asset.asset_type == "forex":
        return symbol.removesuffix("=X").replace("/", "").upper()
    return symbol.upper()


@cache
def _names_table() -> dict[str, dict[str, Any]]:
    text = resources.files("bbdash.news_feeder").joinpath("asset_names.json").read_text("utf-8")
    table: dict[str, dict[str, Any]] = json.loads(text)
    table.pop("_comment", None)
    return table


@dataclass(frozen=True, slots=True)
class _NameRule:
    key: str
    common_word: bool
    not_before: frozenset[str]


class AssetMatcher:
    """Immutable matcher for one watchlist snapshot (rebuilt when the snapshot changes)."""

    def __init__(self, assets: Iterable[Asset]) -> None:
        self._types: dict[str, str] = {}
        self._tickers: dict[str, str] = {}
        self._names: dict[tuple[str, ...], _NameRule] = {}
        table = _names_table()
        for asset in assets:
            key = asset_key(asset)
            self._types.setdefault(key, asset.asset_type)
            ticker = key.lstrip("^")
            if ticker.isascii() and ticker.replace("-", "").isalnum():
                self._tickers.setdefault(ticker, key)
            info = table.get(key)
            if info is None:
                continue
            for name in info.get("names", []):
                words = tuple(name.lower().split())
                self._names.setdefault(
                    words,
                    _NameRule(
                        key,
                        bool(info.get("common_word", False)),
                        frozenset(w.lower() for w in info.get("not_before", [])),
                    ),
                )

    @property
    def types(self) -> dict[str, str]:
        """Tag value -> asset type of the watched assets (a copy)."""
        return dict(self._types)

    def match(self, title: str, summary: str = "", hints: Iterable[str] = ()) -> AssetMatch:
        """The watched asset the article is about, or `NO_MATCH`."""
        for text in (title, summary):
            if text:
                key = self._first_in(text)
                if key is not None:
                    return AssetMatch(key, self._types.get(key))
        for hint in hints:
            key = hint.upper()
            if key in self._types:
                return AssetMatch(key, self._types[key])
        return NO_MATCH

    def _first_in(self, text: str) -> str | None:
        words = _WORD_RE.findall(text)
        letters = [c for c in text if c.isalpha()]
        shouting = bool(letters) and sum(c.isupper() for c in letters) > 0.6 * len(letters)
        lowered = [w.lower() for w in words]
        for i, word in enumerate(words):
            if word.startswith("$"):
                key = self._tickers.get(word[1:].upper())
                if key is not None:
                    return key
                continue
            if not shouting and word.isupper() and word not in AMBIGUOUS_TICKERS:
                key = self._tickers.get(word)
                if key is not None and len(word) >= 2:
                    return key
            key = self._name_at(words, lowered, i, shouting=shouting)
            if key is not None:
                return key
        return None

    def _name_at(
        self, words: list[str], lowered: list[str], i: int, *, shouting: bool
    ) -> str | None:
        for size in range(min(MAX_NAME_WORDS, len(words) - i), 0, -1):
            rule = self._names.get(tuple(lowered[i : i + size]))
            if rule is None:
                continue
            if rule.common_word:
                # Case is the evidence for a common word: none in an all-caps headline.
                if shouting or not words[i][:1].isupper():
                    continue
                following = lowered[i + size] if i + size < len(words) else ""
                if following in rule.not_before:
                    continue
            return rule.key
        return None
