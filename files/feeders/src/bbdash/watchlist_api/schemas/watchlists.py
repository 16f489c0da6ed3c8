"""Watchlists and their items."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, Field, StringConstraints, ValidationInfo, field_validator

from bbdash.watchlist_api.schemas.common import (
    Description,
    InputModel,
    Name,
    OutputModel,
    SyncResult,
    Version,
    Versioned,
)
from bbdash.watchlist_api.symbols import MAX_SYMBOL_LENGTH, AssetType, normalise_symbol

MAX_ITEMS_IN_BODY = 500

Source = Annotated[
    str,
    StringConstraints(
        min_length=1, max_length=32, pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]*$", to_lower=True
    ),
    Field(
        description="Exchange or data source (binance, yahoo, coingecko...); null: feeder picks."
    ),
]
Position = Annotated[
    int,
    Field(
        ge=0,
        le=2**63 - 1,
        description="Where the watchlist comes among its owner's, smallest first; a new "
        "one comes last. Swap two to reorder.",
    ),
]
RawSymbol = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_SYMBOL_LENGTH),
    Field(
        description="Normalised per asset type: BTC/USDT, AAPL, EURUSD=X, ^GSPC.",
        # Documented for clients; enforced by normalise_symbol, whose errors say more.
        json_schema_extra={"pattern": r"^[A-Za-z0-9./=^_ -]+$"},
    ),
]


class ItemIn(InputModel):
    # asset_type comes first: the symbol validator reads it to pick the normalisation.
    asset_type: AssetType
    symbol: RawSymbol
    source: Source | None = None

    @field_validator("symbol")
    @classmethod
    def _normalise(cls, value: str, info: ValidationInfo) -> str:
        return normalise_by_asset_type(value, info)

    def key(self) -> tuple[str, str]:
        return (self.asset_type, self.symbol)


def normalise_by_asset_type(value: str, info: ValidationInfo) -> str:
    """Field validator body shared by items and alert rules: the error names `symbol`."""
    asset_type = info.data.get("asset_type")
    if asset_type is None:
        # asset_type itself failed (or is absent in a partial update): that error is reported.
        return value
    return normalise_symbol(asset_type, value)


def _unique_items(items: list[ItemIn]) -> list[ItemIn]:
    seen: set[tuple[str, str]] = set()
    for index, item in enumerate(items):
        if item.key() in seen:
            msg = f"item {index} repeats {item.asset_type} {item.symbol}"
            raise ValueError(msg)
        seen.add(item.key())
    return items


ItemList = Annotated[
    list[ItemIn], Field(max_length=MAX_ITEMS_IN_BODY), AfterValidator(_unique_items)
]


class WatchlistCreate(InputModel):
    name: Name
    description: Description = ""
    enabled: bool = True
    items: ItemList = Field(default_factory=list)


class WatchlistUpdate(InputModel):
    """Partial update; send the version (or If-Match) you read, or the write is refused."""

    name: Name | None = None
    description: Description | None = None
    enabled: bool | None = None
    position: Position | None = None
    version: Version | None = None


class WatchlistSync(InputModel):
    """The full desired state of a watchlist, for ``PUT /v1/watchlists/by-name/{name}``."""

    description: Description = ""
    enabled: bool = True
    items: ItemList = Field(default_factory=list)


class ItemOut(OutputModel):
    id: int
    watchlist_id: int
    symbol: str
    asset_type: AssetType
    source: str | None
    created_at: datetime


class WatchlistSummary(Versioned):
    name: str
    description: str
    enabled: bool
    item_count: int
    position: int


class WatchlistOut(Versioned):
    name: str
    description: str
    enabled: bool
    position: int
    items: list[ItemOut]


class WatchlistPage(OutputModel):
    data: list[WatchlistSummary]
    next_after: int | None


class ItemPage(OutputModel):
    data: list[ItemOut]
    next_after: int | None


class WatchlistSyncOut(SyncResult):
    watchlist: WatchlistOut


def item_payload(items: list[ItemIn]) -> list[dict[str, Any]]:
    return [item.model_dump() for item in items]
