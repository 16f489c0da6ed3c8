"""Recompute the candle windows that late points changed after their task's run.

The sink calls `record()` with every batch InfluxDB acknowledged, before it
drops the batch from its spool. Points whose window no scheduled run of the
task will read again (see `windows`) are recorded in the journal. A thread then
sends the task's own Flux over each such range to /api/v2/query, oldest first,
in chunks; a chunk leaves the journal only once InfluxDB ran it, and the rollup
(1 h from 5 min) of its hours is recorded next. So a replay of any length is
re-downsampled, a restart resumes with the chunks left, and an InfluxDB outage
only delays it.

A window that starts before the source bucket's retention is never recomputed:
its raw points are gone (or, for backfilled candles, never existed), and a
candle from what is left would replace a better one. It is counted and logged.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Sequence

import httpx
from prometheus_client import Counter, Gauge

from bbdash.common.metrics import Metrics
from bbdash.common.resilience import Backoff
from bbdash.downsample.flux import range_flux
from bbdash.downsample.journal import RangeJournal
from bbdash.downsample.windows import Downsampling, chunks, clip, coalesce

log = logging.getLogger(__name__)

# Sends one Flux query; returns None when InfluxDB ran it, else the error text.
QueryFn = Callable[[str], str | None]


class RedownsampleMetrics:
    def __init__(self, metrics: Metrics) -> None:
        r = metrics.registry
        self.pending = Gauge(
            "bbdash_downsample_pending_seconds",
            "Time span of windows waiting to be re-downsampled, per task.",
            ["task"],
            registry=r,
        )
        self.windows = Counter(
            "bbdash_downsample_recomputed_windows_total",
            "Windows re-downsampled after late points, per task.",
            ["task"],
            registry=r,
        )
        self.skipped = Counter(
            "bbdash_downsample_skipped_windows_total",
            "Late windows not recomputed because the source no longer holds all their points.",
            ["task"],
            registry=r,
        )
        self.errors = Counter(
            "bbdash_downsample_query_errors_total",
            "Re-downsampling queries InfluxDB did not run (retried later).",
            ["task"],
            registry=r,
        )


class Redownsampler:
    """Journal late windows on delivery; recompute them on a thread."""

    def __init__(
        self,
        tasks: Sequence[Downsampling],
        journal: RangeJournal,
        query: QueryFn,
        metrics: Metrics,
        *,
        org: str,
        interval_s: float = 30.0,
        grace_s: float = 5.0,
        max_windows_per_query: int = 72,
        backoff: Backoff | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._tasks = list(tasks)
        self._journal = journal
        self._query = query
        self._metrics = RedownsampleMetrics(metrics)
        self._org = org
        self._interval = interval_s
        self._grace = grace_s
        self._max_windows = max_windows_per_query
        self._backoff = backoff if backoff is not None else Backoff(base=5.0, cap=300.0)
        self._clock = clock
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="redownsample", daemon=True)

    # -- the sink's side: record ---------------------------------------------------

    def record(self, bucket: str, lines: Sequence[str], acked_at: float) -> None:
        """Journal the windows of `lines` (delivered to `bucket` at `acked_at`) that no
        scheduled run of a task reading `bucket` will recompute."""
        found = False
        for task in self._tasks:
            if task.source != bucket:
                continue
            times = _times_of(lines, task.measurement)
            late = task.late_windows(times, acked_at, self._grace)
            if late:
                self._journal.add(task.name, coalesce(late, task.window))
                found = True
        if found:
            self._update_gauges()
            self._wake.set()

    # -- the thread's side: recompute -----------------------------------------------

    def start(self) -> None:
        self._update_gauges()
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop the thread (after the sink: its last deliveries are journaled). A query
        still running is abandoned; its range stays in the journal for the next start."""
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout=timeout_s)
        if not self._thread.is_alive():
            self._journal.close()

    def _loop(self) -> None:
        delay = self._interval
        while not self._stop.is_set():
            self._wake.wait(delay)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                ok = self.run_once()
            except Exception:
                log.exception("re-downsampling failed")
                ok = False
            delay = self._interval if ok else self._backoff.next_delay()
            if ok:
                self._backoff.reset()

    def run_once(self) -> bool:
        """Recompute every pending range, tasks in order (a rollup after its source);
        False when a query failed (what is left stays in the journal)."""
        try:
            for task in self._tasks:
                for start, stop in self._journal.pending(task.name):
                    if not self._recompute(task, start, stop):
                        return False
                    if self._stop.is_set():
                        return True
            return True
        finally:
            self._update_gauges()

    def _recompute(self, task: Downsampling, start: int, stop: int) -> bool:
        floor = task.recomputable_from(self._clock())
        kept = clip(start, stop, floor)
        if kept is None or kept[0] > start:
            lost_until = stop if kept is None else kept[0]
            self._metrics.skipped.labels(task.name).inc((lost_until - start) // task.window)
            log.warning(
                "late windows older than the source's retention are kept as they are",
                extra={"task": task.name, "source": task.source, "from": start, "to": lost_until},
            )
            self._journal.done(task.name, start, lost_until)
        if kept is None:
            return True
        for lo, hi in chunks(kept[0], kept[1], self._max_windows * task.window):
            error = self._query(range_flux(task.spec, self._org, lo, hi))
            if error is not None:
                self._metrics.errors.labels(task.name).inc()
                log.warning(
                    "re-downsampling query failed, kept for a retry",
                    extra={"task": task.name, "from": lo, "to": hi, "error": error[:300]},
                )
                return False
            for rollup in self._tasks:
                if rollup.rollup and rollup.source == task.destination:
                    self._journal.add(rollup.name, [rollup.rollup_range(lo, hi)])
            self._journal.done(task.name, lo, hi)
            self._metrics.windows.labels(task.name).inc((hi - lo) // task.window)
            log.info(
                "late windows re-downsampled",
                extra={"task": task.name, "from": lo, "to": hi},
            )
        return True

    def _update_gauges(self) -> None:
        for task in self._tasks:
            span = sum(b - a for a, b in self._journal.pending(task.name))
            self._metrics.pending.labels(task.name).set(span)


def _times_of(lines: Sequence[str], measurement: str) -> list[int]:
    """Timestamps (ns) of the lines of `measurement`. A line is `<measurement>[,tags]
    <fields> <time>`; the feeders always write the time."""
    times: list[int] = []
    for line in lines:
        head = line.split(" ", 1)[0].split(",", 1)[0]
        if head != measurement:
            continue
        try:
            times.append(int(line.rsplit(" ", 1)[1]))
        except (IndexError, ValueError):
            continue
    return times


class InfluxQuery:
    """POST /api/v2/query for the re-downsampler (its token reads the sources and
    writes the candle buckets). Synchronous: it runs on the re-downsampler's thread."""

    def __init__(
        self,
        url: str,
        org: str,
        token: str,
        *,
        timeout_s: float = 60.0,
        client: httpx.Client | None = None,
    ) -> None:
        self._url = url.rstrip("/") + "/api/v2/query"
        self._params = {"org": org}
        self._headers = {
            "Authorization": f"Token {token}",
            "Content-Type": "application/json",
            "Accept": "application/csv",
        }
        self._client = client if client is not None else httpx.Client(timeout=timeout_s)

    def __call__(self, flux: str) -> str | None:
        body = json.dumps({"query": flux, "type": "flux"})
        try:
            response = self._client.post(
                self._url, params=self._params, headers=self._headers, content=body
            )
        except httpx.HTTPError as exc:
            return f"{type(exc).__name__}: {exc}"
        if response.status_code != 200:
            return f"HTTP {response.status_code}: {response.text[:300]}"
        # An error met once the result streams comes after a 200, as a table with
        # the header ",error,reference" (InfluxDB docs, "Annotated CSV", Errors).
        rows = response.text.splitlines()
        for index, row in enumerate(rows):
            if row.startswith(",error,reference"):
                return rows[index + 1].strip(",") if index + 1 < len(rows) else "query error"
        return None

    def close(self) -> None:
        self._client.close()
