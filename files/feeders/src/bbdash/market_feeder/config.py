"""Market feeder settings; the CoinGecko monthly budget is checked when they load.

Every setting is documented in files/feeders/README-feeders.md; the Ansible role
templates them into the YAML file named by BBDASH_CONFIG. The budget rule
itself is `bbdash.common.budgets`, which the role's preflight runs too.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, Literal, Self

from pydantic import BaseModel, Field, SecretStr, model_validator

from bbdash.common import budgets
from bbdash.common.config import AssetSpec, ServiceSettings, resolve_secret
from bbdash.downsample.windows import Downsampling


class BinanceSettings(BaseModel):
    """Binance spot WebSocket market streams (<symbol>@ticker, combined streams)."""

    enabled: bool = True
    # wss://data-stream.binance.vision serves market data where the main API is blocked.
    ws_url: str = "wss://stream.binance.com:9443"
    max_streams_per_connection: int = Field(1024, ge=1, le=1024)
    # Binance allows 5 incoming messages/s per connection (pings and pongs count);
    # 4 leaves room for the pongs the library answers on its own.
    max_outgoing_per_s: int = Field(4, ge=1, le=5)
    # Binance allows 300 connection attempts per 5 minutes per IP.
    max_connections_per_5min: int = Field(250, ge=1, le=300)
    streams_per_url: int = Field(100, ge=1, le=1024)
    streams_per_message: int = Field(100, ge=1, le=1024)
    stale_after_s: float = Field(30.0, gt=0)
    # A subscribed pair without a tick this long is reported (a pair Binance does
    # not list is accepted by SUBSCRIBE and then stays silent).
    silent_after_s: float = Field(900.0, gt=0)
    # Binance closes a connection at 24 h; reconnect on our own terms before that.
    max_connection_age_s: float = Field(23.5 * 3600, gt=0, lt=24 * 3600)
    open_timeout_s: float = Field(10.0, gt=0)
    reconnect_base_s: float = Field(0.5, gt=0)
    reconnect_cap_s: float = Field(60.0, gt=0)


class YahooSettings(BaseModel):
    """Yahoo Finance through yfinance: one batched quote request per poll."""

    enabled: bool = True
    interval_s: float = Field(15.0, ge=1)
    # One request carries this many tickers (Yahoo's quote endpoint takes a list).
    symbols_per_request: int = Field(50, ge=1, le=200)
    # Hard ceiling on requests, whatever the number of tickers: 360/h = one per 10 s.
    max_requests_per_hour: int = Field(360, ge=1)
    timeout_s: float = Field(10.0, gt=0)
    failure_threshold: int = Field(3, ge=1)
    circuit_reset_s: float = Field(60.0, gt=0)
    circuit_max_reset_s: float = Field(900.0, gt=0)


class CoinGeckoSettings(BaseModel):
    """CoinGecko /coins/markets: market cap and 1 h / 24 h change for crypto."""

    enabled: bool = True
    base_url: str = "https://api.coingecko.com/api/v3"
    api_key: SecretStr | None = None
    api_key_file: Path | None = None
    vs_currency: str = "usd"
    interval_s: float = Field(300.0, ge=10)
    per_page: int = Field(250, ge=1, le=250)
    # Budgeted coin count: the monthly check assumes at most this many coins.
    max_coins: int = Field(250, ge=1)
    monthly_budget: int = Field(10_000, ge=1)
    # Optional base-symbol → CoinGecko id map ("BTC": "bitcoin") for ambiguous symbols.
    ids: dict[str, str] = Field(default_factory=dict)
    timeout_s: float = Field(10.0, gt=0)
    failure_threshold: int = Field(3, ge=1)
    circuit_reset_s: float = Field(120.0, gt=0)

    def api_key_value(self) -> str | None:
        """The demo key, or None (the public endpoint works without one, more slowly)."""
        secret = resolve_secret(self.api_key, self.api_key_file, "coingecko.api_key")
        return None if secret is None else secret.get_secret_value()


class AlphaVantageSettings(BaseModel):
    """Alpha Vantage, the stock/forex fallback when Yahoo fails (needs a key)."""

    enabled: bool = True
    base_url: str = "https://www.alphavantage.co/query"
    api_key: SecretStr | None = None
    api_key_file: Path | None = None
    daily_budget: int = Field(25, ge=1)
    # A symbol is refreshed from Alpha Vantage at most this often: 25 calls a day go far.
    min_refresh_s: float = Field(3600.0, ge=60)
    timeout_s: float = Field(10.0, gt=0)

    def api_key_value(self) -> str | None:
        """The key, or None (then the fallback is off)."""
        secret = resolve_secret(self.api_key, self.api_key_file, "alphavantage.api_key")
        return None if secret is None else secret.get_secret_value()


class ExchangeRateSettings(BaseModel):
    """open.er-api.com style API, the forex fallback (rates refreshed daily upstream)."""

    enabled: bool = True
    base_url: str = "https://open.er-api.com/v6/latest"
    interval_s: float = Field(3600.0, ge=60)
    timeout_s: float = Field(10.0, gt=0)


class AlertSettings(BaseModel):
    """Price alerts evaluated on every tick and posted to Alertmanager's API v2."""

    enabled: bool = True
    alertmanager_url: str = "http://bloomberg-alertmanager:9093"
    timeout_s: float = Field(5.0, gt=0)
    # How long an alert stays firing in Alertmanager (endsAt = startsAt + this).
    resolve_after_s: float = Field(300.0, gt=0)
    queue_size: int = Field(1000, ge=10)
    retry_base_s: float = Field(0.5, gt=0)
    retry_cap_s: float = Field(30.0, gt=0)
    # An alert not delivered within this time is dropped (counted): it is stale news.
    max_delivery_age_s: float = Field(600.0, gt=0)
    generator_url: str = ""


