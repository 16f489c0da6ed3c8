"""Alembic migrations on a real PostgreSQL: up, down, twice, concurrently; the views'
columns are the contract the feeders read (docs/contracts.md)."""

from __future__ import annotations

import threading

import psycopg
import pytest
from bbdash.watchlist_api import migrate

API_TABLES = {
    "users",
    "api_keys",
    "watchlists",
    "watchlist_items",
    "layouts",
    "alert_rules",
}

COLLECTED_ASSETS = [("symbol", "text"), ("asset_type", "text"), ("source", "text")]
USER_WATCHLIST_ASSETS = [
    ("login", "text"),
    ("watchlist", "text"),
    ("symbol", "text"),
    ("asset_type", "text"),
    ("position", "bigint"),
]
ACTIVE_ALERT_RULES = [
    ("id", "bigint"),
    ("user_id", "bigint"),
    ("symbol", "text"),
    ("condition", "text"),
    ("threshold", "double precision"),
    ("window_seconds", "integer"),
    ("channels", "ARRAY"),
    ("cooldown_seconds", "integer"),
    ("updated_at", "timestamp with time zone"),
]


def _relations(dsn: str) -> set[str]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchall()
    return {r[0] for r in rows}


def _columns(dsn: str, view: str) -> list[tuple[str, str]]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'public' AND table_name = %s ORDER BY ordinal_position",
            (view,),
        ).fetchall()
    return [(r[0], r[1]) for r in rows]


def test_upgrade_creates_tables_and_contract_views(pg_dsn: str) -> None:
    assert migrate.current_revision(pg_dsn) is None
    migrate.upgrade(pg_dsn)
    assert migrate.current_revision(pg_dsn) == migrate.head_revision()
    assert _relations(pg_dsn) >= API_TABLES | {"collected_assets", "active_alert_rules"}
    assert _columns(pg_dsn, "collected_assets") == COLLECTED_ASSETS
    assert _columns(pg_dsn, "user_watchlist_assets") == USER_WATCHLIST_ASSETS
    assert _columns(pg_dsn, "active_alert_rules") == ACTIVE_ALERT_RULES


def test_upgrade_twice_is_a_no_op(pg_dsn: str) -> None:
    migrate.upgrade(pg_dsn)
    with psycopg.connect(pg_dsn) as conn:
        conn.execute("INSERT INTO users (name) VALUES ('keepme')")
    migrate.upgrade(pg_dsn)
    with psycopg.connect(pg_dsn) as conn:
        names = {r[0] for r in conn.execute("SELECT name FROM users").fetchall()}
    assert names == {"admin", "keepme"}


def test_concurrent_upgrades_serialise_on_the_advisory_lock(pg_dsn: str) -> None:
    errors: list[BaseException] = []

    def run() -> None:
        try:
            migrate.upgrade(pg_dsn)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert migrate.current_revision(pg_dsn) == migrate.head_revision()
    with psycopg.connect(pg_dsn) as conn:
        admins = conn.execute("SELECT count(*) FROM users WHERE is_admin").fetchone()
    assert admins == (1,)


def test_upgrade_waits_while_another_process_holds_the_lock(pg_dsn: str) -> None:
    holder = psycopg.connect(pg_dsn, autocommit=True)
    holder.execute("SELECT pg_advisory_lock(%s)", (migrate.ADVISORY_LOCK_KEY,))
    done = threading.Event()
    thread = threading.Thread(target=lambda: (migrate.upgrade(pg_dsn), done.set()))
    thread.start()
    try:
        assert not done.wait(1.0), "upgrade ran although the lock was held"
        assert migrate.current_revision(pg_dsn) is None
    finally:
        holder.execute("SELECT pg_advisory_unlock(%s)", (migrate.ADVISORY_LOCK_KEY,))
        holder.close()
    thread.join(timeout=60)
    assert done.is_set()
    assert migrate.current_revision(pg_dsn) == migrate.head_revision()


def test_downgrade_to_base_removes_everything_and_upgrade_rebuilds(pg_dsn: str) -> None:
    migrate.upgrade(pg_dsn)
    migrate.downgrade(pg_dsn, "base")
    assert migrate.current_revision(pg_dsn) is None
    assert _relations(pg_dsn) & (API_TABLES | {"collected_assets", "active_alert_rules"}) == set()
    migrate.upgrade(pg_dsn)
    assert migrate.current_revision(pg_dsn) == migrate.head_revision()
    assert _columns(pg_dsn, "collected_assets") == COLLECTED_ASSETS


def test_views_show_only_enabled_watchlists_and_rules(pg_dsn: str) -> None:
    migrate.upgrade(pg_dsn)
    with psycopg.connect(pg_dsn) as conn:
        user = conn.execute("INSERT INTO users (name) VALUES ('u') RETURNING id").fetchone()
        assert user is not None
        on, off = (
            conn.execute(
                "INSERT INTO watchlists (user_id, name, enabled) VALUES (%s, %s, %s) RETURNING id",
                (user[0], name, enabled),
            ).fetchone()
            for name, enabled in (("on", True), ("off", False))
        )
        assert on is not None and off is not None
        for wid in (on[0], off[0]):
            conn.execute(
                "INSERT INTO watchlist_items (watchlist_id, symbol, asset_type, source) "
                "VALUES (%s, 'BTC/USDT', 'crypto', 'binance')",
                (wid,),
            )
        conn.execute(
            "INSERT INTO watchlist_items (watchlist_id, symbol, asset_type) "
            "VALUES (%s, 'ETH/USDT', 'crypto')",
            (off[0],),
        )
        for name, enabled in (("r1", True), ("r2", False)):
            conn.execute(
                "INSERT INTO alert_rules (user_id, name, symbol, asset_type, condition, "
                "threshold, channels, enabled) "
                "VALUES (%s, %s, 'AAPL', 'stock', 'above', 200, ARRAY['email'], %s)",
                (user[0], name, enabled),
            )
        assets = conn.execute("SELECT * FROM collected_assets").fetchall()
        rules = conn.execute("SELECT symbol, channels FROM active_alert_rules").fetchall()
    # DISTINCT: the same symbol in two watchlists is collected once; disabled ones not at all.
    assert assets == [("BTC/USDT", "crypto", "binance")]
    assert rules == [("AAPL", ["email"])]


@pytest.mark.parametrize(
    ("condition", "window"),
    [("pct_move", None), ("above", 3600)],
    ids=["pct-move-without-window", "window-on-above"],
)
def test_constraints_refuse_an_inconsistent_rule(
    pg_dsn: str, condition: str, window: object
) -> None:
    migrate.upgrade(pg_dsn)
    with psycopg.connect(pg_dsn) as conn, pytest.raises(psycopg.errors.CheckViolation):
        conn.execute(
            "INSERT INTO alert_rules (user_id, name, symbol, asset_type, condition, threshold, "
            "window_seconds, channels) VALUES ((SELECT id FROM users LIMIT 1), 'r', 'AAPL', "
            "'stock', %s, 1, %s, ARRAY['email'])",
            (condition, window),
        )
