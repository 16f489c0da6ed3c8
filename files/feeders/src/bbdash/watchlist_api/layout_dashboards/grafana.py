"""Grafana's HTTP API as the desk's service account.

The account (created by the grafana role, ``grafana_service_accounts``) has no
organisation role ("None") and Admin on the desks folder only: it can create each
person's folder in there and write or delete their dashboards, and nothing else
(no datasource, no user, no other dashboard). Its token is a file the role
writes after this API started, and may replace: it is read again whenever it
changed, never cached past that.

Endpoints (grafana/grafana v12.4.3): ``POST``/``DELETE /api/folders``
(pkg/api/folder.go), ``POST /api/dashboards/db`` and ``DELETE
/api/dashboards/uid/:uid`` (pkg/api/dashboard.go).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from bbdash.watchlist_api.token_file import TokenFile


class DeskGrafanaError(Exception):
    """Grafana did not do what was asked; the message says what and why."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status  # Grafana's answer; None when it could not be asked

    @property
    def about_this_request(self) -> bool:
        """A refusal of this request alone (a 4xx other than the token's 401/403): the
        next layout may well go through, so one bad layout does not hold up the rest."""
        status = self.status
        return status is not None and 400 <= status < 500 and status not in {401, 403}


class TokenMissingError(DeskGrafanaError):
    """No service-account token yet (the grafana role writes it after the API starts)."""


class GrafanaDesks:
    """Folders and dashboards of the desks, written with the service account's token."""

    def __init__(
        self, base_url: str, token_file: Path, desks_folder_uid: str, timeout_seconds: float
    ) -> None:
        self._token = TokenFile(token_file)
        self._desks = desks_folder_uid
        self._client = httpx.AsyncClient(
            base_url=base_url.rstrip("/"), timeout=timeout_seconds, follow_redirects=False
        )

    async def close(self) -> None:
        await self._client.aclose()

    def _bearer(self) -> str:
        token = self._token.read()
        if token is None:
            raise TokenMissingError(f"no service-account token in {self._token.path}")
        return token

    async def _request(
        self, method: str, path: str, *, ok: tuple[int, ...], json: Any = None
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self._bearer()}"}
        try:
            response = await self._client.request(method, path, json=json, headers=headers)
        except httpx.HTTPError as exc:
            msg = f"{method} {path}: Grafana unreachable ({type(exc).__name__})"
            raise DeskGrafanaError(msg) from exc
        if response.status_code not in ok:
            msg = f"{method} {path}: Grafana answered {response.status_code}"
            raise DeskGrafanaError(f"{msg}: {_message(response)}", response.status_code)
        return response

    async def ensure_folder(self, uid: str, title: str) -> None:
        """The user's folder under the desks folder; created when missing. Created
        blindly: the account may not read a folder that does not exist (Grafana
        answers 403, not 404), so 409 "already exists" is how it learns it is there."""
        body = {"uid": uid, "title": title, "parentUid": self._desks}
        await self._request("POST", "/api/folders", ok=(200, 409), json=body)

    async def save_dashboard(self, folder_uid: str, dashboard: dict[str, Any]) -> None:
        """Create the dashboard, or replace it whatever its version in Grafana."""
        body = {
            "dashboard": dashboard,
            "folderUid": folder_uid,
            "overwrite": True,
            "message": "saved from My desk",
        }
        await self._request("POST", "/api/dashboards/db", ok=(200,), json=body)

    async def delete(self, kind: str, uid: str) -> None:
        """Remove a dashboard or a folder (with what it holds); gone already is fine."""
        if kind == "dashboard":
            await self._request("DELETE", f"/api/dashboards/uid/{uid}", ok=(200, 404))
            return
        gone = await self._request("DELETE", f"/api/folders/{uid}", ok=(200, 403, 404))
        if gone.status_code == 403:
            # Admin on the desks folder reaches every folder in it: refused means the
            # folder is not there, provided the desks folder itself is readable.
            await self._request("GET", f"/api/folders/{self._desks}", ok=(200,))


def _message(response: httpx.Response) -> str:
    try:
        doc = response.json()
    except ValueError:
        return response.text[:200]
    return str(doc.get("message", doc))[:200] if isinstance(doc, dict) else str(doc)[:200]
