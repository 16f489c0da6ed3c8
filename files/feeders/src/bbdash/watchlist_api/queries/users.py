"""Users and API keys."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from psycopg import errors

from bbdash.watchlist_api.auth import new_key
from bbdash.watchlist_api.concurrency import Expected
from bbdash.watchlist_api.db import Conn
from bbdash.watchlist_api.notify import notify
from bbdash.watchlist_api.problems import ProblemError, not_found
from bbdash.watchlist_api.queries.common import (
    duplicate,
    fetch_int,
    limit_reached,
    missing_or_stale,
    page,
)

USER = "user"
API_KEY = "API key"
_USER_COLUMNS = ("id", "name", "display_name", "is_admin", "version", "created_at", "updated_at")
_KEY_COLUMNS = ("id", "user_id", "name", "prefix", "created_at", "expires_at")

_GET = """
SELECT id, name, display_name, is_admin, version, created_at, updated_at
FROM users WHERE id = %s
"""
_LIST = """
SELECT id, name, display_name, is_admin, version, created_at, updated_at
FROM users
WHERE id > %(after)s
  AND (%(name_prefix)s::text IS NULL OR starts_with(name, %(name_prefix)s::text))
ORDER BY id
LIMIT %(limit)s
"""
_INSERT = """
INSERT INTO users (name, display_name) VALUES (%s, %s)
RETURNING id, name, display_name, is_admin, version, created_at, updated_at
"""
_VERSION = "SELECT version FROM users WHERE id = %s"
_UPDATE = """
UPDATE users SET display_name = COALESCE(%(display_name)s, display_name),
                 version = version + 1, updated_at = now()
WHERE id = %(id)s AND (%(expected)s::integer IS NULL OR version = %(expected)s::integer)
RETURNING id, name, display_name, is_admin, version, created_at, updated_at
"""
_IS_ADMIN = "SELECT is_admin FROM users WHERE id = %s"
_DELETE = """
DELETE FROM users
WHERE id = %s AND NOT is_admin AND (%s::integer IS NULL OR version = %s::integer)
RETURNING id
"""
_LIST_KEYS = """
SELECT id, user_id, name, prefix, created_at, expires_at
FROM api_keys WHERE user_id = %s AND id > %s ORDER BY id LIMIT %s
"""
_LOCK_USER = "SELECT id FROM users WHERE id = %s FOR UPDATE"
_COUNT_KEYS = "SELECT count(*) FROM api_keys WHERE user_id = %s"
_INSERT_KEY = """
INSERT INTO api_keys (user_id, name, prefix, key_hash, expires_at) VALUES (%s, %s, %s, %s, %s)
RETURNING id, user_id, name, prefix, created_at, expires_at
"""
_DELETE_KEY = "DELETE FROM api_keys WHERE id = %s AND user_id = %s RETURNING id"


def _user(row: tuple[Any, ...]) -> dict[str, Any]:
    return dict(zip(_USER_COLUMNS, row, strict=True))


def _key(row: tuple[Any, ...]) -> dict[str, Any]:
    return dict(zip(_KEY_COLUMNS, row, strict=True))


async def get(conn: Conn, user_id: int) -> dict[str, Any] | None:
    row = await (await conn.execute(_GET, (user_id,))).fetchone()
    return None if row is None else _user(row)


async def list_users(
    conn: Conn, *, after: int, limit: int, name_prefix: str | None
) -> dict[str, Any]:
    params = {"after": after, "limit": limit + 1, "name_prefix": name_prefix}
    rows = await (await conn.execute(_LIST, params)).fetchall()
    return page([_user(r) for r in rows], limit)


async def create(conn: Conn, *, name: str, display_name: str) -> dict[str, Any]:
    try:
        row = await (await conn.execute(_INSERT, (name, display_name))).fetchone()
    except errors.UniqueViolation as exc:
        raise duplicate(exc, f"a user named {name!r}") from None
    assert row is not None
    user = _user(row)
    await notify(conn, "user", "insert", user["id"])
    return user


async def update(
    conn: Conn, user_id: int, *, display_name: str | None, expected: Expected | None
) -> dict[str, Any]:
    params = {
        "id": user_id,
        "display_name": display_name,
        "expected": expected.version if expected else None,
    }
    row = await (await conn.execute(_UPDATE, params)).fetchone()
    if row is None:
        current = await fetch_int(conn, _VERSION, (user_id,))
        raise missing_or_stale(current, expected, USER)
    await notify(conn, "user", "update", user_id)
    return _user(row)


async def delete(conn: Conn, user_id: int, expected: Expected | None) -> None:
    version = expected.version if expected else None
    row = await (await conn.execute(_DELETE, (user_id, version, version))).fetchone()
    if row is not None:
        await notify(conn, "user", "delete", user_id)
        return
    admin = await (await conn.execute(_IS_ADMIN, (user_id,))).fetchone()
    if admin is not None and admin[0]:
        raise ProblemError(
            409, "the bootstrap admin user cannot be deleted", kind="admin-protected"
        )
    current = await fetch_int(conn, _VERSION, (user_id,))
    raise missing_or_stale(current, expected, USER)


async def list_keys(conn: Conn, user_id: int, *, after: int, limit: int) -> dict[str, Any]:
    rows = await (await conn.execute(_LIST_KEYS, (user_id, after, limit + 1))).fetchall()
    return page([_key(r) for r in rows], limit)


async def create_key(
    conn: Conn, user_id: int, *, name: str, expires_at: datetime | None, max_per_user: int
) -> dict[str, Any]:
    if (await (await conn.execute(_LOCK_USER, (user_id,))).fetchone()) is None:
        raise not_found(USER)
    count = await fetch_int(conn, _COUNT_KEYS, (user_id,))
    if count is not None and count >= max_per_user:
        raise limit_reached("API keys per user", max_per_user)
    secret, prefix, digest = new_key()
    row = await (
        await conn.execute(_INSERT_KEY, (user_id, name, prefix, digest, expires_at))
    ).fetchone()
    assert row is not None
    return {**_key(row), "key": secret}


async def delete_key(conn: Conn, user_id: int, key_id: int) -> None:
    row = await (await conn.execute(_DELETE_KEY, (key_id, user_id))).fetchone()
    if row is None:
        raise not_found(API_KEY)
