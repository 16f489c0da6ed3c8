"""Dashboard layouts.

Layouts change no feeder's work, and docs/contracts.md lists no ``layout``
entity for NOTIFY, so layout writes send none. Each one is a Grafana dashboard:
``dashboard_version``/``dashboard_catalog`` say which version Grafana holds
(layout_dashboards/sync.py writes them; a delete queues the dashboard's removal by
trigger, migrations/versions/0004).
"""

from __future__ import annotations

from typing import Any

from psycopg import errors
from psycopg.types.json import Jsonb

from bbdash.watchlist_api.concurrency import Expected
from bbdash.watchlist_api.db import Conn
from bbdash.watchlist_api.queries.common import (
    duplicate,
    fetch_int,
    limit_reached,
    missing_or_stale,
    page,
)

LAYOUT = "layout"
_COLUMNS = (
    "id",
    "name",
    "layout",
    "version",
    "created_at",
    "updated_at",
    "dashboard_version",
    "dashboard_catalog",
)

_GET = """
SELECT id, name, layout, version, created_at, updated_at, dashboard_version, dashboard_catalog
FROM layouts WHERE id = %s AND user_id = %s
"""
_LIST = """
SELECT id, name, layout, version, created_at, updated_at, dashboard_version, dashboard_catalog
FROM layouts
WHERE user_id = %(user_id)s AND id > %(after)s
  AND (%(name_prefix)s::text IS NULL OR starts_with(name, %(name_prefix)s::text))
ORDER BY id
LIMIT %(limit)s
"""
_VERSION = "SELECT version FROM layouts WHERE id = %s AND user_id = %s"
_LOCK_USER = "SELECT id FROM users WHERE id = %s FOR UPDATE"
_COUNT = "SELECT count(*) FROM layouts WHERE user_id = %s"
_INSERT = """
INSERT INTO layouts (user_id, name, layout) VALUES (%s, %s, %s)
RETURNING id, name, layout, version, created_at, updated_at, dashboard_version, dashboard_catalog
"""
_UPDATE = """
UPDATE layouts
SET name = COALESCE(%(name)s, name), layout = COALESCE(%(layout)s, layout),
    version = version + 1, updated_at = now()
WHERE id = %(id)s AND user_id = %(user_id)s
  AND (%(expected)s::integer IS NULL OR version = %(expected)s::integer)
RETURNING id, name, layout, version, created_at, updated_at, dashboard_version, dashboard_catalog
"""
_DELETE = """
DELETE FROM layouts
WHERE id = %s AND user_id = %s AND (%s::integer IS NULL OR version = %s::integer)
RETURNING id
"""


def _row(row: tuple[Any, ...]) -> dict[str, Any]:
    return dict(zip(_COLUMNS, row, strict=True))


async def get(conn: Conn, user_id: int, layout_id: int) -> dict[str, Any] | None:
    row = await (await conn.execute(_GET, (layout_id, user_id))).fetchone()
    return None if row is None else _row(row)


async def list_layouts(
    conn: Conn, user_id: int, *, after: int, limit: int, name_prefix: str | None
) -> dict[str, Any]:
    params = {"user_id": user_id, "after": after, "limit": limit + 1, "name_prefix": name_prefix}
    rows = await (await conn.execute(_LIST, params)).fetchall()
    return page([_row(r) for r in rows], limit)


async def create(
    conn: Conn, user_id: int, *, name: str, layout: dict[str, Any], max_per_user: int
) -> dict[str, Any]:
    await conn.execute(_LOCK_USER, (user_id,))
    count = await fetch_int(conn, _COUNT, (user_id,))
    if count is not None and count >= max_per_user:
        raise limit_reached("layouts per user", max_per_user)
    try:
        row = await (await conn.execute(_INSERT, (user_id, name, Jsonb(layout)))).fetchone()
    except errors.UniqueViolation as exc:
        raise duplicate(exc, f"a layout named {name!r}") from None
    assert row is not None
    return _row(row)


async def update(
    conn: Conn,
    user_id: int,
    layout_id: int,
    *,
    fields: dict[str, Any],
    expected: Expected | None,
) -> dict[str, Any]:
    layout = fields.get("layout")
    params = {
        "id": layout_id,
        "user_id": user_id,
        "expected": expected.version if expected else None,
        "name": fields.get("name"),
        "layout": Jsonb(layout) if layout is not None else None,
    }
    try:
        row = await (await conn.execute(_UPDATE, params)).fetchone()
    except errors.UniqueViolation as exc:
        raise duplicate(exc, f"a layout named {fields.get('name')!r}") from None
    if row is None:
        current = await fetch_int(conn, _VERSION, (layout_id, user_id))
        raise missing_or_stale(current, expected, LAYOUT)
    return _row(row)


async def delete(conn: Conn, user_id: int, layout_id: int, expected: Expected | None) -> None:
    version = expected.version if expected else None
    row = await (await conn.execute(_DELETE, (layout_id, user_id, version, version))).fetchone()
    if row is None:
        current = await fetch_int(conn, _VERSION, (layout_id, user_id))
        raise missing_or_stale(current, expected, LAYOUT)
