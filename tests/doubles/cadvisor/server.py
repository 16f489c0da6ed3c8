"""TEST DOUBLE for cAdvisor -- not cAdvisor.

cAdvisor cannot be obtained on the build machines, so the tests run this
stdlib server in its place. Like cAdvisor, it reads the Docker engine through
its socket and serves per-container series under cAdvisor's metric names and
labels (``name``, ``id``, ``image``), enough for Prometheus targets, the
container alert rules and the infrastructure dashboard to be exercised:
``container_last_seen``, ``container_start_time_seconds``,
``container_spec_memory_limit_bytes``, ``container_memory_working_set_bytes``,
``container_cpu_usage_seconds_total``, ``container_oom_events_total``.
``GET /healthz`` answers ``ok``. Never shipped, never described as cAdvisor.

Like cAdvisor's housekeeping, a background thread samples every container (in
parallel: this Docker engine takes about a second per stats call) and
``/metrics`` serves the latest sample, so a scrape never waits on the engine.
"""

from __future__ import annotations

import argparse
import http.client
import json
import re
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

DOCKER_SOCKET = "/var/run/docker.sock"


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str) -> None:
        super().__init__("localhost", timeout=5)
        self._path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(5)
        self.sock.connect(self._path)


def docker_get(path: str) -> Any:
    conn = _UnixConnection(DOCKER_SOCKET)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return json.loads(response.read())
    finally:
        conn.close()


def _started_at(value: str) -> float:
    # Docker reports nanoseconds; fromisoformat takes at most microseconds.
    trimmed = value.rstrip("Z").split(".")[0]
    return datetime.fromisoformat(trimmed + "+00:00").timestamp()


# cAdvisor's collector stamps container_last_seen at scrape time, not sample time.
LAST_SEEN = "@LAST_SEEN@"


def _container_lines(cid: str) -> list[str]:
    info = docker_get(f"/containers/{cid}/json")
    if "Name" not in info:  # removed since the list was read: no series, like cAdvisor
        return []
    stats = docker_get(f"/containers/{cid}/stats?stream=false&one-shot=true")
    name = info["Name"].lstrip("/")
    labels = (
        f'id="/system.slice/docker-{cid}.scope",image="{info["Config"]["Image"]}",name="{name}"'
    )
    memory = stats.get("memory_stats", {})
    usage = memory.get("usage", 0) - memory.get("stats", {}).get("inactive_file", 0)
    cpu = stats.get("cpu_stats", {}).get("cpu_usage", {}).get("total_usage", 0) / 1e9
    return [
        f"container_last_seen{{{labels}}} {LAST_SEEN}",
        f"container_start_time_seconds{{{labels}}} {_started_at(info['State']['StartedAt']):.3f}",
        f"container_spec_memory_limit_bytes{{{labels}}} {info['HostConfig'].get('Memory', 0)}",
        f"container_memory_working_set_bytes{{{labels}}} {max(usage, 0)}",
        f'container_cpu_usage_seconds_total{{{labels},cpu="total"}} {cpu:.6f}',
        f"container_oom_events_total{{{labels}}} {1 if info['State'].get('OOMKilled') else 0}",
    ]


def render_metrics() -> str:
    """One sample of every running container, the engine asked in parallel."""
    ids = [summary["Id"] for summary in docker_get("/containers/json")]
    with ThreadPoolExecutor(max_workers=16) as pool:
        per_container = list(pool.map(_container_lines, ids))
    lines = ['cadvisor_version_info{cadvisorVersion="test-double"} 1']
    for container in per_container:
        lines += container
    return "\n".join(lines) + "\n"


class Housekeeping:
    """The latest sample, refreshed every ``interval`` seconds by a daemon thread."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._lock = threading.Lock()
        self._text: str | None = None
        self._error: str | None = None

    def refresh(self) -> None:
        try:
            text, error = render_metrics(), None
        except OSError as exc:  # engine unreachable: scrapes say so, like a failed scrape
            text, error = None, f"docker unreachable: {exc}"
        except (KeyError, ValueError) as exc:  # an answer it cannot read: keep sampling
            text, error = None, f"unexpected answer from docker: {exc!r}"
        with self._lock:
            self._text, self._error = text, error

    def loop(self) -> None:
        while True:
            self.refresh()
            time.sleep(self.interval)

    def latest(self) -> tuple[str | None, str | None]:
        with self._lock:
            return self._text, self._error


HOUSEKEEPING = Housekeeping(interval=10.0)


def _seconds(value: str) -> float:
    """cAdvisor's Go durations as the role passes them: 30s, 1m30s, 500ms."""
    units = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h)", value)
    if not parts or "".join(n + u for n, u in parts) != value:
        raise SystemExit(f"cadvisor double: cannot read the duration {value!r}")
    return sum(float(n) * units[u] for n, u in parts)


class Handler(BaseHTTPRequestHandler):
    server_version = "cadvisor-test-double/1"

    def log_message(self, fmt: str, *args: Any) -> None:
        print(json.dumps({"double": "cadvisor", "request": fmt % args}), flush=True)

    def do_HEAD(self) -> None:
        # `wget --spider` (the role's healthcheck) sends HEAD; cAdvisor's Go
        # handlers answer it like GET, without a body.
        self.do_GET(head=True)

    def do_GET(self, head: bool = False) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/healthz":
            body, code, ctype = b"ok", 200, "text/plain"
        elif path == "/metrics":
            text, error = HOUSEKEEPING.latest()
            if text is None and error is None:  # scraped before the first sample
                HOUSEKEEPING.refresh()
                text, error = HOUSEKEEPING.latest()
            if text is not None:
                body, code = text.replace(LAST_SEEN, f"{time.time():.3f}").encode(), 200
            else:
                body, code = (error or "").encode(), 503
            ctype = "text/plain; version=0.0.4"
        else:
            body, code, ctype = b"not found", 404, "text/plain"
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head:
            self.wfile.write(body)


def main() -> None:
    parser = argparse.ArgumentParser(description="TEST DOUBLE for cAdvisor")
    # cAdvisor's own flag style, so the role's arguments work unchanged.
    parser.add_argument("--port", "-port", type=int, default=8080)
    parser.add_argument("--housekeeping_interval", "-housekeeping_interval", default="10s")
    args, _ignored = parser.parse_known_args()
    HOUSEKEEPING.interval = _seconds(args.housekeeping_interval)
    threading.Thread(target=HOUSEKEEPING.loop, name="housekeeping", daemon=True).start()
    print(
        json.dumps(
            {"double": "cadvisor", "msg": "TEST DOUBLE for cAdvisor listening", "port": args.port}
        ),
        flush=True,
    )
    ThreadingHTTPServer(("0.0.0.0", args.port), Handler).serve_forever()


if __name__ == "__main__":
    main()
