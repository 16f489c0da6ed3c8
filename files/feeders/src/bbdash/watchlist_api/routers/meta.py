"""/healthz, /metrics and the OpenAPI document."""

from __future__ import annotations

import logging
from typing import Any

import psycopg
import psycopg_pool
from fastapi import APIRouter, Depends, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from bbdash.watchlist_api import metrics
from bbdash.watchlist_api.auth import CurrentCaller, require_scraper
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


@router.get(
    "/healthz",
    responses={200: {"description": "Database reachable, schema current"}, 503: {}},
)
async def healthz(db: Db) -> Response:
    """No key needed: Docker's healthcheck and load balancers call it."""
    head = head_revision()
    try:
        async with db.pool.connection(timeout=_HEALTH_TIMEOUT) as conn:
            row = await (await conn.execute(_HAS_VERSION_TABLE)).fetchone()
            current = None
            if row is not None and row[0]:
                version = await (await conn.execute(_VERSION_NUM)).fetchone()
                current = None if version is None else str(version[0])
    except (psycopg.OperationalError, psycopg_pool.PoolTimeout) as exc:
        metrics.DB_UP.set(0)
        log.warning("health check: database unreachable", extra={"error": str(exc)})
        return problem_response(503, "database unreachable", kind="database-unavailable")
    metrics.DB_UP.set(1)
    metrics.record_pool(db.pool.get_stats())
    if current != head:
        metrics.SCHEMA_CURRENT.set(0)
        return problem_response(
            503,
            f"schema at {current}, code expects {head}: migrations not applied",
            kind="schema-outdated",
        )
    metrics.SCHEMA_CURRENT.set(1)
    return json_response({"status": "ok", "database": "up", "schema": current})


@router.get(
    "/metrics",
    dependencies=[Depends(require_scraper)],
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}}},
)
async def prometheus_metrics(db: Db) -> Response:
    """Prometheus exposition; needs the scrape token or the admin key."""
    metrics.record_pool(db.pool.get_stats())
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)


@router.get("/v1/openapi.json", response_model=dict[str, Any])
async def openapi_document(request: Request, _: CurrentCaller) -> Response:
    """This API's OpenAPI 3.1 document."""
    return json_response(request.app.openapi())
