"""One identity on the deployed stack (issue 11, items 1 and 8), from outside the test
host, through nginx: the inventory's person (bloomberg_users: trader) signs into
Grafana (here its TEST DOUBLE, tests/doubles/grafana/, not Grafana) and is the
watchlist API's user of the same login; nothing else a request says about its
sender is trusted, and a cookie-signed write from another site is refused.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from http.cookies import SimpleCookie
from typing import Any

import pytest
from conftest import Site
from test_data import vault
from test_present import presentation_layer  # noqa: F401 - skips when nginx is absent

LOGIN = "trader"
COOKIE = "grafana_session"
API = "/watchlist-api/v1"


def call(
    site: Site, method: str, path: str, body: object = None, **headers: str
) -> tuple[int, Any, SimpleCookie]:
    """One HTTPS request; the JSON answer and every cookie it sets."""
    conn: http.client.HTTPConnection = site.connection()
    try:
        data = None if body is None else json.dumps(body).encode()
        sent = {"Host": site.name, "Accept": "application/json", **headers}
        if data is not None:
            sent["Content-Type"] = "application/json"
        conn.request(method, path, body=data, headers=sent)
        response = conn.getresponse()
        raw = response.read()
        jar: SimpleCookie = SimpleCookie()
        for value in response.msg.get_all("Set-Cookie") or []:
            jar.load(value)
        try:
            doc = json.loads(raw) if raw.strip() else None
        except ValueError:
            doc = raw.decode(errors="replace")
        return response.status, doc, jar
    finally:
        conn.close()


def sign_in(site: Site) -> str:
    """Grafana's login form posts this: the session cookie's value."""
    password = vault()["vault_bloomberg_trader_password"]
    status, doc, jar = call(site, "POST", "/login", {"user": LOGIN, "password": password})
    assert status == 200, doc
    return jar[COOKIE].value


@pytest.fixture
def cookie(site: Site) -> str:
    return sign_in(site)


@pytest.fixture
def origin(site: Site) -> str:
    return f"https://{site.name}"


@pytest.fixture
def desk_watchlist(site: Site, cookie: str, origin: str) -> Iterator[dict[str, Any]]:
    """A watchlist the trader makes from the browser (a symbol the demo already collects),
    removed afterwards."""
    body = {"name": "verify-desk", "items": [{"symbol": "BTC/USDT", "asset_type": "crypto"}]}
    status, doc, _ = call(
        site, "POST", f"{API}/watchlists", body, Cookie=f"{COOKIE}={cookie}", Origin=origin
    )
    assert status == 201, doc
    yield doc
    status, gone, _ = call(
        site,
        "DELETE",
        f"{API}/watchlists/{doc['id']}",
        Cookie=f"{COOKIE}={cookie}",
        Origin=origin,
        **{"If-Match": f'"v{doc["version"]}"'},
    )
    assert status == 204, gone


def test_the_declared_person_exists_in_grafana_and_in_the_api(site: Site) -> None:
    admin = vault()["vault_watchlist_api_admin_key"]
    status, users, _ = call(
        site, "GET", f"{API}/users?name_prefix={LOGIN}", Authorization=f"Bearer {admin}"
    )
    assert status == 200, users
    assert [u["name"] for u in users["data"]] == [LOGIN]


def test_a_grafana_sign_in_is_the_api_user_of_that_login(site: Site, cookie: str) -> None:
    status, me, _ = call(site, "GET", f"{API}/me", Cookie=f"{COOKIE}={cookie}")
    assert status == 200, me
    assert me["name"] == LOGIN


def test_the_trader_works_on_their_own_watchlists_only(
    site: Site, cookie: str, desk_watchlist: dict[str, Any]
) -> None:
    status, listed, _ = call(site, "GET", f"{API}/watchlists", Cookie=f"{COOKIE}={cookie}")
    assert status == 200, listed
    names = [w["name"] for w in listed["data"]]
    assert names == [desk_watchlist["name"]]  # not the admin's declared demo watchlists


@pytest.mark.parametrize(
    "headers",
    [{}, {"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site"}],
    ids=["no-origin", "other-site", "fetch-metadata"],
)
def test_a_cross_site_write_is_refused(
    site: Site, cookie: str, origin: str, headers: dict[str, str]
) -> None:
    if "Sec-Fetch-Site" in headers:
        headers = {**headers, "Origin": origin}
    body = {"name": "verify-forged", "items": []}
    status, problem, _ = call(
        site, "POST", f"{API}/watchlists", body, Cookie=f"{COOKIE}={cookie}", **headers
    )
    assert status == 403, problem
    assert problem["type"].endswith("cross-site")
    _, listed, _ = call(site, "GET", f"{API}/watchlists", Cookie=f"{COOKIE}={cookie}")
    assert "verify-forged" not in [w["name"] for w in listed["data"]]


@pytest.mark.parametrize(
    "headers",
    [{"X-WEBAUTH-USER": LOGIN}, {"X-Grafana-User": "admin"}, {"X-Forwarded-User": "admin"}],
    ids=["auth-proxy", "grafana-user", "forwarded-user"],
)
def test_identity_headers_from_outside_are_not_trusted(site: Site, headers: dict[str, str]) -> None:
    status, problem, _ = call(site, "GET", f"{API}/me", **headers)
    assert status == 401, problem


def test_a_forged_cookie_is_refused(site: Site) -> None:
    status, problem, _ = call(
        site, "GET", f"{API}/me", Cookie=f"{COOKIE}=0123456789abcdef0123456789abcdef"
    )
    assert status == 401, problem
    assert problem["type"].endswith("session-refused")


# The double's /api/test-double/age-sessions (not a Grafana API) stands for ten
# minutes passing (token_rotation_interval_minutes).
@pytest.mark.doubles
def test_the_session_keeps_working_across_a_rotation(site: Site) -> None:
    cookie = sign_in(site)  # never asked about yet: not in the API's cache
    status, doc, _ = call(site, "POST", "/api/test-double/age-sessions")
    assert status == 200, doc
    status, problem, _ = call(site, "GET", f"{API}/me", Cookie=f"{COOKIE}={cookie}")
    assert status == 401, problem
    assert problem["type"].endswith("session-rotation")
    status, doc, jar = call(
        site, "POST", "/api/user/auth-tokens/rotate", Cookie=f"{COOKIE}={cookie}"
    )
    assert status == 200, doc
    rotated = jar[COOKIE].value
    status, me, _ = call(site, "GET", f"{API}/me", Cookie=f"{COOKIE}={rotated}")
    assert status == 200, me
    assert me["name"] == LOGIN


def test_identity_headers_from_another_container_are_not_trusted(host) -> None:
    """Any container on bloomberg-net reaches the API without nginx (here Prometheus'):
    a header naming a user is not a sign-in there either."""
    result = host.run(
        "docker exec bloomberg-prometheus wget -S -O /dev/null -T 10 "
        "--header 'X-WEBAUTH-USER: %s' --header 'X-Grafana-User: admin' "
        "http://bloomberg-watchlist-api:8000/v1/me",
        LOGIN,
    )
    assert result.rc != 0
    assert "401 Unauthorized" in result.stderr, result.stderr
