"""Errors as RFC 9457 problem details (``application/problem+json``).

Every error the API returns goes through here, so clients parse one shape:
``type``, ``title``, ``status``, ``detail`` and, for validation errors, an
``errors`` list naming each offending field.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

import orjson
import psycopg
import psycopg_pool
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

PROBLEM_MEDIA_TYPE = "application/problem+json"
_TYPE_PREFIX = "urn:bbdash:problem:"

log = logging.getLogger(__name__)

# The shape of every error body, as documented in the OpenAPI document.
PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "RFC 9457 problem details.",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string", "description": "urn:bbdash:problem:<kind> or about:blank"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["field", "detail"],
                "properties": {
                    "in": {"type": "string", "description": "body, query, path or header"},
                    "field": {"type": "string", "description": "e.g. items[0].symbol"},
                    "pointer": {"type": "string", "description": "JSON pointer into the body"},
                    "detail": {"type": "string"},
                },
            },
        },
    },
}


class ProblemError(Exception):
    """An error the API reports to the client as a problem document."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        kind: str | None = None,
        errors: Sequence[Mapping[str, Any]] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.kind = kind
        self.errors = list(errors) if errors else None
        self.headers = dict(headers) if headers else None


def not_found(what: str) -> ProblemError:
    # Same answer for "does not exist" and "belongs to someone else": ids do not leak.
    return ProblemError(404, f"{what} not found", kind="not-found")


def conflict(detail: str, kind: str = "conflict") -> ProblemError:
    return ProblemError(409, detail, kind=kind)


def field_error(field: str, detail: str, status: int = 422) -> ProblemError:
    return ProblemError(
        status,
        f"{field}: {detail}",
        kind="validation-error",
        errors=[{"field": field, "pointer": _pointer(field), "detail": detail}],
    )