class DownsampleTaskSettings(BaseModel):
    """One of the influxdb role's downsampling tasks (influxdb_downsample_tasks), plus
    its source bucket's retention: what the re-downsampler needs to recompute it."""

    name: str
    source: str
    destination: str
    measurement: str = "market_data"
    every: str
    offset: str = ""
    window: str
    lookback: str
    fn: str = "candles"
    source_holds_candles: bool = False
    fields: list[str] = Field(default_factory=list)
    source_retention: str  # "7d"; "0" when the source keeps its points forever


class RedownsampleSettings(BaseModel):
    """Late points: their windows are recomputed when no scheduled task run will
    (bbdash.downsample; docs/data-layer.md, "Late data"). No tasks: off."""

    # Journal of the ranges left to recompute; default: next to the spool.
    journal_path: Path | None = None
    interval_s: float = Field(30.0, gt=0)
    # Clock difference and task start delay allowed between the feeder and InfluxDB.
    grace_s: float = Field(5.0, ge=0)
    max_windows_per_query: int = Field(72, ge=1)
    timeout_s: float = Field(60.0, gt=0)
    # The role templates market_feeder_redownsample_tasks here.
    tasks: list[DownsampleTaskSettings] = Field(default_factory=list)

    @model_validator(mode="after")
    def _tasks_are_recomputable(self) -> Self:
        for task in self.tasks:
            try:
                Downsampling.from_spec(task.model_dump(), task.source_retention)
            except ValueError as exc:
                raise ValueError(f"redownsample.tasks: {exc}") from exc
        return self


DEFAULT_DEMO_ASSETS = [
    AssetSpec(symbol=s, asset_type=t)  # type: ignore[arg-type]
    for s, t in (
        ("BTC/USDT", "crypto"),
        ("ETH/USDT", "crypto"),
        ("SOL/USDT", "crypto"),
        ("BNB/USDT", "crypto"),
        ("XRP/USDT", "crypto"),
        ("AAPL", "stock"),
        ("MSFT", "stock"),
        ("NVDA", "stock"),
        ("TSLA", "stock"),
        ("AMZN", "stock"),
        ("EURUSD=X", "forex"),
        ("GBPUSD=X", "forex"),
        ("USDJPY=X", "forex"),
        ("^GSPC", "index"),
        ("^IXIC", "index"),
        ("^DJI", "index"),
        ("^FCHI", "index"),
    )
]


