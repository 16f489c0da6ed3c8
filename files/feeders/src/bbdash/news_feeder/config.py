"""Typed settings of the news feeder (YAML from the role, env `BBDASH_...`, secrets in files).

Budgets are checked when the settings load: a configuration whose polling
would exceed an upstream's quota is refused at start-up with the setting to
change, instead of being throttled (or banned) hours later. The rule is
`bbdash.common.budgets`, which the role's preflight runs too.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import ClassVar, Literal, Self

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator

from bbdash.common import budgets
from bbdash.common.config import ServiceSettings, resolve_secret
from bbdash.common.upstream import UpstreamLimits

Category = Literal["crypto", "stocks", "forex", "macro", "general"]
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,39}$")


class FeedSpec(BaseModel):
    """One RSS/Atom feed; `name` becomes the `source` tag."""

    name: str
    url: str
    category: Category | None = None

    @field_validator("name")
    @classmethod
    def _name_is_a_tag(cls, value: str) -> str:
        if not _NAME_RE.match(value):
            msg = "feed name must be lower-case letters, digits, '_', '-', '.' (max 40)"
            raise ValueError(msg)
        return value

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            msg = f"feed url must be http(s): {value!r}"
            raise ValueError(msg)
        return value


# Publicly documented feeds; override `rss.feeds` to change them.
_CNBC_TOP = "https://search.cnbc.com/rs/search/combinedcms/view.xml?partnerId=wrss01&id=100003114"
DEFAULT_FEEDS = [
    FeedSpec(
        name="coindesk", url="https://www.coindesk.com/arc/outboundfeeds/rss/", category="crypto"
    ),
    FeedSpec(name="cointelegraph", url="https://cointelegraph.com/rss", category="crypto"),
    FeedSpec(
        name="yahoo-finance", url="https://finance.yahoo.com/news/rssindex", category="stocks"
    ),
    FeedSpec(name="cnbc", url=_CNBC_TOP, category="general"),
    FeedSpec(
        name="federal-reserve",
        url="https://www.federalreserve.gov/feeds/press_all.xml",
        category="macro",
    ),
]


class RssSettings(BaseModel):
    """RSS/Atom polling."""

    enabled: bool = True
    interval_s: float = Field(300.0, gt=0)
    feeds: list[FeedSpec] = Field(default_factory=lambda: list(DEFAULT_FEEDS))

    @model_validator(mode="after")
    def _unique_names(self) -> Self:
        names = [feed.name for feed in self.feeds]
        if len(names) != len(set(names)):
            msg = "rss.feeds: feed names must be unique (they become the source tag)"
            raise ValueError(msg)
        return self


class CryptoPanicSettings(BaseModel):
    """CryptoPanic API v2; enabled when a token is configured (no plan is free any more)."""

    token: SecretStr | None = None
    token_file: Path | None = None
    base_url: str = "https://cryptopanic.com/api"
    plan: Literal["developer", "growth", "enterprise"] = "developer"
    interval_s: float = Field(600.0, gt=0)
    # Requests your plan allows per month: set it from your CryptoPanic account page.
    monthly_quota: int = Field(3_000, ge=1)
    kind: Literal["news", "media", "all"] = "news"

    def token_value(self) -> str | None:
        """The token, or None when CryptoPanic is not configured."""
        secret = resolve_secret(self.token, self.token_file, "cryptopanic.token")
        return None if secret is None else secret.get_secret_value()

    def requests_per_month(self) -> int:
        """One request per poll, in a 31-day month."""
        return budgets.cryptopanic_monthly_requests(self.interval_s)


class NewsApiSettings(BaseModel):
    """NewsAPI v2; enabled when a key is configured."""

    key: SecretStr | None = None
    key_file: Path | None = None
    base_url: str = "https://newsapi.org/v2"
    interval_s: float = Field(1800.0, gt=0)
    daily_limit: int = Field(100, ge=1)  # the free Developer plan
    # One request per entry and poll: top-headlines by category.
    categories: list[Literal["business", "technology", "general"]] = Field(
        default_factory=lambda: ["business"]
    )
    language: str = "en"

    def key_value(self) -> str | None:
        """The key, or None when NewsAPI is not configured."""
        secret = resolve_secret(self.key, self.key_file, "newsapi.key")
        return None if secret is None else secret.get_secret_value()

    def requests_per_day(self) -> int:
        """Requests one day of polling makes."""
        return budgets.newsapi_daily_requests(self.interval_s, len(self.categories))


class HttpSettings(BaseModel):
    """Timeouts, retries and circuit breaking shared by every upstream."""

    timeout_s: float = Field(10.0, gt=0, le=120)
    attempts: int = Field(3, ge=1, le=10)
    retry_base_s: float = Field(1.0, gt=0)
    retry_cap_s: float = Field(30.0, gt=0)
    breaker_failures: int = Field(5, ge=1)
    breaker_reset_s: float = Field(120.0, gt=0)
    user_agent: str = "bbdash-news-feeder/0.1 (+self-hosted market dashboard)"

    def limits(
        self, *, calls: float, period_s: float, burst: float, url_setting: str
    ) -> UpstreamLimits:
        """An upstream's limits: its quota (`calls` per `period_s`) with these guards."""
        return UpstreamLimits(
            calls=calls,
            period_s=period_s,
            burst=burst,
            timeout_s=self.timeout_s,
            attempts=self.attempts,
            retry_base_s=self.retry_base_s,
            retry_cap_s=self.retry_cap_s,
            failure_threshold=self.breaker_failures,
            reset_s=self.breaker_reset_s,
            max_reset_s=max(600.0, self.breaker_reset_s),
            base_url_hint=f"base URL ({url_setting})",
        )


class DedupeSettings(BaseModel):
    """The on-disk store of seen articles."""

    path: Path = Path("/var/lib/bbdash/news/dedupe.sqlite")
    max_entries: int = Field(50_000, ge=100)
    max_age_days: float = Field(14.0, gt=0)


class DemoSettings(BaseModel):
    """Bundled sample feeds instead of the network (points tagged demo=true)."""

    enabled: bool = False
    interval_s: float = Field(20.0, gt=0)


class NewsSettings(ServiceSettings):
    """Settings of `bbdash-news-feeder`."""

    SERVICE: ClassVar[str] = "news-feeder"
    DEFAULT_BUCKET: ClassVar[str] = "news"
    DEFAULT_PORT: ClassVar[int] = 9109

    rss: RssSettings = Field(default_factory=RssSettings)
    cryptopanic: CryptoPanicSettings = Field(default_factory=CryptoPanicSettings)
    newsapi: NewsApiSettings = Field(default_factory=NewsApiSettings)
    http: HttpSettings = Field(default_factory=HttpSettings)
    dedupe: DedupeSettings = Field(default_factory=DedupeSettings)
    demo: DemoSettings = Field(default_factory=DemoSettings)

    @model_validator(mode="after")
    def _within_budgets(self) -> Self:
        # Reading the secrets here refuses an unreadable token or key file at load.
        self.cryptopanic.token_value()
        self.newsapi.key_value()
        problems = budgets.news_feeder_problems(self.model_dump(mode="json"))
        if problems:
            raise ValueError(" ".join(problems))
        return self
