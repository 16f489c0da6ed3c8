"""Concurrent writers against a real uvicorn server and PostgreSQL: optimistic
concurrency must let exactly one of several racing writes win, and limits and
uniqueness must hold under the race."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import psycopg
import pytest
from api_support import (
    ApiUser,
    admin_user,
    live_server,
    make_settings,
    make_user,
    make_watchlist,
)
from bbdash.watchlist_api.app import create_app
from fastapi.testclient import TestClient

RACERS = 12


@pytest.fixture
def server(
    api_dsn: str, secrets_dir: Path, admin_key: str, metrics_token: str
) -> Iterator[tuple[str, ApiUser]]:
    del metrics_token
    settings = make_settings(api_dsn, secrets_dir, max_items_per_watchlist=5, pool_max_size=12)
    with TestClient(create_app(settings)) as setup:
        user = make_user(setup, admin_user(setup, admin_key), "racer")
        make_watchlist(setup, user, "shared")
    with live_server(settings) as base:
        yield base, user


def _race(base: str, request: Callable[[httpx.Client, int], httpx.Response]) -> list[int]:
    with (
        httpx.Client(base_url=base, timeout=20) as client,
        ThreadPoolExecutor(RACERS) as pool,
    ):
        # Warm the connection pool first so the requests really overlap.
        return [r.status_code for r in pool.map(lambda i: request(client, i), range(RACERS))]


def _watchlist_id(base: str, user: ApiUser) -> int:
    response = httpx.get(f"{base}/v1/watchlists/by-name/shared", headers=user.headers)
    return int(response.json()["id"])


def test_same_if_match_exactly_one_wins(server: tuple[str, ApiUser], api_dsn: str) -> None:
    base, user = server
    wid = _watchlist_id(base, user)
    statuses = _race(
        base,
        lambda c, i: c.patch(
            f"/v1/watchlists/{wid}",
            json={"description": f"writer {i}"},
            headers={**user.headers, "If-Match": '"v1"'},
        ),
    )
    assert Counter(statuses) == {200: 1, 412: RACERS - 1}
    with psycopg.connect(api_dsn) as conn:
        assert conn.execute("SELECT version FROM watchlists WHERE id = %s", (wid,)).fetchone() == (
            2,
        )


def test_same_body_version_exactly_one_wins(server: tuple[str, ApiUser]) -> None:
    base, user = server
    wid = _watchlist_id(base, user)
    statuses = _race(
        base,
        lambda c, i: c.patch(
            f"/v1/watchlists/{wid}",
            json={"description": f"writer {i}", "version": 1},
            headers=user.headers,
        ),
    )
    assert Counter(statuses) == {200: 1, 409: RACERS - 1}


def test_no_lost_update_between_two_readers(server: tuple[str, ApiUser]) -> None:
    base, user = server
    wid = _watchlist_id(base, user)
    with httpx.Client(base_url=base, headers=user.headers) as client:
        etag_a = client.get(f"/v1/watchlists/{wid}").headers["etag"]
        etag_b = client.get(f"/v1/watchlists/{wid}").headers["etag"]
        first = client.patch(
            f"/v1/watchlists/{wid}",
            json={"description": "A"},
            headers={"If-Match": etag_a},
        )
        second = client.patch(
            f"/v1/watchlists/{wid}",
            json={"enabled": False},
            headers={"If-Match": etag_b},
        )
        assert first.status_code == 200
        assert second.status_code == 412
        assert second.headers["etag"] == first.headers["etag"]
        final = client.get(f"/v1/watchlists/{wid}").json()
    assert final["description"] == "A"
    assert final["enabled"] is True


def test_racing_adds_of_one_symbol_store_it_once(server: tuple[str, ApiUser], api_dsn: str) -> None:
    base, user = server
    wid = _watchlist_id(base, user)
    statuses = _race(
        base,
        lambda c, _: c.post(
            f"/v1/watchlists/{wid}/items",
            json={"symbol": "SOL/USDT", "asset_type": "crypto"},
            headers=user.headers,
        ),
    )
    assert Counter(statuses) == {201: 1, 409: RACERS - 1}
    with psycopg.connect(api_dsn) as conn:
        count = conn.execute(
            "SELECT count(*) FROM watchlist_items WHERE symbol = 'SOL/USDT'"
        ).fetchone()
    assert count == (1,)


def test_item_limit_holds_under_racing_adds(server: tuple[str, ApiUser], api_dsn: str) -> None:
    base, user = server
    wid = _watchlist_id(base, user)  # already holds 2 of the 5 allowed
    statuses = _race(
        base,
        lambda c, i: c.post(
            f"/v1/watchlists/{wid}/items",
            json={"symbol": f"T{i}", "asset_type": "stock"},
            headers=user.headers,
        ),
    )
    assert Counter(statuses) == {201: 3, 409: RACERS - 3}
    with psycopg.connect(api_dsn) as conn:
        assert conn.execute("SELECT count(*) FROM watchlist_items").fetchone() == (5,)


def test_racing_syncs_converge_on_one_watchlist(server: tuple[str, ApiUser], api_dsn: str) -> None:
    base, user = server
    body = {"items": [{"symbol": "AAPL", "asset_type": "stock"}]}
    with (
        httpx.Client(base_url=base, timeout=20) as client,
        ThreadPoolExecutor(RACERS) as pool,
    ):
        responses = list(
            pool.map(
                lambda _: client.put(
                    "/v1/watchlists/by-name/declared", json=body, headers=user.headers
                ),
                range(RACERS),
            )
        )
    assert {r.status_code for r in responses} == {200}
    assert sum(r.json()["created"] for r in responses) == 1
    assert sum(r.json()["changed"] for r in responses) == 1
    with psycopg.connect(api_dsn) as conn:
        rows = conn.execute("SELECT count(*) FROM watchlists WHERE name = 'declared'").fetchone()
    assert rows == (1,)
