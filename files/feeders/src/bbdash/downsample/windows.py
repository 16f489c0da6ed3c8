"""Window arithmetic of the late-data path: which windows a point or a replay changes.

A downsampling task runs at every multiple T of `every` (InfluxDB schedules a
task with now() = T, and starts it `offset` later) and recomputes the whole
windows of its trailing range [T - lookback, T). A point InfluxDB acknowledges
at wall time `a` is therefore taken in by the first run that starts after `a`,
if its window lies in that run's trailing range; otherwise no run ever reads it
again, and its window is *late*: the re-downsampler recomputes it.

All times are integer epoch seconds except point times (nanoseconds, as in line
protocol). Windows are aligned to the epoch, as Flux's aggregateWindow aligns
them, and named by their start.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

NS = 1_000_000_000
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def seconds(value: str | int) -> int:
    """A Flux/InfluxDB duration ("30s", "5m", "1h30m", "7d") in seconds; ints pass through."""
    if isinstance(value, int):
        return value
    total, number = 0, ""
    for char in str(value).strip():
        if char.isdigit():
            number += char
        elif char in _UNITS and number:
            total += int(number) * _UNITS[char]
            number = ""
        else:
            raise ValueError(f"not a duration: {value!r}")
    if number:
        raise ValueError(f"duration without a unit: {value!r}")
    return total


def _retention_seconds(value: str | int | None) -> int:
    if value is None or str(value).strip().lower() in {"", "0", "inf", "infinite", "forever"}:
        return 0
    return seconds(value)


def align_down(t: int, step: int) -> int:
    return t - t % step


def align_up(t: int, step: int) -> int:
    return -(-t // step) * step


@dataclass(frozen=True, slots=True)
class Downsampling:
    """One downsampling task, with what the late-data path needs to know of it."""

    name: str
    source: str
    destination: str
    measurement: str
    every: int
    offset: int
    window: int
    lookback: int
    # How long the source bucket keeps a point (0: forever). A window older than
    # that has lost raw points (or was backfilled with none): never recomputed.
    source_retention: int
    rollup: bool  # the source holds candles stamped with their window's end
    spec: Mapping[str, Any]  # the task as configured, for the Flux

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any], source_retention: str | int) -> Downsampling:
        task = cls(
            name=str(spec["name"]),
            source=str(spec["source"]),
            destination=str(spec["destination"]),
            measurement=str(spec["measurement"]),
            every=seconds(spec["every"]),
            offset=seconds(spec.get("offset") or 0),
            window=seconds(spec["window"]),
            lookback=seconds(spec["lookback"]),
            source_retention=_retention_seconds(source_retention),
            rollup=bool(spec.get("source_holds_candles", False)),
            spec=dict(spec),
        )
        if task.every % task.window or task.lookback % task.window:
            raise ValueError(f"{task.name}: every and lookback must be whole windows")
        if task.lookback < task.every + task.window:
            raise ValueError(f"{task.name}: lookback must cover every + one window")
        return task

    def next_run(self, acked_at: float, grace: float = 0.0) -> int:
        """The scheduled time T of the first run that starts after `acked_at` + `grace`."""
        k = int((acked_at + grace - self.offset) // self.every) + 1
        return k * self.every

    def covered_from(self, acked_at: float, grace: float = 0.0) -> int:
        """The earliest window start that the next run after `acked_at` recomputes."""
        return align_up(self.next_run(acked_at, grace) - self.lookback, self.window)

    def late_windows(
        self, times_ns: Iterable[int], acked_at: float, grace: float = 0.0
    ) -> set[int]:
        """Starts of the windows of points acknowledged at `acked_at` that no
        scheduled run will recompute."""
        covered = self.covered_from(acked_at, grace)
        late: set[int] = set()
        for t_ns in times_ns:
            start = align_down(t_ns // NS, self.window)
            if start < covered:
                late.add(start)
        return late

    def rollup_range(self, start: int, stop: int) -> tuple[int, int]:
        """The windows of this (rollup) task that the source candles of source windows
        [start, stop) fall in. A source candle is stamped with its window's end, so the
        stamps lie in (start, stop]: from the window holding `start` to the one that
        ends at or after `stop`."""
        return align_down(start, self.window), align_up(stop, self.window)

    def recomputable_from(self, now: float, margin: int = 60) -> int:
        """The earliest window start whose raw points the source still holds in full
        (0 when it keeps them forever)."""
        if not self.source_retention:
            return 0
        return align_up(int(now) - self.source_retention + margin, self.window)


def coalesce(starts: Iterable[int], window: int) -> list[tuple[int, int]]:
    """Window starts as sorted, merged [start, stop) ranges."""
    ranges: list[tuple[int, int]] = []
    for start in sorted(set(starts)):
        if ranges and ranges[-1][1] >= start:
            ranges[-1] = (ranges[-1][0], max(ranges[-1][1], start + window))
        else:
            ranges.append((start, start + window))
    return ranges


def chunks(start: int, stop: int, size: int) -> Iterator[tuple[int, int]]:
    """[start, stop) in consecutive pieces of at most `size` seconds, oldest first."""
    while start < stop:
        end = min(stop, start + size)
        yield start, end
        start = end


def clip(start: int, stop: int, floor: int) -> tuple[int, int] | None:
    """[start, stop) without what lies before `floor`; None when nothing is left."""
    start = max(start, floor)
    return (start, stop) if start < stop else None
