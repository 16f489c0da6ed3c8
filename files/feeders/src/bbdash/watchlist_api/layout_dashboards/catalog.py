"""The panel kinds a layout may hold, from catalog.json.

The file is written by roles/grafana/tools/build_dashboards.py from the asset
detail dashboard's own panels (dashboards/boards/desk.py), so a panel on a
personal dashboard runs the provisioned dashboard's queries.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any


@dataclass(frozen=True, slots=True)
class PanelKind:
    label: str  # shown on the desk page
    width: int  # on Grafana's 24-column grid
    height: int
    panel: dict[str, Any]  # the JSON model, with ${symbol} placeholders


@dataclass(frozen=True, slots=True)
class Catalog:
    version: int  # a new version rewrites every layout's dashboard
    envelope: dict[str, Any]  # everything of a dashboard but uid, title and panels
    kinds: dict[str, PanelKind]


@cache
def load() -> Catalog:
    """The catalogue shipped in this package."""
    text = resources.files(__package__).joinpath("catalog.json").read_text(encoding="utf-8")
    raw = json.loads(text)
    kinds = {
        name: PanelKind(entry["label"], entry["w"], entry["h"], entry["panel"])
        for name, entry in raw["panels"].items()
    }
    return Catalog(version=raw["version"], envelope=raw["envelope"], kinds=kinds)


# The kinds, in the catalogue's order: the schema's enum and the page's checkboxes.
KINDS: tuple[str, ...] = tuple(load().kinds)
