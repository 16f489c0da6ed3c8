"""Asset detection against watched symbols and their names; categories."""

from __future__ import annotations

import pytest
from bbdash.common.watchlist import Asset
from bbdash.news_feeder.assets import AssetMatcher, asset_key
from bbdash.news_feeder.category import categorise

WATCHED = [
    Asset("BTC/USDT", "crypto"),
    Asset("ETH/USDT", "crypto"),
    Asset("AAPL", "stock"),
    Asset("AMZN", "stock"),
    Asset("ON", "stock"),
    Asset("EURUSD=X", "forex"),
    Asset("^GSPC", "index"),
]


@pytest.fixture
def matcher() -> AssetMatcher:
    return AssetMatcher(WATCHED)


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("Bitcoin jumps above $70,000", "BTC"),
        ("bitcoin ETF inflows hit a record", "BTC"),  # distinctive name: any case
        ("Apple shares climb after iPhone sales top forecasts", "AAPL"),
        ("Apple's services revenue hits record", "AAPL"),
        ("AAPL slips premarket", "AAPL"),
        ("Traders pile into $aapl calls", "AAPL"),
        ("Ether and Bitcoin slide", "ETH"),  # the earliest mention wins
        ("Euro climbs to three-month high", "EURUSD"),
        ("S&P 500 closes at record high", "^GSPC"),
        ("Amazon tops revenue forecasts", "AMZN"),
    ],
)
def test_detects_the_watched_asset(matcher, title, expected):
    assert matcher.match(title).tag == expected


@pytest.mark.parametrize(
    "title",
    [
        "Ten apple pie recipes for autumn",
        "Apple Pie Recipes To Try This Fall",  # Title Case headline: still not the company
        "Amazon rainforest deforestation slows",
        "an apple a day",  # ordinary word, lower case
        "Stocks rise ON hopes of rate cuts",  # ticker that is a word: cashtag only
        "SOLANA AND APPLE IN FOCUS",  # all-caps headline: no bare tickers/names by case
        "Microsoft beats estimates",  # not watched
    ],
)
def test_no_false_positives(matcher, title):
    assert matcher.match(title).tag == "none"


def test_ambiguous_ticker_matches_as_cashtag(matcher):
    assert matcher.match("$ON jumps after earnings").tag == "ON"


def test_summary_then_upstream_hints(matcher):
    assert matcher.match("Crypto lender halts withdrawals", "Bitcoin fell 3%").tag == "BTC"
    assert matcher.match("Network upgrade goes live", "", ["XRP", "ETH"]).tag == "ETH"
    assert matcher.match("Network upgrade goes live", "", ["XRP"]).tag == "none"


def test_asset_keys():
    assert asset_key(Asset("BTC/USDT", "crypto")) == "BTC"
    assert asset_key(Asset("EURUSD=X", "forex")) == "EURUSD"
    assert asset_key(Asset("^GSPC", "index")) == "^GSPC"
    assert asset_key(Asset("aapl", "stock")) == "AAPL"


@pytest.mark.parametrize(
    ("title", "asset_type", "hint", "expected"),
    [
        ("Anything at all", "crypto", None, "crypto"),
        ("Anything at all", "stock", None, "stocks"),
        ("Anything at all", "index", None, "stocks"),
        ("Anything at all", "forex", None, "forex"),
        ("Stablecoin issuer publishes attestation", None, None, "crypto"),
        ("Yen steady as Bank of Japan meeting begins", None, None, "forex"),
        ("Fed minutes due Wednesday", None, None, "macro"),
        ("Inflation eases to 2.4%", None, None, "macro"),
        ("Regional bank shares plunge", None, None, "stocks"),
        ("Real estate developer wins contract", None, None, "general"),
        ("Press release: board meeting", None, "macro", "macro"),
    ],
)
def test_categories(title, asset_type, hint, expected):
    assert categorise(title, asset_type, hint) == expected
