"""Panel builders: one function per Grafana panel type the dashboards use.

Each sets the options Grafana would otherwise fill in on its own, so that a
provisioned panel does not change when Grafana saves it, and so that every
panel of a type looks the same on every dashboard.
"""

from __future__ import annotations

from typing import Any

from .fields import field_defaults


def text_panel(html: str, title: str = "", transparent: bool = True) -> dict[str, Any]:
    """An HTML text panel, transparent so that it reads as part of the page."""
    return {
        "type": "text",
        "title": title,
        "transparent": transparent,
        "options": {
            "mode": "html",
            "content": html,
            "code": {"language": "plaintext", "showLineNumbers": False, "showMiniMap": False},
        },
    }


def _panel(
    kind: str,
    title: str,
    description: str,
    targets: list[dict[str, Any]],
    field_config: dict[str, Any],
    options: dict[str, Any],
    links: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """What every data panel carries, in Grafana's key order; links only when given."""
    p: dict[str, Any] = {
        "type": kind,
        "title": title,
        "description": description,
        "datasource": targets[0]["datasource"],
        "targets": targets,
        "fieldConfig": field_config,
        "options": options,
    }
    if links:
        p["links"] = links
    return p


def stat(
    title: str,
    targets: list[dict[str, Any]],
    defaults: dict[str, Any],
    *,
    text_mode: str = "value",
    color_mode: str = "value",
    graph: str = "none",
    orientation: str = "auto",
    fields: str = "",
    values: bool = False,
    overrides: list[dict[str, Any]] | None = None,
    description: str = "",
    links: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A stat panel showing the last non-null value of each series or field."""
    return _panel(
        "stat",
        title,
        description,
        targets,
        {"defaults": defaults, "overrides": overrides or []},
        {
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": fields, "values": values},
            "orientation": orientation,
            "textMode": text_mode,
            "colorMode": color_mode,
            "graphMode": graph,
            "justifyMode": "auto",
            "wideLayout": True,
            "showPercentChange": False,
        },
        links,
    )


def table(
    title: str,
    targets: list[dict[str, Any]],
    overrides: list[dict[str, Any]],
    *,
    defaults: dict[str, Any] | None = None,
    sort_by: list[dict[str, Any]] | None = None,
    description: str = "",
    links: list[dict[str, Any]] | None = None,
    transformations: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A compact table; ``overrides`` name and format its columns."""
    p = _panel(
        "table",
        title,
        description,
        targets,
        {
            "defaults": defaults
            or field_defaults(
                custom={
                    "align": "auto",
                    "cellOptions": {"type": "auto"},
                    "inspect": False,
                    "filterable": False,
                }
            ),
            "overrides": overrides,
        },
        {
            "showHeader": True,
            "cellHeight": "sm",
            "footer": {"show": False, "reducer": ["sum"], "countRows": False, "fields": ""},
            "sortBy": sort_by or [],
        },
        links,
    )
    if transformations:
        p["transformations"] = transformations
    return p


def _series_style(draw: str, stack: bool) -> dict[str, Any]:
    """Line or bar style of a time series, spelled out in full as Grafana saves it."""
    return {
        "drawStyle": draw,
        "lineWidth": 1,
        "fillOpacity": 10 if draw == "line" else 80,
        "gradientMode": "opacity" if draw == "line" else "none",
        "showPoints": "never",
        "spanNulls": True,
        "axisPlacement": "right",
        "axisBorderShow": False,
        "axisCenteredZero": False,
        "axisColorMode": "text",
        "axisLabel": "",
        "barAlignment": 0,
        "lineInterpolation": "linear",
        "pointSize": 3,
        "scaleDistribution": {"type": "linear"},
        "stacking": {"group": "A", "mode": "normal" if stack else "none"},
        "thresholdsStyle": {"mode": "off"},
        "hideFrom": {"legend": False, "tooltip": False, "viz": False},
        "insertNulls": False,
    }


def timeseries(
    title: str,
    targets: list[dict[str, Any]],
    defaults: dict[str, Any] | None = None,
    *,
    overrides: list[dict[str, Any]] | None = None,
    description: str = "",
    legend: str = "list",
    stack: bool = False,
    draw: str = "line",
    links: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A chart with right-hand axis; ``legend`` is list, table or hidden."""
    custom = _series_style(draw, stack)
    d = defaults or field_defaults(color={"mode": "palette-classic"})
    # The caller's custom settings win; the style fills in the rest.
    d.setdefault("custom", {}).update(
        {k: v for k, v in custom.items() if k not in d.get("custom", {})}
    )
    return _panel(
        "timeseries",
        title,
        description,
        targets,
        {"defaults": d, "overrides": overrides or []},
        {
            "legend": {
                "showLegend": legend != "hidden",
                "displayMode": "list" if legend == "hidden" else legend,
                "placement": "bottom",
                "calcs": [],
            },
            "tooltip": {"mode": "multi", "sort": "desc"},
        },
        links,
    )


def bargauge(
    title: str,
    targets: list[dict[str, Any]],
    defaults: dict[str, Any],
    *,
    fields: str = "",
    values: bool = False,
    description: str = "",
    overrides: list[dict[str, Any]] | None = None,
    links: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Horizontal bars, one per series or (``values``) per row."""
    return _panel(
        "bargauge",
        title,
        description,
        targets,
        {"defaults": defaults, "overrides": overrides or []},
        {
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": fields, "values": values},
            "orientation": "horizontal",
            "displayMode": "basic",
            "valueMode": "color",
            "namePlacement": "left",
            "showUnfilled": True,
            "sizing": "auto",
            "minVizWidth": 8,
            "minVizHeight": 14,
            "maxVizHeight": 20,
        },
        links,
    )


def barchart(
    title: str,
    targets: list[dict[str, Any]],
    x_field: str,
    color_field: str,
    defaults: dict[str, Any],
    description: str = "",
) -> dict[str, Any]:
    """Bars per row of a table frame, centred on zero (for changes)."""
    d = dict(defaults)
    d["custom"] = {
        "lineWidth": 0,
        "fillOpacity": 85,
        "gradientMode": "none",
        "axisPlacement": "auto",
        "axisCenteredZero": True,
        "hideFrom": {"legend": False, "tooltip": False, "viz": False},
    }
    return _panel(
        "barchart",
        title,
        description,
        targets,
        {"defaults": d, "overrides": []},
        {
            "xField": x_field,
            "colorByField": color_field,
            "orientation": "auto",
            "barWidth": 0.8,
            "groupWidth": 0.7,
            "showValue": "auto",
            "stacking": "none",
            "xTickLabelRotation": -45,
            "xTickLabelSpacing": 0,
            "legend": {
                "showLegend": False,
                "displayMode": "list",
                "placement": "bottom",
                "calcs": [],
            },
            "tooltip": {"mode": "single", "sort": "none"},
        },
    )


def piechart(
    title: str,
    targets: list[dict[str, Any]],
    fields: str,
    defaults: dict[str, Any],
    description: str = "",
) -> dict[str, Any]:
    """A donut of each row's share, with a percent legend on the right."""
    return _panel(
        "piechart",
        title,
        description,
        targets,
        {"defaults": defaults, "overrides": []},
        {
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": fields, "values": True},
            "pieType": "donut",
            "displayLabels": ["name", "percent"],
            "legend": {
                "showLegend": True,
                "displayMode": "table",
                "placement": "right",
                "values": ["percent"],
            },
            "tooltip": {"mode": "single", "sort": "none"},
        },
    )
