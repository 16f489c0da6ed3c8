"""The application factory: ``create_app(settings)`` wires routers, middleware,
error handlers and the database pool's lifetime."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.middleware import Middleware

from bbdash.watchlist_api import problems
from bbdash.watchlist_api.auth import Authenticator
from bbdash.watchlist_api.db import Database
from bbdash.watchlist_api.limits import BodyLimitMiddleware
from bbdash.watchlist_api.metrics import MetricsMiddleware
from bbdash.watchlist_api.routers import alert_rules, layouts, meta, users, watchlists
from bbdash.watchlist_api.settings import Settings

API_VERSION = "1.0.0"


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        database = Database(settings)
        await database.open()
        app.state.database = database
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
    for module in (meta, users, watchlists, alert_rules, layouts):
        app.include_router(module.router)
    return app
