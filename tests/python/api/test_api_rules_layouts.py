"""Alert rules (and their view for the market feeder) and dashboard layouts."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from api_support import LAYOUT, ApiUser, assert_problem
from fastapi.testclient import TestClient

RULE: dict[str, Any] = {
    "name": "eurusd swing",
    "symbol": "eur/usd",
    "asset_type": "forex",
    "condition": "pct_move",
    "threshold": 1.5,
    "window_seconds": 3600,
    "channels": ["webhook", "telegram"],
    "cooldown_seconds": 900,
}


def _create_rule(client: TestClient, user: ApiUser, **changes: Any) -> dict[str, Any]:
    response = client.post("/v1/alert-rules", json={**RULE, **changes}, headers=user.headers)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def test_rule_crud_and_the_feeder_view(client: TestClient, alice: ApiUser, api_dsn: str) -> None:
    rule = _create_rule(client, alice)
    assert rule["symbol"] == "EURUSD=X"
    assert rule["channels"] == ["telegram", "webhook"]
    with psycopg.connect(api_dsn) as conn:
        row = conn.execute(
            "SELECT id, user_id, symbol, condition, threshold, window_seconds, channels, "
            "cooldown_seconds FROM active_alert_rules"
        ).fetchone()
    assert row == (
        rule["id"],
        alice.id,
        "EURUSD=X",
        "pct_move",
        1.5,
        3600,
        ["telegram", "webhook"],
        900,
    )

    # Switching to a price level drops the window (it only means something for pct_move).
    updated = client.patch(
        f"/v1/alert-rules/{rule['id']}",
        json={"condition": "above", "threshold": 1.2},
        headers={**alice.headers, "If-Match": '"v1"'},
    )
    assert updated.status_code == 200, updated.text
    assert updated.json()["window_seconds"] is None
    assert updated.json()["version"] == 2

    disabled = client.patch(
        f"/v1/alert-rules/{rule['id']}",
        json={"enabled": False, "version": 2},
        headers=alice.headers,
    )
    assert disabled.json()["enabled"] is False
    with psycopg.connect(api_dsn) as conn:
        assert conn.execute("SELECT count(*) FROM active_alert_rules").fetchone() == (0,)

    assert client.delete(f"/v1/alert-rules/{rule['id']}", headers=alice.headers).status_code == 204
    assert_problem(client.get(f"/v1/alert-rules/{rule['id']}", headers=alice.headers), 404)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"window_seconds": None}, "window_seconds"),
        ({"condition": "above"}, "window_seconds"),
        ({"threshold": 0}, "threshold"),
        ({"threshold": -5}, "threshold"),
        ({"channels": []}, "channels"),
        ({"channels": ["email", "email"]}, "channels"),
        ({"channels": ["sms"]}, "channels[0]"),
        ({"cooldown_seconds": -1}, "cooldown_seconds"),
        ({"condition": "crosses"}, "condition"),
        ({"symbol": "EURO"}, "symbol"),
    ],
)
def test_invalid_rules_are_422_naming_the_field(
    client: TestClient, alice: ApiUser, changes: dict[str, Any], field: str
) -> None:
    body = assert_problem(
        client.post("/v1/alert-rules", json={**RULE, **changes}, headers=alice.headers),
        422,
    )
    assert field in {e["field"] for e in body["errors"]} or field in body["detail"]


def test_patch_to_pct_move_needs_a_window(client: TestClient, alice: ApiUser) -> None:
    rule = _create_rule(client, alice, condition="below", window_seconds=None, threshold=1.0)
    response = client.patch(
        f"/v1/alert-rules/{rule['id']}",
        json={"condition": "pct_move", "version": 1},
        headers=alice.headers,
    )
    assert assert_problem(response, 422)["errors"][0]["field"] == "window_seconds"


def test_rule_list_filters(client: TestClient, alice: ApiUser) -> None:
    _create_rule(client, alice)
    _create_rule(
        client,
        alice,
        name="aapl",
        symbol="aapl",
        asset_type="stock",
        condition="below",
        threshold=150,
        window_seconds=None,
        enabled=False,
    )

    def names(**params: object) -> list[str]:
        data = client.get("/v1/alert-rules", params=params, headers=alice.headers).json()["data"]
        return [r["name"] for r in data]

    assert names(symbol="AAPL") == ["aapl"]
    assert names(enabled="true") == ["eurusd swing"]
    assert names(condition="pct_move") == ["eurusd swing"]


def test_rule_sync_is_idempotent(client: TestClient, alice: ApiUser) -> None:
    desired = {k: v for k, v in RULE.items() if k != "name"}
    url = "/v1/alert-rules/by-name/eurusd swing"
    first = client.put(url, json=desired, headers=alice.headers)
    assert first.json()["changed"] is True and first.json()["created"] is True
    second = client.put(url, json=desired, headers=alice.headers)
    assert second.json()["changed"] is False
    assert second.json()["alert_rule"]["version"] == first.json()["alert_rule"]["version"]
    third = client.put(url, json={**desired, "threshold": 2.5}, headers=alice.headers)
    assert third.json()["changed"] is True
    assert third.json()["alert_rule"]["threshold"] == 2.5
    dry = client.put(
        url,
        params={"dry_run": True},
        json={**desired, "threshold": 9},
        headers=alice.headers,
    )
    assert dry.json()["changed"] is True
    stored = client.get(
        f"/v1/alert-rules/{first.json()['alert_rule']['id']}", headers=alice.headers
    )
    assert stored.json()["threshold"] == 2.5


def test_duplicate_rule_name_is_409(client: TestClient, alice: ApiUser) -> None:
    _create_rule(client, alice)
    assert_problem(client.post("/v1/alert-rules", json=RULE, headers=alice.headers), 409)


def test_layout_crud(client: TestClient, alice: ApiUser) -> None:
    created = client.post(
        "/v1/layouts", json={"name": "main", "layout": LAYOUT}, headers=alice.headers
    )
    assert created.status_code == 201, created.text
    layout_id = created.json()["id"]
    assert created.json()["layout"] == LAYOUT
    assert created.json()["dashboard"] == {
        "uid": f"bbdash-layout-{layout_id}",
        "url": f"/d/bbdash-layout-{layout_id}",
        "synced": False,  # no Grafana in this app: nothing holds it
    }
    assert client.get(f"/v1/layouts/{layout_id}", headers=alice.headers).json()["layout"] == LAYOUT
    candles = {
        "panels": [{"kind": "candles", "asset_type": "stock", "symbol": "aapl"}],
        "range": "7d",
    }
    changed = client.patch(
        f"/v1/layouts/{layout_id}",
        json={"layout": candles},
        headers={**alice.headers, "If-Match": created.headers["etag"]},
    )
    assert changed.status_code == 200
    # Symbols are stored normalised, as the feeders and the dashboards spell them.
    assert changed.json()["layout"]["panels"] == [
        {"kind": "candles", "asset_type": "stock", "symbol": "AAPL"}
    ]
    listed = client.get("/v1/layouts", params={"name_prefix": "ma"}, headers=alice.headers).json()
    assert [item["name"] for item in listed["data"]] == ["main"]
    assert listed["data"][0]["dashboard"]["uid"] == f"bbdash-layout-{layout_id}"
    assert client.delete(f"/v1/layouts/{layout_id}", headers=alice.headers).status_code == 204
    assert_problem(client.get(f"/v1/layouts/{layout_id}", headers=alice.headers), 404)


def test_panel_kinds_are_the_catalogues(client: TestClient, alice: ApiUser) -> None:
    kinds = client.get("/v1/panel-kinds", headers=alice.headers)
    assert kinds.status_code == 200
    names = [entry["kind"] for entry in kinds.json()["data"]]
    assert {"quote", "price", "candles", "volume", "news"} <= set(names)
    assert all(entry["label"] for entry in kinds.json()["data"])


def _panel(**changes: object) -> dict[str, object]:
    return {"panels": [{**LAYOUT["panels"][0], **changes}]}  # type: ignore[index]


@pytest.mark.parametrize(
    ("layout", "field", "reason"),
    [
        ({"panels": []}, "layout.panels", "at least 1"),
        ({"panels": LAYOUT["panels"] * 25}, "layout.panels", "at most 24"),
        (_panel(kind="heatmap"), "layout.panels[0].kind", "quote"),
        (_panel(symbol="BTC\u0000USDT"), "layout.panels[0].symbol", ""),
        (_panel(asset_type="bond"), "layout.panels[0].asset_type", "crypto"),
        ({**LAYOUT, "theme": "amber"}, "layout.theme", "not permitted"),
        ({**LAYOUT, "range": "5y"}, "layout.range", "1y"),
        ({"x": 1e20}, "layout.panels", "required"),
        ([1, 2], "layout", ""),
        ("just a string", "layout", ""),
    ],
    ids=[
        "no-panel",
        "too-many",
        "unknown-kind",
        "bad-symbol",
        "bad-asset-type",
        "unknown-key",
        "bad-range",
        "free-json",
        "array",
        "string",
    ],
)
def test_layout_refusals_name_the_field(
    client: TestClient, alice: ApiUser, layout: object, field: str, reason: str
) -> None:
    """A layout is panels of the catalogue for valid symbols; anything else is a 422
    naming the field, and nothing is stored."""
    response = client.post(
        "/v1/layouts", json={"name": "x", "layout": layout}, headers=alice.headers
    )
    body = assert_problem(response, 422)
    assert body["errors"][0]["field"] == field, body
    assert reason in body["errors"][0]["detail"], body
    assert client.get("/v1/layouts", headers=alice.headers).json()["data"] == []


def test_a_layout_stored_with_a_huge_number_is_still_served(
    client: TestClient, alice: ApiUser, api_dsn: str
) -> None:
    """A layout written before layouts were typed ({"x": 1e20}, which jsonb gives back
    as 100000000000000000000) is read as a float: 200, never a 500 on every read."""
    created = client.post(
        "/v1/layouts", json={"name": "old", "layout": LAYOUT}, headers=alice.headers
    )
    assert created.status_code == 201, created.text
    with psycopg.connect(api_dsn, autocommit=True) as conn:
        conn.execute(
            'UPDATE layouts SET layout = \'{"x": 1e20, "y": 3}\'::jsonb WHERE id = %s',
            (created.json()["id"],),
        )
    listed = client.get("/v1/layouts", headers=alice.headers)
    assert listed.status_code == 200, listed.text
    assert listed.json()["data"][0]["layout"] == {"x": 1e20, "y": 3}
    one = client.get(f"/v1/layouts/{created.json()['id']}", headers=alice.headers)
    assert one.status_code == 200 and one.json()["layout"]["x"] == 1e20
