"""InfluxDB's HTTP API as the user ``bbdash-custom``.

The influxdb role creates that user and its token, with read+write on each custom
bucket (by ID), on the org's ``authorizations`` and on ``users/<its own ID>``, and
nothing else. InfluxDB's authorizer (authorizer/auth.go ``VerifyPermissions``) lets
a token grant only what it holds, and changing an authorization needs write on its
user: so this token can create, list, switch and revoke write tokens of its own
user, on the custom buckets only. Its file may appear after the API started, and be
replaced: it is read again whenever its mtime changes.

Endpoints (influxdata/influxdb v2.9.1): ``GET /api/v2/buckets``
(tenant/http_server_bucket.go), ``GET``/``POST /api/v2/authorizations``,
``PATCH``/``DELETE /api/v2/authorizations/{id}`` (authorization/http_server.go),
``POST /api/v2/query`` with ``influxdb.cardinality`` (http/query_handler.go;
storage/flux/reader.go: one table, one ``_value``).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bbdash.watchlist_api.token_file import TokenFile

DESCRIPTION_PREFIX = "custom:"


class CustomInfluxError(Exception):
    """InfluxDB did not do what was asked; the message says what and why."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status  # InfluxDB's answer; None when it could not be asked


class TokenMissingError(CustomInfluxError):
    """No token file yet (the influxdb role writes it, possibly after the API started)."""


@dataclass(frozen=True, slots=True)
class Bucket:
    id: str
    org_id: str
    name: str


@dataclass(frozen=True, slots=True)
class WriteToken:
    id: str
    description: str  # the person's label, without the "custom:<login>:" prefix
    status: str
    created_at: str


def description_for(login: str, label: str) -> str:
    return f"{DESCRIPTION_PREFIX}{login}:{label}"


def owned_tokens(
    authorizations: list[dict[str, Any]], login: str, bucket: Bucket
) -> list[WriteToken]:
    """The person's write tokens: their description prefix AND exactly one permission,
    write on their bucket. Anything else (the API's own token, a token some operator
    made) is not theirs, whatever its description says."""
    prefix = description_for(login, "")
    found = []
    for auth in authorizations:
        description = str(auth.get("description") or "")
        if not description.startswith(prefix) or not _only_writes(auth, bucket):
            continue
        found.append(
            WriteToken(
                id=str(auth["id"]),
                description=description[len(prefix) :],
                status=str(auth.get("status") or ""),
                created_at=str(auth.get("createdAt") or ""),
            )
        )
    return sorted(found, key=lambda t: (t.created_at, t.id))


def _only_writes(auth: dict[str, Any], bucket: Bucket) -> bool:
    permissions = auth.get("permissions") or []
    if len(permissions) != 1:
        return False
    permission = permissions[0]
    resource = permission.get("resource") or {}
    return (
        permission.get("action") == "write"
        and resource.get("type") == "buckets"
        and resource.get("id") == bucket.id
    )


def cardinality_flux(bucket: str) -> str:
    quoted = bucket.replace("\\", "\\\\").replace('"', '\\"')
    return (
        'import "influxdata/influxdb"\n'
        f'influxdb.cardinality(bucket: "{quoted}", start: time(v: 0))\n'
    )


def parse_single_value(text: str) -> int:
    """The ``_value`` of the first row of an annotated CSV answer (no annotations asked:
    a header row, then data rows; several results are separated by blank lines)."""
    header: list[str] | None = None
    for row in csv.reader(io.StringIO(text)):
        if not row or all(cell == "" for cell in row):
            header = None
            continue
        if row[0].startswith("#"):
            continue
        if header is None:
            header = row
            continue
        if "_value" in header:
            return int(row[header.index("_value")])
    return 0  # no table: no series


