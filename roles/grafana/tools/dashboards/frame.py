"""The dashboard model around the panels: uid, title, time, refresh, links, variables.

Every dashboard shares the same envelope (tags, dark style, shared crosshair,
the "Bloomberg" menu of all dashboards tagged bbdash), so only what differs is
passed in. No version and a null id: Grafana numbers provisioned dashboards.
"""

from __future__ import annotations

from typing import Any

from .catalog import DASHBOARDS, GRAFANA, SCHEMA_VERSION
from .layout import Board

# The price dashboards' refresh. A 5 s refresh keeps a last-value panel about
# 3 s behind the exchange tick on average and 6.2 s at worst (the 5 s / 7 s of
# issue 10, item 5) for about 17 InfluxDB queries/s with 5 users, measured by
# bench/live/run.py in docs/benchmarks.md; Grafana Live would cost a tenth of
# that but leaves a closed market's quote blank until a push that never comes.
# Grafana refuses anything below its min_refresh_interval (5 s, grafana.ini).
PRICE_REFRESH = "5s"
# The "My desk" page: nginx_watchlist_api_prefix (roles/nginx) + "desk".
DESK_URL = "/watchlist-api/desk"


def dashboard(
    key: str,
    tags: list[str],
    board: Board,
    variables: list[dict[str, Any]],
    *,
    time_from: str = "now-24h",
    refresh: str = "30s",
    description: str = "",
) -> dict[str, Any]:
    """The full dashboard JSON model for one entry of DASHBOARDS."""
    uid, _, _, title = DASHBOARDS[key]
    return {
        "id": None,
        "uid": uid,
        "title": title,
        **envelope(tags, variables, time_from=time_from, refresh=refresh, description=description),
        "panels": board.panels,
    }


def envelope(
    tags: list[str],
    variables: list[dict[str, Any]],
    *,
    time_from: str = "now-24h",
    refresh: str = "30s",
    description: str = "",
) -> dict[str, Any]:
    """Everything of a dashboard but its uid, title and panels (the desk's layout
    dashboards share it with the provisioned ones)."""
    return {
        "description": description,
        "tags": ["bbdash", *tags],
        "style": "dark",
        "timezone": "",
        "editable": True,
        "graphTooltip": 1,
        "fiscalYearStartMonth": 0,
        "liveNow": False,
        "schemaVersion": SCHEMA_VERSION,
        "time": {"from": time_from, "to": "now"},
        "timepicker": {"refresh_intervals": ["5s", "10s", "30s", "1m", "5m", "15m", "1h"]},
        "refresh": refresh,
        "weekStart": "",
        "annotations": {
            "list": [
                {
                    "builtIn": 1,
                    "datasource": GRAFANA,
                    "enable": True,
                    "hide": True,
                    "iconColor": "rgba(0, 211, 255, 1)",
                    "name": "Annotations & Alerts",
                    "type": "dashboard",
                }
            ]
        },
        "links": [
            {
                "title": "Bloomberg",
                "type": "dashboards",
                "tags": ["bbdash"],
                "asDropdown": True,
                "includeVars": False,
                "keepTime": True,
                "targetBlank": False,
                "icon": "external link",
                "tooltip": "",
                "url": "",
            },
            {
                # The person's own watchlists and price alerts (the watchlist API's page,
                # under nginx_watchlist_api_prefix); it links back here.
                "title": "My desk",
                "type": "link",
                "url": DESK_URL,
                "icon": "doc",
                "tooltip": "Your watchlists and price alerts",
                "tags": [],
                "asDropdown": False,
                "includeVars": False,
                "keepTime": False,
                "targetBlank": False,
            },
        ],
        "templating": {"list": variables},
    }
