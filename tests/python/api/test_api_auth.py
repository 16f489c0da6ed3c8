"""Authentication and isolation: keys, admin-only routes, and user A never seeing B's data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from api_support import (
    LAYOUT,
    ApiUser,
    ApiWith,
    assert_problem,
    dump_tables,
    make_user,
    make_watchlist,
)
from fastapi.testclient import TestClient
from influx_custom import start_custom_influxdb


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer "},
        {"Authorization": "Bearer bbd_not-a-real-key"},
        {"Authorization": "Basic YWxpY2U6c2VjcmV0"},
        {"X-API-Key": "x" * 5000},
    ],
    ids=["none", "empty-bearer", "unknown-key", "basic-auth", "huge-key"],
)
def test_requests_without_a_valid_key_are_401(client: TestClient, headers: dict[str, str]) -> None:
    response = client.get("/v1/watchlists", headers=headers)
    assert_problem(response, 401)
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_both_header_styles_authenticate(client: TestClient, alice: ApiUser) -> None:
    assert client.get("/v1/me", headers=alice.headers).json()["name"] == "alice"
    assert client.get("/v1/me", headers={"X-API-Key": alice.key}).json()["name"] == "alice"


def test_only_healthz_is_public(client: TestClient) -> None:
    assert client.get("/healthz").status_code == 200
    for path in (
        "/metrics",
        "/v1/openapi.json",
        "/v1/me",
        "/v1/layouts",
        "/v1/alert-rules",
    ):
        assert_problem(client.get(path), 401)


def test_keys_are_stored_hashed(client: TestClient, alice: ApiUser, api_dsn: str) -> None:
    with psycopg.connect(api_dsn) as conn:
        rows = conn.execute("SELECT prefix, key_hash FROM api_keys").fetchall()
    for prefix, digest in rows:
        assert alice.key.encode() not in bytes(digest)
        assert len(bytes(digest)) == 32
        assert len(prefix) <= 12
    listed = client.get(f"/v1/users/{alice.id}/api-keys", headers=alice.headers).json()["data"]
    assert listed and all("key" not in k for k in listed)
    assert alice.key.startswith(listed[0]["prefix"])


def test_revoked_key_stops_working_at_once(client: TestClient, alice: ApiUser) -> None:
    keys = client.get(f"/v1/users/{alice.id}/api-keys", headers=alice.headers).json()["data"]
    assert client.get("/v1/me", headers=alice.headers).status_code == 200  # now cached
    revoked = client.delete(f"/v1/users/{alice.id}/api-keys/{keys[0]['id']}", headers=alice.headers)
    assert revoked.status_code == 204
    assert_problem(client.get("/v1/me", headers=alice.headers), 401)


def test_expired_key_is_refused(
    client: TestClient, admin: ApiUser, alice: ApiUser, api_dsn: str
) -> None:
    soon = (datetime.now(UTC) + timedelta(minutes=1)).isoformat()
    created = client.post(
        f"/v1/users/{alice.id}/api-keys",
        json={"name": "old", "expires_at": soon},
        headers=admin.headers,
    )
    assert created.status_code == 201
    with psycopg.connect(api_dsn, autocommit=True) as conn:  # a minute later
        conn.execute(
            "UPDATE api_keys SET expires_at = now() - interval '1 second' WHERE id = %s",
            (created.json()["id"],),
        )
    assert_problem(client.get("/v1/me", headers={"X-API-Key": created.json()["key"]}), 401)


def test_a_key_cannot_be_created_expired(
    client: TestClient, admin: ApiUser, alice: ApiUser
) -> None:
    """The hostile-input review created a key already expired (201, a key that could
    never be used): a 422 naming expires_at now."""
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    refused = client.post(
        f"/v1/users/{alice.id}/api-keys",
        json={"name": "old", "expires_at": past},
        headers=admin.headers,
    )
    problem = assert_problem(refused, 422)
    assert problem["errors"][0]["field"] == "expires_at"
    assert "not in the future" in problem["errors"][0]["detail"]


def test_user_management_needs_the_admin_key(client: TestClient, alice: ApiUser) -> None:
    assert_problem(client.get("/v1/users", headers=alice.headers), 403)
    assert_problem(client.post("/v1/users", json={"name": "mallory"}, headers=alice.headers), 403)
    assert_problem(client.delete(f"/v1/users/{alice.id}", headers=alice.headers), 403)
    assert_problem(client.get("/metrics", headers=alice.headers), 401)


def test_admin_manages_users(client: TestClient, admin: ApiUser) -> None:
    created = client.post(
        "/v1/users",
        json={"name": "Dave", "display_name": "Dave D."},
        headers=admin.headers,
    )
    assert created.status_code == 201
    assert created.json()["name"] == "dave"
    assert_problem(client.post("/v1/users", json={"name": "DAVE"}, headers=admin.headers), 409)
    listed = client.get("/v1/users", headers=admin.headers).json()["data"]
    assert [u["name"] for u in listed] == ["admin", "dave"]
    renamed = client.patch(
        f"/v1/users/{created.json()['id']}",
        json={"display_name": "David", "version": 1},
        headers=admin.headers,
    )
    assert renamed.json()["display_name"] == "David"
    assert (
        client.delete(f"/v1/users/{created.json()['id']}", headers=admin.headers).status_code == 204
    )
    # The bootstrap admin cannot be deleted (it is who the vault's key authenticates as).
    assert_problem(client.delete(f"/v1/users/{admin.id}", headers=admin.headers), 409)


def test_deleting_a_user_deletes_their_data_and_keys(
    client: TestClient, admin: ApiUser, api_dsn: str
) -> None:
    erin = make_user(client, admin, "erin")
    make_watchlist(client, erin)
    assert client.delete(f"/v1/users/{erin.id}", headers=admin.headers).status_code == 204
    assert_problem(client.get("/v1/me", headers=erin.headers), 401)
    with psycopg.connect(api_dsn) as conn:
        assert conn.execute("SELECT count(*) FROM watchlists").fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM collected_assets").fetchone() == (0,)


class TestIsolation:
    """Alice's resources are invisible to Bob: every id of hers is a 404 for him, and
    nothing he sends changes them."""

    @pytest.fixture
    def alices(self, client: TestClient, alice: ApiUser) -> dict[str, int]:
        wl = make_watchlist(client, alice)
        rule = client.post(
            "/v1/alert-rules",
            json={
                "name": "btc high",
                "symbol": "BTC/USDT",
                "asset_type": "crypto",
                "condition": "above",
                "threshold": 100000,
                "channels": ["email"],
            },
            headers=alice.headers,
        )
        layout = client.post(
            "/v1/layouts",
            json={"name": "main", "layout": LAYOUT},
            headers=alice.headers,
        )
        keys = client.get(f"/v1/users/{alice.id}/api-keys", headers=alice.headers).json()
        return {
            "watchlist": wl["id"],
            "item": wl["items"][0]["id"],
            "rule": rule.json()["id"],
            "layout": layout.json()["id"],
            "user": alice.id,
            "key": keys["data"][0]["id"],
        }

    def test_bob_sees_nothing_of_alices(
        self, client: TestClient, bob: ApiUser, alices: dict[str, int]
    ) -> None:
        for path in (
            f"/v1/watchlists/{alices['watchlist']}",
            f"/v1/watchlists/{alices['watchlist']}/items",
            f"/v1/alert-rules/{alices['rule']}",
            f"/v1/layouts/{alices['layout']}",
            f"/v1/users/{alices['user']}",
            f"/v1/users/{alices['user']}/api-keys",
            "/v1/watchlists/by-name/crypto",
        ):
            assert_problem(client.get(path, headers=bob.headers), 404)
        for path in ("/v1/watchlists", "/v1/alert-rules", "/v1/layouts"):
            assert client.get(path, headers=bob.headers).json()["data"] == []

    def test_bob_cannot_change_alices(
        self, client: TestClient, bob: ApiUser, alices: dict[str, int], api_dsn: str
    ) -> None:
        before = dump_tables(api_dsn)
        bob_ = {**bob.headers, "If-Match": '"v1"'}
        attempts = [
            client.patch(
                f"/v1/watchlists/{alices['watchlist']}",
                json={"name": "x"},
                headers=bob_,
            ),
            client.delete(f"/v1/watchlists/{alices['watchlist']}", headers=bob.headers),
            client.post(
                f"/v1/watchlists/{alices['watchlist']}/items",
                json={"symbol": "ETH/USDT", "asset_type": "crypto"},
                headers=bob.headers,
            ),
            client.delete(
                f"/v1/watchlists/{alices['watchlist']}/items/{alices['item']}",
                headers=bob.headers,
            ),
            client.patch(
                f"/v1/alert-rules/{alices['rule']}",
                json={"enabled": False},
                headers=bob_,
            ),
            client.delete(f"/v1/alert-rules/{alices['rule']}", headers=bob.headers),
            client.patch(f"/v1/layouts/{alices['layout']}", json={"layout": LAYOUT}, headers=bob_),
            client.delete(f"/v1/layouts/{alices['layout']}", headers=bob.headers),
            client.patch(f"/v1/users/{alices['user']}", json={"display_name": "x"}, headers=bob_),
            client.post(
                f"/v1/users/{alices['user']}/api-keys",
                json={"name": "steal"},
                headers=bob.headers,
            ),
            client.delete(
                f"/v1/users/{alices['user']}/api-keys/{alices['key']}",
                headers=bob.headers,
            ),
        ]
        for response in attempts:
            assert_problem(response, 404)
        # Bob's by-name sync of the same name creates *his* watchlist, not touching hers.
        synced = client.put(
            "/v1/watchlists/by-name/crypto", json={"items": []}, headers=bob.headers
        )
        assert synced.json()["created"] is True
        after = dump_tables(api_dsn)
        assert after["watchlists"][: len(before["watchlists"])] == before["watchlists"]
        for table in ("users", "api_keys", "watchlist_items", "layouts", "alert_rules"):
            assert after[table] == before[table], table

    def test_admin_does_not_see_users_watchlists_either(
        self, client: TestClient, admin: ApiUser, alices: dict[str, int]
    ) -> None:
        assert_problem(
            client.get(f"/v1/watchlists/{alices['watchlist']}", headers=admin.headers),
            404,
        )
        # ...but may manage the account itself.
        assert client.get(f"/v1/users/{alices['user']}", headers=admin.headers).status_code == 200


def test_a_write_racing_its_users_deletion_is_a_404(
    client: TestClient, alice: ApiUser, api_dsn: str
) -> None:
    """The review found a write racing its user's deletion answering 422 ("a value was
    rejected"): the user's row went between authentication and the INSERT. Here the
    deletion commits while alice's key is still in the authentication cache."""
    assert client.get("/v1/me", headers=alice.headers).status_code == 200  # cached
    with psycopg.connect(api_dsn, autocommit=True) as conn:
        conn.execute("DELETE FROM users WHERE id = %s", (alice.id,))
    for path, body in (
        ("/v1/watchlists", {"name": "late"}),
        ("/v1/layouts", {"name": "late", "layout": LAYOUT}),
    ):
        response = client.post(path, json=body, headers=alice.headers)
        problem = assert_problem(response, 404)
        assert problem["type"].endswith("not-found"), problem


