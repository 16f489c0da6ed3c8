"""The write path: batching, outage → spool → ordered replay, restarts, bad lines, full spool."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time

from bbdash.common.lineprotocol import Point
from feeder_testkit import wait_for


def _point(i: int, symbol: str = "BTC/USDT") -> Point:
    return Point(
        "market_data",
        {"exchange": "binance", "symbol": symbol, "asset_type": "crypto"},
        {"price": 100.0 + i},
        1_700_000_000_000_000_000 + i * 1_000_000,
    )


def test_points_are_batched_and_written(make_sink, influx_double, metrics):
    sink = make_sink(batch_size=50)
    sink.start()
    for i in range(120):
        assert sink.submit(_point(i))
    assert wait_for(lambda: influx_double.point_count("markets") == 120)
    assert wait_for(sink.idle)
    assert metrics.value("bbdash_points_written_total", {"bucket": "markets"}) == 120
    assert influx_double.store.write_requests <= 5  # batched, not one request per point
    stored = influx_double.points("markets")
    assert [p["fields"]["price"] for p in stored] == [100.0 + i for i in range(120)]


def test_outage_spools_then_replays_in_order_exactly_once(make_sink, influx_double, metrics):
    sink = make_sink(batch_size=20)
    sink.start()
    influx_double.stop()  # connection refused
    for i in range(100):
        sink.submit(_point(i))
    assert wait_for(lambda: sink.spooled == 100)
    assert metrics.value("bbdash_spool_depth_points", {"bucket": "markets"}) == 100
    assert metrics.value("bbdash_influx_up", {"bucket": "markets"}) == 0
    influx_double.start()
    for i in range(100, 150):  # fresh points queue behind the spool
        sink.submit(_point(i))
    assert wait_for(sink.idle)
    assert influx_double.point_count("markets") == 150
    stored = influx_double.points("markets")
    assert [p["fields"]["price"] for p in stored] == [100.0 + i for i in range(150)]
    assert metrics.value("bbdash_spool_depth_points", {"bucket": "markets"}) == 0


def test_flapping_influx_during_replay_stores_every_point_once(make_sink, influx_double):
    sink = make_sink(batch_size=10)
    sink.start()
    influx_double.set_mode("fail")
    total = 400
    stop = threading.Event()

    def flap() -> None:
        # Toggle 503s while the spool replays: some replay requests fail midway.
        while not stop.is_set():
            influx_double.set_mode("up")
            time.sleep(0.03)
            influx_double.set_mode("fail")
            time.sleep(0.05)

    for i in range(total // 2):
        sink.submit(_point(i))
    assert wait_for(lambda: sink.spooled == total // 2)
    flapper = threading.Thread(target=flap)
    flapper.start()
    for i in range(total // 2, total):
        sink.submit(_point(i))
        if i % 25 == 0:
            time.sleep(0.01)
    time.sleep(0.5)
    stop.set()
    flapper.join()
    influx_double.set_mode("up")
    assert wait_for(sink.idle, timeout=20)
    stored = influx_double.points("markets")
    assert len(stored) == total
    assert sorted(p["time"] for p in stored) == [_point(i).time_ns for i in range(total)]


def test_restart_mid_spool_loses_nothing(make_sink, influx_double, tmp_path, metrics):
    spool_path = tmp_path / "restart.sqlite"
    first = make_sink(spool_path=spool_path)
    first.start()
    influx_double.stop()
    for i in range(75):
        first.submit(_point(i))
    # Graceful stop while InfluxDB is down: the in-memory queue goes to disk.
    first.stop()
    influx_double.start()
    second = make_sink(spool_path=spool_path)
    assert second.spooled == 75
    second.start()
    assert wait_for(second.idle)
    assert influx_double.point_count("markets") == 75


_CRASHING_FEEDER = """
import sys, time
from pathlib import Path
from bbdash.common.influx import InfluxWriter
from bbdash.common.lineprotocol import Point
from bbdash.common.metrics import Metrics
from bbdash.common.sink import InfluxSink
from bbdash.common.spool import Spool

url, spool_path, count = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
sink = InfluxSink(InfluxWriter(url, "bloomberg", "markets", "test-token", timeout_s=1),
                  Spool(spool_path, 1 << 24), metrics=Metrics(), batch_size=10,
                  flush_interval_s=0.05)
sink.start()
for i in range(count):
    sink.submit(Point("market_data", {"symbol": "ETH/USDT"}, {"price": float(i)}, i + 1))
