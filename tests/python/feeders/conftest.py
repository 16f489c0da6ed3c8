"""Fixtures for the feeder tests: the InfluxDB test double, sinks, a watchlist schema."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from bbdash.common.influx import InfluxWriter
from bbdash.common.metrics import Metrics
from bbdash.common.resilience import Backoff
from bbdash.common.sink import InfluxSink
from bbdash.common.spool import Spool
from doubles.influxdb import InfluxDBDouble
from feeder_testkit import TOKEN, WatchlistDB


@pytest.fixture
def influx_double() -> Iterator[InfluxDBDouble]:
    """A running InfluxDB test double on a free loopback port."""
    double = InfluxDBDouble(token=TOKEN, hang_s=0.5).start()
    yield double
    double.stop()


@pytest.fixture
def metrics() -> Metrics:
    """A fresh metrics registry, so counts are exact per test."""
    return Metrics()


SinkFactory = Callable[..., InfluxSink]


@pytest.fixture
def make_sink(
    tmp_path: Path, influx_double: InfluxDBDouble, metrics: Metrics
) -> Iterator[SinkFactory]:
    """Build (and afterwards stop) sinks writing to the double, spooling under tmp_path."""
    sinks: list[InfluxSink] = []

    def factory(**kwargs: Any) -> InfluxSink:
        spool_path = kwargs.pop("spool_path", tmp_path / "spool.sqlite")
        max_bytes = kwargs.pop("spool_max_bytes", 16 * 1024 * 1024)
        writer = InfluxWriter(
            kwargs.pop("url", influx_double.url),
            "bloomberg",
            kwargs.pop("bucket", "markets"),
            kwargs.pop("token", TOKEN),
            timeout_s=kwargs.pop("timeout_s", 2.0),
        )
        kwargs.setdefault("metrics", metrics)
        kwargs.setdefault("batch_size", 100)
        kwargs.setdefault("flush_interval_s", 0.05)
        kwargs.setdefault("backoff", Backoff(base=0.05, cap=0.2))
        sink = InfluxSink(writer, Spool(spool_path, max_bytes), **kwargs)
        sinks.append(sink)
        return sink

    yield factory
    for sink in sinks:
        with contextlib.suppress(Exception):
            sink.stop(timeout_s=5)


@pytest.fixture
def watchlist_db(pg_dsn: str) -> WatchlistDB:
    """A fresh database with the collected_assets / active_alert_rules views."""
    return WatchlistDB(pg_dsn)