def problem_response(
    status: int,
    detail: str,
    *,
    kind: str | None = None,
    instance: str | None = None,
    errors: Sequence[Mapping[str, Any]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """Build the response body; ``kind`` None means the plain HTTP meaning (about:blank)."""
    body: dict[str, Any] = {
        "type": f"{_TYPE_PREFIX}{kind}" if kind else "about:blank",
        "title": _title(status),
        "status": status,
        "detail": detail,
    }
    if instance:
        body["instance"] = instance
    if errors:
        body["errors"] = list(errors)
    return Response(
        orjson.dumps(body), status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers
    )


def _title(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _pointer(field: str) -> str:
    # "items[0].symbol" -> "#/items/0/symbol" (RFC 6901 pointer into the request body).
    parts = field.replace("[", ".").replace("]", "").split(".")
    escaped = (p.replace("~", "~0").replace("/", "~1") for p in parts if p)
    return "#/" + "/".join(escaped)


def _field_name(loc: Sequence[int | str]) -> tuple[str, str]:
    """Turn pydantic's location into (where, field): ('body', 'items[0].symbol')."""
    where = str(loc[0]) if loc else "body"
    name = ""
    for part in loc[1:]:
        if isinstance(part, int):
            name += f"[{part}]"
        else:
            name += f".{part}" if name else str(part)
    return where, name or where


def _validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    errors: list[dict[str, Any]] = []
    for err in exc.errors()[:20]:
        where, field = _field_name(err.get("loc", ()))
        # pydantic prefixes our own messages with "Value error, ": noise for a client.
        message = str(err.get("msg", "")).removeprefix("Value error, ")
        entry: dict[str, Any] = {"in": where, "field": field, "detail": message}
        if where == "body":
            entry["pointer"] = _pointer(field) if field != "body" else "#"
        errors.append(entry)
    return errors


async def _on_problem(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ProblemError)
    return problem_response(
        exc.status,
        exc.detail,
        kind=exc.kind,
        instance=request.url.path,
        errors=exc.errors,
        headers=exc.headers,
    )


async def _on_validation(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    raw = exc.errors()
    # Undecodable JSON is a syntax error of the whole body, not a field that failed a rule.
    if any(e.get("type") == "json_invalid" for e in raw):
        return problem_response(
            400,
            "the request body is not valid JSON",
            kind="malformed-json",
            instance=request.url.path,
        )
    errors = _validation_errors(exc)
    fields = ", ".join(e["field"] for e in errors)
    return problem_response(
        422,
        f"invalid value for: {fields}",
        kind="validation-error",
        instance=request.url.path,
        errors=errors,
    )


async def _on_http(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 404 and (redirect := _without_trailing_slash(request)) is not None:
        return redirect
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        # Starlette names only the first route that matched the path; a path served by
        # several routes (GET and POST /v1/watchlists) must list all their methods.
        headers["Allow"] = ", ".join(_allowed_methods(request))
    return problem_response(
        exc.status_code,
        str(exc.detail) if exc.detail else _title(exc.status_code),
        instance=request.url.path,
        headers=headers,
    )


def _without_trailing_slash(request: Request) -> Response | None:
    """/v1/watchlists/ → 308 to ../watchlists when /v1/watchlists exists.

    The Location is relative, so the client resolves it against the URL it used:
    the host, https and nginx's /watchlist-api/ prefix stay what the client sent.
    """
    path = request.scope["path"]
    if not path.endswith("/") or path.endswith("//") or path == "/":
        return None
    trimmed = path[:-1]
    scope = {**request.scope, "path": trimmed}
    if not any(route.matches(scope)[0] is not Match.NONE for route in request.app.router.routes):
        return None
    location = "../" + trimmed.rsplit("/", 1)[-1]
    if request.url.query:
        location += "?" + request.url.query
    return Response(status_code=308, headers={"Location": location})


_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route answers on this path, asked through the routes' own
    `matches` (FastAPI 0.165 nests included routers: their routes are not listed flat)."""
    routes = request.app.router.routes
    methods = {
        method
        for method in _METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] is Match.FULL for route in routes
        )
    }
    if "GET" in methods:
        methods.add("HEAD")  # answered as GET without the body (head.py)
    return sorted(methods)


async def _on_database_unavailable(request: Request, exc: Exception) -> Response:
    # The database is down, restarting or saturated: a client can retry; this is not a bug.
    log.warning(
        "database unavailable", extra={"error": type(exc).__name__, "path": request.url.path}
    )
    return problem_response(
        503,
        "the database is unavailable, retry later",
        kind="database-unavailable",
        instance=request.url.path,
        headers={"Retry-After": "5"},
    )


async def _on_data_error(request: Request, exc: Exception) -> Response:
    # Input validation should catch everything first; this is the safety net that keeps a
    # value PostgreSQL refuses (a constraint, an out-of-range number) a client error, not a 500.
    log.warning("database rejected a value", extra={"error": str(exc), "path": request.url.path})
    return problem_response(
        422,
        "a value was rejected by the database constraints",
        kind="validation-error",
        instance=request.url.path,
    )


async def _on_gone_reference(request: Request, exc: Exception) -> Response:
    # The row this write hangs from (its user, its watchlist) was deleted by a request
    # that committed first: the resource is gone, which is a 404, not invalid input.
    log.info("write raced a deletion", extra={"error": str(exc), "path": request.url.path})
    return problem_response(
        404,
        "what this write belongs to was deleted meanwhile (the user or the watchlist)",
        kind="not-found",
        instance=request.url.path,
    )


async def _on_unexpected(request: Request, exc: Exception) -> Response:
    log.error("unhandled error", exc_info=exc, extra={"path": request.url.path})
    # Starlette re-raises after this answer and uvicorn then closes the connection:
    # say so, so a keep-alive client does not send its next request into a closed socket.
    return problem_response(
        500, "internal error", instance=request.url.path, headers={"Connection": "close"}
    )


def install(app: FastAPI) -> None:
    """Register the handlers that turn every error into a problem document."""
    app.add_exception_handler(ProblemError, _on_problem)
    app.add_exception_handler(RequestValidationError, _on_validation)
    app.add_exception_handler(StarletteHTTPException, _on_http)
    app.add_exception_handler(psycopg.OperationalError, _on_database_unavailable)
    app.add_exception_handler(psycopg_pool.PoolTimeout, _on_database_unavailable)
    app.add_exception_handler(psycopg.DataError, _on_data_error)
    app.add_exception_handler(psycopg.IntegrityError, _on_data_error)
    app.add_exception_handler(psycopg.errors.ForeignKeyViolation, _on_gone_reference)
    app.add_exception_handler(Exception, _on_unexpected)
