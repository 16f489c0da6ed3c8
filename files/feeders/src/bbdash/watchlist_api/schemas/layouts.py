"""Dashboard layouts: a user's choice of panels and symbols, each one a dashboard."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator

from bbdash.watchlist_api.layout_dashboards.catalog import KINDS
from bbdash.watchlist_api.schemas.common import InputModel, Name, OutputModel, Version, Versioned
from bbdash.watchlist_api.schemas.watchlists import RawSymbol, normalise_by_asset_type
from bbdash.watchlist_api.symbols import AssetType

MAX_PANELS = 24
TimeRange = Literal["1h", "6h", "24h", "7d", "30d", "90d", "1y"]
PanelKindName = Literal[KINDS]  # type: ignore[valid-type]


class LayoutPanel(InputModel):
    """One panel of the layout's dashboard: a kind of the catalogue, for one symbol."""

    kind: PanelKindName = Field(description="A panel kind of GET /v1/panel-kinds.")
    # asset_type comes first: the symbol validator reads it to pick the normalisation.
    asset_type: AssetType
    symbol: RawSymbol

    @field_validator("symbol")
    @classmethod
    def _normalise(cls, value: str, info: ValidationInfo) -> str:
        return normalise_by_asset_type(value, info)


class LayoutDocument(InputModel):
    """A person's choice of panels and symbols; its dashboard shows them in this order."""

    panels: list[LayoutPanel] = Field(min_length=1, max_length=MAX_PANELS)
    range: TimeRange = Field(default="24h", description="The dashboard's default time range.")


class LayoutCreate(InputModel):
    name: Name
    layout: LayoutDocument


class LayoutUpdate(InputModel):
    name: Name | None = None
    layout: LayoutDocument | None = None
    version: Version | None = None


class LayoutDashboard(OutputModel):
    uid: str = Field(description="The dashboard's uid in Grafana.")
    url: str = Field(description="Where Grafana shows it, on this site.")
    synced: bool = Field(description="False until Grafana holds this version of the layout.")


class LayoutOut(Versioned):
    name: str
    layout: dict[str, Any] = Field(description="As stored; LayoutDocument for new layouts.")
    dashboard: LayoutDashboard


class LayoutPage(OutputModel):
    data: list[LayoutOut]
    next_after: int | None


class PanelKind(OutputModel):
    kind: str
    label: str


class PanelKindPage(OutputModel):
    data: list[PanelKind]
