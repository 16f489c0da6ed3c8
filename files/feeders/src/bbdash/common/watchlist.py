"""Live view of what to collect: the collected_assets (and active_alert_rules) views.

Contract (docs/contracts.md): the watchlist API owns the schema; feeders read
two views, and the API sends `NOTIFY watchlist_changes` inside the transaction
that changes them. `WatchlistSync.run()`:

- connects (psycopg 3, async, autocommit), runs `LISTEN watchlist_changes`,
  reads the views and publishes a `WatchlistSnapshot`;
- re-reads on every notification (debounced: one transaction can notify several
  times) and on a timer (`resync_interval_s`), because a listener that was
  reconnecting missed whatever was sent meanwhile;
- on any database error keeps the last published snapshot, counts the error,
  and reconnects with jittered backoff; if the database has never been reached
  it publishes the configured fallback list, so a feeder starting while
  PostgreSQL is down still collects something.

The callback receives a snapshot only when it differs from the previous one.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

import psycopg

from bbdash.common.config import WatchlistSettings
from bbdash.common.metrics import Metrics
from bbdash.common.resilience import Backoff

log = logging.getLogger(__name__)

CHANNEL = "watchlist_changes"
# Shown in pg_stat_activity, so an operator can tell the feeders' listeners apart.
APPLICATION_NAME = "bbdash-watchlist-sync"
ASSET_TYPES = ("crypto", "stock", "forex", "index")
# The documented defaults (WatchlistSettings) are the defaults here too: one source.
_DEFAULTS = WatchlistSettings()
_ASSETS_SQL = "SELECT symbol, asset_type, source FROM collected_assets"
_RULES_SQL = (
    "SELECT id, user_id, symbol, condition, threshold, window_seconds, channels, "
    "cooldown_seconds, updated_at FROM active_alert_rules"
)


@dataclass(frozen=True, slots=True)
class Asset:
    """One collected asset: normalised symbol ('BTC/USDT', 'AAPL', 'EURUSD=X', '^GSPC')."""

    symbol: str
    asset_type: str
    source: str | None = None


@dataclass(frozen=True, slots=True)
class AlertRule:
    """One row of active_alert_rules."""

    id: int
    user_id: int
    symbol: str
    condition: str  # 'above' | 'below' | 'pct_move'
    threshold: float
    window_seconds: int | None
    channels: tuple[str, ...]
    cooldown_seconds: int
    updated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class WatchlistSnapshot:
    """What to collect now. `from_fallback` is True until the database was read once."""

    assets: frozenset[Asset]
    alert_rules: tuple[AlertRule, ...] = ()
    from_fallback: bool = False
    read_at: float = field(default_factory=time.time, compare=False)

    def symbols(self, asset_type: str | None = None) -> set[str]:
        """Symbols, optionally of one asset type."""
        return {a.symbol for a in self.assets if asset_type is None or a.asset_type == asset_type}


SnapshotCallback = Callable[[WatchlistSnapshot], Awaitable[None] | None]


async def read_snapshot(conn: psycopg.AsyncConnection, *, with_rules: bool) -> WatchlistSnapshot:
    """Read the views once (public so tests and tools can reuse the exact queries)."""
    cursor = await conn.execute(_ASSETS_SQL)
    assets = set()
    for symbol, asset_type, source in await cursor.fetchall():
        if not symbol or asset_type not in ASSET_TYPES:
            log.warning(
                "ignoring collected asset with unknown type",
                extra={"symbol": symbol, "asset_type": asset_type},
            )
            continue
        assets.add(Asset(str(symbol), str(asset_type), source or None))
    rules: list[AlertRule] = []
    if with_rules:
        cursor = await conn.execute(_RULES_SQL)
        for row in await cursor.fetchall():
            rid, uid, symbol, condition, threshold, window, channels, cooldown, updated = row
            rules.append(
                AlertRule(
                    id=int(rid),
                    user_id=int(uid),
                    symbol=str(symbol),
                    condition=str(condition),
                    threshold=float(threshold),
                    window_seconds=None if window is None else int(window),
                    channels=tuple(channels or ()),
                    cooldown_seconds=int(cooldown or 0),
                    updated_at=updated,
                )
            )
        rules.sort(key=lambda r: r.id)
    return WatchlistSnapshot(frozenset(assets), tuple(rules))


class WatchlistSync:
    """Keeps a `WatchlistSnapshot` current and hands each change to `on_change`."""

    def __init__(
        self,
        dsn: str | None,
        on_change: SnapshotCallback,
        *,
        metrics: Metrics,
        fallback: Iterable[Asset] = (),
        with_rules: bool = False,
        resync_interval_s: float = _DEFAULTS.resync_interval_s,
        connect_timeout_s: float = _DEFAULTS.connect_timeout_s,
        debounce_s: float = _DEFAULTS.debounce_s,
        backoff: Backoff | None = None,
    ) -> None:
        self._dsn = dsn
        self._on_change = on_change
        self._metrics = metrics
        self._fallback = frozenset(fallback)
        self._with_rules = with_rules
        self._resync = resync_interval_s
        self._connect_timeout = connect_timeout_s
        self._debounce = debounce_s
        if backoff is None:
            backoff = Backoff(base=_DEFAULTS.retry_base_s, cap=_DEFAULTS.retry_cap_s)
        self._backoff = backoff
        self.snapshot: WatchlistSnapshot | None = None
        self.connected = asyncio.Event()

    async def run(self) -> None:
        """Run until cancelled. Never raises for database trouble."""
        if self._dsn is None:
            log.warning("no watchlist database configured, using the fallback list only")
            await self._publish_fallback()
            await asyncio.Event().wait()  # nothing more to do, but stay a live task
        trigger = "start"
        while True:
            try:
                await self._session(trigger)
            except (psycopg.Error, OSError) as exc:
                self.connected.clear()
                self._metrics.watchlist_errors.labels(_error_kind(exc)).inc()
                if self.snapshot is None:
                    await self._publish_fallback()
                delay = self._backoff.next_delay()
                log.warning(
                    "watchlist database unavailable, keeping the last known assets",
                    extra={"error": str(exc).strip()[:300], "retry_in_s": round(delay, 2)},
                )
                await asyncio.sleep(delay)
                trigger = "reconnect"

    async def _session(self, trigger: str) -> None:
        conn = await psycopg.AsyncConnection.connect(
            self._dsn or "",
            autocommit=True,
            connect_timeout=max(1, int(self._connect_timeout)),
            application_name=APPLICATION_NAME,
        )
        async with conn:
            # LISTEN before the first read: a change committed between the two
            # is then seen either by the read or by a notification.
            await conn.execute(f"LISTEN {CHANNEL}")
            self.connected.set()
            log.info("listening for watchlist changes", extra={"channel": CHANNEL})
            while True:
                snapshot = await read_snapshot(conn, with_rules=self._with_rules)
                self._backoff.reset()
                self._metrics.watchlist_syncs.labels(trigger).inc()
                self._metrics.watchlist_last_sync.set(time.time())
                await self._publish(snapshot)
                trigger = await self._wait_for_change(conn)

    async def _wait_for_change(self, conn: psycopg.AsyncConnection) -> str:
        """Return 'notify' after a notification (plus a short debounce), 'timer' at resync."""
        deadline = time.monotonic() + self._resync
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return "timer"
            received = False
            async for notify in conn.notifies(timeout=min(remaining, 5.0), stop_after=1):
                _log_notify(notify.payload)
                received = True
            if received:
                # Swallow the rest of a burst so one transaction causes one read.
                # (A second notifies() only once the first has finished: it holds
                # the connection lock while it runs.)
                if self._debounce > 0:
                    async for extra in conn.notifies(timeout=self._debounce):
                        _log_notify(extra.payload)
                return "notify"

    async def _publish_fallback(self) -> None:
        self._metrics.watchlist_using_fallback.set(1)
        if self.snapshot is None:
            log.warning(
                "starting with the fallback asset list", extra={"assets": len(self._fallback)}
            )
        await self._publish(WatchlistSnapshot(self._fallback, (), from_fallback=True))

    async def _publish(self, snapshot: WatchlistSnapshot) -> None:
        if not snapshot.from_fallback:
            self._metrics.watchlist_using_fallback.set(0)
        if self.snapshot is not None and (
            self.snapshot.assets == snapshot.assets
            and self.snapshot.alert_rules == snapshot.alert_rules
        ):
            self.snapshot = snapshot
            return
        self.snapshot = snapshot
        counts = Counter(asset.asset_type for asset in snapshot.assets)
        for asset_type in ASSET_TYPES:
            self._metrics.watchlist_assets.labels(asset_type).set(counts.get(asset_type, 0))
        log.info(
            "watchlist changed",
            extra={
                "assets": len(snapshot.assets),
                "alert_rules": len(snapshot.alert_rules),
                "fallback": snapshot.from_fallback,
            },
        )
        result = self._on_change(snapshot)
        if inspect.isawaitable(result):
            await result


def _error_kind(exc: BaseException) -> str:
    if isinstance(exc, psycopg.OperationalError | OSError):
        return "connection"
    if isinstance(exc, psycopg.errors.UndefinedTable):
        return "missing_view"
    return "query"


def _log_notify(payload: str) -> None:
    try:
        data = json.loads(payload) if payload else {}
    except ValueError:
        data = {"raw": payload[:200]}
    if not isinstance(data, dict):
        data = {"raw": str(data)[:200]}
    log.debug(
        "watchlist notification",
        extra={k: data.get(k) for k in ("entity", "op", "symbol")},
    )
