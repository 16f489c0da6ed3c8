"""Database access: one async connection pool per process, injected into handlers.

Handlers never build SQL from strings: the ``queries`` modules hold fixed
statements with ``%s`` parameters, which psycopg sends separately from the text
(and prepares server-side once a statement has run a few times).

Connections are in autocommit mode so a read costs one round trip; writes open
an explicit transaction with ``write()``, and the NOTIFY of a change is sent
inside it, so it is delivered only if the change commits.
"""

from __future__ import annotations

import json
import select
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from fastapi import Request
from psycopg import AsyncConnection
from psycopg.types.json import set_json_loads
from psycopg_pool import AsyncConnectionPool

from bbdash.watchlist_api.settings import Settings

Conn = AsyncConnection[Any]
# What every JSON reader (JavaScript's included) round-trips exactly.
MAX_JSON_INT = 2**53


async def check_if_the_server_spoke(conn: Conn) -> None:
    """The pool's check before it hands out a connection, without a round trip.

    An idle connection of this API (it never LISTENs) has nothing to read unless
    the server has spoken: a termination notice or the end of the stream, when
    it restarts or a restore ends the sessions. Only then is the real check
    (an empty query) worth its round trip; it raises, and the pool replaces the
    connection. Checking every connection that way doubled the round trips of
    a read (docs/benchmarks.md).
    """
    poller = select.poll()
    poller.register(conn.fileno(), select.POLLIN | select.POLLERR | select.POLLHUP)
    if poller.poll(0):
        await AsyncConnectionPool.check_connection(conn)


# A request's wait for a connection while the pool has none (see _acquire_timeout).
FAST_FAIL_SECONDS = 0.5


def _json_number(text: str) -> int | float:
    """An integer of a jsonb document; beyond what JSON readers round-trip, a float.

    Layouts stored before numbers were bounded may hold 1e20, which jsonb gives
    back as 100000000000000000000: read as a float it can still be served.
    """
    value = int(text)
    return value if abs(value) <= MAX_JSON_INT else float(text)


def _json_loads(data: str | bytes) -> Any:
    return json.loads(data, parse_int=_json_number)


async def configure_connection(conn: Conn) -> None:
    """Per connection: jsonb read with bounded integers."""
    set_json_loads(_json_loads, conn)


class Database:
    """The pool, opened at startup without waiting, so the API starts (and /healthz
    answers 503) while PostgreSQL is still coming up."""

    def __init__(self, settings: Settings) -> None:
        timeout_ms = int(settings.db_timeout_seconds * 1000)
        self.pool: AsyncConnectionPool[Conn] = AsyncConnectionPool(
            settings.dsn,
            min_size=settings.pool_min_size,
            max_size=settings.pool_max_size,
            timeout=settings.db_timeout_seconds,
            open=False,
            name="watchlist-api",
            kwargs={
                "autocommit": True,
                "connect_timeout": max(1, int(settings.db_timeout_seconds)),
                # UTC so timestamps serialise the same whatever the server's zone; a
                # statement timeout so one slow query cannot hold a connection forever.
                "options": f"-c TimeZone=UTC -c statement_timeout={timeout_ms}",
                "application_name": "bbdash-watchlist-api",
            },
            # A connection killed by a database restart or a restore is replaced
            # before a request gets it, instead of failing that request with a 503.
            check=check_if_the_server_spoke,
            # While the database is down, keep trying to refill the pool this long.
            reconnect_timeout=max(settings.db_timeout_seconds, 30.0),
            configure=self._connected,
        )
        # The pool's failed connection attempts as of its last successful one.
        self._errors_seen = 0

    async def open(self) -> None:
        await self.pool.open(wait=False)

    async def close(self) -> None:
        await self.pool.close()

    async def _connected(self, conn: Conn) -> None:
        """Every new connection (the pool's `configure`): the server is reachable again."""
        await configure_connection(conn)
        self._errors_seen = self.pool.get_stats().get("connections_errors", 0)

    def _acquire_timeout(self) -> float | None:
        """How long a request waits for a connection: the pool's timeout, or only
        FAST_FAIL_SECONDS while the pool's own connection attempts fail (the server is
        down or refuses us; the pool keeps reconnecting in the background): a client
        gets its 503 at once, not after the full timeout. A pool merely busy under
        load connects fine, so its requests keep the full wait."""
        if self.pool.get_stats().get("connections_errors", 0) > self._errors_seen:
            return FAST_FAIL_SECONDS
        return None

    def read(self) -> AbstractAsyncContextManager[Conn]:
        """A connection for reads (autocommit: one round trip per statement). The pool's
        own context manager, not a wrapper: this runs on every request."""
        return self.pool.connection(timeout=self._acquire_timeout())

    @asynccontextmanager
    async def write(self, *, rollback: bool = False) -> AsyncIterator[Conn]:
        """A transaction; ``rollback=True`` (dry runs) undoes it, NOTIFYs included."""
        async with (
            self.pool.connection(timeout=self._acquire_timeout()) as conn,
            conn.transaction(force_rollback=rollback),
        ):
            yield conn


async def get_database(request: Request) -> Database:
    """FastAPI dependency; tests may override it."""
    db: Database = request.app.state.database
    return db
