"""``bbdash-watchlist-api``: apply migrations, then serve on 0.0.0.0:8000.

Migrations run before the server binds, under the advisory lock, so every
container start brings the schema up to date and two replicas starting at once
do not race. An unreachable database is retried for ``migrate_wait_seconds``
(PostgreSQL may start after us); then the process exits non-zero and Docker's
restart policy tries again.
"""

from __future__ import annotations

import logging
import random
import sys
import time

import psycopg
import uvicorn

from bbdash.common.logs import setup_logging
from bbdash.watchlist_api import migrate
from bbdash.watchlist_api.app import create_app
from bbdash.watchlist_api.http_protocol import BoundedHttpToolsProtocol
from bbdash.watchlist_api.settings import Settings

log = logging.getLogger("bbdash.watchlist_api")


def _migrate_with_retry(settings: Settings) -> None:
    deadline = time.monotonic() + settings.migrate_wait_seconds
    delay = 0.5
    while True:
        try:
            migrate.upgrade(settings.dsn)
        except psycopg.OperationalError as exc:
            if time.monotonic() >= deadline:
                raise
            log.warning("database not reachable yet, retrying", extra={"error": str(exc)})
            time.sleep(delay + random.uniform(0, delay / 2))  # noqa: S311 - jitter, not crypto
            delay = min(delay * 2, 10.0)
        else:
            log.info("schema up to date", extra={"revision": migrate.head_revision()})
            return


def main() -> None:
    settings = Settings()
    setup_logging("watchlist-api", settings.log_level)
    if settings.admin_key is None:
        log.warning("no BBDASH_API_ADMIN_KEY_FILE: users and keys cannot be managed")
    if settings.migrate_on_start:
        try:
            _migrate_with_retry(settings)
        except psycopg.Error as exc:
            log.error("migrations failed", extra={"error": str(exc)})
            sys.exit(1)
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        # httptools, with a bound on a request's head (http_protocol.py).
        http=BoundedHttpToolsProtocol,
        # Requests are counted in /metrics; one JSON log line each would cost more than
        # the request on the hot path.
        access_log=False,
        log_config=None,
        # Nothing here uses the client address, so nginx's X-Forwarded-* need no parsing.
        proxy_headers=False,
        server_header=False,
        timeout_graceful_shutdown=10,
    )


if __name__ == "__main__":
    main()