class CustomInflux:
    """Buckets, write tokens and series counts, with bbdash-custom's token."""

    def __init__(self, base_url: str, org: str, token_file: Path, timeout_seconds: float) -> None:
        self.org = org
        self._token = TokenFile(token_file)
        self._token_seen = ""
        self._buckets: dict[str, Bucket] = {}
        self._client = httpx.AsyncClient(
            base_url=base_url.rstrip("/"), timeout=timeout_seconds, follow_redirects=False
        )

    async def close(self) -> None:
        await self._client.aclose()

    def _bearer(self) -> str:
        token = self._token.read()
        if token is None:
            raise TokenMissingError(f"no InfluxDB token in {self._token.path}")
        if token != self._token_seen:
            self._token_seen = token
            self._buckets.clear()  # another token may see other buckets
        return token

    async def _request(
        self,
        method: str,
        path: str,
        *,
        ok: tuple[int, ...],
        params: dict[str, str] | None = None,
        json: Any = None,
        accept: str = "application/json",
    ) -> httpx.Response:
        headers = {"Authorization": f"Token {self._bearer()}", "Accept": accept}
        try:
            response = await self._client.request(
                method, path, params=params, json=json, headers=headers
            )
        except httpx.HTTPError as exc:
            msg = f"{method} {path}: InfluxDB unreachable ({type(exc).__name__})"
            raise CustomInfluxError(msg) from exc
        if response.status_code not in ok:
            msg = f"{method} {path}: InfluxDB answered {response.status_code}"
            raise CustomInfluxError(f"{msg}: {_message(response)}", response.status_code)
        return response

    async def bucket(self, name: str) -> Bucket:
        """The bucket by name in the org (the token reads only its own buckets); kept
        until the token changes or InfluxDB says the ID is gone."""
        found = self._buckets.get(name)
        if found is not None:
            return found
        answer = await self._request(
            "GET", "/api/v2/buckets", ok=(200,), params={"org": self.org, "name": name}
        )
        for doc in answer.json().get("buckets") or []:
            if doc.get("name") == name:
                found = Bucket(str(doc["id"]), str(doc["orgID"]), name)
                self._buckets[name] = found
                return found
        msg = f"bucket {name!r} not found in org {self.org!r} (or not readable by this token)"
        raise CustomInfluxError(msg, 404)

    def forget_buckets(self) -> None:
        self._buckets.clear()

    async def authorizations(self, org_id: str) -> list[dict[str, Any]]:
        """Every authorization the token may read: those of its own user."""
        answer = await self._request(
            "GET", "/api/v2/authorizations", ok=(200,), params={"orgID": org_id}
        )
        return list(answer.json().get("authorizations") or [])

    async def create_token(
        self, bucket: Bucket, description: str, *, active: bool
    ) -> tuple[str, dict[str, Any]]:
        """A token of the API's own user (no userID) that may write to one bucket only."""
        body = {
            "orgID": bucket.org_id,
            "description": description,
            "status": "active" if active else "inactive",
            "permissions": [
                {
                    "action": "write",
                    "resource": {"type": "buckets", "id": bucket.id, "orgID": bucket.org_id},
                }
            ],
        }
        answer = await self._request("POST", "/api/v2/authorizations", ok=(201,), json=body)
        doc = answer.json()
        return str(doc["token"]), doc

    async def set_status(self, token_id: str, status: str) -> None:
        await self._request(
            "PATCH", f"/api/v2/authorizations/{token_id}", ok=(200,), json={"status": status}
        )

    async def delete_token(self, token_id: str) -> None:
        """Revoke; gone already is fine."""
        await self._request("DELETE", f"/api/v2/authorizations/{token_id}", ok=(204, 404))

    async def series(self, bucket: Bucket) -> int:
        """How many series the bucket holds, since the epoch."""
        body = {
            "query": cardinality_flux(bucket.name),
            "type": "flux",
            "dialect": {"header": True, "annotations": []},
        }
        answer = await self._request(
            "POST",
            "/api/v2/query",
            ok=(200,),
            params={"orgID": bucket.org_id},
            json=body,
            accept="application/csv",
        )
        return parse_single_value(answer.text)


def _message(response: httpx.Response) -> str:
    try:
        doc = response.json()
    except ValueError:
        return response.text[:200]
    return str(doc.get("message", doc))[:200] if isinstance(doc, dict) else str(doc)[:200]
