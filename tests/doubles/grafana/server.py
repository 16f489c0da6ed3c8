"""TEST DOUBLE for Grafana -- not Grafana.

Grafana cannot be obtained on the build machines (no registry, no package),
so the tests run this small stdlib HTTP server in its place. It answers the
parts of Grafana's interface that the stack touches from outside:

- ``GET /api/health``: Grafana's health document (what the healthcheck reads).
- ``GET /metrics``: a few ``grafana_*`` series (what Prometheus scrapes).
- ``GET /api/user`` and ``PUT /api/admin/users/1/password`` with basic auth:
  the admin password check and reset that the grafana role performs.
- ``GET /api/search``: the provisioned dashboards, read from the mounted
  provisioning files, so tests can prove what was provisioned.
- ``GET /`` and ``/d/<uid>``: an HTML page that lists the provisioned
  dashboards and their panels, clearly labelled as a test double.
- ``GET /api/live/ws``: a WebSocket handshake (101), for the proxy's upgrade test.

Never shipped and never described as the real thing.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import html
import json
import os
import re
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
STATE = Path(os.environ.get("GF_PATHS_DATA", "/var/lib/grafana")) / "test-double-admin-password"
PROVISIONING = Path(os.environ.get("GF_PATHS_PROVISIONING", "/etc/grafana/provisioning"))


def _initial_password() -> str:
    path = os.environ.get("GF_SECURITY_ADMIN_PASSWORD__FILE")
    if path and Path(path).is_file():
        return Path(path).read_text().strip()
    return os.environ.get("GF_SECURITY_ADMIN_PASSWORD", "admin")


def admin_password() -> str:
    if STATE.is_file():
        return STATE.read_text().strip()
    return _initial_password()


def set_admin_password(value: str) -> None:
    STATE.parent.mkdir(parents=True, exist_ok=True)
    STATE.write_text(value)


def provisioned_dashboards() -> list[dict[str, Any]]:
    """Dashboards reachable through the file providers, like Grafana reads them."""
    found: list[dict[str, Any]] = []
    for provider_file in sorted((PROVISIONING / "dashboards").glob("*.y*ml")):
        for match in re.finditer(r"path:\s*['\"]?([^'\"\n]+)", provider_file.read_text()):
            folder = Path(match.group(1).strip())
            for dash in sorted(folder.rglob("*.json")) if folder.is_dir() else []:
                try:
                    model = json.loads(dash.read_text())
                except (OSError, ValueError):
                    continue
                found.append(model)
    return found


def _page(title: str, body: str) -> bytes:
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)} - TEST DOUBLE</title><style>"
        "body{background:#000;color:#ffb000;font-family:monospace;margin:1em}"
        ".banner{background:#b00;color:#fff;padding:.5em;font-weight:bold}"
        "a{color:#ffd479}.panel{display:inline-block;border:1px solid #333;margin:4px;"
        "padding:6px;min-width:14em;color:#ddd}</style></head><body>"
        "<div class='banner'>TEST DOUBLE - NOT GRAFANA: this page stands in for Grafana in offline tests."
        "</div>" + body + "</body></html>"
    ).encode()


class Handler(BaseHTTPRequestHandler):
    server_version = "grafana-test-double/1"

    def log_message(self, fmt: str, *args: Any) -> None:  # quiet, one line per request
        print(json.dumps({"double": "grafana", "request": fmt % args}), flush=True)

    def _send(self, code: int, body: bytes, ctype: str = "application/json") -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _json(self, code: int, doc: Any) -> None:
        self._send(code, json.dumps(doc).encode())

    def _authorised(self) -> bool:
        header = self.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return False
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        return user == "admin" and password == admin_password()

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/api/health":
            self._json(200, {"database": "ok", "version": "test-double", "commit": "test-double"})
        elif path == "/metrics":
            body = (
                "# HELP grafana_build_info Test double build info\n# TYPE grafana_build_info gauge\n"
                'grafana_build_info{version="test-double",edition="test-double"} 1\n'
                f"grafana_stat_totals_dashboard {len(provisioned_dashboards())}\n"
            )
            self._send(200, body.encode(), "text/plain; version=0.0.4")
        elif path == "/api/live/ws":
            self._websocket()
        elif path == "/api/user":
            if self._authorised():
                self._json(200, {"id": 1, "login": "admin", "isGrafanaAdmin": True})
            else:
                self._json(401, {"message": "Invalid username or password"})
        elif path == "/api/search":
            if not self._authorised():
                self._json(401, {"message": "Unauthorized"})
                return
            self._json(
                200,
                [
                    {"uid": d.get("uid"), "title": d.get("title"), "type": "dash-db"}
                    for d in provisioned_dashboards()
                ],
            )
        elif path in ("/", "/login") or path.startswith("/d/"):
            self._dashboards_page(path)
        else:
            self._json(404, {"message": "Not found"})

    def do_PUT(self) -> None:
        if self.path.rstrip("/") != "/api/admin/users/1/password":
            self._json(404, {"message": "Not found"})
            return
        if not self._authorised():
            self._json(401, {"message": "Unauthorized"})
            return
        length = int(self.headers.get("Content-Length", "0"))
        doc = json.loads(self.rfile.read(length) or b"{}")
        set_admin_password(str(doc.get("password", "")))
        self._json(200, {"message": "User password updated"})

    def _dashboards_page(self, path: str) -> None:
        dashboards = provisioned_dashboards()
        uid = path[3:].split("/", 1)[0] if path.startswith("/d/") else None
        parts = []
        for dash in dashboards:
            if uid and dash.get("uid") != uid:
                continue
            panels = "".join(
                f"<div class='panel'>{html.escape(str(p.get('title') or p.get('type')))}</div>"
                for p in dash.get("panels", [])
            )
            parts.append(
                f"<h2><a href='/d/{html.escape(str(dash.get('uid')))}'>"
                f"{html.escape(str(dash.get('title')))}</a></h2>{panels}"
            )
        body = f"<p>{len(dashboards)} provisioned dashboards</p>" + "".join(parts)
        self._send(200, _page("Dashboards", body), "text/html; charset=utf-8")

    def _websocket(self) -> None:
        key = self.headers.get("Sec-WebSocket-Key")
        if self.headers.get("Upgrade", "").lower() != "websocket" or not key:
            self._json(400, {"message": "expected a WebSocket upgrade"})
            return
        accept = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
        self.send_response(101, "Switching Protocols")
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", accept)
        self.end_headers()
        self.close_connection = True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--port", type=int, default=int(os.environ.get("GF_SERVER_HTTP_PORT", "3000"))
    )
    parser.add_argument("--host", default="0.0.0.0")
    args = parser.parse_args()
    print(
        json.dumps(
            {"double": "grafana", "msg": "TEST DOUBLE for Grafana listening", "port": args.port}
        ),
        flush=True,
    )
    ThreadingHTTPServer((args.host, args.port), Handler).serve_forever()


if __name__ == "__main__":
    main()
