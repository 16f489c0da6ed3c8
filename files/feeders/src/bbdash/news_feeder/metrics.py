"""News-specific metrics, registered on the process's common `Metrics` registry."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

from bbdash.common.metrics import Metrics


class NewsMetrics:
    """Article outcomes and the sentiment distribution."""

    def __init__(self, metrics: Metrics) -> None:
        self.common = metrics
        self.articles = Counter(
            "bbdash_news_articles_total",
            "Articles handled, by source and outcome (submitted, duplicate, unencodable).",
            ["source", "outcome"],
            registry=metrics.registry,
        )
        self.sentiment = Histogram(
            "bbdash_news_sentiment_score",
            "Sentiment scores of submitted articles.",
            buckets=(-0.75, -0.5, -0.25, 0.0, 0.25, 0.5, 0.75, 1.0),
            registry=metrics.registry,
        )
