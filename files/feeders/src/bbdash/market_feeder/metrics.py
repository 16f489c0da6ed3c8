"""Market-feeder-only metrics, on the same registry as the shared ones."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

from bbdash.common.metrics import Metrics


class MarketMetrics:
    """Binance connection, alert and fallback metrics (prefix `bbdash_`)."""

    def __init__(self, metrics: Metrics) -> None:
        r = metrics.registry
        self.common = metrics
        self.binance_connections = Gauge(
            "bbdash_binance_connections", "Open Binance WebSocket connections.", registry=r
        )
        self.binance_streams = Gauge(
            "bbdash_binance_streams", "Streams wanted across all Binance connections.", registry=r
        )
        self.binance_reconnects = Counter(
            "bbdash_binance_reconnects_total",
            "Binance reconnections by reason (error, stale, max_age, server_shutdown, closed).",
            ["reason"],
            registry=r,
        )
        self.binance_outgoing = Counter(
            "bbdash_binance_outgoing_messages_total",
            "SUBSCRIBE/UNSUBSCRIBE messages sent to Binance.",
            ["method"],
            registry=r,
        )
        self.alerts_fired = Counter(
            "bbdash_alerts_fired_total",
            "Price alert rules that fired, by condition.",
            ["condition"],
            registry=r,
        )
        self.alerts_sent = Counter(
            "bbdash_alerts_sent_total", "Alerts accepted by Alertmanager.", registry=r
        )
        self.alerts_send_errors = Counter(
            "bbdash_alerts_send_errors_total",
            "Failed posts to Alertmanager, by kind (retried).",
            ["kind"],
            registry=r,
        )
        self.alerts_dropped = Counter(
            "bbdash_alerts_dropped_total",
            "Alerts given up on, by reason (queue_full, too_old, rejected).",
            ["reason"],
            registry=r,
        )
        self.alerts_queued = Gauge(
            "bbdash_alerts_queued", "Alerts waiting to be posted to Alertmanager.", registry=r
        )
        self.alert_rules = Gauge(
            "bbdash_alert_rules", "Active price alert rules loaded.", registry=r
        )
        self.fallback_used = Counter(
            "bbdash_fallback_fetches_total",
            "Quotes fetched from a fallback source because the primary failed.",
            ["source"],
            registry=r,
        )
