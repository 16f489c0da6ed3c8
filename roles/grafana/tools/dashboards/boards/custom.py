"""Custom series: what the logged-in person writes to their own bucket.

A person declared with a custom bucket (bloomberg_users, ``custom_bucket``) has
the InfluxDB bucket ``custom_<login>`` and writes to it with tokens made on
"My desk". Every query here reads ``custom_${__user.login}``: the measurements,
tags and fields are the person's own, so the panels show whatever they wrote
(numbers as lines and last values, every field in the table). Like the
watchlist selector it selects, it does not protect: Grafana's datasource token
reads every bucket (README, "Grafana is a shared room").
"""

from __future__ import annotations

from typing import Any

from ..chrome import header
from ..fields import field_defaults
from ..flux import RANGE
from ..frame import DESK_URL, dashboard
from ..layout import Board
from ..panels import table, text_panel, timeseries
from ..targets import influx_target
from ..variables import var_influx

# The person's bucket; Grafana fills the login in (also for variable queries).
BUCKET = "custom_${__user.login}"
# The measurements picked in $measurement ("All" by default).
MEASUREMENT_FILTER = "  |> filter(fn: (r) => r._measurement =~ /^${measurement:regex}$/)"


def build() -> dict[str, Any]:
    """The custom series dashboard."""
    b = Board()
    b.add(header("custom", "the series you write to your own bucket"), 24, 3)
    b.add(how_to_write(), 24, 3)
    b.add(numeric_chart(), 24, 10)
    b.add(last_values(), 24, 9)
    return dashboard(
        "custom",
        ["custom"],
        b,
        [measurement_variable()],
        time_from="now-7d",
        refresh="1m",
        description="The series the logged-in person writes to their bucket custom_<login>.",
    )


def measurement_variable() -> dict[str, Any]:
    """The person's measurements (every one by default)."""
    flux = "\n".join(
        [
            'import "influxdata/influxdb/schema"',
            f'schema.measurements(bucket: "{BUCKET}", start: v.timeRangeStart, stop: v.timeRangeStop)',
        ]
    )
    return var_influx("measurement", "Measurement", flux, multi=True, include_all=True)


def how_to_write() -> dict[str, Any]:
    """Where the data comes from, and what an error on the panels means."""
    return text_panel(
        f"Your bucket is <code>custom_${{__user.login}}</code>. Create a write token on "
        f'<a href="{DESK_URL}#custom-series">My desk</a> (section "Custom series"): it shows a '
        "ready-to-paste <code>curl</code> with line protocol. A panel that says the bucket "
        "is not found means no custom bucket is declared for you: ask the desk's admin "
        "(<code>custom_bucket: true</code> on your entry of <code>bloomberg_users</code>)."
    )


def numeric_chart() -> dict[str, Any]:
    """Every numeric field of the picked measurements, one line per series."""
    query = "\n".join(
        [
            'import "types"',
            f'from(bucket: "{BUCKET}")',
            f"  {RANGE}",
            MEASUREMENT_FILTER,
            "  |> filter(fn: (r) => types.isNumeric(v: r._value))",
            "  |> toFloat()",
            "  |> aggregateWindow(every: v.windowPeriod, fn: last, createEmpty: false)",
        ]
    )
    return timeseries(
        "Your numeric series",
        [influx_target(query)],
        field_defaults(color={"mode": "palette-classic"}),
        legend="table",
        description="The last value of each numeric field per interval, one line per series "
        "(measurement, tags and field).",
    )


def last_values() -> dict[str, Any]:
    """The latest point of every series in range, strings and booleans included."""
    query = "\n".join(
        [
            f'from(bucket: "{BUCKET}")',
            f"  {RANGE}",
            MEASUREMENT_FILTER,
            "  |> last()",
            "  |> map(fn: (r) => ({r with _value: string(v: r._value)}))",
            "  |> group()",
            '  |> drop(columns: ["_start", "_stop"])',
            '  |> sort(columns: ["_measurement", "_field"])',
        ]
    )
    return table(
        "Last value of every series",
        [influx_target(query)],
        [],
        description="The latest point of each series in the range, every field type "
        "(shown as text), with its tags.",
    )