def test_a_persons_custom_series_tokens_are_theirs_alone(
    api_with: ApiWith, client: TestClient, admin: ApiUser, tmp_path: Path
) -> None:
    """Isolation of /v1/custom: tokens live in InfluxDB (the TEST DOUBLE here), each
    person sees and deletes only their own, an admin nothing more."""
    influx = start_custom_influxdb(("alice", "bob"))
    try:
        alice = make_user(client, admin, "alice")
        bob = make_user(client, admin, "bob")
        with api_with(**influx.settings(influx.token_file(tmp_path))) as custom:
            made = custom.post(
                "/v1/custom/tokens", json={"description": "mine"}, headers=alice.headers
            )
            assert made.status_code == 201, made.text
            token_id = made.json()["id"]
            for user in (bob, admin):
                seen = custom.get("/v1/custom", headers=user.headers)
                assert seen.status_code in {200, 404}, seen.text
                if seen.status_code == 200:
                    assert seen.json()["tokens"] == []
                gone = custom.delete(f"/v1/custom/tokens/{token_id}", headers=user.headers)
                assert_problem(gone, 404)
            tokens = custom.get("/v1/custom", headers=alice.headers).json()["tokens"]
            assert [t["id"] for t in tokens] == [token_id]
    finally:
        influx.double.stop()
