"""The InfluxDB 2 TEST DOUBLE (tests/doubles/influxdb) answers the API calls the
influxdb and backup roles make the way the real server does: onboarding,
bucket retention rules and their validation, tasks, authorizations with
enforced permissions, hashed tokens, the write probe, a minimal query, and
its own `influx backup` / `influx restore --full` stand-in.

These tests pin the double's behaviour; they prove nothing about InfluxDB
itself (see docs/data-layer.md for what runs against the real server)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from doubles.influxdb import InfluxDBDouble
from doubles.influxdb import server as influx_server
from doubles.influxdb.server import POINTS_FILE, STATE_FILE, default_shard_group_seconds

SERVER = Path(__file__).resolve().parents[1] / "doubles" / "influxdb" / "server.py"
ADMIN = "operator-token-for-tests"
# Onboarding as the influxdb role does it: admin user, org, first bucket, operator token.
SETUP = {
    "username": "admin",
    "password": "secret-password",
    "org": "bloomberg",
    "bucket": "markets",
    "token": ADMIN,
}


def call(
    base: str,
    method: str,
    path: str,
    token: str | None = None,
    body: Any = None,
    raw: bytes | None = None,
) -> tuple[int, Any]:
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    request = urllib.request.Request(base + path, data=data, method=method)
    if token:
        request.add_header("Authorization", f"Token {token}")
    if body is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            payload = response.read()
            status = response.status
    except urllib.error.HTTPError as exc:
        payload, status = exc.read(), exc.code
    ctype_json = payload[:1] in (b"{", b"[")
    return status, (json.loads(payload) if ctype_json else payload.decode())


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[InfluxDBDouble]:
    """A double as the container starts it: not set up, state on disk."""
    double = InfluxDBDouble(token=None, state_dir=tmp_path).start()
    yield double
    double.shutdown()


@pytest.fixture
def ready(fresh: InfluxDBDouble) -> tuple[InfluxDBDouble, str]:
    body = {**SETUP, "retentionPeriodSeconds": 7 * 86400}
    status, result = call(fresh.url, "POST", "/api/v2/setup", body=body)
    assert status == 201, result
    return fresh, result["org"]["id"]


def test_setup_once(fresh: InfluxDBDouble) -> None:
    assert call(fresh.url, "GET", "/api/v2/setup") == (200, {"allowed": True})
    status, result = call(fresh.url, "POST", "/api/v2/setup", body=SETUP)
    assert status == 201
    assert result["auth"]["token"] == ADMIN
    assert call(fresh.url, "GET", "/api/v2/setup") == (200, {"allowed": False})
    status, result = call(fresh.url, "POST", "/api/v2/setup", body=SETUP)
    assert status == 422 and result["code"] == "conflict"


def test_unknown_token_is_401(ready: tuple[InfluxDBDouble, str]) -> None:
    double, _ = ready
    assert call(double.url, "GET", "/api/v2/buckets", "wrong")[0] == 401
    assert call(double.url, "GET", "/api/v2/buckets")[0] == 401


@pytest.mark.parametrize(
    ("rule", "status", "message"),
    [
        ({"everySeconds": 1800}, 500, "retention policy duration must be at least 1h0m0s"),
        ({"everySeconds": -1}, 422, "expiration seconds cannot be negative"),
        (
            {"everySeconds": 3600, "shardGroupDurationSeconds": 86400},
            500,
            "retention policy duration must be greater than the shard duration",
        ),
    ],
)
def test_bucket_retention_rejected_like_influxdb(
    ready: tuple[InfluxDBDouble, str], rule: dict[str, int], status: int, message: str
) -> None:
    double, org_id = ready
    body = {"orgID": org_id, "name": "bad", "retentionRules": [{"type": "expire", **rule}]}
    got, result = call(double.url, "POST", "/api/v2/buckets", ADMIN, body)
    assert (got, result["message"]) == (status, message)
    # Nothing was created: an org and a name make a lookup, which answers 404 for a
    # missing bucket (influxdb v2.9.1 tenant/service_bucket.go FindBuckets -> GetBucketByName).
    status, listed = call(double.url, "GET", "/api/v2/buckets?org=bloomberg&name=bad", ADMIN)
    assert (status, listed["message"]) == (404, 'bucket "bad" not found')


def test_bucket_defaults_and_patch(ready: tuple[InfluxDBDouble, str]) -> None:
    double, org_id = ready
    body = {
        "orgID": org_id,
        "name": "news",
        "retentionRules": [{"type": "expire", "everySeconds": 90 * 86400}],
    }
    status, bucket = call(double.url, "POST", "/api/v2/buckets", ADMIN, body)
    assert status == 201
    assert bucket["retentionRules"] == [
        {"type": "expire", "everySeconds": 90 * 86400, "shardGroupDurationSeconds": 86400}
    ]
    assert call(double.url, "POST", "/api/v2/buckets", ADMIN, body)[0] == 422  # duplicate name
    # Shortening below the stored shard duration is refused, as by InfluxDB.
    status, result = call(
        double.url,
        "PATCH",
        f"/api/v2/buckets/{bucket['id']}",
        ADMIN,
        {"retentionRules": [{"type": "expire", "everySeconds": 3600}]},
    )
    assert status == 422 and "shard-group duration" in result["message"]
    status, result = call(
        double.url,
        "PATCH",
        f"/api/v2/buckets/{bucket['id']}",
        ADMIN,
        {
            "retentionRules": [
                {"type": "expire", "everySeconds": 30 * 86400, "shardGroupDurationSeconds": 86400}
            ]
        },
    )
    assert status == 200 and result["retentionRules"][0]["everySeconds"] == 30 * 86400
    _, listed = call(double.url, "GET", "/api/v2/buckets?org=bloomberg", ADMIN)
    names = {b["name"]: b["type"] for b in listed["buckets"]}
    assert names == {"_monitoring": "system", "_tasks": "system", "markets": "user", "news": "user"}


def test_infinite_retention_and_default_shards() -> None:
    assert default_shard_group_seconds(0) == 7 * 86400
    assert default_shard_group_seconds(365 * 86400) == 7 * 86400
    assert default_shard_group_seconds(7 * 86400) == 86400
    assert default_shard_group_seconds(86400) == 3600


def _bucket_id(double: InfluxDBDouble, name: str) -> str:
    _, listed = call(double.url, "GET", f"/api/v2/buckets?org=bloomberg&name={name}", ADMIN)
    return listed["buckets"][0]["id"]


def test_least_privilege_tokens(ready: tuple[InfluxDBDouble, str]) -> None:
    double, org_id = ready
    markets = _bucket_id(double, "markets")
    status, writer = call(
        double.url,
        "POST",
        "/api/v2/authorizations",
        ADMIN,
        {
            "orgID": org_id,
            "description": "feeder",
            "permissions": [
                {"action": "write", "resource": {"type": "buckets", "id": markets, "orgID": org_id}}
            ],
        },
    )
    assert status == 201 and writer["token"]
    _, reader = call(
        double.url,
        "POST",
        "/api/v2/authorizations",
        ADMIN,
        {
            "orgID": org_id,
            "description": "grafana",
            "permissions": [{"action": "read", "resource": {"type": "buckets", "orgID": org_id}}],
        },
    )
    # The write probe: empty body, nothing stored, the answer says whether the token may
    # write: 204 after the permission check, as InfluxDB v2.9.1 http/write_handler.go
    # (upstream case "empty request body is ok" in http/write_handler_test.go).
    probe = "/api/v2/write?org=bloomberg&bucket=markets"
    assert call(double.url, "POST", probe, writer["token"], raw=b"")[0] == 204
    assert call(double.url, "GET", "/__double/points?bucket=markets", ADMIN)[1] == []
    assert call(double.url, "POST", probe, reader["token"], raw=b"")[0] == 403
    assert call(double.url, "POST", probe, reader["token"], raw=b"m v=1")[0] == 403
    assert call(double.url, "POST", probe, "nope", raw=b"m v=1")[0] == 401
    assert (
        call(double.url, "POST", probe, writer["token"], raw=b"market_data,symbol=X price=1")[0]
        == 204
    )
    # The reader reads; the writer cannot; neither can manage tokens.
    flux = 'from(bucket: "markets") |> range(start: -1h) |> filter(fn: (r) => r._measurement == "market_data")'
    status, text = call(
        double.url, "POST", "/api/v2/query?org=bloomberg", reader["token"], {"query": flux}
    )
    assert status == 200 and ",price,market_data,X" in text
    assert (
        call(double.url, "POST", "/api/v2/query?org=bloomberg", writer["token"], {"query": flux})[0]
        == 404
    )
    assert (
        call(
            double.url,
            "POST",
            "/api/v2/authorizations",
            reader["token"],
            {
                "orgID": org_id,
                "permissions": [{"action": "write", "resource": {"type": "buckets"}}],
            },
        )[0]
        == 401
    )
    # Listed without their token (hashed, as InfluxDB 2.9 stores them).
    _, listed = call(double.url, "GET", "/api/v2/authorizations?org=bloomberg", ADMIN)
    assert len(listed["authorizations"]) == 3
    # The token field is empty: InfluxDB 2.9 stores only the hash (use-hashed-tokens is on
    # by default; influxdb v2.9.1 authorization/storage_authorization.go encodeAuthorization).
    assert all(a["token"] == "" for a in listed["authorizations"])
    assert call(double.url, "DELETE", f"/api/v2/authorizations/{writer['id']}", ADMIN)[0] == 204
    assert call(double.url, "POST", probe, writer["token"], raw=b"")[0] == 401


def test_tasks(ready: tuple[InfluxDBDouble, str]) -> None:
    double, org_id = ready
    flux = (
        'option task = {name: "downsample_5min", every: 5m, offset: 30s}\nfrom(bucket: "markets")'
    )
    status, task = call(double.url, "POST", "/api/v2/tasks", ADMIN, {"orgID": org_id, "flux": flux})
    assert status == 201 and (task["name"], task["every"], task["offset"]) == (
        "downsample_5min",
        "5m",
        "30s",
    )
    status, result = call(
        double.url, "POST", "/api/v2/tasks", ADMIN, {"orgID": org_id, "flux": 'from(bucket: "x")'}
    )
    assert status == 400 and "option" in result["message"]
    status, task = call(
        double.url,
        "PATCH",
        f"/api/v2/tasks/{task['id']}",
        ADMIN,
        {"flux": flux.replace("every: 5m", "every: 10m")},
    )
    assert task["every"] == "10m"
    _, listed = call(double.url, "GET", "/api/v2/tasks?org=bloomberg&name=downsample_5min", ADMIN)
    assert [t["id"] for t in listed["tasks"]] == [task["id"]]


def test_state_survives_a_restart(tmp_path: Path) -> None:
    double = InfluxDBDouble(token=None, state_dir=tmp_path).start()
    call(double.url, "POST", "/api/v2/setup", body=SETUP)
    assert (
        call(double.url, "POST", "/api/v2/write?org=bloomberg&bucket=markets", ADMIN, raw=b"m v=1")[
            0
        ]
        == 204
    )
    double.shutdown()
    again = InfluxDBDouble(token=None, state_dir=tmp_path).start()
    try:
        assert call(again.url, "GET", "/api/v2/setup")[1] == {"allowed": False}
        assert again.point_count("markets") == 1
    finally:
        again.shutdown()


def test_cli_backup_and_full_restore(ready: tuple[InfluxDBDouble, str], tmp_path: Path) -> None:
    double, _ = ready
    now = time.time_ns()
    call(
        double.url,
        "POST",
        "/api/v2/write?org=bloomberg&bucket=markets",
        ADMIN,
        raw=f"m,s=a v=1 {now}".encode(),
    )
    cli = [sys.executable, str(SERVER), "cli"]
    target = tmp_path / "backup"
    ok = subprocess.run(
        [*cli, "backup", str(target), "--host", double.url, "-t", ADMIN],
        capture_output=True,
        text=True,
        check=False,
    )
    assert ok.returncode == 0, ok.stderr
    denied = subprocess.run(
        [*cli, "backup", str(tmp_path / "x"), "--host", double.url, "-t", "bad"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert denied.returncode == 1
    double.reset()
    assert double.point_count() == 0
    ok = subprocess.run(
        [*cli, "restore", str(target), "--full", "--host", double.url, "-t", ADMIN],
        capture_output=True,
        text=True,
        check=False,
    )
    assert ok.returncode == 0, ok.stderr
    assert double.points("markets")[0]["time"] == now
    ping = subprocess.run(
        [*cli, "ping", "--host", double.url], capture_output=True, text=True, check=False
    )
    assert ping.stdout.strip() == "OK"


def test_embedded_mode_keeps_the_feeders_contract() -> None:
    double = InfluxDBDouble(token="t").start()
    try:
        assert (
            call(
                double.url, "POST", "/api/v2/write?org=bloomberg&bucket=anything", "t", raw=b"m v=1"
            )[0]
            == 204
        )
        assert (
            call(double.url, "POST", "/api/v2/write?org=other&bucket=anything", "t", raw=b"m v=1")[
                0
            ]
            == 404
        )
        assert double.point_count("anything") == 1
    finally:
        double.stop()


def test_metrics_name_the_double(ready: tuple[InfluxDBDouble, str]) -> None:
    double, _ = ready
    status, text = call(double.url, "GET", "/metrics")
    assert status == 200 and "TEST DOUBLE" in text and "influxdb_buckets_total 3" in text


# --------------------------------------------------------------------------- persistence


def _write_lines(double: InfluxDBDouble, lines: list[str]) -> None:
    body = "\n".join(lines).encode()
    status, result = call(
        double.url, "POST", "/api/v2/write?org=bloomberg&bucket=markets", ADMIN, raw=body
    )
    assert status == 204, result


def test_points_are_persisted_incrementally(tmp_path: Path) -> None:
    """The metadata file holds no points, and a write costs the disk the size of the
    write (an append to the log), not of the store: the store will hold about a
    million values."""
    double = InfluxDBDouble(token=None, state_dir=tmp_path).start()
    try:
        call(double.url, "POST", "/api/v2/setup", body=SETUP)
        now = time.time_ns()
        _write_lines(double, [f"m,s=s{i} v={i} {now - i * 1000}" for i in range(5000)])
        double.save_state()
        meta = json.loads((tmp_path / STATE_FILE).read_text())
        assert "points" not in meta and meta["meta"]["setup_done"] is True
        logs = sorted(tmp_path.glob("bbdash-testdouble-points.*.log"))
        assert len(logs) == 1
        before = logs[0].stat().st_size
        meta_before = (tmp_path / STATE_FILE).stat().st_mtime_ns
        _write_lines(double, [f"m,s=new v=1 {now}"])
        double.save_state()
        assert 0 < logs[0].stat().st_size - before < 200
        assert not (tmp_path / POINTS_FILE).exists()
        assert (tmp_path / STATE_FILE).stat().st_mtime_ns >= meta_before
    finally:
        double.shutdown()
    again = InfluxDBDouble(token=None, state_dir=tmp_path)
    assert again.point_count("markets") == 5001


def test_the_log_is_compacted_and_replayed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Compaction writes the whole store once and drops the logs it includes; deletes,
    bucket drops and resets are replayed from the log in order."""
    monkeypatch.setattr(influx_server, "COMPACT_MIN_BYTES", 1)
    double = InfluxDBDouble(token=None, state_dir=tmp_path).start()
    try:
        _, setup = call(double.url, "POST", "/api/v2/setup", body=SETUP)
        org_id = setup["org"]["id"]
        now = time.time_ns()
        _write_lines(double, [f"m,s=a v={i} {now - i * 1000}" for i in range(10)])
        double.save_state()
        assert double.persistence is not None and double.persistence.needs_compaction()
        double.persistence.compact(double.lock, lambda: double.store)
        assert (tmp_path / POINTS_FILE).exists() and not list(tmp_path.glob("*.log"))
        # After the compaction: a delete, a new bucket written then dropped, more points.
        body = {
            "start": "1970-01-01T00:00:00Z",
            "stop": "2100-01-01T00:00:00Z",
            "predicate": 's="a"',
        }
        assert (
            call(double.url, "POST", "/api/v2/delete?org=bloomberg&bucket=markets", ADMIN, body)[0]
            == 204
        )
        status, news = call(
            double.url, "POST", "/api/v2/buckets", ADMIN, {"orgID": org_id, "name": "news"}
        )
        assert status == 201
        assert (
            call(
                double.url, "POST", "/api/v2/write?org=bloomberg&bucket=news", ADMIN, raw=b"n v=1"
            )[0]
            == 204
        )
        assert call(double.url, "DELETE", f"/api/v2/buckets/{news['id']}", ADMIN)[0] == 204
        _write_lines(double, [f"m,s=b v=1 {now}"])
    finally:
        double.shutdown()
    again = InfluxDBDouble(token=None, state_dir=tmp_path)
    assert [(p["tags"], p["fields"]) for p in again.points()] == [({"s": "b"}, {"v": 1.0})]
    assert not list(tmp_path.glob("*.log"))  # replayed at start, then compacted


def test_a_state_file_of_the_previous_format_is_migrated(tmp_path: Path) -> None:
    """Format 1 (one JSON file, points keyed by bucket name, rewritten every 2 s) is
    read once and converted."""
    first = InfluxDBDouble(token=None)
    first._setup(
        username="admin",
        password="pw-for-tests",
        org_name="bloomberg",
        bucket_name="markets",
        retention_s=0,
        token=ADMIN,
    )
    legacy = {
        "format": "bbdash-testdouble-influxdb/1",
        "version": "2.9.1-testdouble",
        "meta": first.meta.to_json(),
        "points": [
            {
                "bucket": "markets",
                "measurement": "m",
                "tags": [["s", "a"]],
                "points": [[5, {"v": 1.5}]],
            }
        ],
    }
    (tmp_path / STATE_FILE).write_text(json.dumps(legacy))
    double = InfluxDBDouble(token=None, state_dir=tmp_path)
    assert double.points("markets")[0]["fields"] == {"v": 1.5}
    assert "points" not in json.loads((tmp_path / STATE_FILE).read_text())
    assert (tmp_path / POINTS_FILE).exists()
