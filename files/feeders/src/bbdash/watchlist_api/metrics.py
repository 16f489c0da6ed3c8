"""Prometheus metrics (prefix ``bbdash_api_``) and the middleware that records them.

The middleware is plain ASGI rather than Starlette's BaseHTTPMiddleware, which
costs a task and a stream per request: on a single worker serving 1000+
requests per second that overhead shows. Routes are labelled by their
template (``/v1/watchlists/{watchlist_id}``), never the raw path, so a client
cannot create unbounded label values.
"""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import Counter, Gauge, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUESTS = Counter(
    "bbdash_api_requests_total", "HTTP requests answered", ["method", "route", "status"]
)
LATENCY = Histogram(
    "bbdash_api_request_duration_seconds",
    "Time to answer an HTTP request",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
NOTIFICATIONS = Counter(
    "bbdash_api_notifications_total", "NOTIFY messages queued (sent on commit)", ["entity", "op"]
)
AUTH_FAILURES = Counter("bbdash_api_auth_failures_total", "Requests refused for a bad key")
POOL_SIZE = Gauge("bbdash_api_db_pool_connections", "Connections in the database pool")
POOL_AVAILABLE = Gauge("bbdash_api_db_pool_available", "Idle connections in the database pool")
POOL_WAITING = Gauge("bbdash_api_db_pool_waiting", "Requests waiting for a connection")
DB_UP = Gauge("bbdash_api_db_up", "1 when the last health check reached the database")
LAYOUT_DASHBOARDS = Counter(
    "bbdash_api_layout_dashboards_total",
    "Layout dashboards saved to or removed from Grafana",
    ["action", "outcome"],
)
LAYOUT_PENDING = Gauge(
    "bbdash_api_layout_dashboards_pending", "Layouts whose dashboard Grafana does not hold yet"
)
LAYOUT_SYNC_SUCCESS = Gauge(
    "bbdash_api_layout_dashboards_last_success_timestamp_seconds",
    "When a pass last left Grafana holding every layout it read",
)
# One series per person declared with a custom bucket (the admin's list, not clients'
# input): bounded.
CUSTOM_SERIES = Gauge(
    "bbdash_api_custom_series", "Series in a person's custom bucket, last measured", ["login"]
)
CUSTOM_OVER_QUOTA = Gauge(
    "bbdash_api_custom_over_quota",
    "1 while a person's custom bucket holds more series than allowed (tokens inactive)",
    ["login"],
)
CUSTOM_TOKEN_CHANGES = Counter(
    "bbdash_api_custom_token_changes_total",
    "Custom-series write tokens created, deleted, deactivated or reactivated",
    ["action"],
)
CUSTOM_QUOTA_SUCCESS = Gauge(
    "bbdash_api_custom_quota_last_success_timestamp_seconds",
    "When a quota pass last measured every custom bucket",
)
SCHEMA_CURRENT = Gauge("bbdash_api_schema_current", "1 when the schema is at the code's head")

_UNMATCHED = "<unmatched>"


class MetricsMiddleware:
    """Count and time every HTTP request by method, route template and status."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = _route_template(scope)
            method = scope["method"]
            LATENCY.labels(method, route).observe(time.perf_counter() - start)
            REQUESTS.labels(method, route, str(status)).inc()


def _route_template(scope: Scope) -> str:
    route: Any = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else _UNMATCHED


def record_pool(stats: dict[str, int]) -> None:
    POOL_SIZE.set(stats.get("pool_size", 0))
    POOL_AVAILABLE.set(stats.get("pool_available", 0))
    POOL_WAITING.set(stats.get("requests_waiting", 0))
