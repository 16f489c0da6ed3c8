"""GET /v1/watchlists/{id}, the read the dashboards poll, answered ahead of the framework.

FastAPI's per-request machinery (routing, dependency solving, the exception and
exit-stack layers) takes over a third of this read's CPU, and one worker must
serve 1,000 of them a second (docs/collection-layer.md). This middleware
answers that request with the route's own parts: the authenticator, the query,
the response with its ETag. Whatever is not a plain success it hands to the
FastAPI route, which stays the one documented in OpenAPI and the one that words
refusals: no key or an unknown one, an unknown or foreign id, an id the route
would refuse. An exception is answered by the app's own handler for it, so
errors keep one implementation. tests/python/api/test_api_hot_read.py checks
that both paths answer the same bytes.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from bbdash.watchlist_api.auth import Authenticator, presented_token
from bbdash.watchlist_api.db import Database
from bbdash.watchlist_api.queries import watchlists as q
from bbdash.watchlist_api.routers import watchlists
from bbdash.watchlist_api.schemas.common import MAX_ID

ROUTE_PATH = "/v1/watchlists/{watchlist_id}"
# Canonical ids only ("01" or "+1" go to the route, which decides what they mean).
_PATH = re.compile(r"/v1/watchlists/([1-9][0-9]{0,18})")


class HotReadMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.route = _the_route()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            match = _PATH.fullmatch(scope["path"])
            watchlist_id = int(match[1]) if match is not None else 0
            if 0 < watchlist_id <= MAX_ID:
                response = await self._answer(scope, watchlist_id)
                if response is not None:
                    # The metrics middleware labels requests by their route.
                    scope["route"] = self.route
                    await response(scope, receive, send)
                    return
        await self.app(scope, receive, send)

    async def _answer(self, scope: Scope, watchlist_id: int) -> Response | None:
        """The response of a successful read, or None to let the route answer."""
        token = presented_token(Headers(scope=scope))
        if token is None:
            return None
        app: FastAPI = scope["app"]
        authenticator: Authenticator = app.state.authenticator
        database: Database = app.state.database
        try:
            principal = await authenticator.resolve(token, database)
            if principal is None:
                return None
            async with database.read() as conn:
                found = await q.get(conn, principal.user_id, watchlist_id)
        except Exception as exc:  # answered by the app's handler for it, as the route would be
            return await _handled(app, scope, exc)
        return None if found is None else watchlists.watchlist_response(found)


def _the_route() -> APIRoute:
    """The route this middleware stands in for (its metrics label)."""
    for route in watchlists.router.routes:
        if isinstance(route, APIRoute) and route.path == ROUTE_PATH and "GET" in route.methods:
            return route
    raise LookupError(f"no GET {ROUTE_PATH} route to stand in for")


async def _handled(app: FastAPI, scope: Scope, exc: Exception) -> Response:
    """What the app's exception handlers answer for ``exc`` (nearest class first, as
    Starlette looks them up); re-raised when none applies."""
    handlers: dict[Any, Any] = app.exception_handlers
    for cls in type(exc).__mro__:
        handler = handlers.get(cls)
        if handler is not None:
            response: Response = await handler(Request(scope), exc)
            return response
    raise exc
