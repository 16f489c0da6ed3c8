"""A layout's Grafana dashboard: the catalogue's panels for the layout's symbols.

Pure functions: no I/O, so what a layout turns into is tested without Grafana.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from pydantic import ValidationError

from bbdash.watchlist_api.layout_dashboards.catalog import Catalog
from bbdash.watchlist_api.schemas.layouts import LayoutDocument

GRID_COLUMNS = 24
# Layouts stored before panels were typed (free JSON) still get a dashboard: this note.
_UNTYPED_NOTE = {
    "type": "text",
    "title": "This layout has no panels yet",
    "options": {
        "mode": "markdown",
        "content": "Open **My desk** (link above) and save this layout again with its panels.",
    },
}


def dashboard_uid(layout_id: int) -> str:
    """The layout's dashboard uid (Grafana: at most 40 characters of [a-zA-Z0-9_-])."""
    return f"bbdash-layout-{layout_id}"


def folder_uid(user_id: int) -> str:
    """The uid of the user's folder, under the desks folder."""
    return f"bbdash-desk-{user_id}"


def dashboard_url(public_path: str, layout_id: int) -> str:
    """Where the browser finds the dashboard (Grafana resolves /d/<uid> without a slug)."""
    return f"{public_path}d/{dashboard_uid(layout_id)}"


def _for_symbol(panel: dict[str, Any], symbol: str) -> dict[str, Any]:
    # Normalised symbols are [A-Z0-9./=^-] only (symbols.py): nothing in them can end
    # a JSON or Flux string, so a textual replacement is safe.
    text = json.dumps(panel)
    text = text.replace("${symbol:percentencode}", quote(symbol, safe=""))
    text = text.replace("${symbol}", symbol)
    result: dict[str, Any] = json.loads(text)
    return result


def _placed(panels: list[tuple[dict[str, Any], int, int]]) -> list[dict[str, Any]]:
    """Left to right, top to bottom, like the provisioned dashboards' Board."""
    out = []
    x = y = row_h = 0
    for number, (panel, w, h) in enumerate(panels, start=1):
        if x + w > GRID_COLUMNS:
            x, y, row_h = 0, y + row_h, 0
        out.append({**panel, "id": number, "gridPos": {"h": h, "w": w, "x": x, "y": y}})
        x += w
        row_h = max(row_h, h)
    return out


def build(layout_id: int, name: str, document: dict[str, Any], catalog: Catalog) -> dict[str, Any]:
    """The dashboard JSON model for one layout, as POST /api/dashboards/db takes it."""
    try:
        parsed = LayoutDocument.model_validate(document)
    except ValidationError:
        panels = [(_UNTYPED_NOTE, GRID_COLUMNS, 4)]
        time_range = "24h"
    else:
        panels = []
        for entry in parsed.panels:
            kind = catalog.kinds[entry.kind]
            panels.append((_for_symbol(kind.panel, entry.symbol), kind.width, kind.height))
        time_range = parsed.range
    return {
        **catalog.envelope,
        "id": None,
        "uid": dashboard_uid(layout_id),
        "title": name,
        "tags": ["bbdash", "desk"],
        "time": {"from": f"now-{time_range}", "to": "now"},
        "panels": _placed(panels),
    }
