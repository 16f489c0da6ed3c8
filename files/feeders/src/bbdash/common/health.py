"""Heartbeats and the HTTP server exposing `/metrics` and `/healthz` on one port.

`/healthz` answers 200 only while every registered loop has beaten within its
`max_age_s` (docs/contracts.md: a heartbeat, not "the upstream answered": an
exchange outage must not make Docker restart a feeder that is correctly waiting
for it). The server runs on its own thread, so a wedged event loop still gets a
fast 503 instead of a hung healthcheck.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from bbdash.common.metrics import Metrics

log = logging.getLogger(__name__)


class Heartbeat:
    """Named loops report progress with `beat(name)`; `status()` says if all are fresh."""

    def __init__(self, metrics: Metrics | None = None) -> None:
        self._metrics = metrics
        self._max_age: dict[str, float] = {}
        self._last: dict[str, float] = {}

    def register(self, name: str, max_age_s: float) -> None:
        """Declare a loop that must beat at least every `max_age_s` seconds (counts from now)."""
        self._max_age[name] = max_age_s
        self.beat(name)

    def unregister(self, name: str) -> None:
        """Stop watching a loop (it ended on purpose)."""
        self._max_age.pop(name, None)
        self._last.pop(name, None)

    def beat(self, name: str) -> None:
        """Record progress of loop `name`."""
        self._last[name] = time.monotonic()
        if self._metrics is not None:
            self._metrics.heartbeat.labels(name).set(time.time())

    def status(self) -> tuple[bool, dict[str, dict[str, float | bool]]]:
        """(healthy, per-loop age and freshness)."""
        now = time.monotonic()
        detail: dict[str, dict[str, float | bool]] = {}
        healthy = True
        for name, max_age in list(self._max_age.items()):
            age = now - self._last.get(name, 0.0)
            fresh = age <= max_age
            healthy = healthy and fresh
            detail[name] = {"age_s": round(age, 3), "max_age_s": max_age, "fresh": fresh}
        return healthy, detail


class _Handler(BaseHTTPRequestHandler):
    server: _HealthHTTPServer
    protocol_version = "HTTP/1.1"
    error_content_type: ClassVar[str] = "text/plain"

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            self._send(200, CONTENT_TYPE_LATEST, generate_latest(self.server.metrics.registry))
        elif path == "/healthz":
            healthy, detail = self.server.heartbeat.status()
            body = json.dumps({"status": "ok" if healthy else "stale", "loops": detail}).encode()
            self._send(200 if healthy else 503, "application/json", body)
        else:
            self._send(404, "text/plain", b"not found\n")

    def _send(self, status: int, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        # Prometheus scrapes every few seconds: access logs would drown the real ones.
        return


class _HealthHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], metrics: Metrics, heartbeat: Heartbeat) -> None:
        super().__init__(address, _Handler)
        self.metrics = metrics
        self.heartbeat = heartbeat


class HealthServer:
    """`/metrics` + `/healthz` on `host:port` (port 0 picks a free one, for tests)."""

    def __init__(self, metrics: Metrics, heartbeat: Heartbeat, host: str, port: int) -> None:
        self._server = _HealthHTTPServer((host, port), metrics, heartbeat)
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="health-http", daemon=True
        )

    @property
    def port(self) -> int:
        """The bound port."""
        return int(self._server.server_address[1])

    def start(self) -> None:
        """Serve in a background thread."""
        self._thread.start()
        log.info("metrics and health server listening", extra={"port": self.port})

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
