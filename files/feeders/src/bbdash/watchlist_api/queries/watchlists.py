"""Watchlists and watchlist items (the declarative sync is in ``watchlist_sync``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from psycopg import errors

from bbdash.watchlist_api.concurrency import Expected
from bbdash.watchlist_api.db import Conn
from bbdash.watchlist_api.notify import notify
from bbdash.watchlist_api.problems import conflict, not_found
from bbdash.watchlist_api.queries.common import (
    duplicate,
    fetch_int,
    limit_reached,
    missing_or_stale,
    page,
)
from bbdash.watchlist_api.schemas.watchlists import ItemIn

WATCHLIST = "watchlist"
ITEM = "watchlist item"

# One round trip and one value for the hot read: PostgreSQL renders the watchlist as
# the API's JSON (WatchlistOut's fields, in its order), so the API neither converts
# rows nor serialises them. Every route that answers one watchlist uses it.
# api_timestamp() (migration 0002) writes timestamps as orjson does for the lists.
_GET = """
SELECT w.version, json_build_object(
    'id', w.id, 'name', w.name, 'description', w.description, 'enabled', w.enabled,
    'position', w.position, 'version', w.version,
    'created_at', api_timestamp(w.created_at), 'updated_at', api_timestamp(w.updated_at),
    'items', COALESCE((
        SELECT json_agg(json_build_object(
            'id', i.id, 'watchlist_id', i.watchlist_id, 'symbol', i.symbol,
            'asset_type', i.asset_type, 'source', i.source,
            'created_at', api_timestamp(i.created_at)
        ) ORDER BY i.id)
        FROM watchlist_items AS i WHERE i.watchlist_id = w.id), '[]'::json))::text
FROM watchlists AS w
WHERE w.id = %s AND w.user_id = %s
"""
_ID_BY_NAME = "SELECT id FROM watchlists WHERE user_id = %s AND name = %s"
# Optional filters are NULL-tolerant parameters, so the statement text never changes.
_LIST = """
SELECT w.id, w.name, w.description, w.enabled, w.version, w.created_at, w.updated_at,
       (SELECT count(*) FROM watchlist_items AS i WHERE i.watchlist_id = w.id), w.position
FROM watchlists AS w
WHERE w.user_id = %(user_id)s AND w.id > %(after)s
  AND (%(name_prefix)s::text IS NULL OR starts_with(w.name, %(name_prefix)s::text))
  AND (%(enabled)s::boolean IS NULL OR w.enabled = %(enabled)s::boolean)
  AND (%(symbol)s::text IS NULL OR EXISTS (
        SELECT 1 FROM watchlist_items AS i
        WHERE i.watchlist_id = w.id AND i.symbol = %(symbol)s::text))
ORDER BY w.id
LIMIT %(limit)s
"""
_VERSION = "SELECT version FROM watchlists WHERE id = %s AND user_id = %s"
_LOCK_USER = "SELECT id FROM users WHERE id = %s FOR UPDATE"
_COUNT = "SELECT count(*) FROM watchlists WHERE user_id = %s"
_INSERT = """
INSERT INTO watchlists (user_id, name, description, enabled) VALUES (%s, %s, %s, %s)
RETURNING id
"""
_UPDATE = """
UPDATE watchlists
SET name = COALESCE(%(name)s, name),
    description = COALESCE(%(description)s, description),
    enabled = COALESCE(%(enabled)s, enabled),
    position = COALESCE(%(position)s, position),
    version = version + 1, updated_at = now()
WHERE id = %(id)s AND user_id = %(user_id)s
  AND (%(expected)s::integer IS NULL OR version = %(expected)s::integer)
RETURNING id
"""
_DELETE = """
DELETE FROM watchlists
WHERE id = %s AND user_id = %s AND (%s::integer IS NULL OR version = %s::integer)
RETURNING id
"""
# Touching the parent first locks it (serialising item writes per watchlist, so the
# item limit holds under concurrency) and bumps its version (its ETag covers the items).
_TOUCH = """
UPDATE watchlists SET version = version + 1, updated_at = now()
WHERE id = %s AND user_id = %s AND (%s::integer IS NULL OR version = %s::integer)
RETURNING id
"""
# A separate statement on purpose: under READ COMMITTED a subquery in the UPDATE above
# would count with the snapshot taken *before* waiting for the lock, missing the items
# that the previous lock holder committed; a new statement sees them.
_COUNT_ITEMS = "SELECT count(*) FROM watchlist_items WHERE watchlist_id = %s"
_LIST_ITEMS = """
SELECT i.id, i.symbol, i.asset_type, i.source, i.created_at
FROM watchlist_items AS i
WHERE i.watchlist_id = %(watchlist_id)s AND i.id > %(after)s
  AND (%(asset_type)s::text IS NULL OR i.asset_type = %(asset_type)s::text)
  AND (%(source)s::text IS NULL OR i.source = %(source)s::text)
  AND (%(symbol_prefix)s::text IS NULL OR starts_with(i.symbol, %(symbol_prefix)s::text))
