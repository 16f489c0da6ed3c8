"""The nginx role's configuration, rendered by Ansible and checked by the real nginx.

The templates are rendered by ansible-playbook itself (the role's defaults and
vars, as a converge sees them; template lookup on the controller) into a
temporary prefix. Then Debian's nginx (package nginx-light, tests/deps.sh):

- ``nginx -t`` accepts the configuration, with the defaults and with variants;
- a real nginx runs it on free local ports in front of the Grafana TEST DOUBLE
  (tests/doubles/grafana/server.py, not Grafana) and a stub standing for the
  watchlist API, and the tests check what a client sees: redirect, TLS
  versions, headers, CSP pass-through, the WebSocket upgrade, 429 beyond the
  burst, /metrics closed, the watchlist API under its prefix.

Paths and ports that live inside the container (private vars) are pointed at
the temporary prefix; everything else is the role's default.
"""

from __future__ import annotations

import base64
import configparser
import hashlib
import http.client
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from role_runner import REPO, ROLES, render_templates

ROLE = ROLES / "nginx"
DOUBLE = REPO / "tests" / "doubles" / "grafana" / "server.py"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
TEMPLATES = {
    "nginx.conf": "nginx.conf.j2",
    "jail.local": "fail2ban-jail.local.j2",
    "auth-filter.conf": "fail2ban-auth-filter.conf.j2",
    "logrotate": "logrotate.j2",
    "action.conf": "fail2ban-action.conf.j2",
}
SHARED_VARS = {
    "docker_network_name": "bloomberg-net",
    "bloomberg_base_dir": "/opt/bloomberg",
    "bloomberg_domain": "dashboard.example.org",
}
MOZILLA_INTERMEDIATE_CIPHERS = (
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
    "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:DHE-RSA-CHACHA20-POLY1305"
)

pytestmark = pytest.mark.skipif(
    not Path(NGINX).exists(), reason="nginx missing: apt-get install -y nginx-light (tests/deps.sh)"
)


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def nginx_version() -> str:
    out = subprocess.run([NGINX, "-v"], capture_output=True, text=True, check=True, timeout=30)
    return re.search(r"nginx/([0-9.]+)", out.stderr)[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def prefix_vars(prefix: Path) -> dict[str, Any]:
    """The container-side paths (private vars), pointed at a temporary prefix."""
    return {
        "_nginx_container_tls_dir": str(prefix / "tls"),
        "_nginx_container_acme_webroot": str(prefix / "acme"),
        "_nginx_container_log_dir": str(prefix / "logs"),
        "_nginx_container_pid": str(prefix / "nginx.pid"),
        "_nginx_container_temp_dir": str(prefix / "temp"),
        # Debian's nginx runs its workers as www-data (the image's user is nginx).
        "nginx_user": "www-data",
        "_nginx_version": nginx_version(),
    }


def render(scenarios: dict[str, dict[str, Any]]) -> dict[str, dict[str, str]]:
    """Render every template per scenario with ansible-playbook; {scenario: {name: text}}."""
    return render_templates(ROLE, TEMPLATES, scenarios, SHARED_VARS)


def make_prefix(prefix: Path) -> None:
    """The folders and a throwaway certificate the configuration points at."""
    for name in ("tls", "acme/.well-known/acme-challenge", "logs", "temp"):
        (prefix / name).mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "30",
            "-subj",
            "/CN=dashboard.example.org",
            "-addext",
            "subjectAltName=DNS:dashboard.example.org",
            "-keyout",
            str(prefix / "tls" / "privkey.pem"),
            "-out",
            str(prefix / "tls" / "fullchain.pem"),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    # The workers (www-data) read the webroot and write temporary files.
    for path in [prefix, *prefix.rglob("*")]:
        if path.is_dir():
            path.chmod(0o755)


SCENARIO_OVERRIDES: dict[str, dict[str, Any]] = {
    "default": {},
    "no_watchlist_api": {"nginx_watchlist_api_enabled": False},
    "no_influxdb_write": {"nginx_influxdb_write_enabled": False},
    "behind_a_proxy": {
        "nginx_real_ip_from": ["203.0.113.0/24", "2001:db8::/32"],
        "nginx_hsts_preload": True,
    },
    "several_names": {"nginx_server_names": ["dash.example.org", "www.dash.example.org"]},
}


@pytest.fixture(scope="module")
def prefix() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="nginx-prefix-"))
    make_prefix(path)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def rendered(prefix: Path) -> dict[str, dict[str, str]]:
    base = prefix_vars(prefix)
    return render({name: {**base, **extra} for name, extra in SCENARIO_OVERRIDES.items()})


