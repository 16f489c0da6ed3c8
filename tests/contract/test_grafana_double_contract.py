"""Contract of the Grafana TEST DOUBLE (tests/doubles/grafana/server.py, not
Grafana) against Grafana 12.4, the version roles/grafana pins.

The double runs with what the grafana role writes: grafana.ini and the
dashboards provider rendered by Ansible from the role's templates (defaults,
vars, the shared test inventory of tests/static/grafana_helpers.py, a metrics
password), the role's secret files, the role's dashboards. A maintained client
from PyPI, grafana-client (GrafanaApi), drives it through every call the
project makes:

- the container healthcheck and the role's waits: GET /api/health;
- tasks/admin.yml: GET /api/user with basic auth (200 or 401), then
  `grafana cli admin reset-admin-password --password-from-stdin`;
- handlers/main.yml: POST /api/admin/provisioning/{datasources,alerting,
  dashboards}/reload with basic auth;
- the prometheus role's scrape: GET /metrics with the metrics user;
- nginx and the tests behind it: pages with Grafana's CSP, GET /api/live/ws,
  unknown paths; and what the double already has of what the project will
  call: PUT /api/admin/users/:id/password, GET /api/search, POST /login.

Users other than the admin, their sessions and token rotation, and the
Grafana Admin checks are in test_grafana_double_sessions.py (it reuses
`start`/`stop` from here).

Where Grafana has test cases for a behaviour, they are rewritten here (named
in each test's docstring): pkg/api/health_test.go, pkg/api/admin_provisioning_test.go,
pkg/middleware/middleware_basic_auth_test.go, pkg/api/http_server_test.go,
pkg/api/basic_auth_test.go, pkg/services/loginattempt/loginattemptimpl/login_attempt_test.go,
pkg/cmd/grafana-cli/commands/reset_password_command_test.go.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from grafana_client import GrafanaApi
from grafana_client.client import GrafanaBadInputError, GrafanaClientError, GrafanaUnauthorizedError
from prometheus_client.parser import text_string_to_metric_families

REPO = Path(__file__).resolve().parents[2]
DOUBLE = Path(os.environ.get("BBDASH_GRAFANA_DOUBLE", REPO / "tests/doubles/grafana/server.py"))
ROLE = REPO / "roles" / "grafana"
STATIC = REPO / "tests" / "static"
if str(STATIC) not in sys.path:  # the role renderer the static tests use
    sys.path.insert(0, str(STATIC))

from grafana_helpers import SHARED_VARS  # noqa: E402
from role_runner import render_templates  # noqa: E402

ADMIN = "admin"  # grafana_admin_user's default
ADMIN_PASSWORD = SHARED_VARS["vault_grafana_admin_password"]
METRICS_USER = "metrics"  # grafana_metrics_user's default
METRICS_PASSWORD = "metrics-secret"
ROOT_URL = "https://dashboard.example.org/"
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


# --------------------------------------------------------------------------- the role's files


@pytest.fixture(scope="module")
def role_files() -> dict[str, str]:
    """grafana.ini and the dashboards provider, rendered by Ansible from the role."""
    rendered = render_templates(
        ROLE,
        {"grafana.ini": "grafana.ini.j2", "dashboards.yml": "provisioning/dashboards.yml.j2"},
        {"contract": {"vault_grafana_metrics_password": METRICS_PASSWORD}},
        SHARED_VARS,
    )
    return rendered["contract"]


@dataclass
class Grafana:
    port: int
    base: Path
    process: subprocess.Popen[bytes]

    @property
    def ini(self) -> Path:
        return self.base / "etc" / "grafana.ini"

    def api(self, auth: tuple[str, str] | None = (ADMIN, ADMIN_PASSWORD)) -> GrafanaApi:
        return GrafanaApi(auth=auth, host="127.0.0.1", port=self.port, protocol="http", timeout=10)

    def request(
        self,
        method: str,
        path: str,
        headers: dict[str, str] | None = None,
        body: bytes | None = None,
        auth: tuple[str, str] | None = None,
    ) -> tuple[int, http.client.HTTPMessage, bytes]:
        headers = dict(headers or {})
        if auth:
            headers["Authorization"] = basic(*auth)
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            return response.status, response.headers, response.read()
        finally:
            conn.close()

    def upgrade(self, extra: dict[str, str], key: str | None = None) -> str:
        key = key or base64.b64encode(os.urandom(16)).decode()
        lines = {
            "Host": f"127.0.0.1:{self.port}",
            "Upgrade": "websocket",
            "Connection": "Upgrade",
            "Sec-WebSocket-Key": key,
            "Sec-WebSocket-Version": "13",
            **extra,
        }
        request = "GET /api/live/ws HTTP/1.1\r\n" + "".join(
            f"{k}: {v}\r\n" for k, v in lines.items() if v is not None
        )
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as conn:
            conn.sendall((request + "\r\n").encode())
            received = b""
            while chunk := conn.recv(65536):  # the double closes after its answer
                received += chunk
            return received.decode()

    def cli(self, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        """What tasks/admin.yml runs in the container (the image's `grafana` shim)."""
        return subprocess.run(
            [
                sys.executable,
                str(DOUBLE),
                "cli",
                "--homepath",
                "/usr/share/grafana",
                "--config",
                str(self.ini),
                "admin",
                "reset-admin-password",
                *args,
            ],
            input=stdin,
            capture_output=True,
            text=True,
            env=self.env(),
            timeout=30,
            check=False,
        )

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "GF_PATHS_CONFIG": str(self.ini),
            "GF_PATHS_PROVISIONING": str(self.base / "etc" / "provisioning"),
            "GF_PATHS_DATA": str(self.base / "data"),
        }


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(base: Path, role_files: dict[str, str], extra_ini: str = "") -> Grafana:
    """The role's layout under `base`: etc/ (grafana.ini, secrets, provisioning) and data/."""
    etc = base / "etc"
    secrets = etc / "secrets"
    secrets.mkdir(parents=True)
    (etc / "provisioning" / "dashboards").mkdir(parents=True)
    (base / "data").mkdir()
    for name, value in {
        "admin_password": ADMIN_PASSWORD,
        "secret_key": SHARED_VARS["vault_grafana_secret_key"],
        "metrics_password": METRICS_PASSWORD,
    }.items():
        (secrets / name).write_text(value)
    ini = role_files["grafana.ini"].replace("/etc/grafana/secrets", str(secrets))
    (etc / "grafana.ini").write_text(ini + "\n" + extra_ini)
    provider = role_files["dashboards.yml"].replace(
        "/etc/grafana/dashboards", str(ROLE / "files" / "dashboards")
    )
    (etc / "provisioning" / "dashboards" / "bbdash.yml").write_text(provider)
    return _launch(base)


