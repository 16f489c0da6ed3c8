"""A saved layout becomes its owner's dashboard in Grafana, written by the desk's
service account; it follows every change, goes with the layout or the user, and
waits out a Grafana outage without losing anything.

Grafana here is the TEST DOUBLE (tests/doubles/grafana): service accounts, folder
permissions and dashboards as its README cites them from Grafana v12.4.3.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest
from api_support import LAYOUT, ApiUser, ApiWith, make_user
from fastapi.testclient import TestClient
from grafana_double import GrafanaDouble

DESKS = "bbdash-desks"
FAST = {"layout_sync_seconds": 0.2}


@pytest.fixture(scope="module")
def desk_account(grafana: GrafanaDouble) -> dict[str, Any]:
    """What the grafana role sets up (tasks/service_accounts.yml): the desks folder, a
    service account with no organisation role and Admin on that folder only."""
    status, folder, _ = grafana.call("POST", "/api/folders", {"uid": DESKS, "title": "Desks"})
    assert status == 200, folder
    status, account, _ = grafana.call(
        "POST", "/api/serviceaccounts", {"name": "bbdash-desk", "role": "None"}
    )
    assert status == 201, account
    status, doc, _ = grafana.call(
        "POST",
        f"/api/access-control/folders/{DESKS}/users/{account['id']}",
        {"permission": "Admin"},
    )
    assert status == 200, doc
    return account


def _new_token(grafana: GrafanaDouble, account: dict[str, Any], path: Path) -> dict[str, Any]:
    status, token, _ = grafana.call(
        "POST",
        f"/api/serviceaccounts/{account['id']}/tokens",
        {"name": f"test-{time.monotonic_ns()}"},
    )
    assert status == 200, token
    path.write_text(token["key"] + "\n")
    return token


@pytest.fixture
def token_file(grafana: GrafanaDouble, desk_account: dict[str, Any], tmp_path: Path) -> Path:
    path = tmp_path / "grafana-token"
    _new_token(grafana, desk_account, path)
    return path


@pytest.fixture
def desk_api(api_with: ApiWith, grafana: GrafanaDouble, token_file: Path) -> Callable[..., Any]:
    def started(**overrides: object) -> Any:
        settings = {
            "grafana_url": grafana.url,
            "grafana_token_file": token_file,
            **FAST,
            **overrides,
        }
        return api_with(**settings)

    return started


def _dashboard(grafana: GrafanaDouble, uid: str) -> tuple[int, Any]:
    status, doc, _ = grafana.call("GET", f"/api/dashboards/uid/{uid}")
    return status, doc


def _until(check: Callable[[], bool], seconds: float = 5.0) -> float:
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > seconds:
            raise AssertionError(f"not within {seconds} s")
        time.sleep(0.05)
    return time.monotonic() - start


def _synced(client: TestClient, user: ApiUser, layout_id: int) -> bool:
    answer = client.get(f"/v1/layouts/{layout_id}", headers=user.headers)
    assert answer.status_code == 200, answer.text
    return bool(answer.json()["dashboard"]["synced"])


def _create(client: TestClient, user: ApiUser, name: str = "Morning") -> dict[str, Any]:
    created = client.post(
        "/v1/layouts", json={"name": name, "layout": LAYOUT}, headers=user.headers
    )
    assert created.status_code == 201, created.text
    assert created.json()["dashboard"]["synced"] is False  # the commit answers first
    return dict(created.json())


def test_a_saved_layout_is_the_owners_dashboard_in_their_folder(
    desk_api: Callable[..., Any], grafana: GrafanaDouble, alice: ApiUser
) -> None:
    with desk_api() as client:
        layout = _create(client, alice)
        took = _until(lambda: _synced(client, alice, layout["id"]))
    assert took < 5
    status, doc = _dashboard(grafana, layout["dashboard"]["uid"])
    assert status == 200, doc
    assert doc["dashboard"]["title"] == "Morning"
    assert doc["meta"]["folderUid"] == f"bbdash-desk-{alice.id}"
    assert "BTC/USDT price" in [p["title"] for p in doc["dashboard"]["panels"]]
    status, folder, _ = grafana.call("GET", f"/api/folders/bbdash-desk-{alice.id}")
    assert status == 200 and folder["parentUid"] == DESKS, folder
    assert folder["title"] == "alice"


def test_a_change_rewrites_the_dashboard_and_a_delete_removes_it(
    desk_api: Callable[..., Any], grafana: GrafanaDouble, alice: ApiUser, api_dsn: str
) -> None:
    with desk_api() as client:
        layout = _create(client, alice, "Swing")
        _until(lambda: _synced(client, alice, layout["id"]))
        candles = {"panels": [{"kind": "candles", "asset_type": "stock", "symbol": "AAPL"}]}
        changed = client.patch(
            f"/v1/layouts/{layout['id']}",
            json={"name": "Swing trades", "layout": candles, "version": layout["version"]},
            headers=alice.headers,
        )
        assert changed.status_code == 200, changed.text
        _until(lambda: _synced(client, alice, layout["id"]))
        status, doc = _dashboard(grafana, layout["dashboard"]["uid"])
        assert status == 200, doc
        assert doc["dashboard"]["title"] == "Swing trades"
        assert [p["title"] for p in doc["dashboard"]["panels"]] == ["AAPL OHLC"]

        deleted = client.delete(f"/v1/layouts/{layout['id']}", headers=alice.headers)
        assert deleted.status_code == 204
        _until(lambda: _dashboard(grafana, layout["dashboard"]["uid"])[0] == 404)
    with psycopg.connect(api_dsn) as conn:
        assert conn.execute("SELECT count(*) FROM grafana_removals").fetchone() == (0,)


def test_a_removed_user_takes_their_folder_with_them(
    desk_api: Callable[..., Any], grafana: GrafanaDouble, admin: ApiUser
) -> None:
    with desk_api() as client:
        carol = make_user(client, admin, "carol")
        layout = _create(client, carol)
        _until(lambda: _synced(client, carol, layout["id"]))
        assert client.delete(f"/v1/users/{carol.id}", headers=admin.headers).status_code == 204
        _until(lambda: grafana.call("GET", f"/api/folders/bbdash-desk-{carol.id}")[0] == 404)
    assert _dashboard(grafana, layout["dashboard"]["uid"])[0] == 404


def test_grafana_down_delays_the_dashboard_and_loses_nothing(
    desk_api: Callable[..., Any], grafana: GrafanaDouble, alice: ApiUser
) -> None:
    with socket.socket() as sock:  # a port where nothing listens: Grafana is down
        sock.bind(("127.0.0.1", 0))
        down = f"http://127.0.0.1:{sock.getsockname()[1]}"
    with desk_api(grafana_url=down) as client:
        layout = _create(client, alice, "Outage")
        time.sleep(0.6)  # three passes, all refused
        assert not _synced(client, alice, layout["id"])
        deleted = client.delete(f"/v1/layouts/{layout['id']}", headers=alice.headers)
        assert deleted.status_code == 204
        kept = _create(client, alice, "Kept")
    with desk_api() as client:  # Grafana answers again: the next pass catches up
        _until(lambda: _synced(client, alice, kept["id"]))
    assert _dashboard(grafana, kept["dashboard"]["uid"])[0] == 200
    assert _dashboard(grafana, layout["dashboard"]["uid"])[0] == 404


def test_a_missing_or_replaced_token_file_is_read_again(
    desk_api: Callable[..., Any],
    grafana: GrafanaDouble,
    desk_account: dict[str, Any],
    alice: ApiUser,
    token_file: Path,
) -> None:
    """The grafana role writes the token after the API started (site.yml runs the API
    first) and replaces it when Grafana refuses it: no restart is needed."""
    token_file.unlink()
    with desk_api() as client:
        layout = _create(client, alice, "Late token")
        time.sleep(0.5)
        assert not _synced(client, alice, layout["id"])
        _new_token(grafana, desk_account, token_file)
        _until(lambda: _synced(client, alice, layout["id"]))


def test_no_token_file_setting_means_no_dashboards_and_no_error(
    api_with: ApiWith, alice: ApiUser
) -> None:
    with api_with() as client:
        layout = _create(client, alice, "Plain")
        assert client.get(f"/v1/layouts/{layout['id']}", headers=alice.headers).status_code == 200


def test_a_layout_grafana_refuses_stays_pending_without_holding_up_the_others(
    desk_api: Callable[..., Any],
    alice: ApiUser,
    admin: ApiUser,
    api_dsn: str,
) -> None:
    """A blank title (a row no API write could make today) is refused by Grafana (400
    "Dashboard title cannot be empty"); the layouts after it are written anyway, and
    the refused one is counted as pending, which LayoutDashboardsStuck alerts on."""
    with psycopg.connect(api_dsn, autocommit=True) as conn:
        row = conn.execute(
            "INSERT INTO layouts (user_id, name, layout) VALUES (%s, ' ', %s::jsonb) RETURNING id",
            (alice.id, json.dumps(LAYOUT)),
        ).fetchone()
    assert row is not None
    with desk_api() as client:
        layout = _create(client, alice, "After the bad one")
        _until(lambda: _synced(client, alice, layout["id"]))
        assert not _synced(client, alice, row[0])
        metrics = client.get("/metrics", headers=admin.headers).text
    assert "bbdash_api_layout_dashboards_pending 1.0" in metrics
    assert 'bbdash_api_layout_dashboards_total{action="save",outcome="failed"}' in metrics