def nginx_t(prefix: Path, text: str, name: str) -> subprocess.CompletedProcess[str]:
    conf = prefix / f"{name}.conf"
    conf.write_text(text, encoding="utf-8")
    return subprocess.run(
        [NGINX, "-t", "-p", str(prefix), "-c", str(conf)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


# --------------------------------------------------------------------------- nginx -t


@pytest.mark.parametrize("scenario", sorted(SCENARIO_OVERRIDES))
def test_nginx_accepts_the_rendered_configuration(
    prefix: Path, rendered: dict[str, dict[str, str]], scenario: str
) -> None:
    proc = nginx_t(prefix, rendered[scenario]["nginx.conf"], scenario)
    assert proc.returncode == 0, proc.stderr
    assert "syntax is ok" in proc.stderr and "test is successful" in proc.stderr
    assert "[warn]" not in proc.stderr, proc.stderr


def test_nginx_refuses_a_broken_configuration(prefix: Path, rendered: dict[str, dict[str, str]]):
    """The check the role's validate: runs would catch a mistake."""
    broken = rendered["default"]["nginx.conf"].replace("ssl_protocols", "ssl_protocolz", 1)
    assert nginx_t(prefix, broken, "broken").returncode != 0


# --------------------------------------------------------------------------- the text


def directives(text: str, name: str) -> list[str]:
    return [m.strip() for m in re.findall(rf"^\s*{name}\s+([^;]*);", text, re.MULTILINE)]


def server_blocks(text: str) -> list[str]:
    """Top-level server { } blocks of the http block (brace matching)."""
    blocks, depth, start = [], 0, None
    for match in re.finditer(r"\bserver\s*\{|\{|\}", text):
        token = match.group(0)
        if token.startswith("server") and depth == 1:
            start = match.start()
            depth += 1
        elif token.endswith("{"):
            depth += 1
        else:
            depth -= 1
            if depth == 1 and start is not None:
                blocks.append(text[start : match.end()])
                start = None
    return blocks


def locations(server: str) -> dict[str, str]:
    found = {}
    for match in re.finditer(r"location\s+([^{]+?)\s*\{", server):
        depth, end = 1, match.end()
        while depth:
            depth += {"{": 1, "}": -1}.get(server[end], 0)
            end += 1
        found[match.group(1).strip()] = server[match.end() : end - 1]
    return found


def test_tls_is_mozilla_intermediate(rendered: dict[str, dict[str, str]]) -> None:
    conf = rendered["default"]["nginx.conf"]
    assert directives(conf, "ssl_protocols") == ["TLSv1.2 TLSv1.3"]
    assert directives(conf, "ssl_ciphers") == [MOZILLA_INTERMEDIATE_CIPHERS]
    assert directives(conf, "ssl_ecdh_curve") == ["X25519:prime256v1:secp384r1"]
    assert directives(conf, "ssl_prefer_server_ciphers") == ["off"]
    assert directives(conf, "ssl_session_tickets") == ["off"]
    assert directives(conf, "ssl_session_timeout") == ["1d"]
    # No DH parameters: the DHE suites of the list are never negotiated.
    assert not directives(conf, "ssl_dhparam")
    assert "TLSv1.1" not in conf and "TLSv1 " not in conf


def test_http_redirects_to_https_except_the_acme_challenge(
    rendered: dict[str, dict[str, str]],
) -> None:
    http, _https, health = server_blocks(rendered["default"]["nginx.conf"])
    assert "listen 80 default_server;" in http
    where = locations(http)
    assert set(where) == {"^~ /.well-known/acme-challenge/", "/"}
    assert "return 301 https://dashboard.example.org$request_uri;" in where["/"]
    assert "try_files $uri =404;" in where["^~ /.well-known/acme-challenge/"]
    several = server_blocks(rendered["several_names"]["nginx.conf"])[0]
    assert "server_name dash.example.org www.dash.example.org;" in several
    assert "https://dash.example.org$request_uri" in several
    assert "listen 127.0.0.1:8080;" in health


def test_every_https_location_sends_the_security_headers(
    rendered: dict[str, dict[str, str]],
) -> None:
    https = server_blocks(rendered["default"]["nginx.conf"])[1]
    wanted = {
        "Strict-Transport-Security": '"max-age=63072000; includeSubDomains"',
        "X-Content-Type-Options": '"nosniff"',
        "X-Frame-Options": '"DENY"',
        "Referrer-Policy": '"strict-origin-when-cross-origin"',
    }
    for where, body in locations(https).items():
        headers = dict(re.findall(r"add_header\s+(\S+)\s+(.+?)\s+always;", body, re.MULTILINE))
        for name, value in wanted.items():
            assert headers.get(name) == value, (where, name, headers.get(name))
        assert "Content-Security-Policy" in headers, where
        assert "Permissions-Policy" in headers, where
    preload = server_blocks(rendered["behind_a_proxy"]["nginx.conf"])[1]
    assert '"max-age=63072000; includeSubDomains; preload"' in preload


def test_grafana_keeps_its_api_and_the_watchlist_api_has_a_prefix(
    rendered: dict[str, dict[str, str]],
) -> None:
    https = server_blocks(rendered["default"]["nginx.conf"])[1]
    where = locations(https)
    assert "proxy_pass http://$bbdash_grafana;" in where["/"]
    assert "proxy_pass http://$bbdash_grafana;" in where["^~ /api/live/"]
    assert "set $bbdash_grafana bloomberg-grafana:3000;" in https
    api = where["^~ /watchlist-api/"]
    assert "rewrite ^/watchlist-api/(.*)$ /$1 break;" in api
    assert "proxy_pass http://$bbdash_watchlist_api;" in api
    assert "set $bbdash_watchlist_api bloomberg-watchlist-api:8000;" in https
    assert "return 404;" in where["^~ /metrics"]
    assert "return 404;" in where["^~ /watchlist-api/metrics"]
    # Nothing but Grafana's Live endpoint takes a piece of Grafana's /api/.
    assert [w for w in where if "/api/" in w and "/influxdb/" not in w] == ["^~ /api/live/"]
    disabled = locations(server_blocks(rendered["no_watchlist_api"]["nginx.conf"])[1])
    assert "return 404;" in disabled["^~ /watchlist-api/"]
    assert "proxy_pass" not in disabled["^~ /watchlist-api/"]


def test_influxdb_serves_its_write_endpoint_only(rendered: dict[str, dict[str, str]]) -> None:
    """People's custom series: POST /influxdb/api/v2/write reaches InfluxDB's
    /api/v2/write, rate-limited, with a small body; anything else under /influxdb/
    is 404, and the whole of it when the write path is off."""
    https = server_blocks(rendered["default"]["nginx.conf"])[1]
    where = locations(https)
    write = where["= /influxdb/api/v2/write"]
    assert "set $bbdash_influxdb bloomberg-influxdb:8086;" in https
    assert re.search(r"limit_except POST \{\s*deny all;\s*\}", write)
    assert "client_max_body_size 1m;" in write
    assert "limit_req zone=bbdash_perip burst=100 nodelay;" in write
    assert "proxy_pass http://$bbdash_influxdb/api/v2/write$is_args$args;" in write
    assert "return 404;" in where["^~ /influxdb/"]
    assert "proxy_pass" not in where["^~ /influxdb/"]
    # No other location reaches InfluxDB.
    assert [w for w, body in where.items() if "$bbdash_influxdb" in body] == [
        "= /influxdb/api/v2/write"
    ]
    off = locations(server_blocks(rendered["no_influxdb_write"]["nginx.conf"])[1])
    assert "return 404;" in off["= /influxdb/api/v2/write"]
    assert "proxy_pass" not in off["= /influxdb/api/v2/write"]


def test_rate_limits_and_websocket(rendered: dict[str, dict[str, str]]) -> None:
    conf = rendered["default"]["nginx.conf"]
    assert (
        "limit_req_zone $binary_remote_addr zone=bbdash_perip:10m rate=10r/s;" in conf
    )  # the seed
    assert directives(conf, "limit_req_status") == ["429"]
    https = server_blocks(conf)[1]
    where = locations(https)
    for path in ("/", "^~ /api/live/", "^~ /watchlist-api/"):
        assert "limit_req zone=bbdash_perip burst=100 nodelay;" in where[path], path
    assert "limit_req zone=bbdash_static burst=300 nodelay;" in where["^~ /public/"]
    live = where["^~ /api/live/"]
    assert "proxy_set_header Upgrade $http_upgrade;" in live
    assert "proxy_set_header Connection $connection_upgrade;" in live
    assert "proxy_http_version 1.1;" in live
    # Client-sent X-Forwarded-For is replaced, not trusted.
    assert "proxy_set_header X-Forwarded-For $remote_addr;" in where["/"]
    conf_proxy = rendered["behind_a_proxy"]["nginx.conf"]
    assert directives(conf_proxy, "set_real_ip_from") == ["203.0.113.0/24", "2001:db8::/32"]
    assert directives(conf_proxy, "real_ip_header") == ["X-Forwarded-For"]
    assert not directives(conf, "set_real_ip_from")


def test_fail2ban_jails_ban_in_docker_user(rendered: dict[str, dict[str, str]]) -> None:
    jail = configparser.ConfigParser(interpolation=None)
    jail.read_string(rendered["default"]["jail.local"])
    assert set(jail.sections()) == {"nginx-limit-req", "nginx-botsearch", "bloomberg-nginx-auth"}
    for name in jail.sections():
        section = jail[name]
        assert section["chain"] == "DOCKER-USER", name
        assert section["banaction"] == "bloomberg-docker-user", name
        assert section["port"] == "http,https"
        assert section["logpath"].startswith("/var/log/bloomberg/nginx/")
        assert section["backend"] == "auto"  # files, not the journal (the host default)
    assert jail["nginx-limit-req"]["logpath"].endswith("/error.log")
    assert "docker kill --signal=USR1 bloomberg-nginx" in rendered["default"]["logrotate"]
    action = configparser.ConfigParser(interpolation=None)
    action.read_string(rendered["default"]["action.conf"])
    assert action["INCLUDES"]["before"] == "iptables-multiport.conf"
    ban = action["Definition"]["actionban"].splitlines()
    # The jump into the jail's chain is restored before the address is added.
    assert "-I <chain> 1 -p <protocol> -m multiport --dports <port> -j f2b-<name>" in ban[1]
    assert ban[-1].strip() == "<iptables> -I f2b-<name> 1 -s <ip> -j <blocktype>"


def test_auth_filter_matches_failed_logins_only(rendered: dict[str, dict[str, str]]) -> None:
    text = rendered["default"]["auth-filter.conf"]
    filt = configparser.ConfigParser(interpolation=None)
    filt.read_string(text)
    host = r"(?P<host>\S+)"
    regexes = [
        re.compile(line.strip().replace("<HOST>", host))
        for line in filt["Definition"]["failregex"].splitlines()
        if line.strip()
    ]

    def matches(line: str) -> bool:
        # fail2ban cuts the date out of the line before matching: "[]" stays.
        line = re.sub(r"\[[^\]]*\]", "[]", line, count=1)
        return any(r.search(line) for r in regexes)

    stamp = "[24/Nov/2026:10:00:00 +0000]"
    assert matches(f'198.51.100.7 - - {stamp} "POST /login HTTP/2.0" 401 40 "-" "curl" rt=0.01')
    assert matches(
        f'198.51.100.7 - - {stamp} "GET /watchlist-api/v1/me HTTP/1.1" 401 99 "-" "x" rt=0.1'
    )
    assert not matches(f'198.51.100.7 - - {stamp} "POST /login HTTP/2.0" 200 40 "-" "x" rt=0')
    assert not matches(f'198.51.100.7 - - {stamp} "GET /api/user HTTP/2.0" 401 40 "-" "x" rt=0')


# --------------------------------------------------------------------------- a real nginx


class ApiStub(BaseHTTPRequestHandler):
    """Stands for the watchlist API: echoes the path it received."""

    def do_GET(self) -> None:
        body = json.dumps({"path": self.path}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt: str, *args: Any) -> None:
        pass


class InfluxStub(ApiStub):
    """Stands for InfluxDB: echoes the method, the path and the body's size."""

    def _echo(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        received = self.rfile.read(length) if length else b""
        body = json.dumps(
            {"method": self.command, "path": self.path, "size": len(received)}
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self._echo()

    def do_POST(self) -> None:
        self._echo()

    def do_PUT(self) -> None:
        self._echo()

    def do_DELETE(self) -> None:
        self._echo()


@pytest.fixture(scope="module")
def live(prefix: Path) -> Iterator[dict[str, Any]]:
    """nginx with the role's configuration in front of the Grafana TEST DOUBLE."""
    grafana_port, api_port = free_port(), free_port()
    http_port, https_port, health_port = free_port(), free_port(), free_port()
    grafana_dir = prefix / "grafana"
    grafana_dir.mkdir(exist_ok=True)
    csp = load_yaml(REPO / "roles" / "grafana" / "defaults" / "main.yml")["grafana_csp_template"]
    (grafana_dir / "grafana.ini").write_text(
        "[server]\nroot_url = https://dashboard.example.org/\n"
        "[security]\nadmin_password = test-admin-password\n"
        f'content_security_policy = true\ncontent_security_policy_template = """{csp}"""\n',
        encoding="utf-8",
    )
    double = subprocess.Popen(
        [sys.executable, str(DOUBLE), "--host", "127.0.0.1", "--port", str(grafana_port)],
        env={
            **os.environ,
            "GF_PATHS_CONFIG": str(grafana_dir / "grafana.ini"),
            "GF_PATHS_DATA": str(grafana_dir),
            "GF_PATHS_PROVISIONING": str(grafana_dir / "provisioning"),
        },
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    api = ThreadingHTTPServer(("127.0.0.1", api_port), ApiStub)
    threading.Thread(target=api.serve_forever, daemon=True).start()
    influx_port = free_port()
    influx = ThreadingHTTPServer(("127.0.0.1", influx_port), InfluxStub)
    threading.Thread(target=influx.serve_forever, daemon=True).start()
    text = render(
        {
            "live": {
                **prefix_vars(prefix),
                "_nginx_listen_http": http_port,
                "_nginx_listen_https": https_port,
                "_nginx_health_port": health_port,
                "nginx_grafana_upstream": f"127.0.0.1:{grafana_port}",
                "nginx_watchlist_api_upstream": f"127.0.0.1:{api_port}",
                "nginx_influxdb_upstream": f"127.0.0.1:{influx_port}",
                # Small enough for a quick test; the default is 100.
                "nginx_rate_limit_burst": 20,
            }
        }
    )["live"]["nginx.conf"]
    conf = prefix / "live.conf"
    conf.write_text(text, encoding="utf-8")
    server = subprocess.Popen(
        [NGINX, "-p", str(prefix), "-c", str(conf), "-g", "daemon off;"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", https_port), timeout=1).close()
                socket.create_connection(("127.0.0.1", grafana_port), timeout=1).close()
                break
            except OSError:
                if server.poll() is not None:
                    pytest.fail(f"nginx exited: {server.stderr.read() if server.stderr else ''}")
                time.sleep(0.1)
        yield {"http": http_port, "https": https_port, "health": health_port, "prefix": prefix}
    finally:
        server.terminate()
        server.wait(timeout=30)
        double.terminate()
        double.wait(timeout=30)
        api.shutdown()
        influx.shutdown()


def tls_context() -> ssl.SSLContext:
    # No CA bundle to load (~0.1 s each time): the certificate is not checked here.
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # a throwaway certificate; molecule verifies the real one
    return context


def get(
    port: int,
    path: str,
    headers: dict[str, str] | None = None,
    tls: bool = True,
) -> tuple[int, dict[str, str], bytes]:
    conn: http.client.HTTPConnection
    if tls:
        conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=10, context=tls_context())
    else:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", path, headers={"Host": "dashboard.example.org", **(headers or {})})
    response = conn.getresponse()
    body = response.read()
    conn.close()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, body


def test_live_redirect_and_acme(live: dict[str, Any]) -> None:
    status, headers, _ = get(live["http"], "/d/x?y=1", tls=False)
    assert status == 301 and headers["location"] == "https://dashboard.example.org/d/x?y=1"
    token = live["prefix"] / "acme" / ".well-known" / "acme-challenge" / "tok3n"
    token.write_text("challenge-answer", encoding="utf-8")
    token.chmod(0o644)
    status, _, body = get(live["http"], "/.well-known/acme-challenge/tok3n", tls=False)
    assert (status, body) == (200, b"challenge-answer")


def test_live_tls_versions(live: dict[str, Any]) -> None:
    for version, accepted in (
        (ssl.TLSVersion.TLSv1_2, True),
        (ssl.TLSVersion.TLSv1_3, True),
        (ssl.TLSVersion.TLSv1_1, False),
    ):
        context = tls_context()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # TLS 1.1, on purpose
            context.minimum_version = context.maximum_version = version
        if version < ssl.TLSVersion.TLSv1_2:
            context.set_ciphers("ALL:@SECLEVEL=0")
        try:
            with (
                socket.create_connection(("127.0.0.1", live["https"]), timeout=5) as raw,
                context.wrap_socket(raw, server_hostname="dashboard.example.org") as conn,
            ):
                ok = conn.version() is not None
        except (ssl.SSLError, OSError):
            ok = False
        assert ok is accepted, version


def test_live_headers_and_grafana_csp_pass_through(live: dict[str, Any]) -> None:
    status, headers, body = get(live["https"], "/")
    assert status == 200 and b"TEST DOUBLE - NOT GRAFANA" in body
    assert headers["strict-transport-security"] == "max-age=63072000; includeSubDomains"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"  # once: Grafana's own is hidden
    assert headers["referrer-policy"] == "strict-origin-when-cross-origin"
    assert "x-xss-protection" not in headers
    csp = headers["content-security-policy"]
    nonce = re.search(r"'nonce-([^']+)'", csp)[1]
    assert f"nonce='{nonce}'".encode() in body, "the page's script carries the header's nonce"
    assert "frame-ancestors 'none'" in csp and "wss://dashboard.example.org/" in csp
    # Grafana's JSON: the strict policy.
    status, headers, _ = get(live["https"], "/api/health")
    assert status == 200 and headers["content-security-policy"].startswith("default-src 'none'")
    assert headers["x-frame-options"] == "DENY"
    # nginx's own responses: the strict policy.
    status, headers, _ = get(live["https"], "/metrics")
    assert status == 404
    assert headers["content-security-policy"].startswith("default-src 'none'")


def test_live_client_address_is_not_spoofable(live: dict[str, Any]) -> None:
    status, _, body = get(
        live["https"], "/api/test-double/request", headers={"X-Forwarded-For": "6.6.6.6"}
    )
    seen = json.loads(body)["headers"]
    assert status == 200
    assert seen["x-forwarded-for"] == "127.0.0.1" and seen["x-real-ip"] == "127.0.0.1"
    assert seen["x-forwarded-proto"] == "https"


def test_live_watchlist_api_prefix(live: dict[str, Any]) -> None:
    status, headers, body = get(live["https"], "/watchlist-api/v1/watchlists?limit=2")
    assert status == 200 and json.loads(body) == {"path": "/v1/watchlists?limit=2"}
    assert headers["content-security-policy"].startswith("default-src 'none'")
    assert get(live["https"], "/watchlist-api/metrics")[0] == 404
    # Grafana's own /api/ is still Grafana.
    assert json.loads(get(live["https"], "/api/health")[2])["database"] == "ok"


def _send(port: int, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
    conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=10, context=tls_context())
    conn.request(method, path, body=body or None, headers={"Host": "dashboard.example.org"})
    response = conn.getresponse()
    answer = response.read()
    conn.close()
    return response.status, answer


def test_live_influxdb_write_only(live: dict[str, Any]) -> None:
    port, write = live["https"], "/influxdb/api/v2/write?org=bloomberg&bucket=custom_trader"
    status, body = _send(port, "POST", write, b"custom,tag=a v=1")
    assert status == 200, body
    assert json.loads(body) == {
        "method": "POST",
        "path": "/api/v2/write?org=bloomberg&bucket=custom_trader",
        "size": 16,
    }
    for method in ("GET", "PUT", "DELETE", "PATCH", "OPTIONS"):
        assert _send(port, method, write)[0] == 403, method
    # Over the body limit (1m): refused before InfluxDB.
    assert _send(port, "POST", write, b"x" * (1024 * 1024 + 1))[0] == 413
    for path in (
        "/influxdb/api/v2/query?org=bloomberg",
        "/influxdb/api/v2/authorizations",
        "/influxdb/api/v2/buckets",
        "/influxdb/api/v2/write/../query",
        "/influxdb/",
        "/influxdb/health",
    ):
        for method in ("GET", "POST"):
            assert _send(port, method, path)[0] == 404, (method, path)


def _upgrade(port: int, key: str, extra: str = "") -> str:
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        tls_context().wrap_socket(raw, server_hostname="dashboard.example.org") as conn,
    ):
        conn.sendall(
            (
                "GET /api/live/ws HTTP/1.1\r\nHost: dashboard.example.org\r\n"
                "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
            ).encode()
        )
        return conn.recv(4096).decode()


def test_live_websocket_upgrade(live: dict[str, Any]) -> None:
    key = base64.b64encode(os.urandom(16)).decode()
    # Grafana Live is for signed-in users (pkg/services/live/live.go registers
    # /api/live/ws behind middleware.ReqSignedIn): without credentials, 401.
    head = _upgrade(live["https"], key)
    assert head.startswith("HTTP/1.1 401"), head
    admin = base64.b64encode(b"admin:test-admin-password").decode()
    head = _upgrade(live["https"], key, f"Authorization: Basic {admin}\r\n")
    assert head.startswith("HTTP/1.1 101"), head
    accept = base64.b64encode(
        hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()
    ).decode()
    assert f"Sec-WebSocket-Accept: {accept}" in head


def test_live_burst_then_429(live: dict[str, Any]) -> None:
    time.sleep(2.5)  # let the earlier tests' requests drain from the bucket

    def one(_: int) -> int:
        return get(live["https"], "/api/health")[0]

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(one, range(60)))
    # burst 20 (this test's setting) + what 10 r/s refills meanwhile.
    assert statuses.count(200) >= 20
    assert statuses.count(429) > 0, statuses
    assert set(statuses) <= {200, 429}
    status, headers, _ = get(live["https"], "/api/health")
    if status == 429:
        assert headers["content-security-policy"].startswith("default-src 'none'")
        assert headers["strict-transport-security"].startswith("max-age=")
    errors = (live["prefix"] / "logs" / "error.log").read_text(encoding="utf-8")
    # What fail2ban's nginx-limit-req filter reads.
    assert re.search(r'limiting requests, excess: [\d.]+ by zone "bbdash_perip", client: ', errors)
    time.sleep(2.5)
    assert get(live["https"], "/api/health")[0] == 200, "the limit recovers"


def test_live_health_endpoint(live: dict[str, Any]) -> None:
    status, _, body = get(live["health"], "/healthz", tls=False)
    assert (status, body) == (200, b"ok\n")
