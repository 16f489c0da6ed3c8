"""Panel placement on Grafana's 24-column grid.

Dashboards add panels in reading order with a width and a height; the Board
works out the grid positions and panel ids, so that inserting a panel never
means renumbering the others by hand.
"""

from __future__ import annotations

from typing import Any


class Board:
    """Places panels left to right, top to bottom, on Grafana's 24-column grid."""

    def __init__(self) -> None:
        self.panels: list[dict[str, Any]] = []
        self.x = 0
        self.y = 0
        self.row_h = 0
        self.next_id = 1

    def add(self, panel: dict[str, Any], w: int, h: int) -> dict[str, Any]:
        """Place the panel right of the last one, or on a new row when it does not fit."""
        if self.x + w > 24:
            self.newline()
        panel["id"] = self.next_id
        self.next_id += 1
        panel["gridPos"] = {"h": h, "w": w, "x": self.x, "y": self.y}
        self.x += w
        self.row_h = max(self.row_h, h)
        self.panels.append(panel)
        return panel

    def newline(self) -> None:
        """Start a new row below the tallest panel of the current one."""
        if self.x:
            self.y += self.row_h
        self.x = 0
        self.row_h = 0
