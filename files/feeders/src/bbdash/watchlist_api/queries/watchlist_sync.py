"""The declarative sync behind ``PUT /v1/watchlists/by-name/{name}``.

Compares the stored watchlist with the complete desired state and writes only
the difference, one NOTIFY per change, so that a repeated call writes nothing
and can truthfully answer ``changed: false``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bbdash.watchlist_api.db import Conn
from bbdash.watchlist_api.notify import notify
from bbdash.watchlist_api.problems import conflict
from bbdash.watchlist_api.queries.common import fetch_int, limit_reached
from bbdash.watchlist_api.queries.watchlists import Limits, insert_item
from bbdash.watchlist_api.schemas.watchlists import ItemIn

_LOCK_USER = "SELECT id FROM users WHERE id = %s FOR UPDATE"
_COUNT = "SELECT count(*) FROM watchlists WHERE user_id = %s"
_DELETE_ITEM = "DELETE FROM watchlist_items WHERE id = %s AND watchlist_id = %s"
_ITEM_KEYS = """
SELECT id, asset_type, symbol, source FROM watchlist_items WHERE watchlist_id = %s
"""
_UPDATE_ITEM_SOURCE = "UPDATE watchlist_items SET source = %s WHERE id = %s"
_SYNC_LOCK = """
SELECT id, description, enabled FROM watchlists WHERE user_id = %s AND name = %s FOR UPDATE
"""
_SYNC_INSERT = """
INSERT INTO watchlists (user_id, name, description, enabled) VALUES (%s, %s, %s, %s)
ON CONFLICT (user_id, name) DO NOTHING
RETURNING id
"""
_SYNC_SET = """
UPDATE watchlists SET description = %s, enabled = %s, version = version + 1, updated_at = now()
WHERE id = %s
"""


@dataclass(frozen=True, slots=True)
class SyncOutcome:
    watchlist_id: int
    changed: bool
    created: bool


async def sync(
    conn: Conn,
    user_id: int,
    name: str,
    *,
    description: str,
    enabled: bool,
    items: Sequence[ItemIn],
    limits: Limits,
) -> SyncOutcome:
    """Make the watchlist ``name`` exactly as described; report whether anything changed.

    Idempotent by construction: the second identical call finds nothing to do and
    writes nothing (no version bump, no NOTIFY).
    """
    if len(items) > limits.items_per_watchlist:
        raise limit_reached("items per watchlist", limits.items_per_watchlist)
    row = await (await conn.execute(_SYNC_LOCK, (user_id, name))).fetchone()
    if row is None:
        await conn.execute(_LOCK_USER, (user_id,))
        count = await fetch_int(conn, _COUNT, (user_id,))
        if count is not None and count >= limits.watchlists_per_user:
            raise limit_reached("watchlists per user", limits.watchlists_per_user)
        inserted = await (
            await conn.execute(_SYNC_INSERT, (user_id, name, description, enabled))
        ).fetchone()
        if inserted is not None:
            watchlist_id = int(inserted[0])
            await notify(conn, "watchlist", "insert", watchlist_id)
            for item in items:
                await insert_item(conn, watchlist_id, item)
            return SyncOutcome(watchlist_id, changed=True, created=True)
        # A concurrent sync created it between our SELECT and INSERT: converge onto it.
        row = await (await conn.execute(_SYNC_LOCK, (user_id, name))).fetchone()
        if row is None:
            raise conflict("the watchlist changed concurrently, retry")
    watchlist_id = int(row[0])
    changed = await _sync_items(conn, watchlist_id, items)
    if changed or row[1] != description or row[2] != enabled:
        await conn.execute(_SYNC_SET, (description, enabled, watchlist_id))
        await notify(conn, "watchlist", "update", watchlist_id)
        changed = True
    return SyncOutcome(watchlist_id, changed=changed, created=False)


async def _sync_items(conn: Conn, watchlist_id: int, items: Sequence[ItemIn]) -> bool:
    current = {
        (r[1], r[2]): (int(r[0]), r[3])
        for r in await (await conn.execute(_ITEM_KEYS, (watchlist_id,))).fetchall()
    }
    desired = {item.key(): item for item in items}
    changed = False
    for key, (item_id, _source) in current.items():
        if key not in desired:
            await conn.execute(_DELETE_ITEM, (item_id, watchlist_id))
            await notify(
                conn,
                "watchlist_item",
                "delete",
                item_id,
                watchlist_id=watchlist_id,
                symbol=key[1],
                asset_type=key[0],
            )
            changed = True
    for key, item in desired.items():
        existing = current.get(key)
        if existing is None:
            await insert_item(conn, watchlist_id, item)
            changed = True
        elif existing[1] != item.source:
            await conn.execute(_UPDATE_ITEM_SOURCE, (item.source, existing[0]))
            await notify(
                conn,
                "watchlist_item",
                "update",
                existing[0],
                watchlist_id=watchlist_id,
                symbol=item.symbol,
                asset_type=item.asset_type,
            )
            changed = True
    return changed
