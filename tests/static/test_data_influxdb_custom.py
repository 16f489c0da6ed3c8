"""The influxdb role's per-person custom buckets and the watchlist API's token,
run for real (ansible-playbook, tasks state.yml, buckets.yml, users.yml and tokens.yml) against the
InfluxDB test double (tests/doubles/influxdb, which mirrors InfluxDB v2.9.1's
authorizer): the buckets come and go with the people who ask for one, a rerun
and a --check change nothing, and the token is least privilege, proven by
using it. The role creates the tokens' owner, bbdash-custom, on the first run."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from doubles.influxdb import InfluxDBDouble
from role_runner import changed_tasks, run_role, task_results
from test_data_influxdb_double import ADMIN, call
from test_data_influxdb_double import SETUP as ONBOARDING

SETUP = {**ONBOARDING, "retentionPeriodSeconds": 7 * 86400}
USERS = [
    {"login": "admin", "name": "Admin", "password": "x" * 12},
    {"login": "trader", "name": "Trader", "password": "x" * 12, "custom_bucket": True},
]


class Host:
    """A set-up double and a host folder."""

    def __init__(self, double: InfluxDBDouble, base: Path) -> None:
        self.double, self.base = double, base
        status, result = call(double.url, "POST", "/api/v2/setup", body=SETUP)
        assert status == 201, result
        self.org_id = result["org"]["id"]
        self.admin_user_id = result["user"]["id"]

    @property
    def custom_user_id(self) -> str:
        """The ID of bbdash-custom, which the role created."""
        status, found = call(self.double.url, "GET", "/api/v2/users?name=bbdash-custom", ADMIN)
        assert status == 200, found
        return str(found["users"][0]["id"])

    def converge(self, users: list[dict[str, Any]], check_mode: bool = False) -> dict[str, Any]:
        return run_role(
            "influxdb",
            ["state", "buckets", "users", "tokens"],
            self.base,
            {
                "bloomberg_users": users,
                "influxdb_admin_token": ADMIN,
                "_influxdb_url": self.double.url,
                "_influxdb_org_id": self.org_id,
            },
            check_mode=check_mode,
        )

    def buckets(self) -> dict[str, dict[str, Any]]:
        _, listed = call(self.double.url, "GET", f"/api/v2/buckets?orgID={self.org_id}", ADMIN)
        return {b["name"]: b for b in listed["buckets"]}

    def auths(self) -> list[dict[str, Any]]:
        _, listed = call(
            self.double.url, "GET", f"/api/v2/authorizations?orgID={self.org_id}", ADMIN
        )
        return listed["authorizations"]

    def token(self, name: str) -> str:
        return (self.base / "secrets" / "influxdb" / f"{name}.token").read_text()

    def api_auth(self) -> dict[str, Any]:
        (found,) = [a for a in self.auths() if a["description"] == "bbdash:watchlist-api"]
        return found


@pytest.fixture
def host(tmp_path: Path) -> Iterator[Host]:
    double = InfluxDBDouble(token=None, state_dir=tmp_path / "state").start()
    try:
        yield Host(double, tmp_path / "host")
    finally:
        double.shutdown()


def _perm_keys(auth: dict[str, Any]) -> set[tuple[str, str, str | None, str | None]]:
    return {
        (p["action"], p["resource"]["type"], p["resource"].get("id"), p["resource"].get("orgID"))
        for p in auth["permissions"]
    }


def test_converge_rerun_check_and_removal(host: Host) -> None:
    host.converge(USERS)
    buckets = host.buckets()
    trader = buckets["custom_trader"]
    assert trader["description"] == "Custom series of trader"
    assert trader["retentionRules"][0]["everySeconds"] == 0
    assert "custom" not in buckets and "custom_admin" not in buckets
    api = host.api_auth()
    assert api["userID"] == host.custom_user_id
    assert _perm_keys(api) == {
        ("read", "buckets", trader["id"], host.org_id),
        ("write", "buckets", trader["id"], host.org_id),
        ("read", "authorizations", None, host.org_id),
        ("write", "authorizations", None, host.org_id),
        ("read", "users", host.custom_user_id, None),
        ("write", "users", host.custom_user_id, None),
    }
    # The feeders' tokens stay the operator's.
    others = [a for a in host.auths() if a["description"] != "bbdash:watchlist-api"]
    assert others and all(a["userID"] == host.admin_user_id for a in others)

    # A rerun, and a --check, change nothing (the token's probe passes).
    assert changed_tasks(host.converge(USERS)) == []
    assert changed_tasks(host.converge(USERS, check_mode=True)) == []
    assert host.api_auth()["id"] == api["id"]

    # The person no longer asks: --check reports the deletion and deletes nothing...
    gone = [USERS[0], {k: v for k, v in USERS[1].items() if k != "custom_bucket"}]
    checked = host.converge(gone, check_mode=True)
    report = task_results(checked)[
        "influxdb : Report the custom buckets of people no longer declared"
    ]
    assert "custom_trader" in report["msg"]
    assert "custom_trader" in host.buckets()
    # ...the run deletes the bucket and replaces the token, which loses it.
    ran = host.converge(gone)
    assert "influxdb : Delete the custom buckets of people no longer declared" in changed_tasks(ran)
    assert "custom_trader" not in host.buckets()
    replaced = host.api_auth()
    assert replaced["id"] != api["id"]
    assert {p["resource"]["type"] for p in replaced["permissions"]} == {"authorizations", "users"}
    assert changed_tasks(host.converge(gone)) == []


def test_a_shared_custom_bucket_is_kept_and_reported(host: Host) -> None:
    status, _ = call(
        host.double.url,
        "POST",
        "/api/v2/buckets",
        ADMIN,
        {"orgID": host.org_id, "name": "custom", "retentionRules": []},
    )
    assert status == 201
    result = host.converge(USERS)
    assert "custom" in host.buckets()
    report = task_results(result)["influxdb : Report the buckets this role does not manage"]
    assert "custom" in report["msg"]


def test_the_api_token_is_least_privilege(host: Host) -> None:
    host.converge(USERS)
    url, token = host.double.url, host.token("watchlist-api")
    buckets = host.buckets()

    def write(bucket: str, who: str = token) -> int:
        return call(url, "POST", f"/api/v2/write?org=bloomberg&bucket={bucket}", who, raw=b"m v=1")[
            0
        ]

    def grant(bucket: str, user_id: str | None = None) -> tuple[int, Any]:
        perm = {"type": "buckets", "id": buckets[bucket]["id"], "orgID": host.org_id}
        return call(
            url,
            "POST",
            "/api/v2/authorizations",
            token,
            {
                "orgID": host.org_id,
                "userID": user_id or host.custom_user_id,
                "description": f"write {bucket}",
                "permissions": [{"action": "write", "resource": perm}],
            },
        )

    assert write("custom_trader") == 204
    assert write("markets") in (401, 403)
    # It creates a person's write token on their bucket, never on another one...
    status, person = grant("custom_trader")
    assert status == 201, person
    assert write("custom_trader", person["token"]) == 204
    assert write("markets", person["token"]) in (401, 403)
    assert grant("markets")[0] == 403
    # ...nor for another user (the operator, who owns the feeders' tokens).
    assert grant("custom_trader", host.admin_user_id)[0] == 401
    # It sees, disables and deletes its own user's tokens, and no other.
    _, listed = call(url, "GET", "/api/v2/authorizations", token)
    assert {a["userID"] for a in listed["authorizations"]} == {host.custom_user_id}
    feeder = next(a for a in host.auths() if a["description"] == "bbdash:market-feeder")
    assert call(url, "DELETE", f"/api/v2/authorizations/{feeder['id']}", token)[0] == 401
    assert (
        call(url, "PATCH", f"/api/v2/authorizations/{feeder['id']}", token, {"status": "inactive"})[
            0
        ]
        == 401
    )
    patched = call(
        url, "PATCH", f"/api/v2/authorizations/{person['id']}", token, {"status": "inactive"}
    )
    assert patched[0] == 200 and patched[1]["status"] == "inactive"
    assert write("custom_trader", person["token"]) in (401, 403)
    assert call(url, "DELETE", f"/api/v2/authorizations/{person['id']}", token)[0] == 204
    # It reads no other bucket.
    assert call(url, "GET", f"/api/v2/buckets/{buckets['markets']['id']}", token)[0] in (
        401,
        403,
        404,
    )
