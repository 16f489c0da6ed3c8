"""Parsers over recorded payloads in each upstream's documented format."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from bbdash.news_feeder.sources import PayloadError, cryptopanic, newsapi, rss

NOW = datetime(2024, 2, 13, tzinfo=UTC)


def test_rss2_items_are_cleaned_converted_to_utc_and_bad_ones_counted(payload):
    result = rss.parse_feed(payload("rss2.xml"), source="example", category="stocks", now=NOW)
    titles = [a.title for a in result.articles]
    assert titles == [
        "Apple shares climb after iPhone sales top forecasts",  # HTML stripped
        "Bitcoin slides below $40,000 as ETF outflows mount",
        "Fed minutes due Wednesday afternoon",
    ]
    apple = result.articles[0]
    assert apple.published_at == datetime(2024, 2, 12, 14, 0, tzinfo=UTC)  # +0100 -> UTC
    assert apple.summary == "Apple Inc. shares rose 3%."
    assert apple.source == "example"
    assert apple.category_hint == "stocks"
    # An item without a date is kept, dated when we fetched it.
    assert result.articles[2].published_at == NOW
    assert result.skipped == {"no_title": 1, "no_link": 1}


def test_atom_entries_use_published_then_updated(payload):
    result = rss.parse_feed(payload("atom.xml"), source="atom-example", now=NOW)
    assert [(a.title, a.url) for a in result.articles] == [
        (
            "Nvidia price target raised to $900 at Example Securities",
            "https://atom.example.org/nvda-target",
        ),
        (
            "Euro little changed against dollar in quiet trade",
            "https://atom.example.org/euro-flat",
        ),
    ]
    assert result.articles[0].published_at == datetime(2024, 2, 12, 17, 45, tzinfo=UTC)
    assert result.articles[1].published_at == datetime(2024, 2, 12, 17, 55, tzinfo=UTC)
    assert result.skipped == {"no_title": 1}


def test_future_dates_are_clamped_to_fetch_time(payload):
    early = datetime(2024, 2, 12, 15, 0, tzinfo=UTC)
    result = rss.parse_feed(payload("rss2.xml"), source="x", now=early)
    assert all(a.published_at <= early for a in result.articles)


@pytest.mark.parametrize("body", [b"", b"<html><body>502 Bad Gateway</body></html>", b"{}"])
def test_a_document_that_is_not_a_feed_is_refused(body):
    with pytest.raises(PayloadError):
        rss.parse_feed(body, source="x")


def test_cryptopanic_v2_posts(payload):
    result = cryptopanic.parse_posts(payload("cryptopanic_v2_posts.json"), now=NOW)
    eth, exchange = result.articles
    assert eth.title == "Ethereum rallies 8% after successful network upgrade"
    assert eth.url == "https://cryptodaily.example.com/eth-rallies"  # original_url preferred
    assert eth.symbols_hint == ("ETH",)
    assert eth.published_at == datetime(2024, 2, 12, 14, 3, 11, tzinfo=UTC)
    assert eth.source == "cryptopanic"
    assert eth.category_hint == "crypto"
    # v1-shaped "currencies" still read; the CryptoPanic page is the fallback link.
    assert exchange.symbols_hint == ("BNB",)
    assert exchange.url.startswith("https://cryptopanic.com/news/19283747/")
    assert result.skipped == {"no_date": 1, "not_an_object": 1}


def test_cryptopanic_error_body_is_an_api_error(payload):
    with pytest.raises(PayloadError) as err:
        cryptopanic.parse_posts(payload("cryptopanic_v2_error.json"))
    assert err.value.kind == "api_error"
    assert "Token not found" in str(err.value)


def test_cryptopanic_invalid_json():
    with pytest.raises(PayloadError) as err:
        cryptopanic.parse_posts(b"<html>")
    assert err.value.kind == "malformed"


def test_cryptopanic_request_params_carry_token_and_watched_coins():
    params = cryptopanic.request_params("tok", currencies=["SOL", "BTC", "BTC"], kind="news")
    assert params == {
        "auth_token": "tok",
        "kind": "news",
        "public": "true",
        "currencies": "BTC,SOL",
    }
    assert "currencies" not in cryptopanic.request_params("tok", currencies=[])


def test_newsapi_articles(payload):
    result = newsapi.parse_articles(payload("newsapi_top_headlines.json"), now=NOW)
    assert [a.title for a in result.articles] == [
        "Tesla shares tumble after deliveries miss estimates",  # " - Example Wire" removed
        "Federal Reserve holds rates steady, as expected",
    ]
    assert result.articles[0].published_at == datetime(2024, 2, 11, 21, 15, tzinfo=UTC)
    assert result.skipped == {"removed": 1, "no_date": 1}


def test_newsapi_rate_limit_error_is_classified(payload):
    with pytest.raises(PayloadError) as err:
        newsapi.parse_articles(payload("newsapi_rate_limited.json"))
    assert err.value.kind == "rate_limited"


def test_newsapi_publisher_suffix_only_when_it_is_the_publisher():
    assert newsapi.strip_publisher("Oil falls - Reuters", "Reuters") == "Oil falls"
    assert newsapi.strip_publisher("Buy - or sell?", "Reuters") == "Buy - or sell?"