ORDER BY i.id
LIMIT %(limit)s
"""
_INSERT_ITEM = """
INSERT INTO watchlist_items (watchlist_id, symbol, asset_type, source) VALUES (%s, %s, %s, %s)
ON CONFLICT (watchlist_id, asset_type, symbol) DO NOTHING
RETURNING id, created_at
"""
_DELETE_ITEM = """
DELETE FROM watchlist_items WHERE id = %s AND watchlist_id = %s
RETURNING symbol, asset_type
"""


@dataclass(frozen=True, slots=True)
class Limits:
    watchlists_per_user: int
    items_per_watchlist: int


@dataclass(frozen=True, slots=True)
class WatchlistJson:
    """A watchlist as rendered by PostgreSQL: its version (the ETag) and its JSON."""

    version: int
    json: orjson.Fragment


async def get(conn: Conn, user_id: int, watchlist_id: int) -> WatchlistJson | None:
    return _rendered(await (await conn.execute(_GET, (watchlist_id, user_id))).fetchone())


async def get_by_name(conn: Conn, user_id: int, name: str) -> WatchlistJson | None:
    # Two round trips, so that the rendering above is written once (this is no hot path).
    row = await (await conn.execute(_ID_BY_NAME, (user_id, name))).fetchone()
    return None if row is None else await get(conn, user_id, row[0])


def _rendered(row: tuple[Any, ...] | None) -> WatchlistJson | None:
    return None if row is None else WatchlistJson(row[0], orjson.Fragment(row[1]))


async def list_watchlists(
    conn: Conn,
    user_id: int,
    *,
    after: int,
    limit: int,
    name_prefix: str | None,
    enabled: bool | None,
    symbol: str | None,
) -> dict[str, Any]:
    params = {
        "user_id": user_id,
        "after": after,
        "limit": limit + 1,
        "name_prefix": name_prefix,
        "enabled": enabled,
        "symbol": symbol,
    }
    rows = await (await conn.execute(_LIST, params)).fetchall()
    data = [
        {
            "id": r[0],
            "name": r[1],
            "description": r[2],
            "enabled": r[3],
            "version": r[4],
            "created_at": r[5],
            "updated_at": r[6],
            "item_count": r[7],
            "position": r[8],
        }
        for r in rows
    ]
    return page(data, limit)


async def create(
    conn: Conn,
    user_id: int,
    *,
    name: str,
    description: str,
    enabled: bool,
    items: Sequence[ItemIn],
    limits: Limits,
) -> int:
    if len(items) > limits.items_per_watchlist:
        raise limit_reached("items per watchlist", limits.items_per_watchlist)
    # Lock the owner so two concurrent creates cannot both pass the count check.
    await conn.execute(_LOCK_USER, (user_id,))
    count = await fetch_int(conn, _COUNT, (user_id,))
    if count is not None and count >= limits.watchlists_per_user:
        raise limit_reached("watchlists per user", limits.watchlists_per_user)
    try:
        row = await (await conn.execute(_INSERT, (user_id, name, description, enabled))).fetchone()
    except errors.UniqueViolation as exc:
        raise duplicate(exc, f"a watchlist named {name!r}") from None
    assert row is not None
    watchlist_id = int(row[0])
    await notify(conn, "watchlist", "insert", watchlist_id)
    for item in items:
        await insert_item(conn, watchlist_id, item)
    return watchlist_id


async def update(
    conn: Conn,
    user_id: int,
    watchlist_id: int,
    *,
    fields: dict[str, Any],
    expected: Expected | None,
) -> None:
    params = {
        "id": watchlist_id,
        "user_id": user_id,
        "expected": expected.version if expected else None,
        "name": fields.get("name"),
        "description": fields.get("description"),
        "enabled": fields.get("enabled"),
        "position": fields.get("position"),
    }
    try:
        row = await (await conn.execute(_UPDATE, params)).fetchone()
    except errors.UniqueViolation as exc:
        raise duplicate(exc, f"a watchlist named {fields.get('name')!r}") from None
    if row is None:
        current = await fetch_int(conn, _VERSION, (watchlist_id, user_id))
        raise missing_or_stale(current, expected, WATCHLIST)
    # The order of a person's watchlists changes nothing a feeder collects.
    if set(fields) - {"position"}:
        await notify(conn, "watchlist", "update", watchlist_id)


async def delete(conn: Conn, user_id: int, watchlist_id: int, expected: Expected | None) -> None:
    version = expected.version if expected else None
    row = await (await conn.execute(_DELETE, (watchlist_id, user_id, version, version))).fetchone()
    if row is None:
        current = await fetch_int(conn, _VERSION, (watchlist_id, user_id))
        raise missing_or_stale(current, expected, WATCHLIST)
    await notify(conn, "watchlist", "delete", watchlist_id)


async def _touch(conn: Conn, user_id: int, watchlist_id: int, expected: Expected | None) -> None:
    """Lock and version-bump the parent watchlist (404, 412 or 409 if that fails)."""
    version = expected.version if expected else None
    row = await (await conn.execute(_TOUCH, (watchlist_id, user_id, version, version))).fetchone()
    if row is None:
        current = await fetch_int(conn, _VERSION, (watchlist_id, user_id))
        raise missing_or_stale(current, expected, WATCHLIST)


async def insert_item(conn: Conn, watchlist_id: int, item: ItemIn) -> dict[str, Any] | None:
    """Insert one item and queue its NOTIFY; None when the watchlist already has it."""
    params = (watchlist_id, item.symbol, item.asset_type, item.source)
    row = await (await conn.execute(_INSERT_ITEM, params)).fetchone()
    if row is None:
        return None
    item_id = int(row[0])
    await notify(
        conn,
        "watchlist_item",
        "insert",
        item_id,
        watchlist_id=watchlist_id,
        symbol=item.symbol,
        asset_type=item.asset_type,
    )
    return {
        "id": item_id,
        "watchlist_id": watchlist_id,
        "symbol": item.symbol,
        "asset_type": item.asset_type,
        "source": item.source,
        "created_at": row[1],
    }


async def list_items(
    conn: Conn,
    user_id: int,
    watchlist_id: int,
    *,
    after: int,
    limit: int,
    asset_type: str | None,
    source: str | None,
    symbol_prefix: str | None,
) -> dict[str, Any] | None:
    if await fetch_int(conn, _VERSION, (watchlist_id, user_id)) is None:
        return None
    params = {
        "watchlist_id": watchlist_id,
        "after": after,
        "limit": limit + 1,
        "asset_type": asset_type,
        "source": source,
        "symbol_prefix": symbol_prefix,
    }
    rows = await (await conn.execute(_LIST_ITEMS, params)).fetchall()
    data = [
        {
            "id": r[0],
            "watchlist_id": watchlist_id,
            "symbol": r[1],
            "asset_type": r[2],
            "source": r[3],
            "created_at": r[4],
        }
        for r in rows
    ]
    return page(data, limit)


async def add_item(
    conn: Conn,
    user_id: int,
    watchlist_id: int,
    item: ItemIn,
    *,
    expected: Expected | None,
    limits: Limits,
) -> dict[str, Any]:
    await _touch(conn, user_id, watchlist_id, expected)
    count = await fetch_int(conn, _COUNT_ITEMS, (watchlist_id,)) or 0
    if count >= limits.items_per_watchlist:
        raise limit_reached("items per watchlist", limits.items_per_watchlist)
    created = await insert_item(conn, watchlist_id, item)
    if created is None:
        raise conflict(
            f"{item.asset_type} {item.symbol} is already in this watchlist", kind="duplicate"
        )
    return created


async def delete_item(
    conn: Conn, user_id: int, watchlist_id: int, item_id: int, expected: Expected | None
) -> None:
    await _touch(conn, user_id, watchlist_id, expected)
    row = await (await conn.execute(_DELETE_ITEM, (item_id, watchlist_id))).fetchone()
    if row is None:
        raise not_found(ITEM)
    await notify(
        conn,
        "watchlist_item",
        "delete",
        item_id,
        watchlist_id=watchlist_id,
        symbol=row[0],
        asset_type=row[1],
    )
