"""API keys: generation, hashing and the dependency that resolves a request's principal.

Keys are 256-bit random tokens (``bbd_`` + 43 URL-safe characters). Only their
SHA-256 is stored: with that much entropy a slow password hash adds no
protection and would cost milliseconds on every request. The bootstrap admin
key is read from a file (the vault's copy) at startup and compared in
constant time; it authenticates as the built-in ``admin`` user.

Verified keys are remembered for ``auth_cache_seconds`` (default 5 s) so the hot
read path does not pay a query for them; deleting a key or a user clears this
process's cache at once, other instances forget within that window.

A request without a key may carry a Grafana session cookie instead: Grafana says
whose it is (grafana_session.py), that login is the API user of the same name
(created the first time it is seen), and Grafana's server admins are the API's
admins. A cookie-signed write must come from this site (same_origin.py).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request
from starlette.datastructures import Headers

from bbdash.watchlist_api.db import Database
from bbdash.watchlist_api.grafana_session import (
    GrafanaSessions,
    GrafanaUnavailableError,
    GrafanaUser,
    SessionRefusedError,
    SessionRotationError,
    session_cookie,
)
from bbdash.watchlist_api.metrics import AUTH_FAILURES
from bbdash.watchlist_api.problems import ProblemError
from bbdash.watchlist_api.queries import sign_in
from bbdash.watchlist_api.same_origin import check_same_origin
from bbdash.watchlist_api.settings import Settings

log = logging.getLogger(__name__)

KEY_PREFIX = "bbd_"
_MAX_KEY_LENGTH = 256
_CACHE_LIMIT = 10_000

_KEY_LOOKUP = """
SELECT k.id, k.user_id, u.is_admin, k.expires_at
FROM api_keys AS k JOIN users AS u ON u.id = k.user_id
WHERE k.key_hash = %s AND (k.expires_at IS NULL OR k.expires_at > now())
"""
_ADMIN_LOOKUP = "SELECT id FROM users WHERE is_admin"
# The API's user names (schemas/users.py UserName): a Grafana login outside them
# cannot be an API user.
_USABLE_LOGIN = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")


@dataclass(frozen=True, slots=True)
class Principal:
    user_id: int
    is_admin: bool
    key_id: int | None  # None for the bootstrap admin key and for Grafana sessions


def new_key() -> tuple[str, str, bytes]:
    """A fresh key: (the secret to show once, its display prefix, its stored hash)."""
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    return key, key[:12], hash_key(key)


def hash_key(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


class Authenticator:
    """Holds the admin key's hash and the short-lived cache of verified keys."""

    def __init__(
        self, admin_key: str | None, metrics_token: str | None, cache_seconds: float
    ) -> None:
        self._admin_hash = hash_key(admin_key) if admin_key else None
        self._metrics_hash = hash_key(metrics_token) if metrics_token else None
        self._cache_seconds = cache_seconds
        self._cache: dict[bytes, tuple[Principal, float]] = {}
        self._logins: dict[str, tuple[int, float]] = {}
        self._admin_id: int | None = None

    def forget_all(self) -> None:
        """Called after a key or user is deleted: revocation takes effect at once here."""
        self._cache.clear()
        self._logins.clear()

    async def user_for_login(self, user: GrafanaUser, db: Database) -> int:
        """The id of the API user named like the Grafana login, created on first sight."""
        now = time.monotonic()
        cached = self._logins.get(user.login)
        if cached is not None and cached[1] > now:
            return cached[0]
        async with db.read() as conn:
            user_id = await sign_in.find(conn, user.login)
        if user_id is None:
            async with db.write() as conn:
                user_id = await sign_in.create(conn, user.login, user.name)
            if user_id is None:  # created meanwhile by a concurrent first request
                async with db.read() as conn:
                    user_id = await sign_in.find(conn, user.login)
            if user_id is None:
                raise ProblemError(503, "the user could not be created, retry", kind="retry")
            log.info("API user created for a Grafana login", extra={"login": user.login})
        if self._cache_seconds > 0:
            if len(self._logins) >= _CACHE_LIMIT:
                self._logins.clear()
            self._logins[user.login] = (user_id, now + self._cache_seconds)
        return user_id

    def is_metrics_token(self, token: str) -> bool:
        return self._metrics_hash is not None and hmac.compare_digest(
            hash_key(token), self._metrics_hash
        )

    async def resolve(self, token: str, db: Database) -> Principal | None:
        if len(token) > _MAX_KEY_LENGTH:
            return None
        digest = hash_key(token)
        if self._admin_hash is not None and hmac.compare_digest(digest, self._admin_hash):
            return Principal(await self._admin_user_id(db), is_admin=True, key_id=None)
        now = time.monotonic()
        cached = self._cache.get(digest)
        if cached is not None and cached[1] > now:
            return cached[0]
        async with db.read() as conn:
            row = await (await conn.execute(_KEY_LOOKUP, (digest,))).fetchone()
        if row is None:
            self._cache.pop(digest, None)
            return None
        principal = Principal(user_id=row[1], is_admin=row[2], key_id=row[0])
        self._remember(digest, principal, row[3], now)
        return principal

    def _remember(
        self, digest: bytes, principal: Principal, expires_at: datetime | None, now: float
    ) -> None:
        if self._cache_seconds <= 0:
            return
        until = now + self._cache_seconds
        if expires_at is not None:
            # Never trust a cached key past its own expiry.
            until = min(until, now + max(0.0, expires_at.timestamp() - time.time()))
        if len(self._cache) >= _CACHE_LIMIT:
            self._cache.clear()
        self._cache[digest] = (principal, until)

    async def _admin_user_id(self, db: Database) -> int:
        if self._admin_id is None:
            async with db.read() as conn:
                row = await (await conn.execute(_ADMIN_LOOKUP)).fetchone()
            if row is None:
                raise ProblemError(503, "the schema has no admin user: run the migrations")
            self._admin_id = int(row[0])
        return self._admin_id


