"""The loop that makes Grafana hold what the layouts table says.

A layout write commits first, then wakes this loop; Grafana never sits inside a
database transaction, and a Grafana outage delays a dashboard, it loses nothing.
Each pass:

1. removes what ``grafana_removals`` lists (queued by triggers when a layout or a
   user is deleted, migrations/versions/0004), each row dropped once Grafana
   confirms;
2. saves each pending layout (``dashboard_version``/``dashboard_catalog`` differ
   from its version and the shipped catalogue) into its owner's folder, then
   records what Grafana holds, unless the layout changed meanwhile.

Besides the wake-ups, a pass runs every ``interval`` seconds (retries), and every
``full_interval`` seconds it saves every layout again: a Grafana volume restored
from an older backup gets the dashboards back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

import psycopg
from psycopg_pool import PoolTimeout

from bbdash.watchlist_api.db import Database
from bbdash.watchlist_api.layout_dashboards.build import build, folder_uid
from bbdash.watchlist_api.layout_dashboards.catalog import Catalog
from bbdash.watchlist_api.layout_dashboards.grafana import (
    DeskGrafanaError,
    GrafanaDesks,
    TokenMissingError,
)
from bbdash.watchlist_api.metrics import LAYOUT_DASHBOARDS, LAYOUT_PENDING, LAYOUT_SYNC_SUCCESS

log = logging.getLogger(__name__)

_BATCH = 100
_REMOVALS = "SELECT uid, kind FROM grafana_removals ORDER BY queued_at, uid LIMIT %s"
_REMOVED = "DELETE FROM grafana_removals WHERE uid = %s"
_PENDING = """
SELECT l.id, l.name, l.layout, l.version, u.id, lower(u.name)
FROM layouts AS l JOIN users AS u ON u.id = l.user_id
WHERE l.id > %(after)s
  AND (%(full)s OR l.dashboard_version IS DISTINCT FROM l.version
       OR l.dashboard_catalog IS DISTINCT FROM %(catalog)s)
ORDER BY l.id
LIMIT %(limit)s
"""
_COUNT_PENDING = """
SELECT count(*) FROM layouts
WHERE dashboard_version IS DISTINCT FROM version OR dashboard_catalog IS DISTINCT FROM %s
"""
_SAVED = """
UPDATE layouts SET dashboard_version = %s, dashboard_catalog = %s
WHERE id = %s AND version = %s
"""


class LayoutDashboardSync:
    """One background task per process; ``wake()`` after every layout commit."""

    def __init__(
        self,
        database: Database,
        grafana: GrafanaDesks,
        catalog: Catalog,
        *,
        interval: float = 30.0,
        full_interval: float = 3600.0,
    ) -> None:
        self._db = database
        self._grafana = grafana
        self._catalog = catalog
        self._interval = interval
        self._full_interval = full_interval
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._last_full = float("-inf")  # the first pass saves everything
        self._reported: str | None = None  # the last failure logged, logged once

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="layout-dashboard-sync")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._grafana.close()

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._interval)
            self._wake.clear()
            try:
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except (psycopg.Error, PoolTimeout) as exc:
                # PostgreSQL down or saturated: PostgresUnreachable alerts on it; the
                # layouts wait in the database for the next pass.
                self._report(f"PostgreSQL unavailable ({type(exc).__name__})")
            except Exception:  # the loop outlives any one pass; the pass said what failed
                log.exception("layout dashboard pass failed")

    async def run_once(self) -> bool:
        """One pass; True when Grafana holds every layout and no removal is left."""
        full = time.monotonic() - self._last_full >= self._full_interval
        try:
            await self._remove()
            await self._save(full=full)
        except DeskGrafanaError as exc:
            self._report(str(exc), quiet=isinstance(exc, TokenMissingError))
            await self._count_pending()
            return False
        if full:
            self._last_full = time.monotonic()
        if self._reported is not None:
            log.info("layout dashboards are written again")
            self._reported = None
        LAYOUT_SYNC_SUCCESS.set_to_current_time()
        return await self._count_pending() == 0

    def _report(self, reason: str, *, quiet: bool = False) -> None:
        # An outage is one log line, not one per pass; the metrics keep counting.
        if reason != self._reported:
            level = logging.INFO if quiet else logging.WARNING
            log.log(level, "layout dashboards wait", extra={"reason": reason})
            self._reported = reason

    async def _remove(self) -> None:
        async with self._db.read() as conn:
            rows = await (await conn.execute(_REMOVALS, (_BATCH,))).fetchall()
        for uid, kind in rows:
            try:
                await self._grafana.delete(kind, uid)
            except DeskGrafanaError:
                LAYOUT_DASHBOARDS.labels("remove", "failed").inc()
                raise
            async with self._db.write() as conn:
                await conn.execute(_REMOVED, (uid,))
            LAYOUT_DASHBOARDS.labels("remove", "done").inc()
            log.info("removed from Grafana", extra={"uid": uid, "kind": kind})

    async def _save(self, *, full: bool) -> None:
        params: dict[str, Any] = {"full": full, "catalog": self._catalog.version, "limit": _BATCH}
        folders: set[int] = set()
        after = 0
        while True:
            async with self._db.read() as conn:
                rows = await (await conn.execute(_PENDING, {**params, "after": after})).fetchall()
            for layout_id, name, document, version, user_id, login in rows:
                if user_id not in folders:
                    await self._grafana.ensure_folder(folder_uid(user_id), login)
                    folders.add(user_id)
                dashboard = build(layout_id, name, document, self._catalog)
                try:
                    await self._grafana.save_dashboard(folder_uid(user_id), dashboard)
                except DeskGrafanaError as exc:
                    LAYOUT_DASHBOARDS.labels("save", "failed").inc()
                    if not exc.about_this_request:
                        raise
                    # Stays pending (retried each pass, counted, alerted on) without
                    # holding up the layouts after it.
                    log.warning(
                        "Grafana refused a layout dashboard",
                        extra={"layout_id": layout_id, "reason": str(exc)},
                    )
                    after = layout_id
                    continue
                async with self._db.write() as conn:
                    await conn.execute(_SAVED, (version, self._catalog.version, layout_id, version))
                LAYOUT_DASHBOARDS.labels("save", "done").inc()
                after = layout_id
            if len(rows) < _BATCH:
                return

    async def _count_pending(self) -> int:
        async with self._db.read() as conn:
            row = await (await conn.execute(_COUNT_PENDING, (self._catalog.version,))).fetchone()
        pending = int(row[0]) if row else 0
        LAYOUT_PENDING.set(pending)
        return pending
