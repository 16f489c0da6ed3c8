"""The hot read (hot_read.py) answers GET /v1/watchlists/{id} as the FastAPI route does.

Each request goes to two apps on the same database, one with the hot read and one
without it: the same status, headers and body bytes, for a success and for every
refusal the hot read leaves to the route. Then: a success never reaches the
route, a refusal always does, a database error gets the app's own problem
document, and the request is counted under its route in /metrics.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from api_support import (
    ApiUser,
    assert_problem,
    closed_port_dsn,
    make_settings,
    make_watchlist,
)
from bbdash.watchlist_api.app import create_app
from bbdash.watchlist_api.auth import require_caller
from bbdash.watchlist_api.hot_read import HotReadMiddleware
from bbdash.watchlist_api.problems import ProblemError
from bbdash.watchlist_api.schemas.common import MAX_ID
from bbdash.watchlist_api.settings import Settings
from fastapi import FastAPI
from fastapi.testclient import TestClient


def _without_hot_read(app: FastAPI) -> FastAPI:
    # Before the first request, while Starlette has not built its middleware stack yet.
    app.user_middleware = [m for m in app.user_middleware if m.cls is not HotReadMiddleware]
    return app


@pytest.fixture
def plain(settings: Settings) -> Iterator[TestClient]:
    """The same API on the same database, every request through the FastAPI route."""
    app = _without_hot_read(create_app(settings))
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def _answer(client: TestClient, path: str, headers: dict[str, str]) -> tuple[int, Any, bytes]:
    response = client.get(path, headers=headers)
    return response.status_code, sorted(response.headers.items()), response.content


def test_every_answer_is_the_routes_own(
    client: TestClient, plain: TestClient, alice: ApiUser, bob: ApiUser, admin: ApiUser
) -> None:
    mine = make_watchlist(client, alice)
    theirs = make_watchlist(client, bob, "theirs")
    empty = make_watchlist(client, alice, "empty", items=[])
    path = f"/v1/watchlists/{mine['id']}"
    cases = [
        (path, alice.headers),
        (path, {"X-API-Key": alice.key}),
        (path + "?unused=1", alice.headers),
        (f"/v1/watchlists/{empty['id']}", alice.headers),
        (f"/v1/watchlists/{theirs['id']}", alice.headers),  # someone else's: 404
        (path, admin.headers),  # the admin key reads its own watchlists only
        ("/v1/watchlists/999999", alice.headers),
        (path, {}),
        (path, {"Authorization": "Bearer bbd_unknown"}),
        (path, {"Authorization": "Basic " + alice.key}),
        ("/v1/watchlists/0", alice.headers),
        (f"/v1/watchlists/{MAX_ID}", alice.headers),
        (f"/v1/watchlists/{MAX_ID + 1}", alice.headers),
        (f"/v1/watchlists/0{mine['id']}", alice.headers),
        (path + "/", alice.headers),
    ]
    statuses = []
    for case_path, headers in cases:
        hot = _answer(client, case_path, headers)
        assert hot == _answer(plain, case_path, headers), case_path
        statuses.append(hot[0])
    # The cases cover the success and each kind of refusal.
    assert set(statuses) >= {200, 401, 404, 422}
    assert statuses[0] == 200
    body = client.get(path, headers=alice.headers).json()
    assert [item["symbol"] for item in body["items"]] == ["BTC/USDT", "AAPL"]


def test_a_success_never_reaches_the_route_and_a_refusal_always_does(
    client: TestClient, alice: ApiUser
) -> None:
    mine = make_watchlist(client, alice)

    def route_reached() -> None:
        raise ProblemError(418, "the FastAPI route answered")

    app: Any = client.app
    app.dependency_overrides[require_caller] = route_reached
    ok = client.get(f"/v1/watchlists/{mine['id']}", headers=alice.headers)
    assert ok.status_code == 200, ok.text
    assert ok.headers["etag"] == f'"v{mine["version"]}"'
    assert ok.json()["id"] == mine["id"]
    for headers, path in (
        (alice.headers, "/v1/watchlists/999999"),
        ({}, f"/v1/watchlists/{mine['id']}"),
    ):
        assert_problem(client.get(path, headers=headers), 418)


def test_a_database_error_gets_the_apps_problem_document(
    secrets_dir: Path, admin_key: str, metrics_token: str
) -> None:
    del metrics_token
    settings = make_settings(closed_port_dsn(), secrets_dir, db_timeout_seconds=1.0)
    headers = {"Authorization": f"Bearer {admin_key}"}
    answers = []
    for app in (create_app(settings), _without_hot_read(create_app(settings))):
        with TestClient(app, raise_server_exceptions=False) as test_client:
            response = test_client.get("/v1/watchlists/1", headers=headers)
            body = assert_problem(response, 503)
            assert body["type"].endswith("database-unavailable")
            assert response.headers["retry-after"] == "5"
            answers.append((sorted(response.headers.items()), response.content))
    assert answers[0] == answers[1]


def test_a_hot_read_is_counted_under_its_route(
    client: TestClient, alice: ApiUser, metrics_token: str
) -> None:
    mine = make_watchlist(client, alice)
    sample = (
        'bbdash_api_requests_total{method="GET",route="/v1/watchlists/{watchlist_id}",status="200"}'
    )

    def count() -> float:
        text = client.get("/metrics", headers={"Authorization": f"Bearer {metrics_token}"}).text
        lines = [line for line in text.splitlines() if line.startswith(sample)]
        return float(lines[0].rsplit(" ", 1)[1]) if lines else 0.0

    before = count()
    for _ in range(3):
        assert client.get(f"/v1/watchlists/{mine['id']}", headers=alice.headers).status_code == 200
    assert count() == before + 3


def test_postgresql_renders_a_watchlist_as_the_other_routes_do(
    client: TestClient, alice: ApiUser, api_dsn: str
) -> None:
    """The watchlist's JSON comes from PostgreSQL (queries/watchlists.py), the lists'
    from orjson: the same values, written the same way, timestamps included (also one
    on a whole second, where the two could differ)."""
    mine = make_watchlist(client, alice)
    with psycopg.connect(api_dsn, autocommit=True) as conn:
        conn.execute(
            "UPDATE watchlist_items SET created_at = '2026-01-02 03:04:05+00' "
            "WHERE watchlist_id = %s AND symbol = 'AAPL'",
            (mine["id"],),
        )
    one = client.get(f"/v1/watchlists/{mine['id']}", headers=alice.headers).json()
    listed = client.get("/v1/watchlists", headers=alice.headers).json()["data"]
    items = client.get(f"/v1/watchlists/{mine['id']}/items", headers=alice.headers).json()["data"]
    assert one["items"] == items
    assert {k: v for k, v in one.items() if k != "items"} == {
        k: v for k, v in listed[0].items() if k != "item_count"
    }
    assert [item["created_at"] for item in items if item["symbol"] == "AAPL"] == [
        "2026-01-02T03:04:05+00:00"
    ]
