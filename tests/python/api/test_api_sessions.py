"""One identity: a Grafana sign-in is who a browser is in the API (issue 11, items 1 and 8).

The API asks Grafana (here its TEST DOUBLE, tests/python/api/grafana_double.py)
about the session cookie; nothing else a request says about its sender is trusted.
What each test shows is in its name; the database is real PostgreSQL.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest
from api_support import ApiUser, ApiWith, assert_problem, make_watchlist
from bbdash.watchlist_api.grafana_session import (
    GrafanaSessions,
    GrafanaUnavailableError,
    GrafanaUser,
    SessionRefusedError,
    SessionRotationError,
    session_cookie,
)
from bbdash.watchlist_api.settings import Settings
from fastapi.testclient import TestClient
from grafana_double import COOKIE, GrafanaDouble

SITE = "http://testserver"  # the Host TestClient sends: this site's Origin
WRITE_HEADERS = {"Origin": SITE}
NEW_LIST = {"name": "Desk", "items": [{"symbol": "BTCUSDT", "asset_type": "crypto"}]}


@pytest.fixture(scope="module")
def people(grafana: GrafanaDouble) -> dict[str, str]:
    """Grafana users and their passwords: two traders and a second Grafana admin."""
    passwords = {"carol": "carol-password-1", "dave": "dave-password-1", "erin": "erin-pass-1"}
    grafana.create_user("carol", passwords["carol"])
    grafana.create_user("dave", passwords["dave"])
    grafana.create_user("erin", passwords["erin"], admin=True)
    return passwords


@pytest.fixture
def signed_in(api_with: ApiWith, grafana: GrafanaDouble) -> Iterator[TestClient]:
    """The API wired to Grafana, with no cache of Grafana's answers (each request asks)."""
    with api_with(grafana_url=grafana.url, session_cache_seconds=0) as client:
        yield client


def as_browser(cookie: str, **headers: str) -> dict[str, str]:
    return {"Cookie": f"{COOKIE}={cookie}", **headers}


# --------------------------------------------------------------------------- who you are


def test_a_grafana_sign_in_is_the_api_user_of_that_login(
    signed_in: TestClient, grafana: GrafanaDouble, people: dict[str, str]
) -> None:
    cookie = grafana.sign_in("carol", people["carol"])
    me = signed_in.get("/v1/me", headers=as_browser(cookie))
    assert me.status_code == 200, me.text
    assert me.json()["name"] == "carol"
    assert me.json()["display_name"] == "Carol"
    # The same person again: the same user, not a second one.
    again = signed_in.get("/v1/me", headers=as_browser(grafana.sign_in("CAROL", people["carol"])))
    assert again.json()["id"] == me.json()["id"]


def test_the_signed_in_user_works_on_their_own_watchlists(
    signed_in: TestClient, grafana: GrafanaDouble, people: dict[str, str]
) -> None:
    cookie = grafana.sign_in("carol", people["carol"])
    created = signed_in.post(
        "/v1/watchlists", json=NEW_LIST, headers=as_browser(cookie, **WRITE_HEADERS)
    )
    assert created.status_code == 201, created.text
    listed = signed_in.get("/v1/watchlists", headers=as_browser(cookie)).json()
    assert [w["name"] for w in listed["data"]] == ["Desk"]


def test_one_person_never_sees_or_changes_anothers_watchlist(
    signed_in: TestClient, grafana: GrafanaDouble, people: dict[str, str]
) -> None:
    carol = as_browser(grafana.sign_in("carol", people["carol"]), **WRITE_HEADERS)
    dave = as_browser(grafana.sign_in("dave", people["dave"]), **WRITE_HEADERS)
    watchlist = signed_in.post("/v1/watchlists", json=NEW_LIST, headers=carol).json()
    path = f"/v1/watchlists/{watchlist['id']}"
    assert signed_in.get("/v1/watchlists", headers=dave).json()["data"] == []
    assert_problem(signed_in.get(path, headers=dave), 404)
    assert_problem(signed_in.delete(path, headers={**dave, "If-Match": '"v1"'}), 404)
    assert_problem(signed_in.get(f"/v1/watchlists/by-name/{watchlist['name']}", headers=dave), 404)
    assert_problem(signed_in.get("/v1/users", headers=dave), 403)
    assert signed_in.get(path, headers=carol).status_code == 200


