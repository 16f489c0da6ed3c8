"""Category of an article: crypto / stocks / forex / macro / general.

The matched asset decides when there is one (its asset type); otherwise
keywords in the title, then the feed's configured category, then "general".
Keyword order matters: "Bitcoin falls as dollar firms" is crypto news, and
"Stocks slide as inflation runs hot" is about stocks.
"""

from __future__ import annotations

import re

from bbdash.news_feeder.records import CATEGORIES

_BY_ASSET_TYPE = {"crypto": "crypto", "stock": "stocks", "index": "stocks", "forex": "forex"}

_KEYWORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "crypto",
        ("bitcoin", "crypto", "cryptocurrency", "cryptocurrencies", "blockchain", "stablecoin",
         "stablecoins", "defi", "nft", "nfts", "ethereum", "altcoin", "altcoins", "token",
         "tokens", "memecoin", "memecoins", "web3", "btc", "eth", "satoshi", "halving",
         "mining pool"),
    ),
    (
        "forex",
        ("forex", "fx", "currency", "currencies", "dollar", "euro", "yen", "sterling", "pound",
         "yuan", "renminbi", "franc", "rupee", "peso", "lira", "loonie",
         "aussie", "exchange rate", "exchange rates"),
    ),
    (
        "stocks",
        ("stock", "stocks", "shares", "equities", "equity", "earnings", "ipo", "nasdaq", "s&p",
         "dow", "ftse", "nikkei", "dax", "dividend", "buyback", "wall street", "price target",
         "upgrade", "downgrade", "upgrades", "downgrades", "quarterly results"),
    ),
    (
        "macro",
        ("inflation", "fed", "federal reserve", "central bank", "ecb", "boj", "bank of england",
         "bank of japan", "gdp", "payrolls", "unemployment", "jobless", "interest rate",
         "interest rates", "rate cut", "rate hike", "treasury", "treasuries", "bond yields",
         "yields", "recession", "cpi", "pmi", "economy", "economic", "tariff", "tariffs", "imf",
         "opec", "deficit", "retail sales", "consumer prices", "monetary policy"),
    ),
)  # fmt: skip

_PATTERNS = tuple(
    (category, re.compile(r"(?<![\w&])(?:" + "|".join(map(re.escape, words)) + r")(?![\w&])"))
    for category, words in _KEYWORDS
)


def categorise(title: str, asset_type: str | None, hint: str | None) -> str:
    """The category for one article."""
    if asset_type in _BY_ASSET_TYPE:
        return _BY_ASSET_TYPE[asset_type]
    lowered = title.lower()
    for category, pattern in _PATTERNS:
        if pattern.search(lowered):
            return category
    if hint in CATEGORIES:
        return hint
    return "general"
