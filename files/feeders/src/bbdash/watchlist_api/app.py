"""The application factory: ``create_app(settings)`` wires routers, middleware,
error handlers and the database pool's lifetime."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from starlette.middleware import Middleware

from bbdash.watchlist_api import problems
from bbdash.watchlist_api.auth import SECURITY_SCHEMES, Authenticator
from bbdash.watchlist_api.db import Database
from bbdash.watchlist_api.limits import BodyLimitMiddleware
from bbdash.watchlist_api.metrics import MetricsMiddleware
from bbdash.watchlist_api.routers import alert_rules, layouts, meta, users, watchlists
from bbdash.watchlist_api.settings import Settings

API_VERSION = "1.0.0"
PUBLIC_PATHS = frozenset({"/healthz"})


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        database = Database(settings)
        await database.open()
        app.state.database = database
        # Everything allocated so far (modules, routes, schemas) lives as long as the
        # process: move it out of the collector's reach so full collections stay short
        # and do not show up as latency spikes.
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            await database.close()

    app = FastAPI(
        title="Bloomberg Dashboard watchlist API",
        version=API_VERSION,
        description=(
            "Watchlists, alert rules, layouts and users of the dashboard. Every route "
            "but /healthz needs an API key (Authorization: Bearer, or X-API-Key). "
            "Errors are RFC 9457 problem details."
        ),
        lifespan=lifespan,
        # The document is served at /v1/openapi.json behind auth; no UI (it would load
        # scripts from a CDN).
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
        middleware=[
            Middleware(MetricsMiddleware),
            Middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes),
        ],
    )
    app.state.settings = settings
    app.state.authenticator = Authenticator(
        settings.admin_key, settings.metrics_token, settings.auth_cache_seconds
    )
    problems.install(app)
    # Routes are matched in order: the hot ones (watchlist reads) go first.
    for module in (watchlists, alert_rules, layouts, users, meta):
        app.include_router(module.router)
    _declare_security(app)
    return app


def _declare_security(app: FastAPI) -> None:
    """Add the API-key schemes to the OpenAPI document: every operation needs one of
    them except those listed in PUBLIC_PATHS (auth is a plain dependency, which
    FastAPI cannot describe on its own)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = build()
        schema.setdefault("components", {})["securitySchemes"] = SECURITY_SCHEMES
        for path, operations in schema.get("paths", {}).items():
            for operation in operations.values():
                operation["security"] = (
                    []
                    if path in PUBLIC_PATHS
                    else [
                        {"bearer": []},
                        {"apiKey": []},
                    ]
                )
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