def test_grafana_admins_are_api_admins(
    signed_in: TestClient, grafana: GrafanaDouble, people: dict[str, str]
) -> None:
    erin = as_browser(grafana.sign_in("erin", people["erin"]))
    assert signed_in.get("/v1/users", headers=erin).status_code == 200
    admin = as_browser(grafana.sign_in("admin", "test-only-grafana-admin-password"))
    me = signed_in.get("/v1/me", headers=admin).json()
    assert me["name"] == "admin"
    assert me["is_admin"] is True  # the API's bootstrap admin user: the same person


def test_an_api_key_wins_over_a_cookie(
    signed_in: TestClient, grafana: GrafanaDouble, people: dict[str, str], admin_key: str
) -> None:
    cookie = grafana.sign_in("carol", people["carol"])
    me = signed_in.get("/v1/me", headers=as_browser(cookie, Authorization=f"Bearer {admin_key}"))
    assert me.json()["name"] == "admin"


# --------------------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    "headers",
    [
        {"X-WEBAUTH-USER": "admin"},
        {"X-Grafana-User": "admin"},
        {"X-Forwarded-User": "admin", "Remote-User": "admin"},
        {"X-Grafana-Id": "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ1c2VyOjEifQ."},
    ],
    ids=["auth-proxy-header", "grafana-user", "forwarded-user", "id-token"],
)
def test_identity_headers_are_never_trusted(signed_in: TestClient, headers: dict[str, str]) -> None:
    response = signed_in.get("/v1/me", headers=headers)
    assert assert_problem(response, 401)["type"].endswith("unauthorized")


def test_no_session_and_no_key_is_401(signed_in: TestClient) -> None:
    response = signed_in.get("/v1/watchlists")
    problem = assert_problem(response, 401)
    assert "sign in to Grafana" in problem["detail"]
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_a_forged_or_ended_session_is_401(
    signed_in: TestClient, grafana: GrafanaDouble, people: dict[str, str]
) -> None:
    forged = signed_in.get("/v1/me", headers=as_browser("0123456789abcdef0123456789abcdef"))
    assert assert_problem(forged, 401)["type"].endswith("session-refused")
    cookie = grafana.sign_in("dave", people["dave"])
    assert signed_in.get("/v1/me", headers=as_browser(cookie)).status_code == 200
    # A password change revokes the user's sessions (the double has no logout route).
    lookup = grafana.call("GET", "/api/users/lookup?loginOrEmail=dave")[1]
    status, doc, _ = grafana.call(
        "PUT", f"/api/admin/users/{lookup['id']}/password", {"password": people["dave"]}
    )
    assert status == 200, doc
    assert_problem(signed_in.get("/v1/me", headers=as_browser(cookie)), 401)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
        {"Origin": SITE, "Sec-Fetch-Site": "cross-site"},
        {"Referer": f"{SITE}/watchlist-api/desk"},
    ],
    ids=["no-origin", "other-site", "opaque-origin", "fetch-metadata", "referer-only"],
)
def test_cross_site_writes_are_refused(
    signed_in: TestClient,
    grafana: GrafanaDouble,
    people: dict[str, str],
    api_dsn: str,
    headers: dict[str, str],
) -> None:
    cookie = grafana.sign_in("carol", people["carol"])
    response = signed_in.post(
        "/v1/watchlists", json=NEW_LIST, headers=as_browser(cookie, **headers)
    )
    assert assert_problem(response, 403)["type"].endswith("cross-site")
    listed = signed_in.get("/v1/watchlists", headers=as_browser(cookie)).json()
    assert listed["data"] == []  # nothing was written


