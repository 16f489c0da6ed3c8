"""Settings: defaults start, budgets over quota are refused at load with the setting to change."""

from __future__ import annotations

import pytest
from bbdash.common.config import ConfigError, load_settings
from bbdash.news_feeder.config import NewsSettings


@pytest.fixture(autouse=True)
def _no_env(monkeypatch):
    for key in list(__import__("os").environ):
        if key.startswith("BBDASH_"):
            monkeypatch.delenv(key)


def test_defaults_are_valid_and_keyless_sources_are_off():
    settings = load_settings(NewsSettings)
    assert settings.influx.bucket == "news"
    assert settings.metrics.port == 9109
    assert settings.rss.enabled and len(settings.rss.feeds) >= 4
    assert {f.category for f in settings.rss.feeds} >= {"crypto", "stocks"}
    assert settings.cryptopanic.token_value() is None
    assert settings.newsapi.key_value() is None


def test_rss_faster_than_two_minutes_is_refused():
    with pytest.raises(ConfigError, match=r"rss\.interval_s=60 .* set it to 120 or more"):
        load_settings(NewsSettings, rss={"interval_s": 60})


def test_newsapi_over_daily_budget_is_refused():
    with pytest.raises(ConfigError) as err:
        load_settings(NewsSettings, newsapi={"key": "k", "interval_s": 300})
    message = str(err.value)
    assert "makes 288 requests a day, over newsapi.daily_limit=100" in message
    assert "set newsapi.interval_s to 864 or more" in message


def test_newsapi_budget_counts_every_category():
    with pytest.raises(ConfigError, match="makes 96 requests a day"):
        load_settings(
            NewsSettings,
            newsapi={
                "key": "k",
                "interval_s": 1800,
                "daily_limit": 50,
                "categories": ["business", "technology"],
            },
        )


def test_unconfigured_source_is_not_budget_checked():
    settings = load_settings(NewsSettings, newsapi={"interval_s": 60})
    assert settings.newsapi.key_value() is None


def test_cryptopanic_over_monthly_quota_is_refused(tmp_path):
    token = tmp_path / "cp.token"
    token.write_text("secret-token\n")
    token.chmod(0o600)
    with pytest.raises(ConfigError, match=r"over cryptopanic\.monthly_quota=1000"):
        load_settings(
            NewsSettings,
            cryptopanic={
                "token_file": str(token),
                "interval_s": 300,
                "monthly_quota": 1000,
            },
        )
    # A 31-day month (2,678,400 s): 2,679 s is the shortest interval within 1,000.
    with pytest.raises(ConfigError, match=r"set cryptopanic\.interval_s to 2679 or more"):
        load_settings(
            NewsSettings,
            cryptopanic={"token_file": str(token), "interval_s": 2678, "monthly_quota": 1000},
        )
    ok = load_settings(
        NewsSettings,
        cryptopanic={
            "token_file": str(token),
            "interval_s": 2679,
            "monthly_quota": 1000,
        },
    )
    assert ok.cryptopanic.token_value() == "secret-token"


def test_feed_names_must_be_unique_tags():
    feed = {"name": "dup", "url": "https://a.example/rss"}
    with pytest.raises(ConfigError, match="unique"):
        load_settings(NewsSettings, rss={"feeds": [feed, feed]})
    with pytest.raises(ConfigError, match="lower-case"):
        load_settings(NewsSettings, rss={"feeds": [{"name": "Bad Name", "url": feed["url"]}]})
