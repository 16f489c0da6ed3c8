"""Helpers for the feeder tests (imported by name: `conftest` is ambiguous between folders)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg

PAYLOADS = Path(__file__).parent / "payloads"
TOKEN = "test-token"


def payload(name: str) -> Any:
    """A recorded upstream payload (JSON) from tests/python/feeders/payloads/."""
    return json.loads((PAYLOADS / name).read_text())


def wait_for(
    predicate: Callable[[], object], timeout: float = 10.0, interval: float = 0.01
) -> bool:
    """Poll until `predicate()` is truthy; False on timeout (assert on the result)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


class WatchlistDB:
    """Minimal stand-in schema exposing the two contract views, with NOTIFY on change.

    Used until bbdash.watchlist_api.migrate.upgrade(dsn) exists; the views have
    exactly the contract's columns (docs/contracts.md).
    """

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(
                """
                CREATE TABLE test_assets (
                    symbol text NOT NULL, asset_type text NOT NULL, source text,
                    enabled boolean NOT NULL DEFAULT true);
                CREATE TABLE test_rules (
                    id bigserial PRIMARY KEY, user_id bigint NOT NULL, symbol text NOT NULL,
                    condition text NOT NULL, threshold double precision NOT NULL,
                    window_seconds integer, channels text[] NOT NULL,
                    cooldown_seconds integer NOT NULL DEFAULT 0,
                    enabled boolean NOT NULL DEFAULT true,
                    updated_at timestamptz NOT NULL DEFAULT now());
                CREATE VIEW collected_assets AS
                    SELECT DISTINCT symbol, asset_type, source FROM test_assets WHERE enabled;
                CREATE VIEW active_alert_rules AS
                    SELECT id, user_id, symbol, condition, threshold, window_seconds, channels,
                           cooldown_seconds, updated_at FROM test_rules WHERE enabled;
                """
            )

    def _notify(
        self, conn: psycopg.Connection, entity: str, op: str, symbol: str
    ) -> None:
        payload = json.dumps({"entity": entity, "op": op, "symbol": symbol})
        conn.execute("SELECT pg_notify('watchlist_changes', %s)", (payload,))

    def add_asset(
        self, symbol: str, asset_type: str, source: str | None = None
    ) -> None:
        with psycopg.connect(self.dsn) as conn, conn.transaction():
            conn.execute(
                "INSERT INTO test_assets (symbol, asset_type, source) VALUES (%s, %s, %s)",
                (symbol, asset_type, source),
            )
            self._notify(conn, "watchlist_item", "insert", symbol)

    def remove_asset(self, symbol: str) -> None:
        with psycopg.connect(self.dsn) as conn, conn.transaction():
            conn.execute("DELETE FROM test_assets WHERE symbol = %s", (symbol,))
            self._notify(conn, "watchlist_item", "delete", symbol)

    def add_rule(
        self,
        symbol: str,
        condition: str,
        threshold: float,
        *,
        channels: tuple[str, ...] = ("telegram",),
        window_seconds: int | None = None,
        cooldown_seconds: int = 0,
        user_id: int = 1,
    ) -> int:
        with psycopg.connect(self.dsn) as conn, conn.transaction():
            row = conn.execute(
                "INSERT INTO test_rules (user_id, symbol, condition, threshold, window_seconds,"
                " channels, cooldown_seconds) VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id",
                (
                    user_id,
                    symbol,
                    condition,
                    threshold,
                    window_seconds,
                    list(channels),
                    cooldown_seconds,
                ),
            ).fetchone()
            self._notify(conn, "alert_rule", "insert", symbol)
        assert row is not None
        return int(row[0])
