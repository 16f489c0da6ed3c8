"""The terminal chrome around the panels: header bar, section bars, demo-data banner.

Every dashboard opens the same way (title bar with function keys linking the
eight dashboards, then the demo banner where data can be simulated), so users
find their way and never mistake demo points for a market.
"""

from __future__ import annotations

from typing import Any

from .catalog import DASHBOARDS, url
from .fields import field_defaults, thresholds
from .flux import demo_count
from .panels import stat, text_panel
from .style import AMBER, DOWN, MONO
from .targets import influx_target


def header(key: str, subtitle: str) -> dict[str, Any]:
    """Title bar: BBDASH <GO>, the dashboard's title, and F-keys to all eight (this one lit)."""
    title = DASHBOARDS[key][3]
    keys = []
    for n, (k, (_, _, label, _)) in enumerate(DASHBOARDS.items(), start=1):
        style = f"color:#000;background:{AMBER};padding:0 4px" if k == key else f"color:{AMBER}"
        keys.append(f'<a href="{url(k)}" style="{style};text-decoration:none">F{n} {label}</a>')
    html = (
        f'<div style="background:#000;border-bottom:2px solid {AMBER};padding:3px 8px;font-family:{MONO}">'
        f'<span style="color:{AMBER};font-weight:bold;font-size:18px">BBDASH &lt;GO&gt;</span>'
        f'&nbsp;&nbsp;<span style="color:#FFFFFF;font-size:16px;font-weight:bold">{title.upper()}</span>'
        f'&nbsp;&nbsp;<span style="color:#8C8C8C;font-size:12px">{subtitle}</span>'
        f'<div style="font-size:12px;margin-top:2px">{" &nbsp;".join(keys)}</div>'
        "</div>"
    )
    return text_panel(html)


def section(label: str, note: str = "") -> dict[str, Any]:
    """Full-width amber bar naming the group of panels below it."""
    html = (
        f'<div style="background:{AMBER};color:#000;font-family:{MONO};font-weight:bold;'
        f'font-size:13px;padding:1px 8px">{label.upper()}'
        + (f'<span style="font-weight:normal;margin-left:16px">{note}</span>' if note else "")
        + "</div>"
    )
    return text_panel(html)


def demo_banner(bucket: str, measurement: str, field: str) -> dict[str, Any]:
    """Red banner while demo points (tag demo=true) are in the range; a quiet line otherwise."""
    d = field_defaults(
        th=thresholds((None, "transparent"), (1, DOWN)),
        mappings=[
            {
                "type": "range",
                "options": {
                    "from": 1,
                    "to": None,
                    "result": {
                        "text": "⚠ DEMO DATA — simulated values (tag demo=true), not a market",
                        "color": DOWN,
                        "index": 0,
                    },
                },
            },
            {
                "type": "value",
                "options": {"0": {"text": "live data", "color": "transparent", "index": 1}},
            },
        ],
        noValue="live data · no demo point in range",
    )
    p = stat(
        "",
        [influx_target(demo_count(bucket, measurement, field))],
        d,
        color_mode="background",
        text_mode="value",
        description="Counts points tagged demo=true in the dashboard's range. Demo points come from the demo data generator, never from a market.",
    )
    p["transparent"] = True
    return p
