"""A person's custom series (/v1/custom): write tokens to their own InfluxDB bucket,
made by the API as the InfluxDB user bbdash-custom, and the quota loop that switches
them off above the bucket's series quota.

InfluxDB here is the TEST DOUBLE (tests/doubles/influxdb, citing InfluxDB v2.9.1),
set up as the influxdb role sets it up (influx_custom.py); PostgreSQL is real.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest
from api_support import ApiUser, ApiWith, assert_problem, make_user
from bbdash.watchlist_api.desk import router as desk_router
from bbdash.watchlist_api.settings import Settings
from fastapi.testclient import TestClient
from influx_custom import ORG, CustomInfluxDB, custom_influxdb

StartApi = Callable[..., AbstractContextManager[TestClient]]


@pytest.fixture
def influx() -> Iterator[CustomInfluxDB]:
    yield from custom_influxdb()


@pytest.fixture
def trader(client: TestClient, admin: ApiUser) -> ApiUser:
    return make_user(client, admin, "trader")


@pytest.fixture
def other(client: TestClient, admin: ApiUser) -> ApiUser:
    return make_user(client, admin, "other")


@pytest.fixture
def custom_api(api_with: ApiWith, influx: CustomInfluxDB, tmp_path: Path) -> StartApi:
    token_file = influx.token_file(tmp_path)

    def started(**overrides: object) -> AbstractContextManager[TestClient]:
        return api_with(**influx.settings(token_file, **overrides))

    return started


def _create(client: TestClient, user: ApiUser, description: str = "my script") -> dict[str, Any]:
    created = client.post(
        "/v1/custom/tokens", json={"description": description}, headers=user.headers
    )
    assert created.status_code == 201, created.text
    assert created.headers["cache-control"] == "no-store"
    return dict(created.json())


def _custom(client: TestClient, user: ApiUser) -> dict[str, Any]:
    answer = client.get("/v1/custom", headers=user.headers)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def _until(check: Callable[[], bool], seconds: float = 5.0) -> None:
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > seconds:
            raise AssertionError(f"not within {seconds} s")
        time.sleep(0.05)


def test_a_token_writes_to_its_owners_bucket_and_nowhere_else(
    custom_api: StartApi, influx: CustomInfluxDB, trader: ApiUser
) -> None:
    with custom_api() as client:
        before = _custom(client, trader)
        assert before == {
            "configured": True,
            "bucket": "custom_trader",
            "max_series": 100,
            "series": None,
            "over_quota": False,
            "write_url": "https://dash.example.test/influxdb/api/v2/write",
            "org": ORG,
            "tokens": [],
        }
        created = _create(client, trader, "Raspberry Pi sensor")
        token = created["token"]
        assert created["status"] == "active"
        assert created["description"] == "Raspberry Pi sensor"
        assert token in created["example"]
        assert (
            "'https://dash.example.test/influxdb/api/v2/write?org=bloomberg&bucket=custom_trader'"
            in created["example"]
        )
        assert "--data-binary" in created["example"]
        assert influx.write(token, "custom_trader", "room,place=desk temp=21.5").status_code == 204
        refused = influx.write(token, "markets", "price,symbol=X close=1")
        assert refused.status_code == 403, refused.text
        listed = _custom(client, trader)["tokens"]
        assert [(t["id"], t["description"], t["status"]) for t in listed] == [
            (created["id"], "Raspberry Pi sensor", "active")
        ]
        assert "token" not in listed[0]  # shown once, at creation
    # In InfluxDB: the API's own user, one permission, the person's bucket only.
    found = influx.call("GET", f"/api/v2/authorizations/{created['id']}").json()
    assert found["userID"] == influx.user_id
    assert found["description"] == "custom:trader:Raspberry Pi sensor"
    assert [(p["action"], p["resource"]["id"]) for p in found["permissions"]] == [
        ("write", influx.buckets["custom_trader"])
    ]


def test_the_example_is_a_working_write(
    custom_api: StartApi, influx: CustomInfluxDB, trader: ApiUser
) -> None:
    """The example's URL and line, sent to InfluxDB itself (the public URL is nginx's)."""
    with custom_api(custom_write_url=None) as client:
        created = _create(client, trader)
    example = created["example"]
    url = example.split("'")[1]
    assert url.startswith(influx.url + "/api/v2/write?")
    line = example.split("--data-binary '")[1].split("'")[0]
    written = influx.call(
        "POST", url.removeprefix(influx.url), token=created["token"], content=line
    )
    assert written.status_code == 204, written.text
    assert influx.double.point_count("custom_trader") == 1


def test_another_person_can_neither_see_nor_delete_a_token(
    custom_api: StartApi,
    influx: CustomInfluxDB,
    trader: ApiUser,
    other: ApiUser,
    admin: ApiUser,
) -> None:
    with custom_api() as client:
        created = _create(client, trader)
        assert _custom(client, other)["tokens"] == []
        assert _custom(client, other)["bucket"] == "custom_other"
        for user in (other, admin):
            gone = client.delete(f"/v1/custom/tokens/{created['id']}", headers=user.headers)
            assert_problem(gone, 404)
        # The admin has no bucket: nothing more to see than anyone else.
        problem = assert_problem(client.get("/v1/custom", headers=admin.headers), 404)
        assert problem["type"] == "urn:bbdash:problem:no-custom-bucket"
        assert "custom_bucket" in problem["detail"]
        assert "bloomberg_users" in problem["detail"]
        # The API's own token is not a person's, whatever its description.
        own = influx.call("GET", "/api/v2/authorizations", params={"user": "bbdash-custom"})
        api_token = next(a for a in own.json()["authorizations"] if a["id"] != created["id"])
        gone = client.delete(f"/v1/custom/tokens/{api_token['id']}", headers=trader.headers)
        assert_problem(gone, 404)
        # Still there and still writing; then its owner deletes it.
        assert influx.write(created["token"], "custom_trader", "m v=1").status_code == 204
        deleted = client.delete(f"/v1/custom/tokens/{created['id']}", headers=trader.headers)
        assert deleted.status_code == 204, deleted.text
        assert _custom(client, trader)["tokens"] == []
    assert influx.write(created["token"], "custom_trader", "m v=2").status_code == 401


def test_tokens_per_person_are_capped(
    custom_api: StartApi, trader: ApiUser, other: ApiUser
) -> None:
    with custom_api(max_custom_tokens_per_user=2) as client:
        _create(client, trader, "one")
        _create(client, trader, "two")
        third = client.post("/v1/custom/tokens", json={"description": "3"}, headers=trader.headers)
        problem = assert_problem(third, 409)
        assert problem["type"] == "urn:bbdash:problem:limit-reached"
        _create(client, other, "theirs")  # a cap per person


def test_the_quota_loop_switches_tokens_off_above_the_quota_and_back_on(
    custom_api: StartApi, influx: CustomInfluxDB, trader: ApiUser, admin: ApiUser
) -> None:
    buckets = {"trader": {"bucket": "custom_trader", "max_series": 2}}
    with custom_api(custom_buckets=buckets, custom_quota_seconds=0.2) as client:
        created = _create(client, trader)
        token = created["token"]
        lines = "m,n=1 v=1\nm,n=2 v=1\nm,n=3 v=1"  # three series
        assert influx.write(token, "custom_trader", lines).status_code == 204
        _until(lambda: _custom(client, trader)["over_quota"])
        seen = _custom(client, trader)
        assert seen["series"] == 3
        _until(lambda: _custom(client, trader)["tokens"][0]["status"] == "inactive")
        refused = influx.write(token, "custom_trader", "m,n=4 v=1")
        assert refused.status_code == 403, refused.text
        assert "token is inactive" in refused.json()["message"]
        # A token made meanwhile is made inactive.
        assert _create(client, trader, "later")["status"] == "inactive"
        scraped = client.get("/metrics", headers=admin.headers).text
        assert 'bbdash_api_custom_series{login="trader"} 3.0' in scraped
        assert 'bbdash_api_custom_over_quota{login="trader"} 1.0' in scraped
        assert "bbdash_api_custom_quota_last_success_timestamp_seconds" in scraped
        # The person deletes their series: the tokens come back.
        deleted = influx.call(
            "POST",
            "/api/v2/delete",
            params={"org": ORG, "bucket": "custom_trader"},
            json={"start": "1970-01-01T00:00:00Z", "stop": "2100-01-01T00:00:00Z"},
        )
        assert deleted.status_code == 204, deleted.text
        _until(lambda: all(t["status"] == "active" for t in _custom(client, trader)["tokens"]))
        assert _custom(client, trader)["over_quota"] is False
        assert influx.write(token, "custom_trader", "m,n=1 v=2").status_code == 204


def test_influxdb_down_is_a_503_and_the_loop_carries_on(
    custom_api: StartApi, influx: CustomInfluxDB, trader: ApiUser
) -> None:
    with custom_api(custom_quota_seconds=0.2) as client:
        influx.double.stop()
        for answer in (
            client.get("/v1/custom", headers=trader.headers),
            client.post("/v1/custom/tokens", json={"description": "x"}, headers=trader.headers),
        ):
            problem = assert_problem(answer, 503)
            assert problem["type"] == "urn:bbdash:problem:influxdb-unavailable"
            assert "unreachable" in problem["detail"]
            assert answer.headers["retry-after"]
        time.sleep(0.5)  # a few passes fail meanwhile
        influx.double.start()
        influx.call(
            "POST",
            "/api/v2/write",
            params={"org": ORG, "bucket": "custom_trader"},
            content="m,n=1 v=1\nm,n=2 v=1",
        )
        _until(lambda: _custom(client, trader)["series"] == 2)
        assert _create(client, trader)["status"] == "active"


def test_a_missing_token_file_is_a_clear_503_until_it_appears(
    api_with: ApiWith, influx: CustomInfluxDB, trader: ApiUser, tmp_path: Path
) -> None:
    path = tmp_path / "not-yet"
    with api_with(**influx.settings(path)) as client:
        problem = assert_problem(client.get("/v1/custom", headers=trader.headers), 503)
        assert problem["type"] == "urn:bbdash:problem:influxdb-token-missing"
        assert str(path) in problem["detail"]
        path.write_text(influx.api_token)  # the role writes it later: read at once
        assert _custom(client, trader)["tokens"] == []


def test_unconfigured_custom_series_say_so(
    api_with: ApiWith, trader: ApiUser, other: ApiUser
) -> None:
    buckets = {"trader": {"bucket": "custom_trader", "max_series": 10}}
    with api_with(influxdb_url="", custom_buckets=buckets) as client:
        seen = _custom(client, trader)
        assert seen["configured"] is False
        assert seen["bucket"] == "custom_trader"
        assert seen["tokens"] == []
        problem = assert_problem(client.get("/v1/custom", headers=other.headers), 404)
        assert problem["type"] == "urn:bbdash:problem:custom-series-not-configured"
        assert "not configured" in problem["detail"]
        for answer in (
            client.post("/v1/custom/tokens", json={"description": "x"}, headers=trader.headers),
            client.delete("/v1/custom/tokens/0123456789abcdef", headers=trader.headers),
        ):
            problem = assert_problem(answer, 409)
            assert "custom series are not configured" in problem["detail"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"description": ""}, "description"),
        ({"description": "   "}, "description"),
        ({"description": "x" * 65}, "description"),
        ({"description": 12}, "description"),
        ({}, "description"),
        ({"description": "ok", "bucket": "markets"}, "bucket"),
    ],
    ids=["empty", "blank", "too-long", "not-a-string", "missing", "unknown-field"],
)
def test_a_bad_token_request_is_a_422_naming_the_field(
    custom_api: StartApi, trader: ApiUser, body: dict[str, Any], field: str
) -> None:
    with custom_api() as client:
        answer = client.post("/v1/custom/tokens", json=body, headers=trader.headers)
        problem = assert_problem(answer, 422)
        assert field in [e["field"] for e in problem["errors"]]
        assert _custom(client, trader)["tokens"] == []


def test_a_malformed_token_id_is_a_422(custom_api: StartApi, trader: ApiUser) -> None:
    with custom_api() as client:
        for token_id in ("XYZ", "0123456789ABCDEF", "0" * 17):
            answer = client.delete(f"/v1/custom/tokens/{token_id}", headers=trader.headers)
            problem = assert_problem(answer, 422)
            assert problem["errors"][0]["field"] == "token_id"


def test_the_settings_refuse_a_bad_custom_bucket() -> None:
    for buckets in (
        {"trader": {"bucket": "_monitoring", "max_series": 1}},
        {"trader": {"bucket": "custom_trader", "max_series": 0}},
        {"Not A Login": {"bucket": "custom_x", "max_series": 1}},
    ):
        with pytest.raises(ValueError, match="custom_buckets"):
            Settings.model_validate({"database_url": "postgresql://x/y", "custom_buckets": buckets})
    empty = Settings.model_validate({"database_url": "postgresql://x/y", "influxdb_url": ""})
    assert empty.influxdb_url is None and not empty.custom_series_configured


# --------------------------------------------------------------------------- My desk


def test_the_desk_has_a_custom_series_section_for_a_person_with_a_bucket(
    custom_api: StartApi, trader: ApiUser, admin: ApiUser
) -> None:
    with custom_api() as client:
        page = client.get("/desk", headers=trader.headers)
        assert page.status_code == 200, page.text
        text = page.text
        for element in (
            '<section id="custom-series" aria-labelledby="custom-title" data-custom="on">',
            '<code id="custom-bucket">custom_trader</code>',
            '<form id="custom-token-form"',
            '<label for="custom-token-description">',
            '<input id="custom-token-description" name="description" required maxlength="64"',
            '<button type="submit">Create write token</button>',
            '<div id="custom-token-created" hidden>',
            '<pre id="custom-token-value"',
            '<pre id="custom-token-example"',
            '<div id="custom-tokens" aria-busy="true"></div>',
        ):
            assert element in text, element
        assert "shown once" in text
        # The Custom series dashboard, under Grafana's root (it links back here).
        link = re.search(r'<a id="custom-dashboard" href="([^"]+)">', text)
        assert link is not None and link[1].endswith("/d/bbdash-custom/custom-series"), text
        # No bucket: a note saying whom to ask, and no form.
        none = client.get("/desk", headers=admin.headers).text
        assert 'id="custom-series-note"' in none
        assert "custom_bucket" in none and "bloomberg_users" in none
        assert "custom-token-form" not in none


def test_the_desk_says_when_custom_series_are_not_configured(
    api_with: ApiWith, trader: ApiUser
) -> None:
    buckets = {"trader": {"bucket": "custom_trader", "max_series": 10}}
    with api_with(custom_buckets=buckets) as client:
        text = client.get("/desk", headers=trader.headers).text
    assert 'data-custom="off"' in text
    assert "not configured" in text
    assert "custom-token-form" not in text


def test_the_script_drives_the_custom_series_section() -> None:
    script = (Path(desk_router.__file__).parent / "static" / "desk.js").read_text()
    for needle in (
        '"v1/custom"',
        '"v1/custom/tokens"',
        "v1/custom/tokens/${encodeURIComponent(token.id)}",
        'getElementById("custom-token-value").textContent = answer.token',
        'getElementById("custom-token-example").textContent = answer.example',
        'getElementById("custom-tokens")',
        '"aria-label": `Delete token ${token.description}`',  # the browser test clicks it
    ):
        assert needle in script, needle
