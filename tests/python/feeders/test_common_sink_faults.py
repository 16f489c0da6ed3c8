"""Fault injection on the write path: every test counts the points that went in
and the points InfluxDB (its test double) stored.

What is promised (bbdash.common.sink): a point that is not UTF-8 is dropped
alone and counted; while a write hangs, new points still reach the disk spool,
so a kill -9 at any moment loses at most the points of the last flush
interval; a stop returns within its budget even while InfluxDB hangs, and the
next start delivers what was left; a drained spool gives its disk back; a
batch split by a bad line and then cut by an outage never sends again what
InfluxDB already stored.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field

from bbdash.common.influx import WriteOutcome, WriteResult
from bbdash.common.lineprotocol import Point
from bbdash.common.metrics import Metrics
from bbdash.common.sink import InfluxSink
from bbdash.common.spool import SHRINK_BYTES, Spool
from feeder_testkit import wait_for


def _point(i: int, title: str = "x") -> Point:
    return Point(
        "news",
        {"source": "rss"},
        {"title": title, "n": float(i)},
        1_700_000_000_000_000_000 + i * 1_000_000,
    )


def _stored_numbers(double) -> list[int]:
    return sorted(int(p["fields"]["n"]) for p in double.points("markets"))


def test_a_point_that_is_not_utf8_is_dropped_alone(make_sink, influx_double, metrics):
    sink = make_sink(batch_size=10)
    sink.start()
    submitted = [
        sink.submit(_point(i, "\ud83d broken emoji" if i == 4 else "ok")) for i in range(10)
    ]
    assert submitted.count(False) == 1 and submitted[4] is False
    assert wait_for(lambda: influx_double.point_count("markets") == 9)
    assert wait_for(sink.idle)
    assert _stored_numbers(influx_double) == [i for i in range(10) if i != 4]
    assert metrics.value("bbdash_points_rejected_total", {"bucket": "markets"}) == 1


def test_points_reach_the_spool_while_a_write_hangs(make_sink, influx_double):
    influx_double.hang_s = 4.0
    sink = make_sink(batch_size=1000, flush_interval_s=0.2, timeout_s=10)
    sink.start()
    influx_double.set_mode("hang")
    sink.submit(_point(0))
    assert wait_for(lambda: sink.spooled == 1)
    time.sleep(0.3)  # the writer has sent it: the write hangs from here on
    for i in range(1, 201):
        sink.submit(_point(i))
        time.sleep(0.005)
    # While the write still hangs, everything older than a flush interval is on disk.
    assert wait_for(lambda: sink.spooled == 201, timeout=1.0)
    assert sink.queued == 0
    influx_double.set_mode("up")
    assert wait_for(sink.idle, timeout=15)
    assert _stored_numbers(influx_double) == list(range(201))


_KILLED_FEEDER = """
import sys, time
from pathlib import Path
from bbdash.common.influx import InfluxWriter
from bbdash.common.lineprotocol import Point
from bbdash.common.metrics import Metrics
from bbdash.common.sink import InfluxSink
from bbdash.common.spool import Spool

url, spool_path = sys.argv[1], Path(sys.argv[2])
sink = InfluxSink(InfluxWriter(url, "bloomberg", "markets", "test-token", timeout_s=30),
                  Spool(spool_path, 1 << 26), metrics=Metrics(), batch_size=5000,
                  flush_interval_s=0.25)
sink.start()
i = 0
while True:  # about 1,000 points a second until killed
    sink.submit(Point("news", {"source": "rss"}, {"n": float(i)}, 1_700_000_000_000_000_000 + i))
    print(i, flush=True)
    i += 1
    time.sleep(0.001)
"""


@dataclass
class _Progress:
    """The child's last submitted point number, with when the parent read it."""

    seen: list[tuple[int, float]] = field(default_factory=list)

    def follow(self, stream) -> None:
        for line in stream:
            self.seen.append((int(line), time.monotonic()))

    def last_before(self, moment: float) -> int:
        return max((i for i, at in self.seen if at <= moment), default=-1)


