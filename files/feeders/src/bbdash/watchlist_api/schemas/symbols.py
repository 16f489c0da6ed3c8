"""The answer of ``GET /v1/symbols/check``."""

from __future__ import annotations

from pydantic import Field

from bbdash.watchlist_api.schemas.common import OutputModel
from bbdash.watchlist_api.symbols import AssetType


class SymbolCheckOut(OutputModel):
    symbol: str = Field(description="The normalised spelling the feeders look up.")
    asset_type: AssetType
    exchange: str | None = Field(
        description="A short label (quote currency, market or FX/Index), not a lookup; "
        "null when the suffix is not one the table knows."
    )
    sources: list[str] = Field(description="The feeder sources that collect it, in order.")
    collectable: bool = Field(description="True when at least one source collects it.")
