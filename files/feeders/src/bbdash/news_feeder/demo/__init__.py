"""Demo mode: bundled sample feeds (package data) replayed as fresh headlines, no network.

Every point is tagged demo=true and every title starts with "[DEMO]", so neither a
panel nor a person can take a sample headline for market news.
"""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import UTC, datetime
from importlib import resources

from bbdash.common.watchlist import Asset
from bbdash.news_feeder.records import Article
from bbdash.news_feeder.sources import rss

SAMPLE_FEEDS = {
    "demo-crypto.rss.xml": ("demo-crypto", "crypto"),
    "demo-markets.atom.xml": ("demo-markets", None),
}
TITLE_PREFIX = "[DEMO] "
# Assets the demo headlines talk about, merged with the watchlist so a fresh
# local deployment (empty watchlist) still shows tagged headlines.
DEMO_ASSETS = (
    Asset("BTC/USDT", "crypto"),
    Asset("ETH/USDT", "crypto"),
    Asset("SOL/USDT", "crypto"),
    Asset("AAPL", "stock"),
    Asset("NVDA", "stock"),
    Asset("TSLA", "stock"),
    Asset("EURUSD=X", "forex"),
    Asset("^GSPC", "index"),
)


def sample_articles() -> list[Article]:
    """Every item of the bundled feeds, in file order."""
    package = resources.files(__name__)
    articles: list[Article] = []
    for filename, (source, category) in SAMPLE_FEEDS.items():
        content = package.joinpath(filename).read_bytes()
        articles += rss.parse_feed(content, source=source, category=category).articles
    return articles


class DemoPoller:
    """Emits the next sample headline(s) on each poll, stamped now."""

    name = "demo"

    def __init__(self, interval_s: float, per_poll: int = 1) -> None:
        self.interval_s = interval_s
        self._per_poll = per_poll
        self._cycle = itertools.cycle(sample_articles())
        self._round = 0

    async def poll(self) -> list[Article]:
        self._round += 1
        now = datetime.now(UTC)
        out = []
        for _ in range(self._per_poll):
            article = next(self._cycle)
            out.append(
                replace(
                    article,
                    title=TITLE_PREFIX + article.title,
                    # A distinct URL per replay: the demo is a loop, not a news stream.
                    url=f"{article.url}#demo-{self._round}",
                    published_at=now,
                )
            )
        return out
