"""/livez, /healthz, /metrics and the OpenAPI document.

Two probes, two questions. `/livez` (Docker's healthcheck, hence the healer):
is this process serving requests? It touches nothing outside the event loop, so
a PostgreSQL outage never gets a healthy API restarted in a loop. `/healthz`
(the deploy's wait, operators): can it do its job, database reachable and
schema current? Prometheus learns the same from `/metrics`, which runs the
readiness check on every scrape and raises PostgresUnreachable.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

import psycopg
import psycopg_pool
from fastapi import APIRouter, Depends, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from bbdash.watchlist_api import metrics
from bbdash.watchlist_api.auth import CurrentCaller, require_scraper
from bbdash.watchlist_api.db import Database
from bbdash.watchlist_api.migrate import head_revision
from bbdash.watchlist_api.problems import problem_response
from bbdash.watchlist_api.responses import json_response
from bbdash.watchlist_api.routers.params import Db

router = APIRouter(tags=["meta"])
log = logging.getLogger(__name__)

# A health probe must answer quickly even when the pool is exhausted or the server gone.
_HEALTH_TIMEOUT = 2.0
_HAS_VERSION_TABLE = "SELECT to_regclass('alembic_version') IS NOT NULL"
_VERSION_NUM = "SELECT version_num FROM alembic_version"
# What makes the database check fail: no connection in time, or any error of
# the server (a revoked privilege, a database in recovery).
_DB_FAILURES = (psycopg.Error, psycopg_pool.PoolTimeout)


@router.get("/livez", responses={200: {"description": "The process serves requests"}})
async def livez() -> Response:
    """No key, no database: answered by the event loop alone."""
    return json_response({"status": "alive"})


@router.get(
    "/healthz",
    responses={200: {"description": "Database reachable, schema current"}, 503: {}},
)
async def healthz(db: Db) -> Response:
    """No key needed: the deploy waits on it; load balancers may call it."""
    head = head_revision()
    try:
        current = await _schema_revision(db)
    except _DB_FAILURES as exc:
        log.warning("readiness check: database unreachable", extra={"error": str(exc)})
        return problem_response(503, "database unreachable", kind="database-unavailable")
    if current != head:
        return problem_response(
            503,
            f"schema at {current}, code expects {head}: migrations not applied",
            kind="schema-outdated",
        )
    return json_response({"status": "ok", "database": "up", "schema": current})


async def _schema_revision(db: Database) -> str | None:
    """The database's Alembic revision (None before the first migration); sets the
    database and schema gauges. Raises when the database cannot be reached in time."""
    try:
        async with db.pool.connection(timeout=_HEALTH_TIMEOUT) as conn:
            row = await (await conn.execute(_HAS_VERSION_TABLE)).fetchone()
            current = None
            if row is not None and row[0]:
                version = await (await conn.execute(_VERSION_NUM)).fetchone()
                current = None if version is None else str(version[0])
    except _DB_FAILURES:
        metrics.DB_UP.set(0)
        raise
    metrics.DB_UP.set(1)
    metrics.SCHEMA_CURRENT.set(1 if current == head_revision() else 0)
    return current


@router.get(
    "/metrics",
    dependencies=[Depends(require_scraper)],
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}}},
)
async def prometheus_metrics(db: Db) -> Response:
    """Prometheus exposition; needs the scrape token or the admin key. The
    database and schema gauges are refreshed first (Docker no longer calls
    /healthz, so nothing else would)."""
    # A failed check is said by bbdash_api_db_up; the scrape itself succeeds.
    with contextlib.suppress(*_DB_FAILURES):
        await _schema_revision(db)
    metrics.record_pool(db.pool.get_stats())
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)


@router.get("/v1/openapi.json", response_model=dict[str, Any])
async def openapi_document(request: Request, _: CurrentCaller) -> Response:
    """This API's OpenAPI 3.1 document."""
    return json_response(request.app.openapi())
