"""The InfluxDB sink: batching through a durable spool, ordered delivery.

Producers (event-loop tasks or threads) call `submit()`, which encodes the
point, checks that it is valid UTF-8 (a bad point is counted and dropped
alone) and appends it to an in-memory queue: a tick never waits for InfluxDB
nor for the disk. Two threads do the rest, so that neither can hold up the
other:

1. the *spooler* takes a batch from the queue every `flush_interval_s`, or as
   soon as `batch_size` points wait, and appends it to the spool (SQLite,
   fsynced): from then on the batch survives a crash. Points therefore stay
   in memory for at most one flush interval, whatever InfluxDB does: a kill -9
   loses at most the last interval's points, even while a write hangs;
2. the *writer* sends the oldest spooled batches to InfluxDB and deletes each
   only after InfluxDB acknowledged it, so order is kept and nothing is
   dropped on the way; after a failure it waits out a jittered backoff.

A batch InfluxDB refuses as malformed (400/413/422) is split in halves and
retried until the bad lines are isolated; only those are dropped and counted,
so one bad point never wedges the spool nor takes its neighbours with it.
When a split is interrupted by an outage, the spool keeps exactly the lines
that were not delivered yet: nothing already stored is sent again.

`stop()` moves what waits in memory to the spool, gives the writer a bounded
time to deliver it, and returns: what is left stays spooled for the next
start, so a stop fits in the container's stop timeout even while InfluxDB
hangs.
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
from bbdash.common.spool import Spool, SpooledBatch

log = logging.getLogger(__name__)

# Called after InfluxDB acknowledged points: (submission monotonic times of
# those points, acknowledgement monotonic time).
AckCallback = Callable[[list[float], float], None]
# Called with the lines InfluxDB stored and the wall time it acknowledged them,
# before they leave the spool: a crash in between sends them (and calls) again.
DeliveredCallback = Callable[[list[str], float], None]


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
        on_delivered: DeliveredCallback | None = None,
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
        self._on_delivered = on_delivered
        self._queue: deque[tuple[str, float]] = deque()
        # Submission times of spooled points, by spool row id (for latency and
        # on_ack); rows spooled by an earlier run have none.
        self._stamps: dict[int, list[float]] = {}
        self._cond = threading.Condition()
        self._stopping = False
        self._spooler_done = False
        self._retry_at = 0.0  # monotonic time before which InfluxDB is considered down
        self._spooler = threading.Thread(
            target=self._spool_loop, name=f"spool-{self.bucket}", daemon=True
        )
        self._thread = threading.Thread(
            target=self._write_loop, name=f"sink-{self.bucket}", daemon=True
        )
        self._loop_name = f"sink_{self.bucket}"
        self._spool_loop_name = f"spool_{self.bucket}"
        self._submitted = metrics.points_submitted.labels(self.bucket)
        self._busy = False  # the writer holds spooled points in hand
        self._spooling = False  # the spooler holds a batch taken from the queue
        self._update_gauges()

    # -- producer side -------------------------------------------------------------

    def submit(self, point: Point | str, submitted_at: float | None = None) -> bool:
        """Queue one point (or an already encoded line); False if it was dropped.

        `submitted_at` (monotonic) lets a caller measure latency from the upstream
        tick rather than from this call.
        """
        try:
            line = point if isinstance(point, str) else point.to_line()
            # InfluxDB takes UTF-8 only; a lone surrogate ("\\ud83d" from a broken
            # emoji escape) cannot be encoded and must not reach a batch.
            line.encode("utf-8")
        except (PointError, UnicodeEncodeError) as exc:
            self._metrics.points_rejected.labels(self.bucket).inc()
            log.warning(
                "point not encodable, dropped", extra={"bucket": self.bucket, "error": str(exc)}
            )
            return False
        stamp = time.monotonic() if submitted_at is None else submitted_at
        with self._cond:
            if len(self._queue) >= self._max_queue:
                self._metrics.points_dropped.labels(self.bucket, "queue_full").inc()
                log.error("sink queue full, point dropped", extra={"bucket": self.bucket})
                return False
            self._queue.append((line, stamp))
            self._submitted.inc()
            # Wake the spooler when a batch is full, and on the first point so it
            # arms the flush timer instead of sleeping through its idle wait.
            if len(self._queue) == 1 or len(self._queue) >= self._batch_size:
                self._cond.notify_all()
        return True

    def submit_many(self, points: Iterable[Point | str]) -> int:
        """Queue several points; return how many were accepted."""
        return sum(1 for point in points if self.submit(point))

    # -- lifecycle -----------------------------------------------------------------

    def start(self) -> None:
        """Start the spooler and writer threads."""
        if self._heartbeat is not None:
            max_age = max(30.0, 10 * self._flush_interval)
            self._heartbeat.register(self._loop_name, max_age)
            self._heartbeat.register(self._spool_loop_name, max_age)
        self._spooler.start()
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Spool what waits in memory, deliver what InfluxDB takes within `timeout_s`,
        leave the rest in the spool for the next start, close."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self._spooler.join(timeout=max(0.0, deadline - time.monotonic()))
        self._thread.join(timeout=max(0.0, deadline - time.monotonic()))
        if self._heartbeat is not None:
            self._heartbeat.unregister(self._loop_name)
            self._heartbeat.unregister(self._spool_loop_name)
        left = self._spool.depth_points + len(self._queue)
        if self._thread.is_alive() or self._spooler.is_alive():
            # A write still hangs: the spool already holds its batch, so the thread
            # is abandoned (a daemon) and its late answer, if any, is ignored.
            log.warning(
                "sink stopped before InfluxDB answered; the spool keeps the points",
                extra={"bucket": self.bucket, "spooled": left},
            )
        elif left:
            log.info("sink stopped, points wait in the spool", extra={"spooled": left})
        self._spool.close()
        if not self._thread.is_alive():
            self._writer.close()

    def idle(self) -> bool:
        """True when nothing waits in memory or in the spool (tests and the bench poll this)."""
        with self._cond:
            return (
                not self._queue
                and not self._spooling
                and not self._busy
                and self._spool.depth_points == 0
            )

    @property
    def queued(self) -> int:
        """Points waiting in memory."""
        return len(self._queue)

    @property
    def spooled(self) -> int:
        """Points waiting on disk."""
        return self._spool.depth_points

    # -- spooler thread: memory -> disk ----------------------------------------------

    def _spool_loop(self) -> None:
        while True:
            batch, stopping = self._next_batch()
            if self._heartbeat is not None:
                self._heartbeat.beat(self._spool_loop_name)
            try:
                if batch:
                    self._to_spool(batch)
            except Exception:
                # Never let the spooler die: a dead thread is silent data loss.
                log.exception("sink spooler iteration failed", extra={"bucket": self.bucket})
                time.sleep(0.5)
            finally:
                with self._cond:
                    self._spooling = False
            self._update_gauges()
            if stopping and not self._queue:
                with self._cond:
                    self._spooler_done = True
                    self._cond.notify_all()
                return

    def _next_batch(self) -> tuple[list[tuple[str, float]], bool]:
        """Wait until a batch is due (size, age or stop) and take it."""
        with self._cond:
            while True:
                now = time.monotonic()
                if self._stopping or len(self._queue) >= self._batch_size:
                    break
                if self._queue and now - self._queue[0][1] >= self._flush_interval:
                    break
                wait = 1.0  # wake at least once a second to beat the heartbeat
                if self._queue:
                    wait = min(wait, self._flush_interval - (now - self._queue[0][1]))
                self._cond.wait(max(wait, 0.001))
            take = min(len(self._queue), self._batch_size)
            self._spooling = take > 0
            return [self._queue.popleft() for _ in range(take)], self._stopping

    def _to_spool(self, batch: list[tuple[str, float]]) -> None:
        row = self._spool.append([line for line, _ in batch])
        if row is not None:
            with self._cond:
                self._stamps[row] = [stamp for _, stamp in batch]
                self._cond.notify_all()  # the writer has work
            return
        self._metrics.points_dropped.labels(self.bucket, "spool_full").inc(len(batch))
        log.error(
            "spool full, points dropped",
            extra={
                "bucket": self.bucket,
                "dropped": len(batch),
                "spool_bytes": self._spool.depth_bytes,
                "spool_max_bytes": self._spool.max_bytes,
            },
        )

    # -- writer thread: disk -> InfluxDB -------------------------------------------------

    def _write_loop(self) -> None:
        while True:
            final = self._wait_for_work()
            if self._heartbeat is not None:
                self._heartbeat.beat(self._loop_name)
            try:
                self._deliver(final=final)
            except Exception:
                log.exception("sink writer iteration failed", extra={"bucket": self.bucket})
                time.sleep(0.5)
            finally:
                with self._cond:
                    self._busy = False
                self._update_gauges()
            if self._spool.closed:
                return  # stop() gave up waiting for this thread: nothing more to do
            if final and (self._spool.depth_points == 0 or time.monotonic() < self._retry_at):
                return  # delivered everything, or InfluxDB is down: the spool keeps the rest

    def _wait_for_work(self) -> bool:
        """Wait until spooled points can be sent; True once the spooler has finished
        for a stop (this is then the last round)."""
        with self._cond:
            while True:
                final = self._spooler_done
                now = time.monotonic()
                if self._spool.depth_points and now >= self._retry_at:
                    break
                if final:
                    break
                wait = 1.0
                if self._spool.depth_points:
                    wait = min(wait, self._retry_at - now)
                self._cond.wait(max(wait, 0.001))
            self._busy = self._spool.depth_points > 0
            return final

    def _deliver(self, *, final: bool) -> None:
        """Write spooled batches oldest first until the spool is empty or a write fails."""
        while self._spool.depth_points and time.monotonic() >= self._retry_at:
            entries = self._spool.peek(self._batch_size)
            if not entries:
                return
            lines = [line for entry in entries for line in entry.lines]
            unsent = self._send(lines)
            # `unsent` is always a tail of `lines` (see _send).
            self._delivered(lines[: len(lines) - len(unsent)])
            if unsent:
                # Keep exactly what was not delivered, in place: the lines a split
                # already stored are not sent again.
                self._spool.replace([entry.id for entry in entries], unsent)
                self._forget(entries, acked=None)
                return
            self._spool.remove([entry.id for entry in entries])
            self._forget(entries, acked=time.monotonic())
            self._update_gauges()
            if not final and self._stopping:
                return  # the stop's last round drains what is left

    def _delivered(self, lines: list[str]) -> None:
        if not lines or self._on_delivered is None:
            return
        try:
            self._on_delivered(lines, time.time())
        except Exception:
            # The points are stored; only their follow-up (re-downsampling) is lost.
            log.exception("delivery callback failed", extra={"bucket": self.bucket})

    def _forget(self, entries: list[SpooledBatch], acked: float | None) -> None:
        """Drop the submission times of `entries`; report them when they were acknowledged."""
        with self._cond:
            stamps = [s for entry in entries for s in self._stamps.pop(entry.id, [])]
        if acked is None or not stamps:
            return
        self._metrics.write_latency.labels(self.bucket).observe(acked - min(stamps))
        if self._on_ack is not None:
            self._on_ack(stamps, acked)

    def _send(self, lines: list[str]) -> list[str]:
        """Write `lines`, isolating malformed ones; return the lines not delivered (an
        outage), which are always the tail of `lines`."""
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
            "influxdb write failed, points stay in the spool",
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
