"""Price alert rules, evaluated by the market feeder through ``active_alert_rules``."""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import AfterValidator, Field, field_validator, model_validator

from bbdash.watchlist_api.schemas.common import (
    InputModel,
    Name,
    OutputModel,
    SyncResult,
    Version,
    Versioned,
)
from bbdash.watchlist_api.schemas.watchlists import RawSymbol, normalise_by_asset_type
from bbdash.watchlist_api.symbols import AssetType

Condition = Literal["above", "below", "pct_move"]
Channel = Literal["telegram", "email", "webhook"]
MAX_THRESHOLD = 1e12
MAX_WINDOW = 7 * 24 * 3600


def _distinct(channels: list[Channel]) -> list[Channel]:
    if len(set(channels)) != len(channels):
        msg = "channels must not repeat"
        raise ValueError(msg)
    return sorted(channels)


Channels = Annotated[list[Channel], Field(min_length=1, max_length=3), AfterValidator(_distinct)]
Threshold = Annotated[
    float,
    Field(gt=0, le=MAX_THRESHOLD, description="A price, or a percent for pct_move."),
]
WindowSeconds = Annotated[
    int, Field(ge=60, le=MAX_WINDOW, description="Window of a pct_move rule; null otherwise.")
]
CooldownSeconds = Annotated[int, Field(ge=0, le=MAX_WINDOW)]


def _check_window(condition: str, window_seconds: int | None) -> None:
    if condition == "pct_move" and window_seconds is None:
        msg = "window_seconds is required for a pct_move rule"
        raise ValueError(msg)
    if condition != "pct_move" and window_seconds is not None:
        msg = "window_seconds is only meaningful for a pct_move rule"
        raise ValueError(msg)


class _RuleFields(InputModel):
    asset_type: AssetType
    symbol: RawSymbol
    condition: Condition
    threshold: Threshold
    window_seconds: WindowSeconds | None = None
    channels: Channels
    cooldown_seconds: CooldownSeconds = 3600
    enabled: bool = True

    _symbol = field_validator("symbol")(normalise_by_asset_type)

    @model_validator(mode="after")
    def _window(self) -> Self:
        _check_window(self.condition, self.window_seconds)
        return self


class AlertRuleCreate(_RuleFields):
    name: Name


class AlertRuleSync(_RuleFields):
    """Full desired state of a rule, for ``PUT /v1/alert-rules/by-name/{name}``."""


class AlertRuleUpdate(InputModel):
    """Partial update; symbol and asset_type change together (one is normalised by the other)."""

    name: Name | None = None
    asset_type: AssetType | None = None
    symbol: RawSymbol | None = None
    condition: Condition | None = None
    threshold: Threshold | None = None
    window_seconds: WindowSeconds | None = None
    channels: Channels | None = None
    cooldown_seconds: CooldownSeconds | None = None
    enabled: bool | None = None
    version: Version | None = None

    _symbol = field_validator("symbol")(normalise_by_asset_type)

    @model_validator(mode="after")
    def _pairs(self) -> Self:
        if (self.symbol is None) != (self.asset_type is None):
            msg = "symbol and asset_type must be given together"
            raise ValueError(msg)
        return self


class AlertRuleOut(Versioned):
    name: str
    symbol: str
    asset_type: AssetType
    condition: Condition
    threshold: float
    window_seconds: int | None
    channels: list[Channel]
    cooldown_seconds: int
    enabled: bool


class AlertRulePage(OutputModel):
    data: list[AlertRuleOut]
    next_after: int | None


class AlertRuleSyncOut(SyncResult):
    alert_rule: AlertRuleOut
