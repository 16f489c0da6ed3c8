"""Articles -> dedupe -> asset, category, sentiment -> `news_articles` points -> sink."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from bbdash.common.lineprotocol import Point
from bbdash.news_feeder.assets import AssetMatcher
from bbdash.news_feeder.category import categorise
from bbdash.news_feeder.dedupe import DedupeStore
from bbdash.news_feeder.metrics import NewsMetrics
from bbdash.news_feeder.records import Article, EnrichedArticle
from bbdash.sentiment import Scorer

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Outcome:
    """Counts of one `process` call."""

    submitted: int = 0
    duplicate: int = 0
    rejected: int = 0


class NewsPipeline:
    """Stateless apart from the dedupe store and the current asset matcher."""

    def __init__(
        self,
        *,
        submit: Callable[[Point], bool],
        dedupe: DedupeStore | None,
        scorer: Scorer,
        metrics: NewsMetrics,
        matcher: AssetMatcher | None = None,
        demo: bool = False,
    ) -> None:
        self._submit = submit
        self._dedupe = dedupe
        self._scorer = scorer
        self._metrics = metrics
        self._demo = demo
        self.matcher = matcher if matcher is not None else AssetMatcher(())

    def matcher_types(self) -> dict[str, str]:
        """Watched asset tag -> asset type (CryptoPanic asks only for watched coins)."""
        return self.matcher.types

    def enrich(self, article: Article) -> EnrichedArticle:
        """Asset, category and sentiment of one article (no side effects)."""
        match = self.matcher.match(article.title, article.summary, article.symbols_hint)
        return EnrichedArticle(
            article=article,
            category=categorise(article.title, match.asset_type, article.category_hint),
            related_asset=match.tag,
            sentiment=self._scorer.score(article.title),
            scorer=self._scorer.version,
        )

    def process(self, articles: Iterable[Article]) -> Outcome:
        """Submit every article not seen before; oldest first, so points arrive in order."""
        outcome = Outcome()
        for article in sorted(articles, key=lambda a: a.published_at):
            if self._dedupe is not None and self._dedupe.seen_or_add(article.url, article.title):
                outcome.duplicate += 1
                self._metrics.articles.labels(article.source, "duplicate").inc()
                continue
            enriched = self.enrich(article)
            if self._submit(enriched.to_point(demo=self._demo)):
                outcome.submitted += 1
                self._metrics.articles.labels(article.source, "submitted").inc()
                self._metrics.sentiment.observe(enriched.sentiment)
            else:
                outcome.rejected += 1
                self._metrics.articles.labels(article.source, "unencodable").inc()
        if outcome.submitted:
            log.info(
                "articles submitted",
                extra={"submitted": outcome.submitted, "duplicates": outcome.duplicate},
            )
        return outcome
