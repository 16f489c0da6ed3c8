"""Who a browser is: its Grafana session cookie, checked with Grafana itself.

A person signs into Grafana; their browser then carries Grafana's session cookie
(``[auth] login_cookie_name``, ``grafana_session`` by default, ``Path=/``) to every
path of the dashboard's host, this API's prefix included. The API never decides on
its own who that cookie belongs to: it asks Grafana (``GET /api/user`` with only
that cookie), the way any other Grafana page would, and remembers the answer for
``session_cache_seconds``. No identity header is read: every container on
bloomberg-net can reach the API and could send one.

Grafana 10.4+ rotates session tokens from the browser: a token older than
``token_rotation_interval_minutes`` is refused with ``messageId``
``session.token.rotate`` (grafana/grafana v12.4.3,
``pkg/services/authn/clients/session.go``, ``pkg/services/authn/errors.go``), and the
page is expected to ``POST /api/user/auth-tokens/rotate`` (``pkg/api/user_token.go``)
and retry. That refusal is passed on as its own problem kind, so the page's script
knows to rotate rather than to send the person to the login form.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from http.cookiejar import CookieJar, DefaultCookiePolicy
from http.cookies import CookieError, SimpleCookie

import httpx

ROTATE_MESSAGE_ID = "session.token.rotate"
# A Grafana cookie is a 32-character token (URL-escaped); anything much longer is not one
# and is not worth a request to Grafana.
_MAX_COOKIE_LENGTH = 512
_CACHE_LIMIT = 10_000


@dataclass(frozen=True, slots=True)
class GrafanaUser:
    """What Grafana says about the cookie's owner."""

    login: str  # lower case: Grafana compares logins case-insensitively, the API too
    name: str
    is_admin: bool  # a Grafana server admin


class SessionRefusedError(Exception):
    """Grafana does not know the cookie (signed out, expired, revoked or forged)."""


class SessionRotationError(SessionRefusedError):
    """The cookie is valid but due for rotation: the browser must rotate it and retry."""


class GrafanaUnavailableError(Exception):
    """Grafana could not be asked (down, restarting, or an answer that is not its)."""


def session_cookie(cookie_header: str | None, name: str) -> str | None:
    """The value of the cookie ``name`` in a ``Cookie:`` header, or None."""
    if not cookie_header:
        return None
    jar = SimpleCookie()
    try:
        jar.load(cookie_header)
    except CookieError:
        return None
    morsel = jar.get(name)
    if morsel is None or not morsel.value or len(morsel.value) > _MAX_COOKIE_LENGTH:
        return None
    return morsel.value


class GrafanaSessions:
    """Checks session cookies with Grafana, with a short cache of the answers."""

    def __init__(
        self,
        base_url: str,
        *,
        cookie_name: str,
        cache_seconds: float,
        timeout_seconds: float,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.cookie_name = cookie_name
        self._cache_seconds = cache_seconds
        self._cache: dict[bytes, tuple[GrafanaUser, float]] = {}
        self._client = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            timeout=timeout_seconds,
            transport=transport,
            follow_redirects=False,
            # A jar that keeps nothing: httpx would otherwise store what Grafana sets
            # (Set-Cookie) and hold one browser's cookies in the API's client.
            cookies=CookieJar(DefaultCookiePolicy(allowed_domains=[])),
        )

    async def close(self) -> None:
        await self._client.aclose()

    def forget_all(self) -> None:
        self._cache.clear()

    async def user(self, cookie: str) -> GrafanaUser:
        """The signed-in user behind ``cookie``; raises SessionRefusedError (or its
        SessionRotationError) or GrafanaUnavailableError."""
        digest = hashlib.sha256(cookie.encode()).digest()
        now = time.monotonic()
        cached = self._cache.get(digest)
        if cached is not None and cached[1] > now:
            return cached[0]
        user = await self._ask(cookie)
        if self._cache_seconds > 0:
            if len(self._cache) >= _CACHE_LIMIT:
                self._cache.clear()
            self._cache[digest] = (user, now + self._cache_seconds)
        return user

    async def _ask(self, cookie: str) -> GrafanaUser:
        try:
            answer = await self._client.get(
                "/api/user",
                headers={"Cookie": f"{self.cookie_name}={cookie}", "Accept": "application/json"},
            )
        except httpx.HTTPError as exc:
            raise GrafanaUnavailableError(f"{type(exc).__name__}: {exc}") from exc
        if answer.status_code == 401:
            if _message_id(answer) == ROTATE_MESSAGE_ID:
                raise SessionRotationError
            raise SessionRefusedError
        if answer.status_code in (403, 404):
            # An API key or a service account, never a person (reqSignedInNoAnonymous).
            raise SessionRefusedError
        if answer.status_code != 200:
            raise GrafanaUnavailableError(f"GET /api/user answered HTTP {answer.status_code}")
        try:
            doc = answer.json()
            login = doc["login"]
            is_admin = doc.get("isGrafanaAdmin", False)
            name = doc.get("name") or ""
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise GrafanaUnavailableError(f"GET /api/user answered no user: {exc}") from exc
        if not isinstance(login, str) or not login or not isinstance(is_admin, bool):
            raise GrafanaUnavailableError("GET /api/user answered no login")
        return GrafanaUser(login=login.lower(), name=str(name), is_admin=is_admin)


def _message_id(answer: httpx.Response) -> str | None:
    try:
        doc = answer.json()
    except ValueError:
        return None
    value = doc.get("messageId") if isinstance(doc, dict) else None
    return value if isinstance(value, str) else None
