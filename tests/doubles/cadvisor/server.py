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
"""

from __future__ import annotations

import argparse
import http.client
import json
import socket
import time
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


def render_metrics() -> str:
    now = time.time()
    lines = [
        'cadvisor_version_info{cadvisorVersion="test-double"} 1',
    ]
    for summary in docker_get("/containers/json"):
        cid = summary["Id"]
        info = docker_get(f"/containers/{cid}/json")
        stats = docker_get(f"/containers/{cid}/stats?stream=false&one-shot=true")
        name = info["Name"].lstrip("/")
        labels = (
            f'id="/system.slice/docker-{cid}.scope",image="{info["Config"]["Image"]}",name="{name}"'
        )
        memory = stats.get("memory_stats", {})
        usage = memory.get("usage", 0) - memory.get("stats", {}).get("inactive_file", 0)
        cpu = stats.get("cpu_stats", {}).get("cpu_usage", {}).get("total_usage", 0) / 1e9
        lines += [
            f"container_last_seen{{{labels}}} {now:.3f}",
            f"container_start_time_seconds{{{labels}}} {_started_at(info['State']['StartedAt']):.3f}",
            f"container_spec_memory_limit_bytes{{{labels}}} {info['HostConfig'].get('Memory', 0)}",
            f"container_memory_working_set_bytes{{{labels}}} {max(usage, 0)}",
            f'container_cpu_usage_seconds_total{{{labels},cpu="total"}} {cpu:.6f}',
            f"container_oom_events_total{{{labels}}} {1 if info['State'].get('OOMKilled') else 0}",
        ]
    return "\n".join(lines) + "\n"


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
            try:
                body, code = render_metrics().encode(), 200
            except OSError as exc:  # engine unreachable: say so, like a failed scrape
                body, code = f"docker unreachable: {exc}\n".encode(), 503
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
    args, _ignored = parser.parse_known_args()
    print(
        json.dumps(
            {"double": "cadvisor", "msg": "TEST DOUBLE for cAdvisor listening", "port": args.port}
        ),
        flush=True,
    )
    ThreadingHTTPServer(("0.0.0.0", args.port), Handler).serve_forever()


if __name__ == "__main__":
    main()
