"""Typed configuration of the watchlist API, read once from the environment.

Every variable is prefixed ``BBDASH_API_``. Secrets never travel in plain
environment variables: the role mounts them as files (from the vault) and the
``*_FILE`` variables name those files, so they do not show in ``docker inspect``.
"""

from __future__ import annotations

import re
from functools import cached_property
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# The shortest bootstrap key accepted: a guessable admin key would be worse than none.
MIN_SECRET_LENGTH = 32
# Which market-feeder sources collect which asset (market_feeder/routing.py: crypto pairs
# from Binance and CoinGecko, other crypto from CoinGecko alone; stocks, forex and
# indices from Yahoo, then the fallbacks its docstring names). "crypto_pair" is a crypto
# symbol with a "/" (every normalised one), "crypto" one without.
DEFAULT_SYMBOL_SOURCES: dict[str, tuple[str, ...]] = {
    "crypto_pair": ("binance", "coingecko"),
    "crypto": ("coingecko",),
    "stock": ("yahoo", "alphavantage"),
    "forex": ("yahoo", "exchangerate", "alphavantage"),
    "index": ("yahoo",),
}
_SOURCE_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
_LOGIN = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")  # schemas/users.py UserName


class CustomBucket(BaseModel):
    """One person's custom series: their bucket (created by Ansible) and its quota."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # A user bucket's name (no leading "_": those are InfluxDB's system buckets); the
    # roles name it custom_<login> (influxdb_custom_bucket_prefix).
    bucket: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
    max_series: int = Field(ge=1, le=10_000_000)


def _read_secret(path: Path) -> str:
    return path.read_text(encoding="utf-8").strip()


class Settings(BaseSettings):
    """Settings of one API process (see README-watchlist-api.md for the table)."""

    model_config = SettingsConfigDict(env_prefix="BBDASH_API_", extra="ignore", frozen=True)

    database_url: str | None = Field(
        default=None, description="libpq DSN; prefer database_url_file when it holds a password."
    )
    database_url_file: Path | None = Field(default=None, description="File holding the DSN.")
    admin_key_file: Path | None = Field(
        default=None, description="File holding the bootstrap admin API key (from the vault)."
    )
    metrics_token_file: Path | None = Field(
        default=None, description="File holding a scrape-only bearer token for /metrics."
    )
    host: str = "0.0.0.0"  # noqa: S104 - the container's only interface is bloomberg-net
    port: int = Field(default=8000, ge=1, le=65535)
    log_level: str = Field(default="INFO", pattern="^(DEBUG|INFO|WARNING|ERROR)$")
    pool_min_size: int = Field(default=2, ge=1, le=100)
    pool_max_size: int = Field(default=10, ge=1, le=100)
    db_timeout_seconds: float = Field(
        default=5.0, gt=0, le=60, description="Pool wait, connect and statement timeout."
    )
    migrate_on_start: bool = True
    migrate_wait_seconds: float = Field(
        default=60.0, ge=0, le=3600, description="How long to retry an unreachable database."
    )
    max_body_bytes: int = Field(default=256 * 1024, ge=1024, le=16 * 1024 * 1024)
    auth_cache_seconds: float = Field(
        default=5.0, ge=0, le=300, description="How long a verified key is trusted without a query."
    )
    grafana_url: str | None = Field(
        default=None,
        pattern=r"^https?://[^/?#\s]+/?$",
        description="Grafana's base URL on bloomberg-net; None: API keys only, no sign-in.",
    )
    grafana_cookie_name: str = Field(
        default="grafana_session",
        pattern=r"^[A-Za-z0-9_.-]{1,64}$",
        description="Grafana's [auth] login_cookie_name.",
    )
    session_cache_seconds: float = Field(
        default=5.0, ge=0, le=60, description="How long Grafana's answer on a cookie is reused."
    )
    grafana_timeout_seconds: float = Field(
        default=2.0, gt=0, le=30, description="How long to wait for Grafana's answer."
    )
    grafana_public_path: str = Field(
        default="/",
        pattern=r"^/(?:[A-Za-z0-9._~-]+/)*$",
        description="Grafana's path on the browser's host (its root_url path, ending in '/'): "
        "the desk page links to its login and rotates sessions there.",
    )
    grafana_token_file: Path | None = Field(
        default=None,
        description="File holding the desk service account's token (the grafana role "
        "writes it, possibly after the API started); None: layouts get no dashboard.",
    )
    desks_folder_uid: str = Field(
        default="bbdash-desks",
        pattern=r"^[A-Za-z0-9_-]{1,40}$",
        description="The Grafana folder holding each person's folder of layout dashboards.",
    )
    layout_sync_seconds: float = Field(
        default=30.0, gt=0, le=3600, description="How often pending layout dashboards are retried."
    )
    layout_full_sync_seconds: float = Field(
        default=3600.0,
        gt=0,
        le=7 * 86400,
        description="How often every layout dashboard is saved again (a restored Grafana).",
    )
    symbol_sources: dict[str, list[str]] = Field(
        default_factory=lambda: {key: list(names) for key, names in DEFAULT_SYMBOL_SOURCES.items()},
        description="Which feeder sources collect which asset type (JSON); keys: "
        "crypto_pair, crypto, stock, forex, index. Shown by GET /v1/symbols/check.",
    )
    influxdb_url: str | None = Field(
        default=None,
        pattern=r"^https?://[^/?#\s]+/?$",
        description="InfluxDB's base URL on bloomberg-net; None or empty: no custom series.",
    )
    influxdb_org: str | None = Field(
        default=None, min_length=1, max_length=256, description="The InfluxDB organisation."
    )
    influxdb_token_file: Path | None = Field(
        default=None,
        description="File holding the token of the InfluxDB user bbdash-custom (read+write "
        "on the custom buckets, on the org's authorizations and on that user); read again "
        "whenever it changed.",
    )
    influxdb_timeout_seconds: float = Field(
        default=5.0, gt=0, le=60, description="How long to wait for InfluxDB's answer."
    )
    custom_buckets: dict[str, CustomBucket] = Field(
        default_factory=dict,
        description='Who has a custom bucket (JSON): {"<login>": {"bucket": "custom_<login>", '
        '"max_series": N}}.',
    )
    custom_write_url: str | None = Field(
        default=None,
        pattern=r"^https?://[^?#\s]+$",
        description="Where a person's scripts reach InfluxDB from outside (the write URL "
        "shown is <this>/api/v2/write); None: influxdb_url.",
    )
    custom_quota_seconds: float = Field(
        default=300.0, gt=0, le=86400, description="How often each custom bucket is measured."
    )
    max_custom_tokens_per_user: int = Field(default=10, ge=1, le=100)
    max_watchlists_per_user: int = Field(default=100, ge=1)
    max_items_per_watchlist: int = Field(default=500, ge=1)
    max_layouts_per_user: int = Field(default=50, ge=1)
    max_alert_rules_per_user: int = Field(default=500, ge=1)
    max_api_keys_per_user: int = Field(default=20, ge=1)

    @field_validator("symbol_sources")
    @classmethod
    def _known_sources(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for key, names in value.items():
            if key not in DEFAULT_SYMBOL_SOURCES:
                msg = f"symbol_sources: unknown key {key!r} (expected one of "
                msg += f"{', '.join(DEFAULT_SYMBOL_SOURCES)})"
                raise ValueError(msg)
            for name in names:
                if not _SOURCE_NAME.fullmatch(name):
                    msg = f"symbol_sources[{key!r}]: {name!r} is not a source name"
                    raise ValueError(msg)
        return value

    @field_validator("influxdb_url", "influxdb_org", "custom_write_url", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        # The role templates every variable; an empty one means "not set".
        return None if value == "" else value

    @field_validator("custom_buckets")
    @classmethod
    def _logins(cls, value: dict[str, CustomBucket]) -> dict[str, CustomBucket]:
        for login in value:
            if not _LOGIN.fullmatch(login):
                msg = f"custom_buckets: {login!r} is not a user name"
                raise ValueError(msg)
        return value

    @property
    def custom_series_configured(self) -> bool:
        """Custom series need InfluxDB's URL, its org and the token file (which may
        appear later)."""
        return bool(self.influxdb_url and self.influxdb_org and self.influxdb_token_file)

    @model_validator(mode="after")
    def _check(self) -> Settings:
        if self.pool_min_size > self.pool_max_size:
            msg = "pool_min_size must not exceed pool_max_size"
            raise ValueError(msg)
        return self

    @cached_property
    def dsn(self) -> str:
        """The DSN, from the file when one is named (a file wins over the variable)."""
        if self.database_url_file is not None:
            return _read_secret(self.database_url_file)
        if self.database_url:
            return self.database_url
        msg = "set BBDASH_API_DATABASE_URL_FILE (or BBDASH_API_DATABASE_URL)"
        raise ValueError(msg)

    @cached_property
    def admin_key(self) -> str | None:
        """The bootstrap admin key, or None when no file is configured."""
        return self._secret(self.admin_key_file, "BBDASH_API_ADMIN_KEY_FILE")

    @cached_property
    def metrics_token(self) -> str | None:
        """The scrape token for /metrics, or None (then only the admin key may scrape)."""
        return self._secret(self.metrics_token_file, "BBDASH_API_METRICS_TOKEN_FILE")

    @staticmethod
    def _secret(path: Path | None, name: str) -> str | None:
        if path is None:
            return None
        value = _read_secret(path)
        if len(value) < MIN_SECRET_LENGTH:
            msg = f"{name}: the secret in {path} is shorter than {MIN_SECRET_LENGTH} characters"
            raise ValueError(msg)
        return value
