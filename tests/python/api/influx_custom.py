"""InfluxDB set up for custom series as the influxdb role sets it up, on the InfluxDB
TEST DOUBLE (tests/doubles/influxdb, citing InfluxDB v2.9.1): org ``bloomberg``,
buckets ``markets`` and ``custom_<login>``, the user ``bbdash-custom`` (no password)
and the API's token, made with the operator token, with exactly: read+write on each
custom bucket (by ID), on the org's authorizations and on users/<bbdash-custom>."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from doubles.influxdb import InfluxDBDouble

OPERATOR = "operator-token-for-tests"
ORG = "bloomberg"


@dataclass
class CustomInfluxDB:
    double: InfluxDBDouble
    api_token: str
    org_id: str
    buckets: dict[str, str]  # name -> ID
    user_id: str

    @property
    def url(self) -> str:
        return self.double.url

    def call(
        self, method: str, path: str, *, token: str = OPERATOR, **kwargs: Any
    ) -> httpx.Response:
        headers = {"Authorization": f"Token {token}", **kwargs.pop("headers", {})}
        return httpx.request(method, self.url + path, headers=headers, timeout=5, **kwargs)

    def write(self, token: str, bucket: str, lines: str) -> httpx.Response:
        return self.call(
            "POST",
            "/api/v2/write",
            token=token,
            params={"org": ORG, "bucket": bucket},
            content=lines,
        )

    def token_file(self, directory: Path) -> Path:
        path = directory / "influxdb-custom-token"
        path.write_text(self.api_token + "\n")
        return path

    def settings(self, token_file: Path, **overrides: object) -> dict[str, object]:
        """The API's settings for custom series (as the role templates them)."""
        values: dict[str, object] = {
            "influxdb_url": self.url,
            "influxdb_org": ORG,
            "influxdb_token_file": token_file,
            "custom_write_url": "https://dash.example.test/influxdb",
            "custom_buckets": {
                login: {"bucket": name, "max_series": 100}
                for name in self.buckets
                if name.startswith("custom_")
                for login in (name.removeprefix("custom_"),)
            },
            "custom_quota_seconds": 3600.0,
        }
        values.update(overrides)
        return values


def _ok(response: httpx.Response, status: int) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def start_custom_influxdb(logins: tuple[str, ...] = ("trader", "other")) -> CustomInfluxDB:
    names = ("markets", *(f"custom_{login}" for login in logins))
    double = InfluxDBDouble(token=OPERATOR, org=ORG, buckets=names).start()
    op = {"Authorization": f"Token {OPERATOR}"}
    with httpx.Client(base_url=double.url, headers=op, timeout=5) as client:
        org_id = _ok(client.get("/api/v2/orgs", params={"org": ORG}), 200)["orgs"][0]["id"]
        listed = _ok(client.get("/api/v2/buckets", params={"limit": 100}), 200)["buckets"]
        buckets = {b["name"]: b["id"] for b in listed if b["name"] in names}
        user = _ok(client.post("/api/v2/users", json={"name": "bbdash-custom"}), 201)
        permissions = [
            {"action": action, "resource": {"type": "buckets", "id": bucket_id, "orgID": org_id}}
            for name, bucket_id in buckets.items()
            if name.startswith("custom_")
            for action in ("read", "write")
        ]
        permissions += [
            {"action": action, "resource": {"type": "authorizations", "orgID": org_id}}
            for action in ("read", "write")
        ]
        permissions += [
            {"action": action, "resource": {"type": "users", "id": user["id"]}}
            for action in ("read", "write")
        ]
        body = {
            "orgID": org_id,
            "userID": user["id"],
            "description": "bbdash watchlist API: custom series",
            "permissions": permissions,
        }
        token = _ok(client.post("/api/v2/authorizations", json=body), 201)["token"]
    return CustomInfluxDB(double, token, org_id, buckets, user["id"])


def custom_influxdb() -> Iterator[CustomInfluxDB]:
    """For a fixture: one double per test (tokens do not leak between tests)."""
    influx = start_custom_influxdb()
    try:
        yield influx
    finally:
        influx.double.stop()
