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
from bbdash.watchlist_api.custom_series.influx import CustomInflux
from bbdash.watchlist_api.custom_series.quota import CustomQuota
from bbdash.watchlist_api.db import Database
from bbdash.watchlist_api.desk import router as desk
from bbdash.watchlist_api.grafana_session import GrafanaSessions
from bbdash.watchlist_api.head import HeadAsGetMiddleware
from bbdash.watchlist_api.hot_read import HotReadMiddleware
from bbdash.watchlist_api.layout_dashboards import catalog
from bbdash.watchlist_api.layout_dashboards.grafana import GrafanaDesks
from bbdash.watchlist_api.layout_dashboards.sync import LayoutDashboardSync
from bbdash.watchlist_api.limits import BodyLimitMiddleware
from bbdash.watchlist_api.metrics import MetricsMiddleware
from bbdash.watchlist_api.problems import PROBLEM_MEDIA_TYPE, PROBLEM_SCHEMA
from bbdash.watchlist_api.routers import (
    alert_rules,
    custom,
    layouts,
    meta,
    symbols,
    users,
    watchlists,
)
from bbdash.watchlist_api.settings import Settings

API_VERSION = "1.0.0"
PUBLIC_PATHS = frozenset({"/livez", "/healthz"})


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        database = Database(settings)
        await database.open()
        app.state.database = database
        app.state.layout_sync = _layout_sync(settings, database)
        if app.state.layout_sync is not None:
            app.state.layout_sync.start()
        app.state.custom_quota = _custom_quota(settings)
        if app.state.custom_quota is not None:
            app.state.custom_quota.start()
        # Everything allocated so far (modules, routes, schemas) lives as long as the
        # process: move it out of the collector's reach so full collections stay short
        # and do not show up as latency spikes.
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            if app.state.layout_sync is not None:
                await app.state.layout_sync.stop()
            if app.state.custom_quota is not None:
                await app.state.custom_quota.stop()
            if app.state.sessions is not None:
                await app.state.sessions.close()
            await database.close()

    app = FastAPI(
        title="Bloomberg Dashboard watchlist API",
        version=API_VERSION,
        description=(
            "Watchlists, alert rules, layouts and users of the dashboard. Every route "
            "but the probes (/livez, /healthz) needs an API key (Authorization: Bearer, "
            "or X-API-Key) or a Grafana sign-in (its session cookie, checked with "
            "Grafana; a write must then come from this site: same Origin). "
            "Errors are RFC 9457 problem details."
        ),
        lifespan=lifespan,
        # Starlette's own redirect builds an absolute URL from the Host header, and
        # behind nginx it loses the /watchlist-api/ prefix and https: problems.py
        # answers a trailing slash with a relative redirect instead.
        redirect_slashes=False,
        # The document is served at /v1/openapi.json behind auth; no UI (it would load
        # scripts from a CDN).
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
        middleware=[
            Middleware(MetricsMiddleware),
            Middleware(HeadAsGetMiddleware),
            Middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes),
            # The hot read, answered before the framework's routing (hot_read.py).
            Middleware(HotReadMiddleware),
        ],
    )
    app.state.settings = settings
    app.state.layout_sync = None
    app.state.custom_quota = None
    app.state.authenticator = Authenticator(
        settings.admin_key, settings.metrics_token, settings.auth_cache_seconds
    )
    app.state.sessions = (
        None
        if settings.grafana_url is None
        else GrafanaSessions(
            settings.grafana_url,
            cookie_name=settings.grafana_cookie_name,
            cache_seconds=settings.session_cache_seconds,
            timeout_seconds=settings.grafana_timeout_seconds,
        )
    )
    problems.install(app)
    # Routes are matched in order: the hot ones (watchlist reads) go first.
    for module in (watchlists, alert_rules, layouts, users, meta, symbols, custom, desk):
        app.include_router(module.router)
    app.include_router(layouts.kinds_router)
    _finish_openapi(app)
    return app


def _layout_sync(settings: Settings, database: Database) -> LayoutDashboardSync | None:
    """The loop that writes layouts to Grafana, when the API knows Grafana and has a
    token file to read (the file itself may appear later)."""
    if settings.grafana_url is None or settings.grafana_token_file is None:
        return None
    grafana = GrafanaDesks(
        settings.grafana_url,
        settings.grafana_token_file,
        settings.desks_folder_uid,
        settings.grafana_timeout_seconds,
    )
    return LayoutDashboardSync(
        database,
        grafana,
        catalog.load(),
        interval=settings.layout_sync_seconds,
        full_interval=settings.layout_full_sync_seconds,
    )


def _custom_quota(settings: Settings) -> CustomQuota | None:
    """The InfluxDB client of custom series and its quota loop, when InfluxDB is
    configured for them (the token file itself may appear later)."""
    if not settings.custom_series_configured:
        return None
    assert settings.influxdb_url and settings.influxdb_org and settings.influxdb_token_file
    influx = CustomInflux(
        settings.influxdb_url,
        settings.influxdb_org,
        settings.influxdb_token_file,
        settings.influxdb_timeout_seconds,
    )
    return CustomQuota(influx, settings.custom_buckets, interval=settings.custom_quota_seconds)


def _finish_openapi(app: FastAPI) -> None:
    """Finish the OpenAPI document: the API-key schemes on every operation but the
    public ones (auth is a plain dependency, which FastAPI cannot describe on its own),
    and every error response as application/problem+json."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = build()
        components = schema.setdefault("components", {})
        components["securitySchemes"] = SECURITY_SCHEMES
        components.setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
        for schema_name in ("HTTPValidationError", "ValidationError"):
            components["schemas"].pop(schema_name, None)
        for path, operations in schema.get("paths", {}).items():
            for method, operation in operations.items():
                public = path in PUBLIC_PATHS
                operation["security"] = (
                    [] if public else [{"bearer": []}, {"apiKey": []}, {"grafanaSession": []}]
                )
                _document_problems(operation, method, public=public)
                _drop_null_from_parameters(operation)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _drop_null_from_parameters(operation: dict[str, Any]) -> None:
    """A header or query value is a string on the wire, never JSON null: an optional
    parameter is one that may be absent. Say so, so that clients (and the fuzzer) do
    not send the text "null"."""
    for parameter in operation.get("parameters", []):
        schema = parameter.get("schema", {})
        variants = schema.get("anyOf")
        if not variants:
            continue
        concrete = [v for v in variants if v.get("type") != "null"]
        if len(concrete) == 1 and len(concrete) < len(variants):
            del schema["anyOf"]
            schema.update(concrete[0])


def _document_problems(operation: dict[str, Any], method: str, *, public: bool) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    common = {"400": "Malformed request", "422": "Invalid value (the errors name each field)"}
    if not public:
        common["401"] = "No valid API key or Grafana session (or one due for rotation)"
        common["503"] = "Database unavailable; retry later"
    if method in {"post", "put", "patch", "delete"}:
        common["413"] = "Request body too large"
    for code, description in common.items():
        responses.setdefault(code, {"description": description})
    for code, response in responses.items():
        if code.startswith(("4", "5")):
            response["content"] = {
                PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}
            }
