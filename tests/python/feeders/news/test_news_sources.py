"""Parsers over recorded payloads in each upstream's documented format."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from bbdash.common.upstream_errors import AuthError, RateLimitedError
from bbdash.news_feeder.records import MAX_TITLE_CHARS
from bbdash.news_feeder.sources import (
    ParseResult,
    PayloadError,
    cryptopanic,
    json_list,
    load_json_object,
    newsapi,
    rss,
)

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
    assert err.value.detail == "Token not found"  # the upstream's own text, for the log


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
    with pytest.raises(RateLimitedError) as err:
        newsapi.parse_articles(payload("newsapi_rate_limited.json"))
    assert err.value.kind == "rate_limited"
    assert err.value.holds  # obeyed like an HTTP 429: no retry, source held
    assert err.value.detail.startswith("rateLimited: You have made too many requests")


def test_newsapi_key_errors_are_auth_errors():
    body = b'{"status": "error", "code": "apiKeyInvalid", "message": "Your API key is invalid."}'
    with pytest.raises(AuthError) as err:
        newsapi.parse_articles(body)
    assert err.value.kind == "auth"
    assert "Your API key is invalid." in err.value.detail


def test_newsapi_publisher_suffix_only_when_it_is_the_publisher():
    assert newsapi.strip_publisher("Oil falls - Reuters", "Reuters") == "Oil falls"
    assert newsapi.strip_publisher("Buy - or sell?", "Reuters") == "Buy - or sell?"


def test_parse_result_admits_only_a_sane_title_and_an_http_link():
    result = ParseResult()
    assert result.admit("Fed holds rates", "https://example.org/fed")
    assert not result.admit("", "https://example.org/a")
    assert not result.admit("x" * (MAX_TITLE_CHARS + 1), "https://example.org/b")
    assert not result.admit("Fed holds rates", "javascript:alert(1)")
    assert not result.admit("Fed holds rates", "/relative/path")
    assert result.skipped == {"no_title": 2, "no_link": 2}
    assert result.articles == []


def test_parse_result_add_clamps_the_date_cleans_the_summary_and_counts_undated_items():
    result = ParseResult()
    later = datetime(2024, 2, 14, tzinfo=UTC)
    result.add(
        "src", "Title", "https://example.org/a", later, fetched=NOW, summary="<b>x</b>" * 600
    )
    result.add("src", "Title", "https://example.org/b", None, fetched=NOW, summary="ignored")
    result.add("src", "Title", "https://example.org/c", NOW, fetched=NOW, summary=None)
    first, second = result.articles
    assert first.published_at == NOW  # a date after the fetch is clamped to it
    assert first.summary == ("x " * 500)[:1000]  # tags stripped, then cut at 1000
    assert second.summary == ""
    assert (first.category_hint, first.symbols_hint) == (None, ())
    assert result.skipped == {"no_date": 1}


@pytest.mark.parametrize(
    ("body", "message"),
    [(b"<html>", "demo: invalid JSON"), (b"[1, 2]", "demo: response is not an object")],
)
def test_load_json_object_refuses_what_is_not_a_json_object(body, message):
    with pytest.raises(PayloadError) as err:
        load_json_object(body, "demo")
    assert str(err.value).startswith(message)
    assert err.value.kind == "malformed"
    assert load_json_object(b'{"a": 1}', "demo") == {"a": 1}


def test_json_list_and_objects_walk_the_objects_of_a_listed_key():
    payload = {"results": [{"title": "a"}, "stray", None, {"title": "b"}], "count": 2}
    result = ParseResult()
    assert list(result.objects(json_list(payload, "results", "demo"))) == [
        {"title": "a"},
        {"title": "b"},
    ]
    assert result.skipped == {"not_an_object": 2}
    for key in ("count", "missing"):
        with pytest.raises(PayloadError) as err:
            json_list(payload, key, "demo")
        assert str(err.value) == f"demo: {key} is not a list"
        assert err.value.kind == "malformed"


FAR_FUTURE = "9999-12-31T23:59:59-14:00"  # valid RFC 3339, past datetime's range in UTC


def test_a_date_out_of_range_skips_that_item_only():
    """One item dated at the edge of the calendar is counted "no_date"; its
    neighbours are kept and the payload is not refused."""
    body = {
        "status": "ok",
        "articles": [
            {
                "title": "Edge of time",
                "url": "https://example.org/a",
                "publishedAt": FAR_FUTURE,
                "source": {"name": "Wire"},
            },
            {
                "title": "Ordinary news",
                "url": "https://example.org/b",
                "publishedAt": "2024-02-12T10:00:00Z",
                "source": {"name": "Wire"},
            },
        ],
    }
    result = newsapi.parse_articles(json.dumps(body).encode(), now=NOW)
    assert [a.title for a in result.articles] == ["Ordinary news"]
    assert result.skipped == {"no_date": 1}


def test_an_atom_date_out_of_range_falls_back_to_the_fetch_time():
    """feedparser turns this date into year 10000, which datetime refuses."""
    feed = f"""<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>t</title>
      <entry><title>Edge of time</title><link href="https://example.org/a"/><id>a</id>
        <updated>{FAR_FUTURE}</updated></entry>
      <entry><title>Ordinary news</title><link href="https://example.org/b"/><id>b</id>
        <updated>2024-02-12T10:00:00Z</updated></entry>
    </feed>""".encode()
    result = rss.parse_feed(feed, source="x", now=NOW)
    assert [(a.title, a.published_at) for a in result.articles] == [
        ("Edge of time", NOW),  # like an undated item: the time it was fetched
        ("Ordinary news", datetime(2024, 2, 12, 10, tzinfo=UTC)),
    ]


def test_a_broken_emoji_escape_becomes_a_replacement_character():
    """JSON feeds carry half a UTF-16 pair ("\\ud83d") when an emoji is cut: Python
    keeps it, UTF-8 cannot encode it, so the article would never reach InfluxDB."""
    body = json.dumps(
        {
            "status": "ok",
            "articles": [
                {
                    "title": "Markets \ud83d rally",
                    "url": "https://example.org/a\ud83d",
                    "publishedAt": "2024-02-12T10:00:00Z",
                    "source": {"name": "Example"},
                }
            ],
        }
    ).encode()
    (article,) = newsapi.parse_articles(body, now=NOW).articles
    assert article.title.startswith("Markets \ufffd rally")
    assert article.url == "https://example.org/a\ufffd"
    assert "\ud83d" not in article.title + article.url
    (article.title + article.url).encode("utf-8")