def test_a_same_site_fetch_may_write(
    signed_in: TestClient, grafana: GrafanaDouble, people: dict[str, str]
) -> None:
    cookie = grafana.sign_in("carol", people["carol"])
    headers = as_browser(cookie, Origin=SITE, **{"Sec-Fetch-Site": "same-origin"})
    assert signed_in.post("/v1/watchlists", json=NEW_LIST, headers=headers).status_code == 201


def test_a_login_the_api_cannot_name_is_refused_with_the_reason(
    signed_in: TestClient, grafana: GrafanaDouble
) -> None:
    grafana.create_user("frank@example.test", "frank-password-1")
    cookie = grafana.sign_in("frank@example.test", "frank-password-1")
    problem = assert_problem(signed_in.get("/v1/me", headers=as_browser(cookie)), 403)
    assert "frank@example.test" in problem["detail"]


# --------------------------------------------------------------------------- rotation


def test_the_page_keeps_working_across_a_token_rotation(
    signed_in: TestClient, grafana: GrafanaDouble, people: dict[str, str]
) -> None:
    cookie = grafana.sign_in("dave", people["dave"])
    assert signed_in.get("/v1/me", headers=as_browser(cookie)).status_code == 200
    grafana.age_sessions()
    due = signed_in.get("/v1/me", headers=as_browser(cookie))
    problem = assert_problem(due, 401)
    assert problem["type"].endswith("session-rotation")
    assert "/api/user/auth-tokens/rotate" in problem["detail"]
    rotated = grafana.rotate(cookie)
    assert rotated != cookie
    me = signed_in.get("/v1/me", headers=as_browser(rotated))
    assert me.status_code == 200
    assert me.json()["name"] == "dave"


# --------------------------------------------------------------------------- Grafana down


def test_grafana_down_is_503_and_keys_still_work(api_with: ApiWith, admin_key: str) -> None:
    with api_with(grafana_url="http://127.0.0.1:9", grafana_timeout_seconds=0.5) as client:
        response = client.get("/v1/me", headers=as_browser("0123456789abcdef0123456789abcdef"))
        assert assert_problem(response, 503)["type"].endswith("grafana-unavailable")
        assert response.headers["retry-after"] == "5"
        keyed = client.get("/v1/me", headers={"Authorization": f"Bearer {admin_key}"})
        assert keyed.status_code == 200


def test_without_a_grafana_url_only_keys_sign_in(client: TestClient, admin: ApiUser) -> None:
    response = client.get("/v1/me", headers=as_browser("0123456789abcdef0123456789abcdef"))
    assert_problem(response, 401)
    assert client.get("/v1/me", headers=admin.headers).status_code == 200
    make_watchlist(client, admin, "keys-only")


# --------------------------------------------------------------------------- the client alone
# Grafana's answers, as grafana/grafana v12.4.3 writes them: GetSignedInUser's dto
# (pkg/api/user.go) and errutil's public error for authn.ErrTokenNeedsRotation
# (pkg/services/authn/errors.go, pkg/apimachinery/errutil/errors.go).
_USER = {"id": 7, "uid": "u7", "login": "Carol", "name": "Carol C", "isGrafanaAdmin": False}
_ROTATE = {"message": "Unauthorized", "messageId": "session.token.rotate", "statusCode": 401}
_UNAUTHORIZED = {"message": "Unauthorized", "messageId": "auth.unauthorized", "statusCode": 401}


def _sessions(handler: httpx.MockTransport, cache_seconds: float = 5.0) -> GrafanaSessions:
    return GrafanaSessions(
        "http://grafana:3000/",
        cookie_name=COOKIE,
        cache_seconds=cache_seconds,
        timeout_seconds=1.0,
        transport=handler,
    )


