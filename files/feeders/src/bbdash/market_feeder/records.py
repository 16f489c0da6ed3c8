"""The normalised market record every source produces, and strict value parsing.

Upstreams send prices as strings ("67234.50"), percentages with a sign and
"%" ("-0.4123%"), and sometimes "NaN", null or "-". Parsing is strict: a value
that is not a finite number is refused with a reason (counted in
`bbdash_records_invalid_total`), and a record whose price is unusable is
skipped as a whole rather than written with a made-up value. A field unknown
for a source is None and omitted from the point, never written as 0
(docs/contracts.md).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from decimal import Decimal

from bbdash.common.lineprotocol import Point, PointError, series_key

MEASUREMENT = "market_data"
FIELDS = ("price", "volume_24h", "change_pct_1h", "change_pct_24h", "market_cap")
_MAX_HEADS = 100_000
_HEADS: dict[tuple[str, str, str, bool], str] = {}


class InvalidValueError(ValueError):
    """A value refused by strict parsing; `reason` is a short metric label."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


def parse_number(value: object, *, percent: bool = False, minimum: float | None = None) -> float:
    """Parse an upstream number strictly.

    Accepts int/float or a numeric string (a trailing "%" when `percent`);
    refuses None, booleans, empty or non-numeric text, NaN and infinities, and
    values below `minimum`.
    """
    if value is None:
        raise InvalidValueError("missing")
    if isinstance(value, bool):
        raise InvalidValueError("not_a_number", repr(value))
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        text = value.strip()
        if percent and text.endswith("%"):
            text = text[:-1].strip()
        if not text:
            raise InvalidValueError("missing")
        try:
            number = float(text)
        except ValueError as exc:
            raise InvalidValueError("not_a_number", repr(value)[:40]) from exc
    else:
        raise InvalidValueError("not_a_number", type(value).__name__)
    if not math.isfinite(number):
        raise InvalidValueError("non_finite", repr(value)[:40])
    if minimum is not None and number < minimum:
        raise InvalidValueError("negative" if minimum == 0 else "out_of_range", repr(value)[:40])
    return number


def parse_price(value: object) -> float:
    """A price: finite and strictly positive (a zero price is a broken feed, not a market)."""
    price = parse_number(value, minimum=0.0)
    if price == 0.0:
        raise InvalidValueError("zero_price")
    return price


def optional_number(
    value: object, *, percent: bool = False, minimum: float | None = None
) -> float | None:
    """Like `parse_number`, but None when the upstream did not send the field."""
    if value is None or (isinstance(value, str) and value.strip() in ("", "-", "None")):
        return None
    return parse_number(value, percent=percent, minimum=minimum)


@dataclass(slots=True)
class MarketRecord:
    """One normalised quote. `event_time_ns` comes from the upstream, never the local clock.

    Using the upstream's time makes a replayed or re-polled quote land on the
    same InfluxDB point (series + timestamp) and overwrite it, never duplicate it.
    """

    exchange: str
    symbol: str
    asset_type: str
    event_time_ns: int
    price: float | None = None
    volume_24h: float | None = None
    change_pct_1h: float | None = None
    change_pct_24h: float | None = None
    market_cap: float | None = None
    demo: bool = False
    received_at: float = field(default_factory=time.monotonic)

    def to_line(self) -> str:
        """Same text as `to_point().to_line()`, faster: this runs for every tick.

        The series part (measurement + tags) is encoded once per (exchange,
        symbol, asset type, demo) and cached; only fields and time vary.
        """
        key = (self.exchange, self.symbol, self.asset_type, self.demo)
        head = _HEADS.get(key)
        if head is None:
            head = series_key(self.to_point_tags())
            if len(_HEADS) < _MAX_HEADS:
                _HEADS[key] = head
        parts = []
        for name in FIELDS:
            value = getattr(self, name)
            if value is not None:
                if not math.isfinite(value):
                    msg = f"field {name!r} is not finite: {value!r}"
                    raise PointError(msg)
                parts.append(f"{name}={float(value)!r}")
        if not parts:
            msg = f"record {self.symbol!r} has no fields"
            raise PointError(msg)
        return f"{head} {','.join(parts)} {self.event_time_ns}"

    def to_point_tags(self) -> dict[str, str]:
        """The point's tags (contract: exchange, symbol, asset_type; demo=true in demo mode)."""
        tags = {"exchange": self.exchange, "symbol": self.symbol, "asset_type": self.asset_type}
        if self.demo:
            tags["demo"] = "true"
        return tags

    def to_point(self) -> Point:
        """The contract's `market_data` point (unknown fields omitted, demo tagged)."""
        tags = self.to_point_tags()
        fields: dict[str, float] = {}
        for name in FIELDS:
            value = getattr(self, name)
            if value is not None:
                fields[name] = value
        return Point(MEASUREMENT, tags, fields, self.event_time_ns)


def ms_to_ns(value: object) -> int:
    """Epoch milliseconds (int or numeric string) to nanoseconds; strict."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise InvalidValueError("bad_timestamp", repr(value)[:40])
    try:
        millis = int(value)
    except ValueError as exc:
        raise InvalidValueError("bad_timestamp", repr(value)[:40]) from exc
    if millis <= 0:
        raise InvalidValueError("bad_timestamp", repr(value)[:40])
    return millis * 1_000_000


def seconds_to_ns(value: object) -> int:
    """Epoch seconds (int, float or numeric string) to nanoseconds; strict."""
    seconds = parse_number(value, minimum=0.0)
    if seconds == 0:
        raise InvalidValueError("bad_timestamp", repr(value)[:40])
    # Decimal, not float: epoch nanoseconds exceed a float's 53-bit mantissa.
    return int(Decimal(str(value).strip()) * 1_000_000_000)
