"""Helpers shared by the resource query modules."""

from __future__ import annotations

from typing import Any

from psycopg import errors

from bbdash.watchlist_api.concurrency import Expected
from bbdash.watchlist_api.db import Conn
from bbdash.watchlist_api.problems import ProblemError, conflict, not_found


def page(rows: list[dict[str, Any]], limit: int) -> dict[str, Any]:
    """Rows were fetched with LIMIT limit+1: the extra row only says a next page exists."""
    more = len(rows) > limit
    data = rows[:limit]
    return {"data": data, "next_after": data[-1]["id"] if more and data else None}


async def fetch_int(conn: Conn, sql: str, params: tuple[Any, ...]) -> int | None:
    """The first column of the first row as an int (a version, a count), or None."""
    row = await (await conn.execute(sql, params)).fetchone()
    return None if row is None else int(row[0])


def missing_or_stale(current: int | None, expected: Expected | None, what: str) -> ProblemError:
    """Why a conditional UPDATE/DELETE matched no row: gone (404) or changed (412/409)."""
    if current is None or expected is None:
        return not_found(what)
    return expected.mismatch(current)


def duplicate(exc: errors.UniqueViolation, what: str) -> ProblemError:
    del exc  # the constraint name is internal; the message names the resource
    return conflict(f"{what} already exists", kind="duplicate")


def limit_reached(what: str, limit: int) -> ProblemError:
    return conflict(f"limit reached: at most {limit} {what}", kind="limit-reached")


# The tables a declarative PUT .../by-name/{name} writes (fixed names, never input).
_VERSION_BY_NAME = {
    "watchlists": "SELECT version FROM watchlists WHERE user_id = %s AND name = %s FOR UPDATE",
    "alert_rules": "SELECT version FROM alert_rules WHERE user_id = %s AND name = %s FOR UPDATE",
}


async def check_if_match(
    conn: Conn, table: str, user_id: int, name: str, expected: Expected | None, what: str
) -> None:
    """A sync sent with If-Match: the named row must exist at that version (412 otherwise,
    RFC 9110 section 13.1.1: If-Match on a resource that does not exist fails too).
    Locks the row for the rest of the transaction, so the sync applies to that version."""
    if expected is None:
        return
    current = await fetch_int(conn, _VERSION_BY_NAME[table], (user_id, name))
    if current is None:
        raise ProblemError(
            412,
            f"If-Match names a version, but there is no {what} {name!r}",
            kind="version-mismatch",
        )
    if current != expected.version:
        raise expected.mismatch(current)
