"""NOTIFY watchlist_changes: one message per committed change, payloads exactly as
docs/contracts.md, nothing for rolled-back or no-op requests."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from api_support import ApiUser, make_watchlist
from fastapi.testclient import TestClient

CHANNEL = "watchlist_changes"
ENTITIES = {"watchlist", "watchlist_item", "alert_rule", "user"}
OPS = {"insert", "update", "delete"}


class Listener:
    def __init__(self, dsn: str) -> None:
        self.conn = psycopg.connect(dsn, autocommit=True)
        self.conn.execute(f"LISTEN {CHANNEL}")

    def drain(self, timeout: float = 0.2) -> list[dict[str, Any]]:
        # Notifications are delivered at commit, before the API answers: by the time a
        # request returned they are on this socket, so a short wait suffices.
        messages = []
        for notify in self.conn.notifies(timeout=timeout):
            assert notify.channel == CHANNEL
            assert len(notify.payload.encode()) < 8000
            payload = json.loads(notify.payload)
            _check_contract(payload)
            messages.append(payload)
        return messages


def _check_contract(payload: dict[str, Any]) -> None:
    assert payload["entity"] in ENTITIES
    assert payload["op"] in OPS
    assert isinstance(payload["id"], int)
    has_symbol = payload["entity"] in {"watchlist_item", "alert_rule"}
    assert ("symbol" in payload) is has_symbol
    assert ("asset_type" in payload) is has_symbol
    assert ("watchlist_id" in payload) is (payload["entity"] == "watchlist_item")


@pytest.fixture
def listener(api_dsn: str, alice: ApiUser) -> Iterator[Listener]:
    del alice  # created before listening, so its own notifications are not in the way
    listening = Listener(api_dsn)
    yield listening
    listening.conn.close()


def test_watchlist_lifecycle_payloads(
    client: TestClient, alice: ApiUser, listener: Listener
) -> None:
    wl = make_watchlist(client, alice)
    wid = wl["id"]
    btc, aapl = wl["items"]
    assert listener.drain() == [
        {"entity": "watchlist", "op": "insert", "id": wid},
        {
            "entity": "watchlist_item",
            "op": "insert",
            "id": btc["id"],
            "watchlist_id": wid,
            "symbol": "BTC/USDT",
            "asset_type": "crypto",
        },
        {
            "entity": "watchlist_item",
            "op": "insert",
            "id": aapl["id"],
            "watchlist_id": wid,
            "symbol": "AAPL",
            "asset_type": "stock",
        },
    ]

    added = client.post(
        f"/v1/watchlists/{wid}/items",
        json={"symbol": "^gspc", "asset_type": "index"},
        headers=alice.headers,
    ).json()
    assert listener.drain() == [
        {
            "entity": "watchlist_item",
            "op": "insert",
            "id": added["id"],
            "watchlist_id": wid,
            "symbol": "^GSPC",
            "asset_type": "index",
        }
    ]
    client.delete(f"/v1/watchlists/{wid}/items/{aapl['id']}", headers=alice.headers)
    assert listener.drain() == [
        {
            "entity": "watchlist_item",
            "op": "delete",
            "id": aapl["id"],
            "watchlist_id": wid,
            "symbol": "AAPL",
            "asset_type": "stock",
        }
    ]
    client.patch(
        f"/v1/watchlists/{wid}",
        json={"enabled": False, "version": 3},
        headers=alice.headers,
    )
    assert listener.drain() == [{"entity": "watchlist", "op": "update", "id": wid}]
    client.delete(f"/v1/watchlists/{wid}", headers=alice.headers)
    assert listener.drain() == [{"entity": "watchlist", "op": "delete", "id": wid}]


def test_alert_rule_and_user_payloads(
    client: TestClient, admin: ApiUser, alice: ApiUser, listener: Listener
) -> None:
    rule = client.post(
        "/v1/alert-rules",
        json={
            "name": "r",
            "symbol": "ETHUSDT",
            "asset_type": "crypto",
            "condition": "below",
            "threshold": 1000,
            "channels": ["telegram"],
        },
        headers=alice.headers,
    ).json()
    client.patch(
        f"/v1/alert-rules/{rule['id']}",
        json={"threshold": 900, "version": 1},
        headers=alice.headers,
    )
    client.delete(f"/v1/alert-rules/{rule['id']}", headers=alice.headers)
    expected_rule = {
        "entity": "alert_rule",
        "id": rule["id"],
        "symbol": "ETH/USDT",
        "asset_type": "crypto",
    }
    assert listener.drain() == [
        {**expected_rule, "op": "insert"},
        {**expected_rule, "op": "update"},
        {**expected_rule, "op": "delete"},
    ]
    user = client.post("/v1/users", json={"name": "frank"}, headers=admin.headers).json()
    client.delete(f"/v1/users/{user['id']}", headers=admin.headers)
    assert listener.drain() == [
        {"entity": "user", "op": "insert", "id": user["id"]},
        {"entity": "user", "op": "delete", "id": user["id"]},
    ]


def test_sync_notifies_each_change_and_a_repeat_sends_nothing(
    client: TestClient, alice: ApiUser, listener: Listener
) -> None:
    body = {
        "items": [
            {"symbol": "AAPL", "asset_type": "stock"},
            {"symbol": "MSFT", "asset_type": "stock"},
        ]
    }
    client.put("/v1/watchlists/by-name/s", json=body, headers=alice.headers)
    assert [(m["entity"], m["op"]) for m in listener.drain()] == [
        ("watchlist", "insert"),
        ("watchlist_item", "insert"),
        ("watchlist_item", "insert"),
    ]
    client.put("/v1/watchlists/by-name/s", json=body, headers=alice.headers)
    assert listener.drain() == []
    body["items"] = [{"symbol": "AAPL", "asset_type": "stock", "source": "yahoo"}]
    client.put("/v1/watchlists/by-name/s", json=body, headers=alice.headers)
    assert sorted((m["entity"], m["op"], m.get("symbol")) for m in listener.drain()) == [
        ("watchlist", "update", None),
        ("watchlist_item", "delete", "MSFT"),
        ("watchlist_item", "update", "AAPL"),
    ]


def test_nothing_is_sent_for_refused_or_rolled_back_writes(
    client: TestClient, alice: ApiUser, listener: Listener
) -> None:
    wl = make_watchlist(client, alice)
    listener.drain()
    # Refused inside the transaction after the parent's version bump: rolled back, silent.
    dup = client.post(
        f"/v1/watchlists/{wl['id']}/items",
        json={"symbol": "AAPL", "asset_type": "stock"},
        headers=alice.headers,
    )
    assert dup.status_code == 409
    stale = client.patch(
        f"/v1/watchlists/{wl['id']}",
        json={"name": "x", "version": 9},
        headers=alice.headers,
    )
    assert stale.status_code == 409
    dry = client.put(
        "/v1/watchlists/by-name/dry",
        params={"dry_run": True},
        json={"items": []},
        headers=alice.headers,
    )
    assert dry.json()["changed"] is True
    assert listener.drain() == []


def test_reordering_watchlists_sends_nothing_but_stays_in_order(
    client: TestClient, alice: ApiUser, listener: Listener
) -> None:
    """A new watchlist comes last; moving one (PATCH position) changes no feeder's work,
    so it sends no NOTIFY, while any other change in the same request still does."""
    first = make_watchlist(client, alice, "first")
    second = make_watchlist(client, alice, "second")
    assert first["position"] < second["position"]
    listener.drain()
    moved = client.patch(
        f"/v1/watchlists/{second['id']}",
        json={"position": 0, "version": second["version"]},
        headers=alice.headers,
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["position"] == 0
    assert listener.drain() == []
    listed = client.get("/v1/watchlists", headers=alice.headers).json()["data"]
    assert sorted(listed, key=lambda w: (w["position"], w["id"]))[0]["name"] == "second"
    renamed = client.patch(
        f"/v1/watchlists/{first['id']}",
        json={"position": 1, "enabled": False, "version": first["version"]},
        headers=alice.headers,
    )
    assert renamed.status_code == 200, renamed.text
    assert [(m["entity"], m["op"]) for m in listener.drain()] == [("watchlist", "update")]
