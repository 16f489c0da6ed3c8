"""Watchlists and items through the HTTP API, stored in a real PostgreSQL."""

from __future__ import annotations

from typing import Any, ClassVar

import psycopg
import pytest
from api_support import (
    ApiUser,
    admin_user,
    assert_problem,
    make_settings,
    make_user,
    make_watchlist,
)
from bbdash.watchlist_api.app import create_app
from fastapi.testclient import TestClient


def test_create_read_update_delete(client: TestClient, alice: ApiUser, api_dsn: str) -> None:
    created = client.post(
        "/v1/watchlists",
        json={
            "name": "Crypto majors",
            "description": "the big ones",
            "items": [
                {"symbol": "btc-usdt", "asset_type": "crypto", "source": "Binance"},
                {"symbol": "eur/usd", "asset_type": "forex"},
                {"symbol": "gspc", "asset_type": "index"},
            ],
        },
        headers=alice.headers,
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert created.headers["location"] == f"/v1/watchlists/{body['id']}"
    assert created.headers["etag"] == '"v1"'
    # Symbols are stored in the one spelling the feeders look up.
    assert [(i["symbol"], i["asset_type"], i["source"]) for i in body["items"]] == [
        ("BTC/USDT", "crypto", "binance"),
        ("EURUSD=X", "forex", None),
        ("^GSPC", "index", None),
    ]

    got = client.get(f"/v1/watchlists/{body['id']}", headers=alice.headers)
    assert got.status_code == 200
    assert got.json() == body

    patched = client.patch(
        f"/v1/watchlists/{body['id']}",
        json={"description": "renamed", "enabled": False},
        headers={**alice.headers, "If-Match": got.headers["etag"]},
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["description"] == "renamed"
    assert patched.json()["enabled"] is False
    assert patched.json()["version"] == 2
    assert patched.headers["etag"] == '"v2"'

    with psycopg.connect(api_dsn) as conn:
        assert conn.execute("SELECT count(*) FROM collected_assets").fetchone() == (0,)

    deleted = client.delete(f"/v1/watchlists/{body['id']}", headers=alice.headers)
    assert deleted.status_code == 204
    assert_problem(client.get(f"/v1/watchlists/{body['id']}", headers=alice.headers), 404)
    with psycopg.connect(api_dsn) as conn:
        assert conn.execute("SELECT count(*) FROM watchlist_items").fetchone() == (0,)


def test_get_by_name(client: TestClient, alice: ApiUser) -> None:
    created = make_watchlist(client, alice, "Tech stocks")
    got = client.get("/v1/watchlists/by-name/Tech stocks", headers=alice.headers)
    assert got.status_code == 200
    assert got.json()["id"] == created["id"]
    assert_problem(client.get("/v1/watchlists/by-name/nope", headers=alice.headers), 404)


def test_items_add_list_filter_delete(client: TestClient, alice: ApiUser, api_dsn: str) -> None:
    wl = make_watchlist(client, alice, items=[])
    url = f"/v1/watchlists/{wl['id']}/items"
    for symbol, asset_type, source in [
        ("AAPL", "stock", "yahoo"),
        ("MSFT", "stock", "yahoo"),
        ("ETH/USDT", "crypto", "binance"),
        ("ETHBTC", "crypto", None),
        ("GBPUSD=X", "forex", None),
    ]:
        added = client.post(
            url,
            json={"symbol": symbol, "asset_type": asset_type, "source": source},
            headers=alice.headers,
        )
        assert added.status_code == 201, added.text
    assert client.get(url, headers=alice.headers).json()["next_after"] is None

    stocks = client.get(url, params={"asset_type": "stock"}, headers=alice.headers).json()
    assert [i["symbol"] for i in stocks["data"]] == ["AAPL", "MSFT"]
    eth = client.get(url, params={"symbol_prefix": "eth"}, headers=alice.headers).json()
    assert [i["symbol"] for i in eth["data"]] == ["ETH/USDT", "ETH/BTC"]
    binance = client.get(url, params={"source": "binance"}, headers=alice.headers).json()
    assert [i["symbol"] for i in binance["data"]] == ["ETH/USDT"]

    # Each item change bumps the watchlist's version: its ETag covers its items.
    after = client.get(f"/v1/watchlists/{wl['id']}", headers=alice.headers)
    assert after.json()["version"] == 6

    first = stocks["data"][0]["id"]
    assert client.delete(f"{url}/{first}", headers=alice.headers).status_code == 204
    assert_problem(client.delete(f"{url}/{first}", headers=alice.headers), 404)
    with psycopg.connect(api_dsn) as conn:
        symbols = {r[0] for r in conn.execute("SELECT symbol FROM collected_assets").fetchall()}
    assert symbols == {"MSFT", "ETH/USDT", "ETH/BTC", "GBPUSD=X"}


def test_duplicate_item_is_409_and_changes_nothing(client: TestClient, alice: ApiUser) -> None:
    wl = make_watchlist(client, alice)
    duplicate = client.post(
        f"/v1/watchlists/{wl['id']}/items",
        json={"symbol": "btcusdt", "asset_type": "crypto"},
        headers=alice.headers,
    )
    body = assert_problem(duplicate, 409)
    assert "BTC/USDT" in body["detail"]
    after = client.get(f"/v1/watchlists/{wl['id']}", headers=alice.headers).json()
    assert after["version"] == wl["version"]
    assert len(after["items"]) == 2


def test_duplicate_watchlist_name_is_409(client: TestClient, alice: ApiUser, bob: ApiUser) -> None:
    make_watchlist(client, alice, "same")
    assert_problem(client.post("/v1/watchlists", json={"name": "same"}, headers=alice.headers), 409)
    # Names are unique per user, not globally.
    assert (
        client.post("/v1/watchlists", json={"name": "same"}, headers=bob.headers).status_code == 201
    )


def test_pagination_walks_every_watchlist_once(client: TestClient, alice: ApiUser) -> None:
    names = [f"list {i:02d}" for i in range(7)]
    for name in names:
        make_watchlist(client, alice, name, items=[])
    seen: list[str] = []
    after = 0
    pages = 0
    while True:
        page = client.get(
            "/v1/watchlists", params={"limit": 3, "after": after}, headers=alice.headers
        ).json()
        seen += [w["name"] for w in page["data"]]
        pages += 1
        if page["next_after"] is None:
            break
        after = page["next_after"]
    assert seen == names
    assert pages == 3


def test_list_filters(client: TestClient, alice: ApiUser) -> None:
    make_watchlist(client, alice, "crypto a")
    make_watchlist(
        client,
        alice,
        "crypto b",
        items=[{"symbol": "SOL/USDT", "asset_type": "crypto"}],
    )
    off = make_watchlist(client, alice, "stocks", items=[])
    client.patch(
        f"/v1/watchlists/{off['id']}",
        json={"enabled": False, "version": 1},
        headers=alice.headers,
    )

    def names(**params: object) -> list[str]:
        response = client.get("/v1/watchlists", params=params, headers=alice.headers)
        assert response.status_code == 200, response.text
        return [w["name"] for w in response.json()["data"]]

    assert names(name_prefix="crypto") == ["crypto a", "crypto b"]
    assert names(enabled="false") == ["stocks"]
    assert names(symbol="SOL/USDT") == ["crypto b"]
    listed = client.get("/v1/watchlists", headers=alice.headers).json()["data"]
    assert [w["item_count"] for w in listed] == [2, 1, 0]


def test_item_limit_per_watchlist(api_dsn: str, secrets_dir, admin_key: str) -> None:
    settings = make_settings(api_dsn, secrets_dir, max_items_per_watchlist=2)
    with TestClient(create_app(settings)) as small:
        carol = make_user(small, admin_user(small, admin_key), "carol")
        wl = make_watchlist(small, carol, items=[])
        url = f"/v1/watchlists/{wl['id']}/items"
        for symbol in ("A", "B"):
            added = small.post(
                url,
                json={"symbol": symbol, "asset_type": "stock"},
                headers=carol.headers,
            )
            assert added.status_code == 201
        third = small.post(url, json={"symbol": "C", "asset_type": "stock"}, headers=carol.headers)
        assert assert_problem(third, 409)["type"].endswith("limit-reached")
        too_many = small.put(
            "/v1/watchlists/by-name/big",
            json={"items": [{"symbol": s, "asset_type": "stock"} for s in "XYZ"]},
            headers=carol.headers,
        )
        assert assert_problem(too_many, 409)["type"].endswith("limit-reached")


class TestDeclarativeSync:
    """PUT /v1/watchlists/by-name/{name}: what the Ansible role calls."""

    URL = "/v1/watchlists/by-name/Core"
    DESIRED: ClassVar[dict[str, Any]] = {
        "description": "managed by Ansible",
        "items": [
            {"symbol": "BTC/USDT", "asset_type": "crypto", "source": "binance"},
            {"symbol": "AAPL", "asset_type": "stock"},
        ],
    }

    def test_first_run_creates_second_changes_nothing(
        self, client: TestClient, alice: ApiUser
    ) -> None:
        first = client.put(self.URL, json=self.DESIRED, headers=alice.headers)
        assert first.status_code == 200, first.text
        assert first.json()["changed"] is True
        assert first.json()["created"] is True
        assert first.headers["x-bbdash-changed"] == "true"
        version = first.json()["watchlist"]["version"]

        second = client.put(self.URL, json=self.DESIRED, headers=alice.headers)
        assert second.status_code == 200
        assert second.json()["changed"] is False
        assert second.json()["created"] is False
        assert second.headers["x-bbdash-changed"] == "false"
        # Nothing written: no version bump.
        assert second.json()["watchlist"]["version"] == version
        assert second.json()["watchlist"]["items"] == first.json()["watchlist"]["items"]

    def test_spelling_variants_are_the_same_state(self, client: TestClient, alice: ApiUser) -> None:
        client.put(self.URL, json=self.DESIRED, headers=alice.headers)
        variant = {
            "description": "managed by Ansible",
            "items": [
                {"symbol": "aapl", "asset_type": "stock"},
                {"symbol": "btc_usdt", "asset_type": "crypto", "source": "BINANCE"},
            ],
        }
        again = client.put(self.URL, json=variant, headers=alice.headers)
        assert again.json()["changed"] is False

    def test_items_are_added_removed_and_updated(
        self, client: TestClient, alice: ApiUser, api_dsn: str
    ) -> None:
        client.put(self.URL, json=self.DESIRED, headers=alice.headers)
        changed = client.put(
            self.URL,
            json={
                "description": "managed by Ansible",
                "items": [
                    {
                        "symbol": "BTC/USDT",
                        "asset_type": "crypto",
                        "source": "coingecko",
                    },
                    {"symbol": "^FCHI", "asset_type": "index"},
                ],
            },
            headers=alice.headers,
        )
        assert changed.json()["changed"] is True
        items = changed.json()["watchlist"]["items"]
        assert {(i["symbol"], i["source"]) for i in items} == {
            ("BTC/USDT", "coingecko"),
            ("^FCHI", None),
        }
        with psycopg.connect(api_dsn) as conn:
            assert conn.execute("SELECT count(*) FROM watchlist_items").fetchone() == (2,)

    def test_metadata_change_alone_is_a_change(self, client: TestClient, alice: ApiUser) -> None:
        client.put(self.URL, json=self.DESIRED, headers=alice.headers)
        disabled = client.put(
            self.URL, json={**self.DESIRED, "enabled": False}, headers=alice.headers
        )
        assert disabled.json()["changed"] is True
        assert disabled.json()["watchlist"]["enabled"] is False

    def test_dry_run_reports_without_writing(self, client: TestClient, alice: ApiUser) -> None:
        dry = client.put(
            self.URL,
            params={"dry_run": "true"},
            json=self.DESIRED,
            headers=alice.headers,
        )
        assert dry.status_code == 200
        assert dry.json()["changed"] is True
        assert dry.json()["dry_run"] is True
        assert_problem(client.get(self.URL, headers=alice.headers), 404)

    def test_empty_item_list_empties_the_watchlist(
        self, client: TestClient, alice: ApiUser
    ) -> None:
        client.put(self.URL, json=self.DESIRED, headers=alice.headers)
        emptied = client.put(
            self.URL,
            json={"description": "managed by Ansible", "items": []},
            headers=alice.headers,
        )
        assert emptied.json()["changed"] is True
        assert emptied.json()["watchlist"]["items"] == []

    @pytest.mark.parametrize(
        "items",
        [
            [
                {"symbol": "AAPL", "asset_type": "stock"},
                {"symbol": "aapl", "asset_type": "stock"},
            ],
            [{"symbol": "AAPL", "asset_type": "bond"}],
        ],
        ids=["repeated-item", "unknown-asset-type"],
    )
    def test_invalid_desired_state_is_422(
        self, client: TestClient, alice: ApiUser, items: list[dict[str, str]]
    ) -> None:
        response = client.put(self.URL, json={"items": items}, headers=alice.headers)
        body = assert_problem(response, 422)
        assert body["errors"][0]["field"].startswith("items")
        assert_problem(client.get(self.URL, headers=alice.headers), 404)


def test_rename_onto_an_existing_name_is_409_and_changes_nothing(
    client: TestClient, alice: ApiUser
) -> None:
    make_watchlist(client, alice, "first", items=[])
    second = make_watchlist(client, alice, "second", items=[])
    clash = client.patch(
        f"/v1/watchlists/{second['id']}",
        json={"name": "first", "version": second["version"]},
        headers=alice.headers,
    )
    assert assert_problem(clash, 409)["type"].endswith("duplicate")
    after = client.get(f"/v1/watchlists/{second['id']}", headers=alice.headers).json()
    assert after["name"] == "second"
    assert after["version"] == second["version"]
