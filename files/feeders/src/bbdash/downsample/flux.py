"""The Flux of a downsampling, from one source for both of its uses.

- `task_flux`: the InfluxDB task the influxdb role creates (its filter plugin
  imports this module): every `every`, recompute the trailing `lookback`.
- `range_flux`: the same query over an explicit [start, stop), which the market
  feeder's re-downsampler sends to /api/v2/query for the windows a late point or
  a spool replay changed outside that trailing range.

Standard library only: the Ansible controller imports it without the feeder's
dependencies. The static tests run both forms through Flux's own type checker.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

CANDLE_FIELDS = ("open", "high", "low", "close")
# Flux aggregate per candle field, and the field a raw source gives it.
_CANDLE_FN = {"open": "first", "high": "max", "low": "min", "close": "last"}


def task_flux(task: Mapping[str, Any], org: str) -> str:
    """The task's whole Flux: its options, then the query over its trailing range."""
    option = f'option task = {{name: "{task["name"]}", every: {task["every"]}'
    if str(task.get("offset") or ""):
        option += f", offset: {task['offset']}"
    option += "}"
    rollup = bool(task.get("source_holds_candles", False))
    # A rolled-up source candle is stamped with its window's end: reading up to
    # now + 1 ns takes the last one in, and the -1 ns shift puts it in its window.
    stop = ", stop: 1ns" if rollup else ""
    bounds = f"start: -{task['lookback']}{stop}"
    what = f"Each run re-reads the last {task['lookback']}"
    return f"{option}\n\n{_body(task, org, bounds, what)}"


def range_flux(task: Mapping[str, Any], org: str, start_s: int, stop_s: int) -> str:
    """The query of `task` recomputing the windows of [start_s, stop_s) (epoch seconds)."""
    rollup = bool(task.get("source_holds_candles", False))
    stop = _rfc3339(stop_s) if not rollup else _rfc3339(stop_s, plus_ns=1)
    bounds = f"start: {_rfc3339(start_s)}, stop: {stop}"
    what = f"Recomputes {_rfc3339(start_s)} to {_rfc3339(stop_s)} once"
    return _body(task, org, bounds, what)


def _rfc3339(epoch_s: int, plus_ns: int = 0) -> str:
    text = datetime.fromtimestamp(epoch_s, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{text}.{plus_ns:09d}Z" if plus_ns else f"{text}Z"


def _body(task: Mapping[str, Any], org: str, bounds: str, what: str) -> str:
    fn = str(task.get("fn", "mean"))
    source, dest, window = task["source"], task["destination"], task["window"]
    head = [
        f'from(bucket: "{source}")',
        f"    |> range({bounds})",
        f'    |> filter(fn: (r) => r._measurement == "{task["measurement"]}")',
    ]
    write = f'    |> to(bucket: "{dest}", org: "{org}")'
    if fn != "candles":
        fields = list(task.get("fields") or [])
        if fields:
            test = " or ".join(f'r._field == "{f}"' for f in fields)
            head.append(f"    |> filter(fn: (r) => {test})")
        return "\n".join(
            [
                f"// Managed by Ansible (role influxdb, influxdb_downsample_tasks): {fn} of",
                f"// {source} per {window} into {dest}.",
                f"// {what}: a window completed by late points is rewritten",
                "// (same timestamps: the newer values replace the older).",
                *head,
                f"    |> aggregateWindow(every: {window}, fn: {fn}, createEmpty: false)",
                write,
                "",
            ]
        )
    rollup = bool(task.get("source_holds_candles", False))
    of = "the source's own open, high, low and close" if rollup else "the price"
    lines = [
        "// Managed by Ansible (role influxdb, influxdb_downsample_tasks): candles of",
        f"// {source} per {window} into {dest}: open = first, high = max, low = min,",
        f"// close = last of {of};",
        "// every other field (price included) is the window's last value.",
        f"// {what}: a window completed by late points is rewritten",
        "// (same timestamps, the window's end: the newer values replace the older).",
        "data = " + head[0],
        *head[1:],
    ]
    if rollup:
        lines += [
            "    // A source candle is stamped with its window's end (12:05 for 12:00-12:05):",
            "    // 1 ns earlier it falls in the window it belongs to, and the candle stamped",
            "    // with this range's start (it belongs to the window before) is left out.",
            '    |> timeShift(duration: -1ns, columns: ["_time"])',
        ]
    others = " and ".join(f'r._field != "{f}"' for f in CANDLE_FIELDS)
    lines += [
        "candle = (field, fn, name) => data",
        "    |> filter(fn: (r) => r._field == field)",
        f"    |> aggregateWindow(every: {window}, fn: fn, createEmpty: false)",
        '    |> set(key: "_field", value: name)',
        "others = data",
        f"    |> filter(fn: (r) => {others})",
        f"    |> aggregateWindow(every: {window}, fn: last, createEmpty: false)",
        "",
        "union(",
        "    tables: [",
    ]
    for name in CANDLE_FIELDS:
        field = name if rollup else "price"
        lines.append(f'        candle(field: "{field}", fn: {_CANDLE_FN[name]}, name: "{name}"),')
    lines += ["        others,", "    ],", ")", write, ""]
    return "\n".join(lines)
