"""Helpers for the API tests (not fixtures: plain functions the tests call)."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import uvicorn
from bbdash.watchlist_api.app import create_app
from bbdash.watchlist_api.settings import Settings
from fastapi.testclient import TestClient

# Every table the API writes, in an order that makes dumps comparable.
# A layout as the desk page saves it: a panel kind of the catalogue for one symbol.
LAYOUT = {
    "panels": [{"kind": "price", "asset_type": "crypto", "symbol": "BTC/USDT"}],
    "range": "24h",
}

TABLES = (
    "users",
    "api_keys",
    "watchlists",
    "watchlist_items",
    "layouts",
    "alert_rules",
)


# The api_with fixture (conftest.py): the app with settings overridden, as a context manager.
ApiWith = Callable[..., AbstractContextManager[TestClient]]


@dataclass(frozen=True)
class ApiUser:
    id: int
    name: str
    key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


def clone_database(admin_dsn: str, template: str, name: str) -> str:
    """A new database copied from ``template`` (already migrated): much faster than
    running the migrations for every test."""
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(
            psycopg.sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                psycopg.sql.Identifier(name), psycopg.sql.Identifier(template)
            )
        )
    return admin_dsn.rsplit("/", 1)[0] + "/" + name


def admin_user(client: TestClient, admin_key: str) -> ApiUser:
    me = client.get("/v1/me", headers={"Authorization": f"Bearer {admin_key}"})
    assert me.status_code == 200, me.text
    return ApiUser(me.json()["id"], "admin", admin_key)


def closed_port_dsn() -> str:
    """A DSN where nothing listens: the database is unreachable."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"postgresql://postgres@127.0.0.1:{port}/nowhere"


def make_settings(dsn: str, secrets_dir: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "database_url": dsn,
        "admin_key_file": secrets_dir / "admin_key",
        "metrics_token_file": secrets_dir / "metrics_token",
        "pool_min_size": 1,
        "pool_max_size": 8,
        "db_timeout_seconds": 3.0,
    }
    values.update(overrides)
    return Settings.model_validate(values)


def make_user(client: TestClient, admin: ApiUser, name: str) -> ApiUser:
    created = client.post("/v1/users", json={"name": name}, headers=admin.headers)
    assert created.status_code == 201, created.text
    user_id = created.json()["id"]
    key = client.post(f"/v1/users/{user_id}/api-keys", json={"name": "test"}, headers=admin.headers)
    assert key.status_code == 201, key.text
    return ApiUser(user_id, name, key.json()["key"])


def make_watchlist(
    client: TestClient,
    user: ApiUser,
    name: str = "crypto",
    items: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    body = {
        "name": name,
        "items": items
        if items is not None
        else [
            {"symbol": "BTC/USDT", "asset_type": "crypto", "source": "binance"},
            {"symbol": "AAPL", "asset_type": "stock"},
        ],
    }
    response = client.post("/v1/watchlists", json=body, headers=user.headers)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def dump_tables(dsn: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every API table: compare before/after to prove nothing changed."""
    dump: dict[str, list[tuple[Any, ...]]] = {}
    with psycopg.connect(dsn) as conn:
        for table in TABLES:
            query = psycopg.sql.SQL("SELECT * FROM {} ORDER BY id").format(
                psycopg.sql.Identifier(table)
            )
            dump[table] = conn.execute(query).fetchall()
    return dump


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    """The response is an RFC 9457 problem document with this status."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["title"]
    assert body["detail"]
    assert "type" in body
    return body


@contextlib.contextmanager
def live_server(settings: Settings) -> Iterator[str]:
    """The app behind a real uvicorn server on a loopback port, in a background thread:
    for tests that need truly concurrent HTTP requests. Yields the base URL."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = uvicorn.Config(
        create_app(settings),
        host="127.0.0.1",
        port=port,
        log_config=None,
        access_log=False,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=20)
