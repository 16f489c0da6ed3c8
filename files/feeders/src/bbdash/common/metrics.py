"""Prometheus metrics shared by every feeder (names prefixed `bbdash_`, see docs/contracts.md).

One `Metrics` object per process holds every collector on its own registry, so
tests build a fresh one (`Metrics(CollectorRegistry())`) and read exact values
without the global registry leaking counts between tests. Components take a
`Metrics` argument; services create it once and hand it to everything.

Label `source` names the upstream (`binance`, `yahoo`, `coingecko`, `cryptopanic`,
...), `bucket` the InfluxDB bucket, `kind` a short error class (`timeout`,
`http_5xx`, `rate_limited`, `malformed`, ...): a bounded set, never free text.
"""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from bbdash.common.resilience import CircuitBreaker, TokenBucket

_LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 1.5, 2.5, 5.0, 10.0, 30.0)


class Metrics:
    """Every collector the common runtime updates; services add their own on `registry`."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        # Sources.
        self.source_messages = Counter(
            "bbdash_source_messages_total",
            "Messages (frames, responses, items) received from an upstream.",
            ["source"],
            registry=r,
        )
        self.source_errors = Counter(
            "bbdash_source_errors_total",
            "Upstream errors by kind (timeout, http_4xx, http_5xx, rate_limited, malformed...).",
            ["source", "kind"],
            registry=r,
        )
        self.source_last_success = Gauge(
            "bbdash_source_last_success_timestamp_seconds",
            "Unix time of the last successful call or message from an upstream.",
            ["source"],
            registry=r,
        )
        self.source_budget_remaining = Gauge(
            "bbdash_source_budget_remaining",
            "Calls left in the source's rate budget (token bucket) right now.",
            ["source"],
            registry=r,
        )
        self.source_circuit_state = Gauge(
            "bbdash_source_circuit_state",
            "Circuit breaker state: 0 closed, 1 half-open, 2 open.",
            ["source"],
            registry=r,
        )
        self.source_symbols_missing = Gauge(
            "bbdash_source_symbols_missing",
            "Wanted symbols the source's last answer for them left out.",
            ["source"],
            registry=r,
        )
        self.records_invalid = Counter(
            "bbdash_records_invalid_total",
            "Upstream values rejected by strict parsing (NaN, negative price, bad format...).",
            ["source", "reason"],
            registry=r,
        )
        # Sink.
        self.points_submitted = Counter(
            "bbdash_points_submitted_total",
            "Points handed to the InfluxDB sink.",
            ["bucket"],
            registry=r,
        )
        self.points_written = Counter(
            "bbdash_points_written_total",
            "Points acknowledged by InfluxDB (2xx).",
            ["bucket"],
            registry=r,
        )
        self.points_rejected = Counter(
            "bbdash_points_rejected_total",
            "Points InfluxDB refused as malformed (4xx), dropped alone after splitting the batch.",
            ["bucket"],
            registry=r,
        )
        self.points_dropped = Counter(
            "bbdash_points_dropped_total",
            "Points lost on purpose: spool full or in-memory queue full (reason label).",
            ["bucket", "reason"],
            registry=r,
        )
        self.write_errors = Counter(
            "bbdash_influx_write_errors_total",
            "Failed write requests to InfluxDB by kind.",
            ["bucket", "kind"],
            registry=r,
        )
        self.write_latency = Histogram(
            "bbdash_write_latency_seconds",
            "Seconds from a point's submission to InfluxDB's acknowledgement (oldest of a batch).",
            ["bucket"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.queue_depth = Gauge(
            "bbdash_sink_queue_points",
            "Points waiting in memory for the next batch.",
            ["bucket"],
            registry=r,
        )
        self.spool_depth = Gauge(
            "bbdash_spool_depth_points",
            "Points waiting in the on-disk spool for InfluxDB.",
            ["bucket"],
            registry=r,
        )
        self.spool_bytes = Gauge(
            "bbdash_spool_bytes",
            "Bytes of line protocol waiting in the on-disk spool.",
            ["bucket"],
            registry=r,
        )
        self.influx_up = Gauge(
            "bbdash_influx_up",
            "1 when the last write to InfluxDB succeeded, else 0.",
            ["bucket"],
            registry=r,
        )
        # Watchlist sync.
        self.watchlist_assets = Gauge(
            "bbdash_watchlist_assets",
            "Assets currently collected, by asset type.",
            ["asset_type"],
            registry=r,
        )
        self.watchlist_syncs = Counter(
            "bbdash_watchlist_syncs_total",
            "Reads of the collected_assets view, by trigger (start, notify, timer).",
            ["trigger"],
            registry=r,
        )
        self.watchlist_errors = Counter(
            "bbdash_watchlist_errors_total",
            "Failures talking to PostgreSQL for the watchlist, by kind.",
            ["kind"],
            registry=r,
        )
        self.watchlist_last_sync = Gauge(
            "bbdash_watchlist_last_sync_timestamp_seconds",
            "Unix time of the last successful read of the watchlist views.",
            registry=r,
        )
        self.watchlist_using_fallback = Gauge(
            "bbdash_watchlist_using_fallback",
            "1 while the configured fallback symbol list is in use (database never reached).",
            registry=r,
        )
        # Liveness.
        self.heartbeat = Gauge(
            "bbdash_heartbeat_timestamp_seconds",
            "Unix time of the last progress of a main loop.",
            ["loop"],
            registry=r,
        )

    def source_ok(self, source: str) -> None:
        """Record a successful upstream exchange now."""
        self.source_last_success.labels(source).set(time.time())

    def source_error(self, source: str, kind: str) -> None:
        """Count one upstream error of `kind`."""
        self.source_errors.labels(source, kind).inc()

    def source_guards(self, source: str, budget: TokenBucket, breaker: CircuitBreaker) -> None:
        """Export the state of a source's rate budget and circuit breaker as they stand now.

        Every budgeted upstream, market or news, reports the same two gauges the
        same way, so dashboards and alerts read them alike.
        """
        self.source_budget_remaining.labels(source).set(budget.available())
        self.source_circuit_state.labels(source).set(int(breaker.state))

    def value(self, name: str, labels: dict[str, str] | None = None) -> float:
        """Current value of a sample (tests and the bench read metrics through this)."""
        found = self.registry.get_sample_value(name, labels or {})
        return 0.0 if found is None else found