def _launch(base: Path) -> Grafana:
    """The double on a free port over the files under `base`, once it listens."""
    port = free_port()
    grafana = Grafana(port, base, None)  # type: ignore[arg-type]
    grafana.process = subprocess.Popen(
        [sys.executable, str(DOUBLE), "--host", "127.0.0.1", "--port", str(port)],
        env=grafana.env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return grafana
        except OSError:
            if grafana.process.poll() is not None:
                raise AssertionError("the Grafana double exited") from None
            time.sleep(0.1)
    grafana.process.kill()
    raise AssertionError("the Grafana double did not listen")


def stop(grafana: Grafana) -> None:
    grafana.process.terminate()
    grafana.process.wait(timeout=10)


def restart(g: Grafana) -> Grafana:
    """The same folders, a new process (a container restart on its volume)."""
    stop(g)
    return _launch(g.base)


@pytest.fixture(scope="module")
def grafana(
    role_files: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Grafana]:
    """One double for the read-only contract; tests that change state get their own."""
    running = start(tmp_path_factory.mktemp("grafana"), role_files)
    try:
        yield running
    finally:
        stop(running)


@pytest.fixture
def fresh(role_files: dict[str, str], tmp_path: Path) -> Iterator[Callable[[str], Grafana]]:
    started: list[Grafana] = []

    def make(extra_ini: str = "") -> Grafana:
        started.append(start(tmp_path / f"g{len(started)}", role_files, extra_ini))
        return started[-1]

    try:
        yield make
    finally:
        for running in started:
            stop(running)
        shutil.rmtree(tmp_path, ignore_errors=True)


# --------------------------------------------------------------------------- the client's install


def test_grafana_client_left_the_real_urllib3_in_place() -> None:
    """grafana-client brings urllib3-future, whose wheel copies itself over urllib3
    (requests and schemathesis then fail). requirements-dev.txt builds it from
    source with URLLIB3_NO_OVERRIDE=1: both packages stay, each under its name.
    The fork's versions end in .9NN (its README), urllib3's never do."""
    import urllib3
    import urllib3_future

    assert int(urllib3.__version__.split(".")[2]) < 900, urllib3.__file__
    assert urllib3_future.__file__ != urllib3.__file__


# --------------------------------------------------------------------------- /api/health


def test_health_as_the_healthcheck_and_the_role_read_it(grafana: Grafana) -> None:
    """The container healthcheck (wget GET) and the role's uri waits (status 200,
    json.database == 'ok'); pkg/api/health_test.go TestHealthAPI_Version."""
    doc = grafana.api(auth=None).client.GET("/health")
    assert doc["database"] == "ok"
    assert set(doc) == {"database", "version", "commit"}
    status, headers, body = grafana.request("GET", "/api/health")
    assert status == 200
    assert headers["Content-Type"] == "application/json; charset=UTF-8"
    assert body == json.dumps(doc, indent=2).encode()  # json.MarshalIndent(data, "", "  ")


def test_health_answers_head_but_no_other_method(grafana: Grafana) -> None:
    """apiHealthHandler answers GET and HEAD; anything else goes to the router,
    whose not-found handler wants a signed-in user."""
    status, _, body = grafana.request("HEAD", "/api/health")
    assert (status, body) == (200, b"")
    assert grafana.request("POST", "/api/health")[0] == 401
    assert grafana.request("POST", "/api/health", auth=(ADMIN, ADMIN_PASSWORD))[0] == 404


def test_healthz_liveness(grafana: Grafana) -> None:
    """healthzHandler: Ok, no auth, GET and HEAD."""
    status, headers, body = grafana.request("GET", "/healthz")
    assert (status, body) == (200, b"Ok")
    assert "Content-Security-Policy" not in headers
    assert grafana.request("HEAD", "/healthz")[:1] == (200,)


def test_health_hides_the_version_when_asked(fresh: Callable[[str], Grafana]) -> None:
    """TestHealthAPI_AnonymousHideVersion."""
    hidden = fresh("[auth.anonymous]\nhide_version = true\n")
    assert hidden.api(auth=None).client.GET("/health") == {"database": "ok"}


def test_the_double_names_the_pinned_grafana(grafana: Grafana) -> None:
    """The double's version is the pinned image's, marked as a double: bumping the
    pin means checking the double against the new version."""
    defaults = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
    pinned = defaults["grafana_image"].rsplit(":", 1)[1]
    version = grafana.api(auth=None).client.GET("/health")["version"]
    assert version == f"{pinned}-testdouble"


# --------------------------------------------------------------------------- admin.yml


def test_admin_login_with_the_vault_password(grafana: Grafana) -> None:
    user = grafana.api().user.get_actual_user()
    assert user["login"] == ADMIN
    assert user["id"] == 1 and user["isGrafanaAdmin"] is True


def test_a_wrong_password_is_401_invalid_username_or_password(grafana: Grafana) -> None:
    """middleware_basic_auth_test.go: 'Should return error if user & password do not match'."""
    with pytest.raises(GrafanaUnauthorizedError) as caught:
        grafana.api(auth=(ADMIN, "not-the-password")).user.get_actual_user()
    assert caught.value.response["message"] == "Invalid username or password"
    assert caught.value.response["messageId"] == "password-auth.failed"
    assert caught.value.response["statusCode"] == 401


def test_an_unknown_user_is_401_too(grafana: Grafana) -> None:
    """middleware_basic_auth_test.go: 'Should return error if user is not found'."""
    with pytest.raises(GrafanaUnauthorizedError) as caught:
        grafana.api(auth=("killa", "gorilla")).user.get_actual_user()
    assert caught.value.response["message"] == "Invalid username or password"


def test_no_credentials_is_401_unauthorized(grafana: Grafana) -> None:
    with pytest.raises(GrafanaUnauthorizedError) as caught:
        grafana.api(auth=None).user.get_actual_user()
    assert caught.value.response["message"] == "Unauthorized"
    assert caught.value.response["messageId"] == "auth.unauthorized"


def test_logins_are_case_insensitive(grafana: Grafana) -> None:
    assert grafana.api(auth=(ADMIN.upper(), ADMIN_PASSWORD)).user.get_actual_user()["id"] == 1


def test_reset_admin_password_with_grafana_cli(fresh: Callable[[str], Grafana]) -> None:
    """tasks/admin.yml: the login fails (401), `grafana cli ... --password-from-stdin`
    (stdin without a newline) resets it, the login works. reset_password_command_test.go
    'basic success'."""
    g = fresh("")
    assert g.cli("--password-from-stdin", stdin="another-password-1").returncode == 0
    with pytest.raises(GrafanaUnauthorizedError):
        g.api().user.get_actual_user()
    reset = g.cli("--password-from-stdin", stdin=ADMIN_PASSWORD)
    assert reset.returncode == 0, reset.stderr
    assert "Admin password changed successfully" in reset.stdout
    assert g.api().user.get_actual_user()["login"] == ADMIN


def test_grafana_cli_refusals(fresh: Callable[[str], Grafana]) -> None:
    """reset_password_command.go: first stdin line only, IsWeak (<= 4 characters),
    an empty stdin, a user that is not there ('random user is not an admin')."""
    g = fresh("")
    assert g.cli("--password-from-stdin", stdin="").returncode == 1
    short = g.cli("--password-from-stdin", stdin="1234")
    assert short.returncode == 1 and "new password is too short" in short.stderr
    assert g.cli("--password-from-stdin", "--user-id", "11", stdin="long-enough-1").returncode == 1
    assert g.cli("--password-from-stdin", stdin="first-line-pw\nsecond-line\n").returncode == 0
    assert g.api(auth=(ADMIN, "first-line-pw")).user.get_actual_user()["id"] == 1


# --------------------------------------------------------------------------- handlers/main.yml


@pytest.mark.parametrize(
    ("kind", "body"),
    [
        ("datasources", b'{"message":"Datasources config reloaded"}'),
        ("alerting", b'{"message":"Alerting config reloaded"}'),
        ("dashboards", b'{"message":"Dashboards config reloaded"}'),
        ("plugins", b'{"message":"Plugins config reloaded"}'),
    ],
)
def test_provisioning_reloads(grafana: Grafana, kind: str, body: bytes) -> None:
    """The role's reload handlers; admin_provisioning_test.go
    TestAPI_AdminProvisioningReload_AccessControl ('should work for ... with
    specific scope': 200 and the exact body)."""
    path = f"/admin/provisioning/{kind}/reload"
    assert grafana.api().client.POST(path) == json.loads(body)
    status, _, raw = grafana.request("POST", "/api" + path, auth=(ADMIN, ADMIN_PASSWORD))
    assert (status, raw) == (200, body)


def test_provisioning_reload_needs_a_signed_in_user(grafana: Grafana) -> None:
    with pytest.raises(GrafanaUnauthorizedError):
        grafana.api(auth=None).client.POST("/admin/provisioning/dashboards/reload")


def test_notifications_reload_is_gone_and_get_is_not_a_route(grafana: Grafana) -> None:
    """Grafana 12 registers no notifications reload; a GET on a POST route is the
    not-found handler's 404."""
    for method, path in (
        ("POST", "/admin/provisioning/notifications/reload"),
        ("GET", "/admin/provisioning/dashboards/reload"),
    ):
        with pytest.raises(GrafanaClientError) as caught:
            getattr(grafana.api().client, method)(path)
        assert caught.value.status_code == 404
        assert caught.value.response == {"message": "Not found"}


# --------------------------------------------------------------------------- users API


def test_change_user_password(fresh: Callable[[str], Grafana]) -> None:
    """AdminUpdateUserPassword: 200, the old password stops working."""
    g = fresh("")
    reply = g.api().admin.change_user_password(1, "a-new-password-1")
    assert reply == {"message": "User password updated"}
    with pytest.raises(GrafanaUnauthorizedError):
        g.api().user.get_actual_user()
    assert g.api(auth=(ADMIN, "a-new-password-1")).user.get_actual_user()["id"] == 1


def test_change_user_password_refusals(grafana: Grafana) -> None:
    with pytest.raises(GrafanaBadInputError) as short:
        grafana.api().admin.change_user_password(1, "abc")
    assert short.value.response == {"message": "New password too short"}
    with pytest.raises(GrafanaClientError) as missing:
        grafana.api().admin.change_user_password(11, "long-enough-1")
    assert (missing.value.status_code, missing.value.response) == (
        404,
        {"message": "User not found"},
    )


# --------------------------------------------------------------------------- brute force


def _fail(g: Grafana, login: str = ADMIN, times: int = 1) -> None:
    for _ in range(times):
        with pytest.raises(GrafanaUnauthorizedError):
            g.api(auth=(login, "wrong-password")).user.get_actual_user()


def test_login_attempts_below_the_limit(fresh: Callable[[str], Grafana]) -> None:
    """login_attempt_test.go TestService_Validate: 'count is less than max' is valid."""
    g = fresh("")
    _fail(g, times=4)
    assert g.api().user.get_actual_user()["id"] == 1


def test_login_attempts_at_the_limit_lock_the_user(fresh: Callable[[str], Grafana]) -> None:
    """TestService_Validate 'count equals max' and TestIntegrationUserLoginAttempts
    (the login's case does not matter): five failures in five minutes lock the
    login, even with the right password, and `grafana cli reset-admin-password`
    does not lift the lock (it only changes the password)."""
    g = fresh("")
    _fail(g, "admin", 2)
    _fail(g, "Admin", 2)
    _fail(g, "aDmin", 1)
    with pytest.raises(GrafanaUnauthorizedError) as locked:
        g.api().user.get_actual_user()
    assert locked.value.response["messageId"] == "password-auth.failed"
    assert g.cli("--password-from-stdin", stdin=ADMIN_PASSWORD).returncode == 0
    with pytest.raises(GrafanaUnauthorizedError):
        g.api().user.get_actual_user()


def test_login_attempts_not_counted_when_protection_is_off(
    fresh: Callable[[str], Grafana],
) -> None:
    """TestService_Validate 'brute force protection disabled'."""
    g = fresh("[security]\ndisable_brute_force_login_protection = true\n")
    _fail(g, times=6)
    assert g.api().user.get_actual_user()["id"] == 1


# --------------------------------------------------------------------------- /metrics (Prometheus)


def test_prometheus_scrapes_metrics_with_basic_auth(grafana: Grafana) -> None:
    """The prometheus role's grafana job; basic_auth_test.go 'a valid set of credentials'."""
    status, headers, body = grafana.request(
        "GET", "/metrics", auth=(METRICS_USER, METRICS_PASSWORD)
    )
    assert status == 200
    assert headers["Content-Type"].startswith("text/plain; version=0.0.4")
    names = {f.name for f in text_string_to_metric_families(body.decode())}
    assert "grafana_build_info" in names
    assert "Content-Security-Policy" not in headers


@pytest.mark.parametrize(
    "auth", [None, ("invaliduser", "invalidpass"), (ADMIN, ADMIN_PASSWORD), (METRICS_USER, "x")]
)
def test_metrics_refuse_other_credentials(grafana: Grafana, auth: tuple[str, str] | None) -> None:
    """basic_auth_test.go 'an invalid set of credentials'; metricsEndpoint: 401, the
    Basic challenge, no body."""
    status, headers, body = grafana.request("GET", "/metrics", auth=auth)
    assert (status, body) == (401, b"")
    assert headers["WWW-Authenticate"] == 'Basic realm="Grafana"'


def test_metrics_basic_auth_needs_both_settings(fresh: Callable[[str], Grafana]) -> None:
    """http_server_test.go TestHTTPServer_MetricsBasicAuth: enabled only when the
    username and the password are both set."""
    g = fresh("[metrics]\nbasic_auth_username =\n")
    assert g.request("GET", "/metrics")[0] == 200


def test_metrics_is_get_only(grafana: Grafana) -> None:
    status, headers, _ = grafana.request("HEAD", "/metrics", auth=(METRICS_USER, METRICS_PASSWORD))
    assert (status, headers["Location"]) == (302, "/login")


# --------------------------------------------------------------------------- /api/search


def _dashboard_uids() -> set[str]:
    return {
        json.loads(p.read_text())["uid"] for p in (ROLE / "files" / "dashboards").glob("*.json")
    }


def test_search_lists_the_provisioned_folder_and_dashboards(grafana: Grafana) -> None:
    hits = grafana.api().search.search_dashboards()
    folders = [h for h in hits if h["type"] == "dash-folder"]
    assert [(f["uid"], f["title"]) for f in folders] == [("bbdash", "Bloomberg")]
    dashboards = [h for h in hits if h["type"] == "dash-db"]
    assert {h["uid"] for h in dashboards} == _dashboard_uids()
    assert all(h["folderUid"] == "bbdash" and h["url"].startswith("/d/") for h in dashboards)


def test_provisioned_dashboards_by_uid(grafana: Grafana) -> None:
    """GetDashboard (pkg/api/dashboard.go) of a provisioned file: its model, marked
    provisioned (allowUiUpdates: false) with the file's name, in the provider's folder;
    an unknown uid stays 404."""
    got = grafana.api().dashboard.get_dashboard("bbdash-custom")
    assert got["dashboard"]["title"] == "Custom series"
    meta = got["meta"]
    assert meta["provisioned"] is True
    assert meta["provisionedExternalId"] == "custom-series.json"
    assert (meta["folderUid"], meta["folderTitle"]) == ("bbdash", "Bloomberg")
    with pytest.raises(GrafanaClientError) as caught:
        grafana.api().dashboard.get_dashboard("bbdash-nothing")
    assert caught.value.status_code == 404


def test_search_filters_and_pages(grafana: Grafana) -> None:
    api = grafana.api()
    everything = api.search.search_dashboards(type_="dash-db")
    assert all(h["type"] == "dash-db" for h in everything)
    some = api.search.search_dashboards(query="crypto")
    assert some and all("crypto" in h["title"].lower() for h in some)
    uid = everything[0]["uid"]
    assert [h["uid"] for h in api.search.search_dashboards(dashboard_uids=[uid])] == [uid]
    page = api.search.search_dashboards(type_="dash-db", limit=2, page=2)
    assert page == everything[2:4]


def test_search_limit_above_5000_is_422(grafana: Grafana) -> None:
    with pytest.raises(GrafanaClientError) as caught:
        grafana.api().search.search_dashboards(limit=5001)
    assert caught.value.status_code == 422
    assert caught.value.response["message"].startswith("Limit is above maximum allowed (5000)")


# --------------------------------------------------------------------------- headers, CSP, pages


def test_default_headers_on_every_response(grafana: Grafana) -> None:
    """AddDefaultResponseHeaders with the role's grafana.ini (allow_embedding false,
    x_content_type_options, x_xss_protection, no HSTS)."""
    for path in ("/api/health", "/metrics", "/api/user", "/", "/nope"):
        _, headers, _ = grafana.request("GET", path)
        assert headers["Cache-Control"] == "no-store", path
        assert headers["X-Frame-Options"] == "deny", path
        assert headers["X-Content-Type-Options"] == "nosniff", path
        assert headers["X-XSS-Protection"] == "1; mode=block", path
        assert "Strict-Transport-Security" not in headers, path


def test_csp_on_everything_after_the_monitoring_endpoints(grafana: Grafana) -> None:
    """csp.go runs after healthz, /api/health and /metrics: those carry no policy,
    every other response (JSON, redirects, 404s, pages) carries the role's template
    with a fresh nonce and $ROOT_PATH."""
    assert "Content-Security-Policy" not in grafana.request("GET", "/api/health")[1]
    nonces = set()
    for path in ("/api/user", "/nope", "/api/nope", "/"):
        policy = grafana.request("GET", path)[1]["Content-Security-Policy"]
        nonce = re.search(r"'nonce-([A-Za-z0-9+/]{22})'", policy)
        assert nonce, (path, policy)
        nonces.add(nonce.group(1))
        assert "wss://dashboard.example.org/" in policy
    assert len(nonces) == 4
    _, headers, body = grafana.request("GET", "/")
    nonce = re.search(r"'nonce-([^']+)'", headers["Content-Security-Policy"])
    assert nonce and f"nonce='{nonce.group(1)}'".encode() in body


def test_unknown_paths_want_a_signed_in_user(grafana: Grafana) -> None:
    """hs.web.NotFound(ReqSignedIn, NotFoundHandler): anonymous -> 401 JSON under
    /api, 302 to /login (with the redirect_to cookie) elsewhere; signed in -> 404."""
    status, headers, _ = grafana.request("GET", "/nope?x=1")
    assert (status, headers["Location"]) == (302, "/login")
    assert headers["Set-Cookie"].startswith("redirect_to=%2Fnope%3Fx%3D1; Path=/; HttpOnly")
    status, _, body = grafana.request("GET", "/api/nope")
    assert status == 401 and json.loads(body)["message"] == "Unauthorized"
    status, _, body = grafana.request("GET", "/api/nope", auth=(ADMIN, ADMIN_PASSWORD))
    assert (status, json.loads(body)) == (404, {"message": "Not found"})
    status, headers, _ = grafana.request("GET", "/nope", auth=(ADMIN, ADMIN_PASSWORD))
    assert status == 404 and headers["Content-Type"].startswith("text/html")


# --------------------------------------------------------------------------- login and Live


def test_login_form(grafana: Grafana) -> None:
    """LoginPost: a wrong password is the errutil error; the right one sets the
    session cookie the role's cookie settings describe (Secure, SameSite=Lax)."""
    status, _, body = grafana.request(
        "POST", "/login", {"Content-Type": "application/json"}, b'{"user":"admin","password":"x"}'
    )
    assert status == 401
    assert json.loads(body) == {
        "statusCode": 401,
        "messageId": "password-auth.failed",
        "message": "Invalid username or password",
    }
    form = json.dumps({"user": ADMIN, "password": ADMIN_PASSWORD}).encode()
    status, headers, body = grafana.request(
        "POST", "/login", {"Content-Type": "application/json"}, form
    )
    assert (status, json.loads(body)) == (200, {"message": "Logged in", "redirectUrl": "/"})
    cookie = headers["Set-Cookie"]
    assert cookie.startswith("grafana_session=")
    assert "HttpOnly" in cookie and "Secure" in cookie and "SameSite=Lax" in cookie
    session = cookie.split(";", 1)[0]
    status, _, body = grafana.request("GET", "/api/user", {"Cookie": session})
    assert status == 200 and json.loads(body)["login"] == ADMIN


def test_live_websocket_needs_a_signed_in_user(grafana: Grafana) -> None:
    """live.go registers /api/live/ws behind middleware.ReqSignedIn."""
    assert grafana.upgrade({}).startswith("HTTP/1.0 401")
    key = base64.b64encode(os.urandom(16)).decode()
    head = grafana.upgrade({"Authorization": basic(ADMIN, ADMIN_PASSWORD)}, key)
    assert head.startswith("HTTP/1.0 101"), head
    accept = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
    assert f"Sec-WebSocket-Accept: {accept}" in head


def test_live_websocket_with_the_page_session(grafana: Grafana) -> None:
    """The double's page stands for a signed-in browser: its session opens Live."""
    _, headers, _ = grafana.request("GET", "/")
    session = headers["Set-Cookie"].split(";", 1)[0]
    assert session.startswith("grafana_session=")
    assert grafana.upgrade({"Cookie": session}).startswith("HTTP/1.0 101")


@pytest.mark.parametrize(
    ("origin", "status"),
    [
        ("https://dashboard.example.org", 101),  # root_url's host
        ("https://evil.example.com", 403),
        ("http://dashboard.example.org", 403),  # not root_url's scheme
        (None, 101),  # no Origin: allowed
    ],
)
def test_live_websocket_checks_the_origin(
    grafana: Grafana, origin: str | None, status: int
) -> None:
    """live.go getCheckOriginFunc/checkAllowedOrigin; centrifuge's Upgrader answers 403."""
    head = grafana.upgrade({"Authorization": basic(ADMIN, ADMIN_PASSWORD), "Origin": origin})  # type: ignore[dict-item]
    assert head.startswith(f"HTTP/1.0 {status}"), head
    if status == 403:
        assert head.endswith("Forbidden\n")


def test_live_websocket_bad_handshakes(grafana: Grafana) -> None:
    auth = {"Authorization": basic(ADMIN, ADMIN_PASSWORD)}
    assert grafana.upgrade({**auth, "Sec-WebSocket-Version": "8"}).startswith("HTTP/1.0 400")
    assert grafana.upgrade(auth, key="not-a-key").startswith("HTTP/1.0 400")
    assert grafana.upgrade({**auth, "Upgrade": None}).startswith("HTTP/1.0 400")  # type: ignore[dict-item]


def test_test_double_inspection_endpoint(grafana: Grafana) -> None:
    """Not a Grafana API: what nginx's tests read to see the forwarded headers."""
    status, _, body = grafana.request("GET", "/api/test-double/request", {"X-Real-IP": "192.0.2.7"})
    assert status == 200
    assert json.loads(body)["headers"]["x-real-ip"] == "192.0.2.7"
