"""WatchlistSync against a real PostgreSQL: start-up read, LISTEN/NOTIFY, outage, fallback."""

from __future__ import annotations

import asyncio
import contextlib
import socket

import psycopg
from bbdash.common.metrics import Metrics
from bbdash.common.resilience import Backoff
from bbdash.common.watchlist import Asset, WatchlistSnapshot, WatchlistSync


async def _wait(predicate, timeout: float = 5.0) -> bool:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        if predicate():
            return True
        await asyncio.sleep(0.02)
    return bool(predicate())


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_reads_at_start_then_follows_notifications(watchlist_db):
    watchlist_db.add_asset("BTC/USDT", "crypto", "binance")
    watchlist_db.add_asset("AAPL", "stock")
    rule_id = watchlist_db.add_rule("BTC/USDT", "above", 70000.0, channels=("telegram", "email"))
    seen: list[WatchlistSnapshot] = []
    metrics = Metrics()

    async def scenario() -> None:
        sync = WatchlistSync(
            watchlist_db.dsn,
            seen.append,
            metrics=metrics,
            with_rules=True,
            resync_interval_s=60,
            debounce_s=0.05,
        )
        task = asyncio.create_task(sync.run())
        try:
            assert await _wait(lambda: len(seen) == 1)
            first = seen[0]
            assert first.assets == {
                Asset("BTC/USDT", "crypto", "binance"),
                Asset("AAPL", "stock"),
            }
            assert [r.id for r in first.alert_rules] == [rule_id]
            assert first.alert_rules[0].channels == ("telegram", "email")
            assert not first.from_fallback

            loop = asyncio.get_running_loop()
            started = loop.time()
            await asyncio.to_thread(watchlist_db.add_asset, "ETH/USDT", "crypto")
            assert await _wait(lambda: "ETH/USDT" in seen[-1].symbols())
            assert loop.time() - started < 5.0  # the "collected within 5 s"

            await asyncio.to_thread(watchlist_db.remove_asset, "AAPL")
            assert await _wait(lambda: "AAPL" not in seen[-1].symbols())
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    asyncio.run(scenario())
    assert metrics.value("bbdash_watchlist_syncs_total", {"trigger": "notify"}) >= 2
    assert metrics.value("bbdash_watchlist_assets", {"asset_type": "crypto"}) == 2


def test_periodic_resync_catches_changes_without_notify(watchlist_db):
    seen: list[WatchlistSnapshot] = []

    async def scenario() -> None:
        sync = WatchlistSync(
            watchlist_db.dsn, seen.append, metrics=Metrics(), resync_interval_s=0.3
        )
        task = asyncio.create_task(sync.run())
        try:
            assert await _wait(lambda: len(seen) == 1)
            # A change made without NOTIFY (as if the notification was missed).
            await asyncio.to_thread(watchlist_db.add_asset, "SOL/USDT", "crypto", notify=False)
            assert await _wait(lambda: "SOL/USDT" in seen[-1].symbols(), timeout=3)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    asyncio.run(scenario())


def test_database_down_at_start_uses_fallback_and_keeps_retrying():
    dsn = f"postgresql://postgres@127.0.0.1:{_free_port()}/nothing"
    seen: list[WatchlistSnapshot] = []
    metrics = Metrics()
    fallback = [Asset("BTC/USDT", "crypto"), Asset("^GSPC", "index")]

    async def scenario() -> None:
        sync = WatchlistSync(
            dsn,
            seen.append,
            metrics=metrics,
            fallback=fallback,
            connect_timeout_s=1,
            backoff=Backoff(base=0.05, cap=0.1),
        )
        task = asyncio.create_task(sync.run())
        try:
            assert await _wait(lambda: len(seen) == 1)
            assert await _wait(
                lambda: metrics.value("bbdash_watchlist_errors_total", {"kind": "connection"}) >= 3
            )
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    asyncio.run(scenario())
    assert len(seen) == 1  # the fallback is published once, not on every retry
    assert seen[0].from_fallback
    assert seen[0].assets == frozenset(fallback)
    assert metrics.value("bbdash_watchlist_using_fallback") == 1


def test_connection_loss_keeps_last_set_and_reconnects(watchlist_db):
    watchlist_db.add_asset("BTC/USDT", "crypto")
    seen: list[WatchlistSnapshot] = []
    metrics = Metrics()

    async def scenario() -> None:
        sync = WatchlistSync(
            watchlist_db.dsn,
            seen.append,
            metrics=metrics,
            resync_interval_s=60,
            backoff=Backoff(base=0.05, cap=0.1),
        )
        task = asyncio.create_task(sync.run())
        try:
            assert await _wait(lambda: len(seen) == 1)
            # Kill the listener's backend, as a PostgreSQL restart would.
            with psycopg.connect(watchlist_db.dsn, autocommit=True) as conn:
                conn.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE application_name = 'bbdash-watchlist-sync'"
                )
            assert await _wait(
                lambda: metrics.value("bbdash_watchlist_errors_total", {"kind": "connection"}) >= 1
            )
            assert sync.snapshot is not None and sync.snapshot.symbols() == {"BTC/USDT"}
            # Reconnected: a new change is seen again.
            assert await _wait(sync.connected.is_set)
            await asyncio.to_thread(watchlist_db.add_asset, "ETH/USDT", "crypto")
            assert await _wait(lambda: "ETH/USDT" in seen[-1].symbols())
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    asyncio.run(scenario())
    assert not any(s.from_fallback for s in seen)