while sink.spooled < count:
    time.sleep(0.01)
print("spooled", flush=True)
time.sleep(60)
"""


def test_sigkill_after_spooling_loses_nothing(make_sink, influx_double, tmp_path):
    spool_path = tmp_path / "crash.sqlite"
    url = influx_double.url
    influx_double.stop()
    proc = subprocess.Popen(
        [sys.executable, "-c", _CRASHING_FEEDER, url, str(spool_path), "30"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "spooled"
    finally:
        proc.send_signal(signal.SIGKILL)  # no chance to flush anything
        proc.wait(timeout=10)
    influx_double.start()
    second = make_sink(spool_path=spool_path)
    assert second.spooled == 30
    second.start()
    assert wait_for(second.idle)
    assert influx_double.point_count("markets") == 30


def test_malformed_point_is_isolated_and_dropped(make_sink, influx_double, metrics):
    sink = make_sink(batch_size=64)
    lines = [_point(i).to_line() for i in range(64)]
    lines[37] = "market_data,symbol=BAD price=not-a-number 1"
    for line in lines:  # queued before start: one batch of 64 holding the bad line
        sink.submit(line)
    sink.start()
    assert wait_for(sink.idle)
    assert influx_double.point_count("markets") == 63
    assert metrics.value("bbdash_points_rejected_total", {"bucket": "markets"}) == 1
    assert metrics.value("bbdash_points_written_total", {"bucket": "markets"}) == 63
    # The queue is not wedged: later points flow.
    sink.submit(_point(1000))
    assert wait_for(lambda: influx_double.point_count("markets") == 64)


def test_type_conflict_in_a_spooled_batch_does_not_block_replay(make_sink, influx_double, metrics):
    sink = make_sink(batch_size=5)
    sink.start()
    influx_double.stop()
    for i in range(9):
        sink.submit(_point(i))
    # price is a float elsewhere; InfluxDB checks field types per shard group, so
    # the conflicting point is stamped among the others (2023), not in 1970.
    sink.submit('market_data,symbol=X price="a string" 1700000000000000005')
    assert wait_for(lambda: sink.spooled == 10)
    influx_double.start()
    sink.submit(_point(9))
    assert wait_for(sink.idle)
    assert influx_double.point_count("markets") == 10
    assert metrics.value("bbdash_points_rejected_total", {"bucket": "markets"}) == 1


def test_full_spool_is_counted_not_silent(make_sink, influx_double, metrics, caplog):
    sink = make_sink(batch_size=10, spool_max_bytes=64 * 1024)
    line_size = len(_point(0).to_line()) + 1
    capacity = (64 * 1024) // line_size
    sink.start()
    influx_double.stop()
    total = capacity + 500
    with caplog.at_level("ERROR"):
        for i in range(total):
            sink.submit(_point(i))
        assert wait_for(lambda: sink.queued == 0)
        assert wait_for(
            lambda: (
                sink.spooled
                + metrics.value(
                    "bbdash_points_dropped_total",
                    {"bucket": "markets", "reason": "spool_full"},
                )
                == total
            )
        )
    dropped = metrics.value(
        "bbdash_points_dropped_total", {"bucket": "markets", "reason": "spool_full"}
    )
    assert dropped >= 400  # lines differ slightly in length
    assert any("spool full" in r.getMessage() for r in caplog.records if r.levelname == "ERROR")
    influx_double.start()
    assert wait_for(sink.idle)
    assert influx_double.point_count("markets") == total - dropped


def test_bad_token_keeps_points_in_the_spool(make_sink, influx_double, metrics):
    sink = make_sink(token="wrong")
    sink.start()
    for i in range(5):
        sink.submit(_point(i))
    # Spooled before any write (the spool is the write-ahead log), then refused.
    assert wait_for(
        lambda: (
            metrics.value(
                "bbdash_influx_write_errors_total", {"bucket": "markets", "kind": "http_401"}
            )
            >= 1
        )
    )
    assert sink.spooled == 5
    assert influx_double.point_count() == 0


def test_ack_callback_reports_latency(make_sink, influx_double):
    acks: list[tuple[int, float]] = []
    sink = make_sink(on_ack=lambda stamps, acked: acks.append((len(stamps), acked - max(stamps))))
    sink.start()
    for i in range(10):
        sink.submit(_point(i))
    assert wait_for(lambda: sum(n for n, _ in acks) == 10)
    assert all(lat >= 0 for _, lat in acks)
