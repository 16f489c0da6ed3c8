"""The API user behind a Grafana login, created the first time that login is seen."""

from __future__ import annotations

from bbdash.watchlist_api.db import Conn
from bbdash.watchlist_api.notify import notify

# Names are unique case-insensitively (users_name_key): a login is looked up in lower
# case. ON CONFLICT DO NOTHING: two first requests of the same person may race; the
# loser reads the winner's row.
_FIND = "SELECT id FROM users WHERE lower(name) = %s"
_CREATE = """
INSERT INTO users (name, display_name) VALUES (%s, %s)
ON CONFLICT DO NOTHING
RETURNING id
"""
_DISPLAY_NAME_LIMIT = 128  # users.display_name's CHECK


async def find(conn: Conn, login: str) -> int | None:
    row = await (await conn.execute(_FIND, (login,))).fetchone()
    return None if row is None else int(row[0])


async def create(conn: Conn, login: str, display_name: str) -> int | None:
    """The new user's id, or None when another request created it first."""
    row = await (
        await conn.execute(_CREATE, (login, display_name[:_DISPLAY_NAME_LIMIT]))
    ).fetchone()
    if row is None:
        return None
    await notify(conn, "user", "insert", int(row[0]))
    return int(row[0])
