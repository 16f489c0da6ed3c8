"""Price alert rules, evaluated by the market feeder through ``active_alert_rules``."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field, ValidationInfo, field_validator

from bbdash.watchlist_api.schemas.common import (
    InputModel,
    Name,
    OutputModel,
    SyncResult,
    Version,
    Versioned,
)
from bbdash.watchlist_api.schemas.watchlists import RawSymbol, normalise_by_asset_type
from bbdash.watchlist_api.symbols import AssetType, normalise_symbol

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


def _window_matches_condition(value: int | None, info: ValidationInfo) -> int | None:
    # A field validator (not a model one) so the 422 names window_seconds.
    condition = info.data.get("condition")
    if condition == "pct_move" and value is None:
        msg = "required for a pct_move rule"
        raise ValueError(msg)
    if condition is not None and condition != "pct_move" and value is not None:
        msg = "only meaningful for a pct_move rule"
        raise ValueError(msg)
    return value


class _RuleFields(InputModel):
    asset_type: AssetType
    symbol: RawSymbol
    condition: Condition
    threshold: Threshold
    window_seconds: WindowSeconds | None = Field(default=None, validate_default=True)
    channels: Channels
    cooldown_seconds: CooldownSeconds = 3600
    enabled: bool = True

    _symbol = field_validator("symbol")(normalise_by_asset_type)
    _window = field_validator("window_seconds")(_window_matches_condition)


class AlertRuleCreate(_RuleFields):
    name: Name


class AlertRuleSync(_RuleFields):
    """Full desired state of a rule, for ``PUT /v1/alert-rules/by-name/{name}``."""


def _symbol_with_asset_type(value: str | None, info: ValidationInfo) -> str | None:
    asset_type = info.data.get("asset_type")
    if "asset_type" not in info.data:
        return value  # asset_type itself is invalid: that error is reported
    if value is None:
        if asset_type is not None:
            msg = "symbol is required when asset_type changes"
            raise ValueError(msg)
        return None
    if asset_type is None:
        msg = "asset_type is required with symbol (it decides the normalisation)"
        raise ValueError(msg)
    return normalise_symbol(asset_type, value)


class AlertRuleUpdate(InputModel):
    """Partial update; null or absent means unchanged, except window_seconds (null clears
    it). The condition/window rule is checked against the merged rule (422 if broken)."""

    name: Name | None = None
    asset_type: AssetType | None = None
    symbol: RawSymbol | None = Field(default=None, validate_default=True)
    condition: Condition | None = None
    threshold: Threshold | None = None
    window_seconds: WindowSeconds | None = None
    channels: Channels | None = None
    cooldown_seconds: CooldownSeconds | None = None
    enabled: bool | None = None
    version: Version | None = None

    _symbol = field_validator("symbol")(_symbol_with_asset_type)


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
