"""`FeederRuntime`: the shared plumbing of one feeder process, built from its settings.

A service does::

    settings = load_settings(MySettings)
    setup_logging(settings.SERVICE, settings.log_level)
    runtime = FeederRuntime(settings)
    runtime.start()                      # metrics/health server + sink writer thread
    sync = runtime.watchlist_sync(on_change)
    try:
        ...                              # its own tasks; runtime.sink.submit(point)
    finally:
        runtime.stop()                   # drains the sink (InfluxDB or spool)

and registers its main loop with `runtime.heartbeat.register(name, max_age)`.
"""

from __future__ import annotations

import logging

from bbdash.common.config import ServiceSettings
from bbdash.common.health import HealthServer, Heartbeat
from bbdash.common.influx import InfluxWriter
from bbdash.common.metrics import Metrics
from bbdash.common.resilience import Backoff
from bbdash.common.sink import AckCallback, DeliveredCallback, InfluxSink
from bbdash.common.spool import Spool
from bbdash.common.watchlist import Asset, SnapshotCallback, WatchlistSync

log = logging.getLogger(__name__)


class FeederRuntime:
    """Metrics, heartbeat, `/metrics`+`/healthz` server and InfluxDB sink of one service."""

    def __init__(
        self,
        settings: ServiceSettings,
        *,
        metrics: Metrics | None = None,
        on_ack: AckCallback | None = None,
        on_delivered: DeliveredCallback | None = None,
        serve_http: bool = True,
    ) -> None:
        self.settings = settings
        self.metrics = metrics if metrics is not None else Metrics()
        self.heartbeat = Heartbeat(self.metrics)
        influx = settings.influx
        writer = InfluxWriter(
            influx.url, influx.org, influx.bucket, influx.token_value(), timeout_s=influx.timeout_s
        )
        assert settings.spool.path is not None  # filled by ServiceSettings
        spool = Spool(settings.spool.path, settings.spool.max_bytes)
        if spool.depth_points:
            log.info(
                "spool holds points from a previous run, they will be replayed first",
                extra={"points": spool.depth_points, "path": str(settings.spool.path)},
            )
        self.sink = InfluxSink(
            writer,
            spool,
            metrics=self.metrics,
            batch_size=influx.batch_size,
            flush_interval_s=influx.flush_interval_s,
            max_queue_points=influx.max_queue_points,
            backoff=Backoff(base=influx.retry_base_s, cap=influx.retry_cap_s),
            heartbeat=self.heartbeat,
            on_ack=on_ack,
            on_delivered=on_delivered,
        )
        self.health_server = (
            HealthServer(self.metrics, self.heartbeat, settings.metrics.host, settings.metrics.port)
            if serve_http
            else None
        )

    def start(self) -> None:
        """Start the sink's writer thread and the HTTP server."""
        self.sink.start()
        if self.health_server is not None:
            self.health_server.start()

    def stop(self) -> None:
        """Drain the sink, then stop the HTTP server."""
        self.sink.stop()
        if self.health_server is not None:
            self.health_server.stop()

    def fallback_assets(self) -> list[Asset]:
        """The configured fallback list as `Asset`s."""
        return [
            Asset(spec.symbol, spec.asset_type, spec.source)
            for spec in self.settings.watchlist.fallback_assets
        ]

    def watchlist_sync(
        self, on_change: SnapshotCallback, *, with_rules: bool = False
    ) -> WatchlistSync:
        """A `WatchlistSync` configured from `settings.watchlist`; run it as a task."""
        wl = self.settings.watchlist
        return WatchlistSync(
            wl.dsn_value(),
            on_change,
            metrics=self.metrics,
            fallback=self.fallback_assets(),
            with_rules=with_rules,
            resync_interval_s=wl.resync_interval_s,
            connect_timeout_s=wl.connect_timeout_s,
            debounce_s=wl.debounce_s,
            backoff=Backoff(base=wl.retry_base_s, cap=wl.retry_cap_s),
        )