async def get_authenticator(request: Request) -> Authenticator:
    auth: Authenticator = request.app.state.authenticator
    return auth


def presented_token(headers: Headers) -> str | None:
    """The key from ``Authorization: Bearer <key>`` or ``X-API-Key: <key>``."""
    authorization = headers.get("authorization")
    if authorization:
        scheme, _, credentials = authorization.partition(" ")
        if scheme.lower() == "bearer" and credentials.strip():
            return credentials.strip()
    return headers.get("x-api-key") or None


def unauthorized(
    detail: str = "sign in to Grafana, or send an API key (Authorization: Bearer, or X-API-Key)",
    kind: str = "unauthorized",
) -> ProblemError:
    AUTH_FAILURES.inc()
    return ProblemError(
        401, detail, kind=kind, headers={"WWW-Authenticate": 'Bearer realm="bbdash"'}
    )


@dataclass(frozen=True, slots=True)
class Caller:
    """Everything a handler needs, injected as one dependency: who is calling, and the
    app's database and settings. One dependency rather than three, and plain rather than
    FastAPI's security classes: it runs on every request, and each dependency level is
    measurable at 1000+ requests per second. The OpenAPI document declares the two key
    schemes itself (app.py)."""

    user_id: int
    is_admin: bool
    db: Database
    settings: Settings


async def _authenticate(request: Request, db: Database) -> Principal:
    authenticator: Authenticator = request.app.state.authenticator
    token = presented_token(request.headers)
    if token is not None:  # a key wins over a cookie: scripts may run in a signed-in browser
        principal = await authenticator.resolve(token, db)
        if principal is None:
            raise unauthorized("the API key is unknown, revoked or expired")
        return principal
    sessions: GrafanaSessions | None = request.app.state.sessions
    cookie = (
        None
        if sessions is None
        else session_cookie(request.headers.get("cookie"), sessions.cookie_name)
    )
    if sessions is None or cookie is None:
        raise unauthorized()
    check_same_origin(request.method, request.headers)
    user = await _grafana_user(sessions, cookie)
    if not _USABLE_LOGIN.fullmatch(user.login):
        raise ProblemError(
            403,
            f"the Grafana login {user.login!r} cannot be an API user name (lowercase ASCII "
            "letters, digits, '.', '_' or '-', starting alphanumeric, 64 at most): ask an "
            "admin to rename it, or use an API key",
            kind="login-not-usable",
        )
    user_id = await authenticator.user_for_login(user, db)
    return Principal(user_id, is_admin=user.is_admin, key_id=None)


async def _grafana_user(sessions: GrafanaSessions, cookie: str) -> GrafanaUser:
    try:
        return await sessions.user(cookie)
    except SessionRotationError:
        raise unauthorized(
            "the Grafana session is due for rotation: POST /api/user/auth-tokens/rotate "
            "(as Grafana's own pages do), then retry",
            kind="session-rotation",
        ) from None
    except SessionRefusedError:
        raise unauthorized(
            "the Grafana session is unknown or has ended: sign in to Grafana again",
            kind="session-refused",
        ) from None
    except GrafanaUnavailableError as exc:
        log.warning("Grafana cannot check a session", extra={"error": str(exc)})
        raise ProblemError(
            503,
            "Grafana cannot be asked who is signed in: retry later, or use an API key",
            kind="grafana-unavailable",
            headers={"Retry-After": "5"},
        ) from None


async def require_caller(request: Request) -> Caller:
    state = request.app.state
    principal = await _authenticate(request, state.database)
    return Caller(principal.user_id, principal.is_admin, state.database, state.settings)


async def require_admin(caller: Annotated[Caller, Depends(require_caller)]) -> Caller:
    if not caller.is_admin:
        raise ProblemError(403, "this needs the admin key or a Grafana admin", kind="forbidden")
    return caller


async def require_scraper(request: Request) -> None:
    """/metrics: the scrape-only token, or the admin key."""
    token = presented_token(request.headers)
    if token is None:
        raise unauthorized("/metrics needs the metrics token or the admin key")
    authenticator: Authenticator = request.app.state.authenticator
    if authenticator.is_metrics_token(token):
        return
    principal = await authenticator.resolve(token, request.app.state.database)
    if principal is None or not principal.is_admin:
        raise unauthorized("/metrics needs the metrics token or the admin key")


CurrentCaller = Annotated[Caller, Depends(require_caller)]
AdminCaller = Annotated[Caller, Depends(require_admin)]

SECURITY_SCHEMES = {
    "bearer": {"type": "http", "scheme": "bearer", "description": "Authorization: Bearer <key>"},
    "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
    "grafanaSession": {
        "type": "apiKey",
        "in": "cookie",
        "name": "grafana_session",
        "description": "A Grafana sign-in (checked with Grafana); writes need this site's Origin",
    },
}
