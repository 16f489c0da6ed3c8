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


class FakeClock:
    """A clock the test moves by hand (budgets, breakers, backoff, Retry-After)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


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
    """A database with the two contract views, and helpers that change it like the API does.

    The schema comes from the watchlist API's own migrations
    (`bbdash.watchlist_api.migrate.upgrade`) when that package is importable;
    otherwise from a minimal stand-in exposing exactly the contract's columns.
    Every change sends `NOTIFY watchlist_changes` in its transaction, as the
    API does (docs/contracts.md), unless `notify=False` (a missed notification).
    """

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        try:
            from bbdash.watchlist_api.migrate import upgrade
        except ImportError:
            upgrade = None
        self.real_schema = upgrade is not None
        if upgrade is not None:
            upgrade(dsn)
            with psycopg.connect(dsn, autocommit=True) as conn:
                user = conn.execute("SELECT id FROM users WHERE is_admin").fetchone()
                assert user is not None
                self.user_id = int(user[0])
                row = conn.execute(
                    "INSERT INTO watchlists (user_id, name) VALUES (%s, 'feeder tests') RETURNING id",
                    (self.user_id,),
                ).fetchone()
                assert row is not None
                self.watchlist_id = int(row[0])
            return
        self.user_id = 1
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(
                """
                CREATE TABLE test_assets (
                    symbol text NOT NULL, asset_type text NOT NULL, source text);
                CREATE TABLE test_rules (
                    id bigserial PRIMARY KEY, user_id bigint NOT NULL, symbol text NOT NULL,
                    condition text NOT NULL, threshold double precision NOT NULL,
                    window_seconds integer, channels text[] NOT NULL,
                    cooldown_seconds integer NOT NULL DEFAULT 0,
                    updated_at timestamptz NOT NULL DEFAULT now());
                CREATE VIEW collected_assets AS
                    SELECT DISTINCT symbol, asset_type, source FROM test_assets;
                CREATE VIEW active_alert_rules AS
                    SELECT id, user_id, symbol, condition, threshold, window_seconds, channels,
                           cooldown_seconds, updated_at FROM test_rules;
                """
            )

    def _notify(self, conn: psycopg.Connection, entity: str, op: str, symbol: str) -> None:
        payload = json.dumps({"entity": entity, "op": op, "symbol": symbol})
        conn.execute("SELECT pg_notify('watchlist_changes', %s)", (payload,))

    def add_asset(
        self,
        symbol: str,
        asset_type: str,
        source: str | None = None,
        *,
        notify: bool = True,
    ) -> None:
        with psycopg.connect(self.dsn) as conn, conn.transaction():
            if self.real_schema:
                conn.execute(
                    "INSERT INTO watchlist_items (watchlist_id, symbol, asset_type, source)"
                    " VALUES (%s, %s, %s, %s)",
                    (self.watchlist_id, symbol, asset_type, source),
                )
            else:
                conn.execute(
                    "INSERT INTO test_assets (symbol, asset_type, source) VALUES (%s, %s, %s)",
                    (symbol, asset_type, source),
                )
            if notify:
                self._notify(conn, "watchlist_item", "insert", symbol)

    def remove_asset(self, symbol: str) -> None:
        table = "watchlist_items" if self.real_schema else "test_assets"
        with psycopg.connect(self.dsn) as conn, conn.transaction():
            conn.execute(f"DELETE FROM {table} WHERE symbol = %s", (symbol,))
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
    ) -> int:
        with psycopg.connect(self.dsn) as conn, conn.transaction():
            if self.real_schema:
                asset_type = "crypto" if "/" in symbol else "stock"
                row = conn.execute(
                    "INSERT INTO alert_rules (user_id, name, symbol, asset_type, condition,"
                    " threshold, window_seconds, channels, cooldown_seconds)"
                    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
                    (
                        self.user_id,
                        f"{symbol} {condition} {threshold}",
                        symbol,
                        asset_type,
                        condition,
                        threshold,
                        window_seconds,
                        list(channels),
                        cooldown_seconds,
                    ),
                ).fetchone()
            else:
                row = conn.execute(
                    "INSERT INTO test_rules (user_id, symbol, condition, threshold,"
                    " window_seconds, channels, cooldown_seconds)"
                    " VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id",
                    (
                        self.user_id,
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
