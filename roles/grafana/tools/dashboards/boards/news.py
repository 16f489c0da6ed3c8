"""News and sentiment: the articles the news feeder stores, and how they score.

Headlines with links and scores, sentiment per asset over time, mean sentiment
by asset and articles by source, filtered by $symbol (one asset or all, the
target of the other dashboards' news links) and $category.
"""

from __future__ import annotations

from typing import Any

from .. import sentiment
from ..chrome import demo_banner, header
from ..fields import field_defaults
from ..flux import (
    NEWS,
    NEWS_CATEGORY_FILTER,
    NEWS_SYMBOL_FILTER,
    NEWS_SYMBOL_PRELUDE,
    RANGE,
    sentiment_series,
    tag_values,
)
from ..frame import dashboard
from ..layout import Board
from ..links import RELATED_ASSET, news_link
from ..panels import bargauge, piechart, timeseries
from ..targets import influx_target
from ..variables import var_influx, var_pg, var_watchlist, watchlist_symbols
from ..widgets import news_headlines_table


def build() -> dict[str, Any]:
    """The news and sentiment dashboard."""
    b = Board()
    b.add(header("news", "headlines with links and scores · sentiment per asset"), 24, 3)
    b.add(demo_banner("news", "news_articles", "sentiment_score"), 24, 2)
    b.add(
        news_headlines_table("Headlines", symbol_filter=True, limit=200, category_filter=True),
        24,
        12,
    )
    b.add(sentiment_chart(), 24, 9)
    b.add(mean_sentiment_bars(), 12, 10)
    b.add(articles_by_source(), 12, 10)
    return dashboard(
        "news",
        ["news"],
        b,
        variables(),
        time_from="now-7d",
        refresh="1m",
        description="Latest headlines with links and sentiment, sentiment over time per asset.",
    )


def sentiment_chart() -> dict[str, Any]:
    """Mean sentiment per asset and hour (at least), one line per asset."""
    return timeseries(
        "Sentiment over time, per asset",
        [influx_target(sentiment_series(symbol_filter=True, category_filter=True))],
        field_defaults(
            unit="none",
            decimals=2,
            min=-1,
            max=1,
            color={"mode": "palette-classic"},
            displayName="${__field.labels.related_asset}",
            th=sentiment.band_thresholds(),
            custom={"thresholdsStyle": {"mode": "area"}},
        ),
        legend="table",
        description="Mean sentiment score per asset, per hour at least. Scores are in [-1, 1]; "
        "the background shows the label bands. " + sentiment.band_text(),
    )


def mean_sentiment_bars() -> dict[str, Any]:
    """Mean score over the range per asset, best first; a bar links to the asset's news."""
    query = NEWS_SYMBOL_PRELUDE + "\n".join(
        [
            'from(bucket: "news")',
            f"  {RANGE}",
            f'  |> filter(fn: (r) => {NEWS} and r._field == "sentiment_score")',
            f"  |> filter(fn: (r) => {sentiment.scored_by_shipped()})",
            NEWS_SYMBOL_FILTER,
            NEWS_CATEGORY_FILTER,
            '  |> group(columns: ["related_asset"])',
            "  |> mean()",
            "  |> group()",
            '  |> sort(columns: ["_value"], desc: true)',
            '  |> rename(columns: {_value: "sentiment"})',
        ]
    )
    return bargauge(
        "Mean sentiment by asset",
        [influx_target(query)],
        field_defaults(
            unit="none",
            decimals=2,
            min=-1,
            max=1,
            color={"mode": "thresholds"},
            th=sentiment.band_thresholds(),
            links=[news_link(RELATED_ASSET)],
        ),
        fields="/^sentiment$/",
        values=True,
    )


def articles_by_source() -> dict[str, Any]:
    """Share of the articles in range per news source."""
    query = "\n".join(
        [
            'from(bucket: "news")',
            f"  {RANGE}",
            f'  |> filter(fn: (r) => {NEWS} and r._field == "sentiment_score")',
            NEWS_CATEGORY_FILTER,
            '  |> group(columns: ["source"])',
            "  |> count()",
            "  |> group()",
            '  |> rename(columns: {_value: "articles"})',
        ]
    )
    return piechart(
        "Articles by source",
        [influx_target(query)],
        "/^articles$/",
        field_defaults(color={"mode": "palette-classic"}),
    )


def variables() -> list[dict[str, Any]]:
    """$symbol: one asset or all (``__all``, which the Flux filter lets through); $category."""
    return [
        var_watchlist(),
        var_pg(
            "symbol",
            "Asset",
            watchlist_symbols(),
            multi=False,
            include_all=True,
            all_value="__all",
        ),
        var_influx(
            "category",
            "Category",
            tag_values("category", 'r._measurement == "news_articles"', "news"),
            multi=True,
            include_all=True,
        ),
    ]
