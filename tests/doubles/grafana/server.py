"""TEST DOUBLE for Grafana -- not Grafana.

Grafana cannot be obtained on the build machines (no registry, no package),
so the tests run this small stdlib HTTP server in its place. It answers the
parts of Grafana's interface that the stack touches from outside:

- ``GET /api/health``: Grafana's health document (what the healthcheck reads).
- ``GET /metrics``: a few ``grafana_*`` series (what Prometheus scrapes), behind
  basic auth when grafana.ini sets ``[metrics] basic_auth_password``.
- ``GET /api/user`` and ``PUT /api/admin/users/1/password`` with basic auth:
  the admin password check and reset that the grafana role performs. The
  first admin password comes from grafana.ini (``[security] admin_password``,
  ``$__file{...}`` resolved), as Grafana reads it when it creates the admin.
- ``POST /api/admin/provisioning/{datasources,dashboards,alerting}/reload``
  with basic auth: the role's provisioning reload handlers.
- ``GET /api/search``: the provisioned dashboards, read from the mounted
  provisioning files, so tests can prove what was provisioned.
- ``GET /`` and ``/d/<uid>``: an HTML page that lists the provisioned
  dashboards and their panels, clearly labelled as a test double. Like
  Grafana, it carries the Content-Security-Policy of grafana.ini
  (``content_security_policy_template``, ``$NONCE`` and ``$ROOT_PATH``
  replaced) and Grafana's security headers. Its one nonce'd inline script
  proves the policy lets Grafana's scripts run: it marks the page, opens the
  Grafana Live WebSocket, and reports both in the page. A second inline
  script without the nonce must stay blocked.
- ``GET /api/live/ws``: a WebSocket handshake (101), for the proxy's upgrade test.
- ``GET /api/test-double/request``: what the double received (client address,
  forwarded headers), so tests can check what nginx passes on. Not a Grafana API.

``server.py cli [--homepath H] [--config C] admin reset-admin-password
--password-from-stdin`` stands in for ``grafana cli``: the test-double image
installs a ``grafana`` shim that runs it.

Never shipped and never described as the real thing.
"""

from __future__ import annotations

import argparse
import base64
import configparser
import contextlib
import hashlib
import html
import json
import os
import re
import secrets
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
CONFIG = Path(os.environ.get("GF_PATHS_CONFIG", "/etc/grafana/grafana.ini"))
PROVISIONING = Path(os.environ.get("GF_PATHS_PROVISIONING", "/etc/grafana/provisioning"))
DATA = Path(os.environ.get("GF_PATHS_DATA", "/var/lib/grafana"))
STATE_NAME = "test-double-admin-password"
PROVISIONING_KINDS = ("datasources", "dashboards", "alerting", "plugins")


# --------------------------------------------------------------------------- configuration


def _resolve(value: str) -> str:
    """Grafana's ``$__file{path}`` and ``$__env{NAME}`` expansions."""
    found = re.fullmatch(r"\$__file\{([^}]+)\}", value.strip())
    if found:
        path = Path(found.group(1))
        return path.read_text().strip() if path.is_file() else ""
    found = re.fullmatch(r"\$__env\{([^}]+)\}", value.strip())
    if found:
        return os.environ.get(found.group(1), "")
    return value


def ini() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    if CONFIG.is_file():
        with contextlib.suppress(configparser.Error):
            parser.read_string(CONFIG.read_text())
    return parser


def setting(section: str, key: str, default: str = "") -> str:
    value = ini().get(section, key, fallback=default)
    if value.startswith('"""') and value.endswith('"""'):
        value = value[3:-3]
    return _resolve(value)


# --------------------------------------------------------------------------- admin password


def _state_paths() -> list[Path]:
    # The data volume when it is writable; /tmp otherwise (the image may not
    # give the container user a writable data folder).
    return [DATA / STATE_NAME, Path("/tmp") / STATE_NAME]


def _initial_password() -> str:
    path = os.environ.get("GF_SECURITY_ADMIN_PASSWORD__FILE")
    if path and Path(path).is_file():
        return Path(path).read_text().strip()
    from_ini = setting("security", "admin_password")
    if from_ini:
        return from_ini
    return os.environ.get("GF_SECURITY_ADMIN_PASSWORD", "admin")


def admin_password() -> str:
    for path in _state_paths():
        if path.is_file():
            return path.read_text().strip()
    return _initial_password()


def set_admin_password(value: str) -> None:
    for path in _state_paths():
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(value)
        except OSError:
            continue
        # A stale copy in the other place must not win over this one.
        for other in _state_paths():
            if other != path:
                with contextlib.suppress(OSError):
                    other.unlink()
        return
    raise OSError("no writable place for the admin password")


# --------------------------------------------------------------------------- provisioning


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


# --------------------------------------------------------------------------- pages

PAGE_SCRIPT = """
document.getElementById('csp-nonce').textContent = 'nonce script ran';
var live = document.getElementById('live-ws');
try {
  var ws = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/api/live/ws');
  ws.onopen = function () { live.textContent = 'websocket open'; };
  ws.onerror = function () { if (live.textContent !== 'websocket open') { live.textContent = 'websocket error'; } };
} catch (e) { live.textContent = 'websocket blocked: ' + e; }
"""