class BackfillSettings(BaseModel):
    """History for every watched symbol (bbdash.backfill; docs/data-layer.md, "History"):
    a year of 1 h candles, 30 days of 5 min candles and a week of 1-minute closes,
    fetched on backfill's own share of each upstream's budget."""

    enabled: bool = True
    # Which upstreams backfill: Binance pairs, Yahoo stocks / indices / forex,
    # CoinGecko-only coins (the live routing decides which asset is whose).
    sources: list[Literal["binance", "yahoo", "coingecko"]] = Field(
        default_factory=lambda: ["binance", "yahoo", "coingecko"]
    )
    # REST base URLs (https://data-api.binance.vision where api.binance.com is
    # geo-blocked). CoinGecko's base URL, key and ids are coingecko.*'s.
    binance_url: str = "https://api.binance.com"
    yahoo_url: str = "https://query2.finance.yahoo.com"
    # Backfill's shares: Binance allows 6,000 weight a minute per IP (a klines
    # call weighs 2; live prices come over WebSocket); Yahoo throttles clients
    # beyond a few hundred requests an hour, shared with the live poll; CoinGecko's
    # share is checked with the live poll against coingecko.monthly_budget.
    binance_weight_per_minute: int = Field(1200, ge=2, le=6000)
    yahoo_requests_per_hour: int = Field(120, ge=1, le=2000)
    coingecko_monthly_calls: int = Field(1000, ge=1)
    # Chunks fetched per step; a step runs whenever the last one found work.
    chunks_per_step: int = Field(8, ge=1, le=100)
    timeout_s: float = Field(20.0, gt=0)
    # A chunk whose fetch or write failed waits this long; a refused key or a
    # geo-block holds the whole upstream `hold_s` (a setting to fix).
    retry_s: float = Field(60.0, gt=0)
    hold_s: float = Field(600.0, gt=0)
    # Journal of the chunks and their state; default: next to the spool.
    journal_path: Path | None = None


class DemoSettings(BaseModel):
    """Synthetic market (no network): a seeded random walk, every point tagged demo=true."""

    enabled: bool = False
    seed: int = 42
    interval_s: float = Field(1.0, gt=0)
    assets: list[AssetSpec] = Field(default_factory=lambda: list(DEFAULT_DEMO_ASSETS))


class MarketFeederSettings(ServiceSettings):
    """Everything the market feeder reads."""

    SERVICE: ClassVar[str] = "market-feeder"
    DEFAULT_BUCKET: ClassVar[str] = "markets"
    DEFAULT_PORT: ClassVar[int] = 9108

    demo: DemoSettings = Field(default_factory=DemoSettings)
    binance: BinanceSettings = Field(default_factory=BinanceSettings)
    yahoo: YahooSettings = Field(default_factory=YahooSettings)
    coingecko: CoinGeckoSettings = Field(default_factory=CoinGeckoSettings)
    alphavantage: AlphaVantageSettings = Field(default_factory=AlphaVantageSettings)
    exchangerate: ExchangeRateSettings = Field(default_factory=ExchangeRateSettings)
    alerts: AlertSettings = Field(default_factory=AlertSettings)
    redownsample: RedownsampleSettings = Field(default_factory=RedownsampleSettings)
    backfill: BackfillSettings = Field(default_factory=BackfillSettings)

    @model_validator(mode="after")
    def _within_budgets(self) -> Self:
        problems = budgets.market_feeder_problems(self.model_dump())
        if problems:
            raise ValueError(" ".join(problems))
        return self


def coingecko_monthly_calls(config: CoinGeckoSettings | Mapping[str, Any]) -> int:
    """CoinGecko calls per (31-day) month for a configuration; 0 when disabled.

    The settings object, or a mapping with the same keys (defaults as in
    `CoinGeckoSettings` for missing ones); the arithmetic is
    `bbdash.common.budgets.coingecko_monthly_calls`.
    """
    cg = config if isinstance(config, CoinGeckoSettings) else CoinGeckoSettings(**dict(config))
    if not cg.enabled:
        return 0
    return budgets.coingecko_monthly_calls(cg.interval_s, cg.per_page, cg.max_coins)
