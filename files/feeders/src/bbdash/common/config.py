"""Typed configuration shared by the feeders (pydantic-settings), loaded once at start.

Sources, highest priority first:

1. keyword arguments (tests);
2. environment variables `BBDASH_<SECTION>__<KEY>` (e.g. `BBDASH_INFLUX__URL`);
3. the YAML file named by `BBDASH_CONFIG` (templated by the Ansible role);
4. the defaults below.

Secrets never live in the YAML file nor in the image: each secret field has a
`*_file` companion (`influx.token_file`, `watchlist.dsn_file`, ...) naming a file
(mode 0600, owned by the container user) whose content is the secret; the
inline field (`influx.token`, from an env var) is for development only.

Services subclass `ServiceSettings`, set the `SERVICE`, `DEFAULT_BUCKET` and
`DEFAULT_PORT` class variables, and add their own sections; empty defaults are
filled from those so one YAML key (`influx.url`) does not reset another.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path
from typing import Any, ClassVar, Literal, Self, TypeVar

from pydantic import BaseModel, Field, SecretStr, ValidationError, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

log = logging.getLogger(__name__)

CONFIG_ENV = "BBDASH_CONFIG"

AssetTypeName = Literal["crypto", "stock", "forex", "index"]


class ConfigError(RuntimeError):
    """The configuration cannot run; the message says which setting and what to do."""


def read_secret_file(path: Path, setting: str) -> SecretStr:
    """Read a secret from `path` (trailing newline stripped); warn if others can read it."""
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        msg = f"{setting}: cannot read secret file {path}: {exc.strerror}"
        raise ConfigError(msg) from exc
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning(
            "secret file readable by group or others; expected mode 0600",
            extra={"setting": setting, "path": str(path), "mode": oct(stat.S_IMODE(mode))},
        )
    if not text:
        msg = f"{setting}: secret file {path} is empty"
        raise ConfigError(msg)
    return SecretStr(text)


def resolve_secret(value: SecretStr | None, file: Path | None, setting: str) -> SecretStr | None:
    """The inline secret if set, else the content of its file, else None."""
    if value is not None and value.get_secret_value():
        return value
    if file is not None:
        return read_secret_file(file, f"{setting}_file")
    return None


class InfluxSettings(BaseModel):
    """Where and how to write points (InfluxDB v2 HTTP API)."""

    url: str = "http://bloomberg-influxdb:8086"
    org: str = "bloomberg"
    bucket: str = ""  # filled from the service's DEFAULT_BUCKET
    token: SecretStr | None = None
    token_file: Path | None = None
    timeout_s: float = Field(10.0, gt=0)
    batch_size: int = Field(5000, ge=1, le=50_000)
    flush_interval_s: float = Field(0.5, gt=0)
    max_queue_points: int = Field(200_000, ge=1000)
    retry_base_s: float = Field(0.5, gt=0)
    retry_cap_s: float = Field(30.0, gt=0)

    def token_value(self) -> str:
        """The token (from `token` or `token_file`); ConfigError if neither is set."""
        secret = resolve_secret(self.token, self.token_file, "influx.token")
        if secret is None:
            msg = "influx.token_file (or BBDASH_INFLUX__TOKEN) must be set"
            raise ConfigError(msg)
        return secret.get_secret_value()


class SpoolSettings(BaseModel):
    """Durable buffer used while InfluxDB is unreachable."""

    path: Path | None = None  # default /var/lib/bbdash/spool/<service>.sqlite
    max_bytes: int = Field(64 * 1024 * 1024, ge=64 * 1024)


class AssetSpec(BaseModel):
    """One asset of the fallback list (same columns as the collected_assets view)."""

    symbol: str
    asset_type: AssetTypeName
    source: str | None = None


class WatchlistSettings(BaseModel):
    """PostgreSQL connection for the collected_assets / active_alert_rules views."""

    dsn: SecretStr | None = None
    dsn_file: Path | None = None
    resync_interval_s: float = Field(300.0, gt=0)
    connect_timeout_s: float = Field(5.0, gt=0)
    retry_base_s: float = Field(1.0, gt=0)
    # The database is on the same host: retrying often costs nothing, and after a
    # restart or a restore the feeders listen again within this many seconds.
    retry_cap_s: float = Field(10.0, gt=0)
    debounce_s: float = Field(0.2, ge=0)
    # Used only when the database cannot be reached at start-up.
    fallback_assets: list[AssetSpec] = Field(default_factory=list)

    def dsn_value(self) -> str | None:
        """The DSN, or None when no database is configured (fallback list only)."""
        secret = resolve_secret(self.dsn, self.dsn_file, "watchlist.dsn")
        return None if secret is None else secret.get_secret_value()


class MetricsSettings(BaseModel):
    """The `/metrics` + `/healthz` HTTP server."""

    host: str = "0.0.0.0"  # noqa: S104 - inside the container network; never published
    port: int = Field(0, ge=0, le=65535)  # 0: the service's DEFAULT_PORT
    heartbeat_max_age_s: float = Field(30.0, gt=0)


class ServiceSettings(BaseSettings):
    """Settings every feeder has; subclass per service."""

    SERVICE: ClassVar[str] = "feeder"
    DEFAULT_BUCKET: ClassVar[str] = ""
    DEFAULT_PORT: ClassVar[int] = 9108

    model_config = SettingsConfigDict(
        env_prefix="BBDASH_",
        env_nested_delimiter="__",
        extra="forbid",
        validate_default=True,
    )

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    influx: InfluxSettings = Field(default_factory=InfluxSettings)
    spool: SpoolSettings = Field(default_factory=SpoolSettings)
    watchlist: WatchlistSettings = Field(default_factory=WatchlistSettings)

    @model_validator(mode="after")
    def _fill_service_defaults(self) -> Self:
        if not self.influx.bucket:
            self.influx.bucket = self.DEFAULT_BUCKET
        if not self.metrics.port:
            self.metrics.port = self.DEFAULT_PORT
        if self.spool.path is None:
            self.spool.path = Path("/var/lib/bbdash/spool") / f"{self.SERVICE}.sqlite"
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_path = os.environ.get(CONFIG_ENV)
        if config_path:
            if not Path(config_path).is_file():
                msg = f"{CONFIG_ENV}={config_path}: no such file"
                raise ConfigError(msg)
            sources.append(YamlConfigSettingsSource(settings_cls, yaml_file=config_path))
        return tuple(sources)


S = TypeVar("S", bound=ServiceSettings)


def load_settings(cls: type[S], **overrides: object) -> S:
    """Build settings once; turn validation errors into one readable ConfigError."""
    try:
        return cls(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = "; ".join(_describe(err) for err in exc.errors())
        msg = f"invalid {cls.SERVICE} configuration: {problems}"
        raise ConfigError(msg) from exc


def _describe(error: Any) -> str:
    """One validation error as "section.key: message" (model-level checks name themselves)."""
    message = str(error["msg"]).removeprefix("Value error, ")
    location = ".".join(str(part) for part in error["loc"])
    return f"{location}: {message}" if location else message