def _page(title: str, body: str, nonce: str) -> bytes:
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)} - TEST DOUBLE</title><style>"
        "body{background:#000;color:#ffb000;font-family:monospace;margin:1em}"
        ".banner{background:#b00;color:#fff;padding:.5em;font-weight:bold}"
        ".checks{color:#0f0}"
        "a{color:#ffd479}.panel{display:inline-block;border:1px solid #333;margin:4px;"
        "padding:6px;min-width:14em;color:#ddd}</style></head><body>"
        "<div class='banner'>TEST DOUBLE - NOT GRAFANA: this page stands in for Grafana in offline tests."
        "</div><p class='checks'>CSP: <span id='csp-nonce'>nonce script did not run</span>"
        " | inline script without nonce: <span id='csp-inline'>blocked</span>"
        " | Grafana Live: <span id='live-ws'>websocket not tried</span></p>"
        + body
        + f"<script nonce='{nonce}'>{PAGE_SCRIPT}</script>"
        "<script>document.getElementById('csp-inline').textContent = 'RAN (policy not enforced)';"
        "</script></body></html>"
    ).encode()


def content_security_policy(nonce: str) -> str | None:
    """Grafana's header: the template with $NONCE and $ROOT_PATH replaced."""
    if setting("security", "content_security_policy", "false").lower() != "true":
        return None
    template = setting("security", "content_security_policy_template")
    root_path = re.sub(r"^\w+:(//)?", "", setting("server", "root_url", ""))
    return template.replace("$NONCE", f"'nonce-{nonce}'").replace("$ROOT_PATH", root_path)


class Handler(BaseHTTPRequestHandler):
    server_version = "grafana-test-double/1"

    def log_message(self, fmt: str, *args: Any) -> None:  # quiet, one line per request
        print(json.dumps({"double": "grafana", "request": fmt % args}), flush=True)

    def _send(
        self,
        code: int,
        body: bytes,
        ctype: str = "application/json",
        headers: dict[str, str] | None = None,
    ) -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, code: int, doc: Any) -> None:
        self._send(code, json.dumps(doc).encode())

    def _basic(self) -> tuple[str, str]:
        header = self.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return "", ""
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        return user, password

    def _authorised(self) -> bool:
        user, password = self._basic()
        return user == "admin" and password == admin_password()

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/api/health":
            self._json(200, {"database": "ok", "version": "test-double", "commit": "test-double"})
        elif path == "/metrics":
            self._metrics()
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
        elif path == "/api/test-double/request":
            self._json(
                200,
                {
                    "client_address": self.client_address[0],
                    "headers": {k.lower(): v for k, v in self.headers.items()},
                },
            )
        elif path in ("/", "/login") or path.startswith("/d/"):
            self._dashboards_page(path)
        else:
            self._json(404, {"message": "Not found"})

    def do_HEAD(self) -> None:
        self.do_GET()  # same headers, no body (see _send)

    def do_POST(self) -> None:
        path = self.path.split("?", 1)[0].rstrip("/")
        found = re.fullmatch(r"/api/admin/provisioning/([a-z]+)/reload", path)
        if not found or found.group(1) not in PROVISIONING_KINDS:
            self._json(404, {"message": "Not found"})
            return
        if not self._authorised():
            self._json(401, {"message": "Unauthorized"})
            return
        self._json(200, {"message": f"{found.group(1).capitalize()} config reloaded"})

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

    def _metrics(self) -> None:
        wanted = setting("metrics", "basic_auth_password")
        if wanted:
            user, password = self._basic()
            if (user, password) != (setting("metrics", "basic_auth_username"), wanted):
                self._send(
                    401,
                    b"Unauthorized\n",
                    "text/plain",
                    {"WWW-Authenticate": 'Basic realm="Authorization Required"'},
                )
                return
        body = (
            "# HELP grafana_build_info Test double build info\n# TYPE grafana_build_info gauge\n"
            'grafana_build_info{version="test-double",edition="test-double"} 1\n'
            f"grafana_stat_totals_dashboard {len(provisioned_dashboards())}\n"
        )
        self._send(200, body.encode(), "text/plain; version=0.0.4")

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
        nonce = secrets.token_urlsafe(16)
        # Grafana's own security headers (allow_embedding = false, x_* = true).
        headers = {
            "X-Frame-Options": "deny",
            "X-Content-Type-Options": "nosniff",
            "X-XSS-Protection": "1; mode=block",
            "Cache-Control": "no-store",
        }
        policy = content_security_policy(nonce)
        if policy:
            headers["Content-Security-Policy"] = policy
        self._send(200, _page("Dashboards", body, nonce), "text/html; charset=utf-8", headers)

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


# --------------------------------------------------------------------------- grafana cli


def cli(argv: list[str]) -> int:
    """The one `grafana cli` command the grafana role runs."""
    parser = argparse.ArgumentParser(prog="grafana cli", description="TEST DOUBLE of grafana cli")
    parser.add_argument("--homepath")
    parser.add_argument("--config")
    parser.add_argument("command", nargs="+")
    parser.add_argument("--password-from-stdin", action="store_true")
    args = parser.parse_args(argv)
    if args.command != ["admin", "reset-admin-password"] or not args.password_from_stdin:
        print(f"TEST DOUBLE: unsupported grafana cli command: {argv}", file=sys.stderr)
        return 2
    password = sys.stdin.read().rstrip("\n")
    if not password:
        print("Password cannot be empty", file=sys.stderr)
        return 1
    set_admin_password(password)
    print("Admin password changed successfully (TEST DOUBLE)")
    return 0


def main() -> None:
    if sys.argv[1:2] == ["cli"]:
        sys.exit(cli(sys.argv[2:]))
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
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
