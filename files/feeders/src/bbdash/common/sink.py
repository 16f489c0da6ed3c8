"""The InfluxDB sink: batching, spooling while InfluxDB is down, ordered replay.

Producers (event-loop tasks or threads) call `submit()`, which only encodes the
point and appends it to an in-memory queue: a tick never waits for InfluxDB.
One writer thread owns all I/O:

1. every `flush_interval_s`, or as soon as `batch_size` points wait, it takes a
   batch from the queue;
2. if InfluxDB is healthy and the spool is empty it writes the batch directly;
   otherwise (or if the write fails) it appends the batch to the durable spool,
   so order is kept: nothing new overtakes what is already spooled;
3. when the spool holds data and the retry backoff has elapsed it replays the
   oldest spooled batches, deleting each only after InfluxDB acknowledged it.

A batch InfluxDB refuses as malformed (400/413/422) is split in halves and
retried until the bad lines are isolated; only those are dropped and counted,
so one bad point never wedges the queue nor takes its neighbours with it.

`stop()` drains the queue (to InfluxDB, or to the spool if it is down) before
returning, so a graceful restart (SIGTERM) loses nothing; what was spooled
survives even a crash.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable

from bbdash.common.health import Heartbeat
from bbdash.common.influx import InfluxWriter, WriteOutcome, WriteResult
from bbdash.common.lineprotocol import Point, PointError
from bbdash.common.metrics import Metrics
from bbdash.common.resilience import Backoff
from bbdash.common.spool import Spool

log = logging.getLogger(__name__)

# Called after InfluxDB acknowledged directly written points: (submission
# monotonic times of those points, acknowledgement monotonic time).
AckCallback = Callable[[list[float], float], None]


class InfluxSink:
    """Buffered, spool-backed writer for one bucket. Thread-safe `submit()`."""

    def __init__(
        self,
        writer: InfluxWriter,
        spool: Spool,
        *,
        metrics: Metrics,
        batch_size: int = 5000,
        flush_interval_s: float = 1.0,
        max_queue_points: int = 200_000,
        backoff: Backoff | None = None,
        heartbeat: Heartbeat | None = None,
        on_ack: AckCallback | None = None,
    ) -> None:
        self.bucket = writer.bucket
        self._writer = writer
        self._spool = spool
        self._metrics = metrics
        self._batch_size = batch_size
        self._flush_interval = flush_interval_s
        self._max_queue = max_queue_points
        self._backoff = backoff if backoff is not None else Backoff(base=0.5, cap=30.0)
        self._heartbeat = heartbeat
        self._on_ack = on_ack
        self._queue: deque[tuple[str, float]] = deque()
        self._cond = threading.Condition()
        self._stopping = False
        self._retry_at = 0.0  # monotonic time before which InfluxDB is considered down
        self._thread = threading.Thread(target=self._run, name=f"sink-{self.bucket}", daemon=True)
        self._loop_name = f"sink_{self.bucket}"
        self._submitted = metrics.points_submitted.labels(self.bucket)
        self._busy = False
        self._update_gauges()

    # -- producer side -------------------------------------------------------------

    def submit(self, point: Point | str, submitted_at: float | None = None) -> bool:
        """Queue one point (or an already encoded line); False if it was dropped.

        `submitted_at` (monotonic) lets a caller measure latency from the upstream
        tick rather than from this call.
        """
        try:
            line = point if isinstance(point, str) else point.to_line()
        except PointError as exc:
            self._metrics.points_rejected.labels(self.bucket).inc()
            log.warning("point not encodable, dropped", extra={"error": str(exc)})
            return False
        stamp = time.monotonic() if submitted_at is None else submitted_at
        with self._cond:
            if len(self._queue) >= self._max_queue:
                self._metrics.points_dropped.labels(self.bucket, "queue_full").inc()
                log.error("sink queue full, point dropped", extra={"bucket": self.bucket})
                return False
            self._queue.append((line, stamp))
            self._submitted.inc()
            # Wake the writer when a batch is full, and on the first point so it
            # arms the flush timer instead of sleeping through its idle wait.
            if len(self._queue) == 1 or len(self._queue) >= self._batch_size:
                self._cond.notify()
        return True

    def submit_many(self, points: Iterable[Point | str]) -> int:
        """Queue several points; return how many were accepted."""
        return sum(1 for point in points if self.submit(point))

    # -- lifecycle -----------------------------------------------------------------

    def start(self) -> None:
        """Start the writer thread."""
        if self._heartbeat is not None:
            self._heartbeat.register(self._loop_name, max(30.0, 10 * self._flush_interval))
        self._thread.start()

    def stop(self, timeout_s: float = 15.0) -> None:
        """Drain the queue (InfluxDB or spool), stop the thread, close the spool."""
        with self._cond:
            self._stopping = True
            self._cond.notify()
        self._thread.join(timeout=timeout_s)
        if self._thread.is_alive():
            log.error("sink writer did not stop in time", extra={"bucket": self.bucket})
            return
        if self._heartbeat is not None:
            self._heartbeat.unregister(self._loop_name)
        self._spool.close()
        self._writer.close()

    def idle(self) -> bool:
        """True when nothing waits in memory or in the spool (tests and the bench poll this)."""
        with self._cond:
            return not self._queue and not self._busy and self._spool.depth_points == 0

    @property
    def queued(self) -> int:
        """Points waiting in memory."""
        return len(self._queue)

    @property
    def spooled(self) -> int:
        """Points waiting on disk."""
        return self._spool.depth_points

    # -- writer thread -------------------------------------------------------------

    def _run(self) -> None:
        while True:
            batch, stopping = self._next_batch()
            if self._heartbeat is not None:
                self._heartbeat.beat(self._loop_name)
            try:
                if batch:
                    self._deliver(batch)
                if self._spool.depth_points and time.monotonic() >= self._retry_at:
                    self._replay(final=stopping)
            except Exception:
                # Never let the writer thread die: a dead thread is silent data loss.
                log.exception("sink writer iteration failed", extra={"bucket": self.bucket})
                time.sleep(0.5)
            finally:
                with self._cond:
                    self._busy = False
                self._update_gauges()
            if stopping and not self._queue:
                return

    def _next_batch(self) -> tuple[list[tuple[str, float]], bool]:
        """Wait until a batch is due (size, age, stop, or a replay is due); take it."""
        with self._cond:
            while True:
                now = time.monotonic()
                if self._stopping:
                    break
                if len(self._queue) >= self._batch_size:
                    break
                if self._queue and now - self._queue[0][1] >= self._flush_interval:
                    break
                replay_due = self._spool.depth_points > 0 and now >= self._retry_at
                if replay_due and not self._queue:
                    break
                # Wake at the earliest of: batch age reached, replay due, heartbeat.
                wait = 1.0
                if self._queue:
                    wait = min(wait, self._flush_interval - (now - self._queue[0][1]))
                if self._spool.depth_points:
                    wait = min(wait, max(self._retry_at - now, 0.0) or wait)
                self._cond.wait(max(wait, 0.001))
            take = min(len(self._queue), self._batch_size)
            batch = [self._queue.popleft() for _ in range(take)]
            self._busy = bool(batch) or self._spool.depth_points > 0
            return batch, self._stopping

    def _influx_down(self) -> bool:
        return time.monotonic() < self._retry_at

    def _deliver(self, batch: list[tuple[str, float]]) -> None:
        lines = [line for line, _ in batch]
        if self._spool.depth_points or self._influx_down():
            # Keep order: new points queue behind what is already spooled.
            self._to_spool(lines)
            return
        unsent = self._send(lines)
        if not unsent:
            acked = time.monotonic()
            stamps = [stamp for _, stamp in batch]
            self._metrics.write_latency.labels(self.bucket).observe(acked - min(stamps))
            if self._on_ack is not None:
                self._on_ack(stamps, acked)
            return
        self._to_spool(unsent)

    def _to_spool(self, lines: list[str]) -> None:
        if self._spool.append(lines):
            return
        self._metrics.points_dropped.labels(self.bucket, "spool_full").inc(len(lines))
        log.error(
            "spool full, points dropped",
            extra={
                "bucket": self.bucket,
                "dropped": len(lines),
                "spool_bytes": self._spool.depth_bytes,
                "spool_max_bytes": self._spool.max_bytes,
            },
        )

    def _replay(self, *, final: bool) -> None:
        """Write spooled batches oldest first until empty, a failure, or new data waits."""
        while self._spool.depth_points:
            entries = self._spool.peek(self._batch_size)
            lines = [line for entry in entries for line in entry.lines]
            unsent = self._send(lines)
            if unsent:
                # The failed request may have been partly split: keep the spool
                # as is and resend it whole later; InfluxDB dedupes by series+time.
                return
            self._spool.remove([entry.id for entry in entries])
            self._update_gauges()
            if self._queue and not final:
                return  # let the next loop move fresh points behind the spool

    def _send(self, lines: list[str]) -> list[str]:
        """Write `lines`, isolating malformed ones; return the lines not delivered (outage)."""
        result = self._writer.write(lines)
        if result.outcome is WriteOutcome.OK:
            self._metrics.points_written.labels(self.bucket).inc(len(lines))
            self._metrics.influx_up.labels(self.bucket).set(1)
            self._backoff.reset()
            self._retry_at = 0.0
            return []
        if result.outcome is WriteOutcome.REJECTED:
            if len(lines) == 1:
                self._metrics.points_rejected.labels(self.bucket).inc()
                log.error(
                    "influxdb rejected a point, dropped",
                    extra={"bucket": self.bucket, "line": lines[0][:300], "detail": result.detail},
                )
                return []
            mid = len(lines) // 2
            left = self._send(lines[:mid])
            if left:
                return left + lines[mid:]
            return self._send(lines[mid:])
        self._mark_down(result, len(lines))
        return lines

    def _mark_down(self, result: WriteResult, count: int) -> None:
        self._metrics.write_errors.labels(self.bucket, result.kind or "unknown").inc()
        self._metrics.influx_up.labels(self.bucket).set(0)
        delay = self._backoff.next_delay()
        if result.retry_after is not None:
            delay = max(delay, min(result.retry_after, self._backoff.cap))
        self._retry_at = time.monotonic() + delay
        log.warning(
            "influxdb write failed, spooling",
            extra={
                "bucket": self.bucket,
                "kind": result.kind,
                "status": result.status,
                "points": count,
                "retry_in_s": round(delay, 3),
                "detail": result.detail[:200],
            },
        )

    def _update_gauges(self) -> None:
        self._metrics.queue_depth.labels(self.bucket).set(len(self._queue))
        self._metrics.spool_depth.labels(self.bucket).set(self._spool.depth_points)
        self._metrics.spool_bytes.labels(self.bucket).set(self._spool.depth_bytes)
