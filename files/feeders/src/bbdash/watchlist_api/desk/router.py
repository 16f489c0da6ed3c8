"""``GET /desk`` and its two static files, each with its own security headers.

The page is HTML for people: every refusal (no session, an ended one, Grafana or
the database down) is an HTML page with its status, never a JSON problem. The
page is one person's, so it is never stored by a cache (``no-store``); the static
files are the same for everyone and revalidated by their ETag (``no-cache``: their
URL carries no content hash, so a long max-age would keep an old script after a
deploy).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from functools import cache
from importlib import resources

import psycopg
import psycopg_pool
from fastapi import APIRouter, Request, Response

from bbdash.watchlist_api.auth import require_caller
from bbdash.watchlist_api.desk import page
from bbdash.watchlist_api.problems import ProblemError
from bbdash.watchlist_api.settings import Settings

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}
HTML_TYPE = "text/html; charset=utf-8"
_STATIC_TYPES = {
    "desk.js": "text/javascript; charset=utf-8",
    "desk.css": "text/css; charset=utf-8",
}
_WHO = "SELECT name, display_name FROM users WHERE id = %s"


@dataclass(frozen=True, slots=True)
class StaticFile:
    body: bytes
    etag: str


@cache
def static_file(name: str) -> StaticFile:
    """One of the page's files, read once from the package (they ship in the wheel)."""
    body = resources.files(__package__).joinpath("static", name).read_bytes()
    return StaticFile(body, '"' + hashlib.sha256(body).hexdigest()[:32] + '"')


def _html(body: str, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    all_headers = {**SECURITY_HEADERS, "Cache-Control": "no-store", "Vary": "Cookie"}
    all_headers.update(headers or {})
    return Response(body.encode(), status_code=status, media_type=HTML_TYPE, headers=all_headers)


@router.get("/desk")
async def desk(request: Request) -> Response:
    settings: Settings = request.app.state.settings
    root = settings.grafana_public_path
    try:
        caller = await require_caller(request)
        async with caller.db.read() as conn:
            row = await (await conn.execute(_WHO, (caller.user_id,))).fetchone()
    except ProblemError as exc:
        headers = {k: v for k, v in (exc.headers or {}).items() if k.lower() == "retry-after"}
        refused = page.refused(
            status=exc.status, kind=exc.kind, detail=exc.detail, grafana_root=root
        )
        return _html(refused, exc.status, headers)
    except (psycopg.Error, psycopg_pool.PoolTimeout) as exc:
        log.warning("desk: database unavailable", extra={"error": type(exc).__name__})
        detail = "the database is unavailable: retry in a moment"
        refused = page.refused(status=503, kind=None, detail=detail, grafana_root=root)
        return _html(refused, 503, {"Retry-After": "5"})
    if row is None:  # deleted between the sign-in and this read
        refused = page.refused(status=401, kind=None, detail="", grafana_root=root)
        return _html(refused, 401)
    login, display_name = str(row[0]), str(row[1] or "")
    body = page.desk(
        login=login,
        display_name=display_name,
        grafana_root=root,
        custom=settings.custom_buckets.get(login),
        custom_configured=settings.custom_series_configured,
    )
    return _html(body)


@router.get("/desk/static/{name:path}")
async def desk_static(name: str, request: Request) -> Response:
    media_type = _STATIC_TYPES.get(name)
    if media_type is None:
        return Response(
            b"not found\n",
            status_code=404,
            media_type="text/plain; charset=utf-8",
            headers={**SECURITY_HEADERS, "Cache-Control": "no-cache"},
        )
    found = static_file(name)
    headers = {**SECURITY_HEADERS, "Cache-Control": "no-cache", "ETag": found.etag}
    if found.etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    return Response(found.body, media_type=media_type, headers=headers)
