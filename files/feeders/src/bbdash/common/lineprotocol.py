"""InfluxDB line protocol: one `Point` type and its exact encoding.

Both feeders build `Point`s from their normalised records; the sink only ever
sees encoded lines. Escaping follows InfluxDB's rules: in measurement names
escape comma and space; in tag keys, tag values and field keys escape comma,
equals sign and space; in string field values escape backslash and double quote.
Floats are written with `repr` (shortest round-trip form), so a value read back
is the value written. Non-finite floats cannot be represented in line protocol
and are refused here rather than at InfluxDB, where they would fail a whole batch.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

FieldValue = float | int | str | bool

_MEASUREMENT_ESCAPES = str.maketrans({",": r"\,", " ": r"\ ", "\n": r"\n"})
_KEY_ESCAPES = str.maketrans({",": r"\,", "=": r"\=", " ": r"\ ", "\n": r"\n"})


class PointError(ValueError):
    """A point that cannot be encoded (no fields, non-finite float, empty tag...)."""


def escape_measurement(name: str) -> str:
    """Escape a measurement name."""
    return name.translate(_MEASUREMENT_ESCAPES)


def escape_key(text: str) -> str:
    """Escape a tag key, tag value or field key."""
    return text.translate(_KEY_ESCAPES)


def escape_string_field(text: str) -> str:
    """Escape a string field value (without the surrounding quotes)."""
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _format_field(key: str, value: FieldValue) -> str:
    # bool before int: bool is a subclass of int in Python.
    if isinstance(value, bool):
        return f"{escape_key(key)}={'true' if value else 'false'}"
    if isinstance(value, int):
        return f"{escape_key(key)}={value}i"
    if isinstance(value, float):
        if not math.isfinite(value):
            msg = f"field {key!r} is not finite: {value!r}"
            raise PointError(msg)
        return f"{escape_key(key)}={value!r}"
    if isinstance(value, str):
        return f'{escape_key(key)}="{escape_string_field(value)}"'
    msg = f"field {key!r} has unsupported type {type(value).__name__}"
    raise PointError(msg)


def series_key(tags: Mapping[str, str], measurement: str = "market_data") -> str:
    """Measurement and sorted, escaped tags: the part of a line before the fields."""
    parts = [escape_measurement(measurement)]
    for key in sorted(tags):
        value = tags[key]
        if value:
            parts.append(f"{escape_key(key)}={escape_key(value)}")
    return ",".join(parts)


@dataclass(frozen=True, slots=True)
class Point:
    """One point: measurement, tags, fields (at least one), timestamp in nanoseconds."""

    measurement: str
    tags: Mapping[str, str]
    fields: Mapping[str, FieldValue]
    time_ns: int

    def to_line(self) -> str:
        """Encode as one line of line protocol (no trailing newline).

        Tags are sorted by key, which InfluxDB recommends for write performance.
        Empty tag values are omitted (line protocol cannot express them).
        """
        if not self.fields:
            msg = f"point {self.measurement!r} has no fields"
            raise PointError(msg)
        if self.time_ns < 0:
            msg = f"point {self.measurement!r} has a negative timestamp"
            raise PointError(msg)
        head = series_key(self.tags, self.measurement)
        body = ",".join(_format_field(k, v) for k, v in self.fields.items())
        return f"{head} {body} {self.time_ns}"
