"""The Grafana TEST DOUBLE (tests/doubles/grafana, not Grafana) as a subprocess, for the
API's sign-in tests: Grafana itself cannot run here (tests/doubles/grafana/README.md).

It runs with a minimal grafana.ini (the admin's login and password); sessions,
users and rotation follow Grafana 12.4's HTTP API as that README cites.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from base64 import b64encode
from dataclasses import dataclass
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[3]
DOUBLE = REPO / "tests" / "doubles" / "grafana" / "server.py"
COOKIE = "grafana_session"
ADMIN = "admin"
ADMIN_PASSWORD = "test-only-grafana-admin-password"


@dataclass
class GrafanaDouble:
    url: str
    process: subprocess.Popen[bytes]

    def call(
        self,
        method: str,
        path: str,
        body: object = None,
        *,
        auth: tuple[str, str] | None = (ADMIN, ADMIN_PASSWORD),
        cookie: str | None = None,
    ) -> tuple[int, Any, SimpleCookie]:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if auth is not None:
            headers["Authorization"] = "Basic " + b64encode(":".join(auth).encode()).decode()
        if cookie is not None:
            headers["Cookie"] = f"{COOKIE}={cookie}"
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data, headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                status, raw, set_cookie = answer.status, answer.read(), answer.headers
        except urllib.error.HTTPError as error:
            status, raw, set_cookie = error.code, error.read(), error.headers
        jar: SimpleCookie = SimpleCookie()
        for value in set_cookie.get_all("Set-Cookie") or []:
            jar.load(value)
        try:
            doc = json.loads(raw) if raw.strip() else None
        except ValueError:  # a page, not JSON
            doc = raw.decode(errors="replace")
        return status, doc, jar

    def create_user(self, login: str, password: str, *, admin: bool = False) -> int:
        status, doc, _ = self.call(
            "POST",
            "/api/admin/users",
            {
                "name": login.title(),
                "email": f"{login}@example.test",
                "login": login,
                "password": password,
            },
        )
        assert status == 200, doc
        user_id = int(doc["id"])
        if admin:
            status, doc, _ = self.call(
                "PUT", f"/api/admin/users/{user_id}/permissions", {"isGrafanaAdmin": True}
            )
            assert status == 200, doc
        return user_id

    def sign_in(self, login: str, password: str) -> str:
        """POST /login as the browser's login form does: the session cookie's value."""
        status, doc, jar = self.call(
            "POST", "/login", {"user": login, "password": password}, auth=None
        )
        assert status == 200, doc
        return jar[COOKIE].value

    def rotate(self, cookie: str) -> str:
        """POST /api/user/auth-tokens/rotate, as Grafana's frontend does: the new cookie."""
        status, doc, jar = self.call(
            "POST", "/api/user/auth-tokens/rotate", auth=None, cookie=cookie
        )
        assert status == 200, doc
        return jar[COOKIE].value

    def age_sessions(self) -> None:
        """Test-only endpoint of the double: every session becomes due for rotation."""
        status, doc, _ = self.call("POST", "/api/test-double/age-sessions", auth=None)
        assert status == 200, doc

    # -------------------------------------------------------------- service accounts

    def call_with_token(
        self, method: str, path: str, body: object = None, *, token: str
    ) -> tuple[int, Any]:
        """A request as a service account: Authorization: Bearer <token>."""
        headers = {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "Authorization": f"Bearer {token}",
        }
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data, headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                status, raw = answer.status, answer.read()
        except urllib.error.HTTPError as error:
            status, raw = error.code, error.read()
        return status, json.loads(raw) if raw.strip() else None

    def create_service_account(self, name: str, role: str = "None") -> int:
        """POST /api/serviceaccounts as the admin (201): the account's id."""
        status, doc, _ = self.call("POST", "/api/serviceaccounts", {"name": name, "role": role})
        assert status == 201, doc
        return int(doc["id"])

    def service_account_token(
        self, account_id: int, name: str | None = None, seconds_to_live: int = 0
    ) -> str:
        """POST /api/serviceaccounts/:id/tokens as the admin: the key (glsa_...),
        which Grafana shows only this once."""
        body = {"name": name or f"token-{time.time_ns()}", "secondsToLive": seconds_to_live}
        status, doc, _ = self.call("POST", f"/api/serviceaccounts/{account_id}/tokens", body)
        assert status == 200, doc
        return str(doc["key"])

    def create_folder(self, uid: str, title: str, parent_uid: str = "") -> dict[str, Any]:
        """POST /api/folders as the admin: the folder."""
        body = {"uid": uid, "title": title}
        if parent_uid:
            body["parentUid"] = parent_uid
        status, doc, _ = self.call("POST", "/api/folders", body)
        assert status == 200, doc
        return dict(doc)

    def grant_folder(self, uid: str, user_id: int, permission: str) -> None:
        """POST /api/access-control/folders/:uid/users/:id as the admin ("View",
        "Edit", "Admin"; "" removes it). A service account is a user there."""
        status, doc, _ = self.call(
            "POST", f"/api/access-control/folders/{uid}/users/{user_id}", {"permission": permission}
        )
        assert status == 200, doc

    def desk_writer(self, folder_uid: str, name: str = "desks", permission: str = "Admin") -> str:
        """What the grafana role sets up for the watchlist API: a service account
        without an org role, `permission` on the (created) folder, a token: the
        token."""
        self.create_folder(folder_uid, folder_uid.title())
        account = self.create_service_account(name, "None")
        self.grant_folder(folder_uid, account, permission)
        return self.service_account_token(account)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


def start(base: Path) -> GrafanaDouble:
    (base / "data").mkdir(parents=True)
    (base / "provisioning").mkdir()
    ini = base / "grafana.ini"
    ini.write_text(f"[security]\nadmin_user = {ADMIN}\nadmin_password = {ADMIN_PASSWORD}\n")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {
        **os.environ,
        "GF_PATHS_CONFIG": str(ini),
        "GF_PATHS_DATA": str(base / "data"),
        "GF_PATHS_PROVISIONING": str(base / "provisioning"),
    }
    process = subprocess.Popen(
        [sys.executable, str(DOUBLE), "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return GrafanaDouble(f"http://127.0.0.1:{port}", process)
        except OSError:
            if process.poll() is not None:
                raise AssertionError("the Grafana double exited") from None
            time.sleep(0.1)
    process.kill()
    raise AssertionError("the Grafana double did not listen")