def test_kill_9_during_a_hung_write_loses_at_most_the_last_flush_interval(
    make_sink, influx_double, tmp_path
):
    spool_path = tmp_path / "killed.sqlite"
    influx_double.hang_s = 60.0
    influx_double.set_mode("hang")
    proc = subprocess.Popen(
        [sys.executable, "-c", _KILLED_FEEDER, influx_double.url, str(spool_path)],
        stdout=subprocess.PIPE,
        text=True,
    )
    progress = _Progress()
    reader = threading.Thread(target=progress.follow, args=(proc.stdout,), daemon=True)
    reader.start()
    try:
        # Several flush intervals while the first write hangs.
        assert wait_for(lambda: len(progress.seen) > 2500, timeout=20)
        killed_at = time.monotonic()
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait(timeout=10)
    reader.join(timeout=5)
    submitted = progress.seen[-1][0] + 1
    influx_double.set_mode("up")
    second = make_sink(spool_path=spool_path, batch_size=5000)
    second.start()
    assert wait_for(second.idle, timeout=30)
    stored = set(_stored_numbers(influx_double))
    lost = sorted(set(range(submitted)) - stored)
    # Only the points of the last flush interval (0.25 s), plus the time a batch
    # takes to be appended, may be lost.
    safe = progress.last_before(killed_at - 0.25 - 0.25)
    assert safe > 1000
    assert all(i > safe for i in lost), (len(lost), lost[:5], safe)
    assert len(stored) >= safe + 1


def test_a_stop_during_a_hung_write_returns_in_time_and_loses_nothing(
    make_sink, influx_double, tmp_path
):
    spool_path = tmp_path / "stop.sqlite"
    influx_double.hang_s = 8.0
    influx_double.set_mode("hang")
    sink = make_sink(spool_path=spool_path, timeout_s=10, flush_interval_s=0.1)
    sink.start()
    for i in range(50):
        sink.submit(_point(i))
    assert wait_for(lambda: sink.spooled == 50)
    time.sleep(0.3)  # the write is in flight, hanging
    for i in range(50, 60):
        sink.submit(_point(i))  # still in memory when stop() is called
    began = time.monotonic()
    sink.stop(timeout_s=1.0)
    assert time.monotonic() - began < 2.0
    influx_double.set_mode("up")
    again = make_sink(spool_path=spool_path)
    assert again.spooled == 60
    again.start()
    assert wait_for(again.idle, timeout=15)
    assert _stored_numbers(influx_double) == list(range(60))


def test_a_drained_spool_gives_its_disk_back(make_sink, influx_double, tmp_path):
    spool_path = tmp_path / "big.sqlite"
    sink = make_sink(spool_path=spool_path, batch_size=2000, flush_interval_s=0.05)
    sink.start()
    influx_double.stop()  # connection refused: everything goes to the spool
    padding = "p" * 100
    for i in range(20_000):
        sink.submit(_point(i, padding))
    assert wait_for(lambda: sink.spooled == 20_000, timeout=20)
    spool = sink._spool  # the file as the sink uses it
    assert spool.file_bytes() > 2 * SHRINK_BYTES
    influx_double.start()
    assert wait_for(sink.idle, timeout=30)
    assert influx_double.point_count("markets") == 20_000
    assert spool.file_bytes() < SHRINK_BYTES // 4


@dataclass
class _SplitThenOutage:
    """A writer that refuses a batch holding the bad line as malformed, stores the
    others, and goes down right after the first lines it stored (once); it
    records every line it stored."""

    bucket: str = "markets"
    stored: list[str] = field(default_factory=list)
    down: bool = True  # down at first: the batch waits in the spool
    outage_done: bool = False
    refused_while_down: int = 0

    def write(self, lines: list[str]) -> WriteResult:
        if self.down:
            self.refused_while_down += 1
            return WriteResult(WriteOutcome.RETRY, 503, "http_5xx", "down")
        if any("BAD" in line for line in lines):
            return WriteResult(WriteOutcome.REJECTED, 400, "http_400", "bad line")
        self.stored.extend(lines)
        if not self.outage_done:
            self.down = self.outage_done = True
        return WriteResult(WriteOutcome.OK, 204)

    def close(self) -> None:
        return


def test_a_split_cut_by_an_outage_never_resends_what_was_stored(tmp_path):
    writer = _SplitThenOutage()
    sink = InfluxSink(
        writer,  # type: ignore[arg-type]
        Spool(tmp_path / "split.sqlite", 1 << 20),
        metrics=Metrics(),
        batch_size=8,
        flush_interval_s=0.05,
    )
    lines = [f"m,k=v n={i} {i}" for i in range(8)]
    lines[6] = "m,k=BAD n=x 6"
    for line in lines:
        sink.submit(line)
    sink.start()
    assert wait_for(lambda: writer.refused_while_down >= 1 and sink.spooled == 8)
    writer.down = False
    # The 8 lines are refused as malformed, lines 0-3 are stored, then the
    # outage cuts the request for lines 4-7: only those stay spooled.
    assert wait_for(lambda: writer.down and sink.spooled == 4)
    writer.down = False
    assert wait_for(sink.idle)
    sink.stop()
    assert writer.stored == [line for line in lines if "BAD" not in line]
    assert len(writer.stored) == len(set(writer.stored)), "a stored line was sent again"