def test_the_client_sends_only_the_session_cookie_and_caches_the_answer() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=_USER)

    async def twice() -> tuple[GrafanaUser, GrafanaUser]:
        sessions = _sessions(httpx.MockTransport(answer))
        try:
            return await sessions.user("tok"), await sessions.user("tok")
        finally:
            await sessions.close()

    first, second = asyncio.run(twice())
    assert first == second
    assert (first.login, first.name, first.is_admin) == ("carol", "Carol C", False)
    assert len(seen) == 1  # the second answer came from the cache
    assert str(seen[0].url) == "http://grafana:3000/api/user"
    assert seen[0].headers["cookie"] == f"{COOKIE}=tok"


def test_the_client_keeps_no_cookie_grafana_sets() -> None:
    seen: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["cookie"])
        rotated = f"{COOKIE}=other-browsers-token; Path=/; HttpOnly"
        return httpx.Response(200, json=_USER, headers={"Set-Cookie": rotated})

    async def two_browsers() -> int:
        sessions = _sessions(httpx.MockTransport(answer), cache_seconds=0)
        try:
            await sessions.user("first")
            await sessions.user("second")
            return len(sessions._client.cookies)
        finally:
            await sessions.close()

    assert asyncio.run(two_browsers()) == 0
    assert seen == [f"{COOKIE}=first", f"{COOKIE}=second"]


@pytest.mark.parametrize(
    ("status", "body", "raised"),
    [
        (401, _ROTATE, SessionRotationError),
        (401, _UNAUTHORIZED, SessionRefusedError),
        (403, {"message": "Forbidden"}, SessionRefusedError),
        (500, {"message": "Internal Server Error"}, GrafanaUnavailableError),
        (200, {"message": "not a user"}, GrafanaUnavailableError),
        (200, {"login": "", "isGrafanaAdmin": False}, GrafanaUnavailableError),
        (200, {"login": "x", "isGrafanaAdmin": "yes"}, GrafanaUnavailableError),
    ],
    ids=["rotate", "unauthorized", "forbidden", "server-error", "no-login", "empty", "bad-admin"],
)
def test_the_client_tells_each_grafana_answer_apart(
    status: int, body: dict[str, object], raised: type[Exception]
) -> None:
    async def ask() -> None:
        sessions = _sessions(httpx.MockTransport(lambda _: httpx.Response(status, json=body)))
        try:
            await sessions.user("tok")
        finally:
            await sessions.close()

    with pytest.raises(raised):
        asyncio.run(ask())


def test_the_client_does_not_cache_a_refusal() -> None:
    answers = iter([httpx.Response(401, json=_ROTATE), httpx.Response(200, json=_USER)])

    async def rotate_then_ask() -> str:
        sessions = _sessions(httpx.MockTransport(lambda _: next(answers)))
        try:
            with pytest.raises(SessionRotationError):
                await sessions.user("tok")
            return (await sessions.user("tok")).login
        finally:
            await sessions.close()

    assert asyncio.run(rotate_then_ask()) == "carol"


def test_grafana_unreachable_is_unavailable_not_refused() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    async def ask() -> None:
        sessions = _sessions(httpx.MockTransport(refuse))
        try:
            await sessions.user("tok")
        finally:
            await sessions.close()

    with pytest.raises(GrafanaUnavailableError, match="ConnectError"):
        asyncio.run(ask())


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("", None),
        (f"{COOKIE}=abc", "abc"),
        (f"theme=dark; {COOKIE}=abc; other=1", "abc"),
        (f"{COOKIE}=", None),
        (f"{COOKIE}={'a' * 600}", None),
        ('broken="', None),
        ("grafana_session_expiry=1700000000", None),
    ],
)
def test_the_session_cookie_is_read_from_the_cookie_header(
    header: str | None, expected: str | None
) -> None:
    assert session_cookie(header, COOKIE) == expected


def test_settings_refuse_a_grafana_url_with_a_path() -> None:
    with pytest.raises(ValueError, match="grafana_url"):
        Settings.model_validate({"grafana_url": "http://grafana:3000/api"})
