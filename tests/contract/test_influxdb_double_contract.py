"""Contract of the InfluxDB 2 TEST DOUBLE (tests/doubles/influxdb/server.py, not
InfluxDB) against InfluxDB v2.9.1, the version the influxdb role pins.

The double runs as the container runs it (a subprocess without --token: it
waits for onboarding and keeps its state in a directory), and InfluxData's own
Python client, influxdb-client 1.50.0, drives it through every call the
project makes:

- roles/influxdb/tasks: GET /health (run.yml), GET+POST /api/v2/setup,
  GET /api/v2/orgs?org=, POST /api/v2/orgs (setup.yml), GET
  /api/v2/buckets?orgID=&limit=100, POST /api/v2/buckets, PATCH
  /api/v2/buckets/{id} (buckets.yml), GET /api/v2/tasks?orgID=&limit=500,
  POST, PATCH, DELETE /api/v2/tasks/{id} (flux_tasks.yml), the token probes
  (POST /api/v2/write with an empty body, GET /api/v2/buckets?orgID=&name=),
  GET/POST /api/v2/authorizations, DELETE /api/v2/authorizations/{id}
  (tokens.yml); the downsampling Flux of bbdash.downsample.flux,
  executed through a manual run (POST /api/v2/tasks/{id}/runs);
- files/feeders/src/bbdash/common/influx.py: POST /api/v2/write (precision ns);
- tests/infra/test_data.py and test_backup.py: writes, POST /api/v2/query
  (JSON, no dialect), GET /api/v2/authorizations with a read-only token;
- the influx CLI stand-in of the backup role (GET /__double/backup,
  POST /__double/restore) is pinned in tests/static/test_data_influxdb_double.py;
- what the client library itself sends: gzip writes (Content-Encoding),
  gzip query answers (Accept-Encoding), query annotations, paging with
  `after`, the delete API, ping/health/ready/version.

Where InfluxDB (or flux, or influxql) has test cases for a behaviour, they are
rewritten here and named in the test's docstring; every other expectation names
the upstream source (github.com/influxdata/influxdb at tag v2.9.1,
github.com/influxdata/flux at v0.200.0, the version v2.9.1's go.mod requires).

BBDASH_INFLUXDB_DOUBLE=<path to a server.py> runs this suite against another
copy of the double (to show what an older double gets wrong).
"""

from __future__ import annotations

import datetime as dt
import gzip
import http.client
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from bbdash.downsample.flux import task_flux
from influxdb_client import (
    BucketRetentionRules,
    InfluxDBClient,
    OnboardingRequest,
    Permission,
    PermissionResource,
    Point,
    TaskCreateRequest,
    WritePrecision,
)
from influxdb_client.client.write_api import SYNCHRONOUS
from influxdb_client.domain.dialect import Dialect
from influxdb_client.rest import ApiException
from influxdb_client.service.setup_service import SetupService

REPO = Path(__file__).resolve().parents[2]
DOUBLE = Path(os.environ.get("BBDASH_INFLUXDB_DOUBLE", REPO / "tests/doubles/influxdb/server.py"))
ROLE = REPO / "roles" / "influxdb"
ADMIN = "contract-operator-token-0123456789"
ORG = "bloomberg"
NS = 1_000_000_000
MINUTE = 60 * NS

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


# --------------------------------------------------------------------------- the double


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    """The double as a subprocess, in container mode (state kept in `state_dir`)."""

    state_dir: Path
    port: int = field(default_factory=_free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Server:
        self.proc = subprocess.Popen(
            [
                *(sys.executable, str(DOUBLE), "--host", "127.0.0.1", "--port", str(self.port)),
                *("--state-dir", str(self.state_dir)),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                if request(self.url, "GET", "/health")[0] == 200:
                    return self
            except OSError:
                time.sleep(0.05)
        raise AssertionError("the double did not start")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is not None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=30)
            self.proc = None


@dataclass
class Env:
    """An onboarded double: the operator's client and the IDs the tests need."""

    server: Server
    client: InfluxDBClient
    org_id: str
    bucket_id: str  # markets, created by the onboarding
    user_id: str
    clients: list[InfluxDBClient] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.server.url

    def client_for(self, token: str, **kwargs: Any) -> InfluxDBClient:
        client = InfluxDBClient(url=self.url, token=token, org=ORG, **kwargs)
        self.clients.append(client)
        return client

    def bucket(self, name: str, every_seconds: int = 0, shard_seconds: int | None = None) -> str:
        rules = []
        if every_seconds or shard_seconds:
            rules = [
                BucketRetentionRules(
                    type="expire",
                    every_seconds=every_seconds,
                    shard_group_duration_seconds=shard_seconds,
                )
            ]
        return str(
            self.client.buckets_api()
            .create_bucket(bucket_name=name, org_id=self.org_id, retention_rules=rules)
            .id
        )

    def token(
        self, *permissions: tuple[str, str, str | None], description: str = ""
    ) -> tuple[str, str]:
        """A new token: (action, resource type, resource id or None) each, in the org."""
        perms = [
            Permission(action=a, resource=PermissionResource(type=t, id=i, org_id=self.org_id))
            for a, t, i in permissions
        ]
        created = self.client.authorizations_api().create_authorization(
            org_id=self.org_id, permissions=perms
        )
        if description:
            created.description = description
        return str(created.token), str(created.id)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    srv = Server(tmp_path / "state").start()
    yield srv
    srv.stop(signal.SIGKILL)


def onboard(url: str, **overrides: Any) -> Any:
    """POST /api/v2/setup as the role does (tasks/setup.yml): user, org, first bucket,
    retention in seconds, the vault's operator token."""
    with InfluxDBClient(url=url, token="unused") as anonymous:
        body = {
            "username": "admin",
            "password": "secret-password",
            "org": ORG,
            "bucket": "markets",
            "retention_period_seconds": 7 * 86400,
            "token": ADMIN,
            **overrides,
        }
        return SetupService(anonymous.api_client).post_setup(
            onboarding_request=OnboardingRequest(**body)
        )


@pytest.fixture
def env(server: Server) -> Iterator[Env]:
    result = onboard(server.url)
    client = InfluxDBClient(url=server.url, token=ADMIN, org=ORG)
    environment = Env(
        server, client, str(result.org.id), str(result.bucket.id), str(result.user.id)
    )
    yield environment
    for other in [client, *environment.clients]:
        other.close()


def request(
    url: str,
    method: str,
    path: str,
    token: str | None = None,
    body: bytes | str | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    """A raw HTTP call (status, headers with lower-case names, body as sent)."""
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    all_headers = dict(headers or {})
    if token is not None:
        all_headers["Authorization"] = f"Token {token}"
    data = body.encode() if isinstance(body, str) else body
    try:
        conn.request(method, path, body=data, headers=all_headers)
        response = conn.getresponse()
        payload = response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, payload
    finally:
        conn.close()


def api(
    url: str, method: str, path: str, token: str | None = ADMIN, body: Any = None, **headers: str
) -> tuple[int, Any]:
    """A JSON call: (status, decoded body or text)."""
    data = None
    sent = {k.replace("_", "-"): v for k, v in headers.items()}
    if body is not None:
        data = body if isinstance(body, (bytes, str)) else json.dumps(body).encode()
        sent.setdefault("Content-Type", "application/json")
    status, _, payload = request(url, method, path, token, data, sent)
    if not payload:
        return status, None
    try:
        return status, json.loads(payload)
    except ValueError:
        return status, payload.decode()


def error_of(exc: ApiException) -> tuple[int, dict[str, Any]]:
    return int(exc.status), json.loads(exc.body)


def raises(call: Callable[[], Any]) -> tuple[int, dict[str, Any]]:
    with pytest.raises(ApiException) as info:
        call()
    return error_of(info.value)


def write(
    env: Env, bucket: str, body: str | bytes, token: str = ADMIN, **params: str
) -> tuple[int, Any]:
    query = urllib.parse.urlencode({"org": ORG, "bucket": bucket, **params})
    return api(env.url, "POST", f"/api/v2/write?{query}", token, body if body else b"")


def flux_query(
    env: Env, flux: str, token: str = ADMIN, dialect: dict[str, Any] | None = None
) -> tuple[int, Any]:
    body: dict[str, Any] = {"query": flux}
    if dialect is not None:
        body["dialect"] = dialect
    return api(env.url, "POST", f"/api/v2/query?org={ORG}", token, body)


def load_double() -> ModuleType:
    """The double's module, loaded from DOUBLE (for its CSV encoder)."""
    spec = importlib.util.spec_from_file_location("influxdb_double_under_contract", DOUBLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def rfc3339(ns: int) -> str:
    seconds, nanos = divmod(ns, NS)
    base = dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return base + (f".{nanos:09d}".rstrip("0").rstrip(".")) + "Z"


# --------------------------------------------------------------------------- health, setup, orgs


def test_health_ping_ready_and_version(server: Server) -> None:
    """http/health.go HealthHandler (its bytes), http/legacy/ping_handler.go
    (TestPingHandler: 204, GET and HEAD), http/ready.go; the client reads the version
    and build from /ping's X-Influxdb-Version / X-Influxdb-Build headers."""
    status, headers, body = request(server.url, "GET", "/health")
    assert status == 200 and headers["content-type"] == "application/json; charset=utf-8"
    assert body.endswith(b"}\n")
    health = json.loads(body)
    assert (health["name"], health["status"], health["message"]) == (
        "influxdb",
        "pass",
        "ready for queries and writes",
    )
    assert body.startswith(
        b'{"name":"influxdb", "message":"ready for queries and writes", "status":"pass"'
    )
    for method in ("GET", "HEAD"):
        status, headers, body = request(server.url, method, "/ping")
        assert (status, body) == (204, b"")
        assert headers["x-influxdb-build"] == "OSS" and headers["x-influxdb-version"].startswith(
            "2.9.1"
        )
    with InfluxDBClient(url=server.url, token="any") as client:
        assert client.ping() is True
        assert client.version().startswith("2.9.1") and client.build() == "OSS"
        assert client.health().status == "pass"
        assert client.ready().status == "ready"


def test_onboarding_happens_once(server: Server) -> None:
    """tenant/http_server_onboarding.go (TestOnboardService): GET tells whether setup
    is allowed; a second POST is ErrOnboardingNotAllowed (conflict, 422)."""
    with InfluxDBClient(url=server.url, token="unused") as anonymous:
        setup = SetupService(anonymous.api_client)
        assert setup.get_setup().allowed is True
        result = onboard(server.url)
        assert (
            result.auth.token == ADMIN
            and result.org.name == ORG
            and result.bucket.name == "markets"
        )
        assert result.bucket.retention_rules[0].every_seconds == 7 * 86400
        assert setup.get_setup().allowed is False
        status, body = raises(lambda: onboard(server.url))
        assert (status, body) == (
            422,
            {"code": "conflict", "message": "onboarding has already been completed"},
        )


def test_onboarding_request_is_checked(server: Server) -> None:
    """onboarding.go OnboardingRequest (a value of the wrong JSON type is a json
    decoding error, answered 500 with its text by kithttp.API.Err; retentionPeriodSeconds
    is an int64 - what the role sends, an integer), tenant/service_onboarding.go
    onboardUser (missing fields, 422), tenant/service_user.go IsPasswordStrong (length)."""
    setup = "/api/v2/setup"
    full = {"username": "admin", "password": "secret-password", "org": ORG, "bucket": "markets"}
    assert api(server.url, "POST", setup, None, {**full, "retentionPeriodSeconds": "604800"}) == (
        500,
        {
            "code": "internal error",
            "message": "json: cannot unmarshal string into Go struct field "
            "OnboardingRequest.retentionPeriodSeconds of type int64",
        },
    )
    assert api(server.url, "POST", setup, None, {"password": "secret-password", "bucket": "b"}) == (
        422,
        {
            "code": "unprocessable entity",
            "message": "onboarding failed: missing required fields [username,org]",
        },
    )
    assert api(server.url, "POST", setup, None, {**full, "password": "short"}) == (
        400,
        {"code": "invalid", "message": "passwords must be between 8 and 72 characters long"},
    )
    assert api(server.url, "GET", setup, None) == (200, {"allowed": True})
    status, done = api(server.url, "POST", setup, None, {**full, "retentionPeriodSeconds": 3600})
    assert status == 201 and done["bucket"]["retentionRules"][0]["everySeconds"] == 3600


def test_orgs_lookup_and_create(env: Env) -> None:
    """tenant/http_server_org.go handleGetOrgs/handlePostOrg, tenant/service_org.go
    (an org's system buckets _tasks and _monitoring), tenant/error_org.go
    (OrgNotFoundByName, OrgAlreadyExistsError), authorizer/org.go."""
    orgs = env.client.organizations_api().find_organizations(org=ORG)
    assert [o.id for o in orgs] == [env.org_id]
    status, body = api(env.url, "GET", "/api/v2/orgs?org=nope")
    assert (status, body["message"]) == (404, 'organization name "nope" not found')
    created = env.client.organizations_api().create_organization(name="research")
    names = {b.name for b in env.client.buckets_api().find_buckets(org_id=created.id).buckets}
    assert names == {"_tasks", "_monitoring"}
    status, body = raises(
        lambda: env.client.organizations_api().create_organization(name="research")
    )
    assert (status, body["code"], body["message"]) == (
        422,
        "conflict",
        "organization with name research already exists",
    )
    reader, _ = env.token(("read", "buckets", None))
    assert api(env.url, "POST", "/api/v2/orgs", reader, {"name": "x"}) == (
        401,
        {"code": "unauthorized", "message": "write:orgs is unauthorized"},
    )
    # The role's lookup with a token that cannot read the org: 200 and no org.
    assert api(env.url, "GET", f"/api/v2/orgs?org={ORG}", reader)[1]["orgs"] == []
    assert api(env.url, "GET", f"/api/v2/orgs?org={ORG}", "not-a-token")[0] == 401


def test_unknown_paths_methods_and_tokens(env: Env) -> None:
    """http/router.go notFound ("path not found") and methodNotAllowed; the
    authentication middleware runs first (http/authentication_middleware.go:
    "unauthorized access"); kit/transport/http/error_handler.go writes the code
    in X-Platform-Error-Code (TestEncodeError)."""
    status, headers, body = request(env.url, "GET", "/api/v2/nope", ADMIN)
    assert status == 404 and json.loads(body) == {"code": "not found", "message": "path not found"}
    assert headers["x-platform-error-code"] == "not found"
    assert headers["content-type"] == "application/json; charset=utf-8"
    assert request(env.url, "GET", "/api/v2/nope")[0] == 401
    status, body = api(env.url, "PUT", "/api/v2/buckets", body={})
    assert status == 405 and body["code"] == "method not allowed"
    for header in ({}, {"Authorization": "Token wrong"}, {"Authorization": "Basic abc"}):
        status, headers, body = request(env.url, "GET", "/api/v2/buckets", headers=header)
        assert (status, json.loads(body)) == (
            401,
            {"code": "unauthorized", "message": "unauthorized access"},
        )
    # The scheme is case-insensitive and Bearer works too (http/tokens.go GetToken).
    for scheme in ("token", "TOKEN", "Bearer"):
        assert (
            request(
                env.url, "GET", "/api/v2/buckets", headers={"Authorization": f"{scheme} {ADMIN}"}
            )[0]
            == 200
        )


# --------------------------------------------------------------------------- buckets


def test_bucket_crud_with_retention_rules(env: Env) -> None:
    """tenant/http_server_bucket.go (POST, GET, PATCH, DELETE; the retention rule
    shown when a duration is set), v1/services/meta/data.go (default shard-group
    durations), tenant/error_bucket.go."""
    buckets = env.client.buckets_api()
    created = buckets.create_bucket(
        bucket_name="news",
        org_id=env.org_id,
        retention_rules=[BucketRetentionRules(type="expire", every_seconds=90 * 86400)],
        description="News articles",
    )
    assert created.retention_rules[0].every_seconds == 90 * 86400
    assert created.retention_rules[0].shard_group_duration_seconds == 86400
    assert created.links.write == f"/api/v2/write?org={env.org_id}&bucket={created.id}"
    infinite = buckets.create_bucket(bucket_name="custom", org_id=env.org_id)
    assert [
        (r.every_seconds, r.shard_group_duration_seconds) for r in infinite.retention_rules
    ] == [(0, 7 * 86400)]
    assert buckets.find_bucket_by_id(created.id).description == "News articles"
    created.retention_rules = [
        BucketRetentionRules(
            type="expire", every_seconds=30 * 86400, shard_group_duration_seconds=86400
        )
    ]
    created.description = "shorter"
    updated = buckets.update_bucket(created)
    assert (updated.retention_rules[0].every_seconds, updated.description) == (
        30 * 86400,
        "shorter",
    )
    buckets.delete_bucket(created)
    status, body = raises(lambda: buckets.find_bucket_by_id(created.id))
    assert (status, body) == (404, {"code": "not found", "message": "bucket not found"})
    status, body = raises(lambda: buckets.create_bucket(bucket_name="custom", org_id=env.org_id))
    assert (status, body) == (
        422,
        {"code": "conflict", "message": "bucket with name custom already exists"},
    )
    system = next(b for b in buckets.find_buckets(org_id=env.org_id).buckets if b.name == "_tasks")
    assert api(env.url, "DELETE", f"/api/v2/buckets/{system.id}") == (
        400,
        {"code": "invalid", "message": "system buckets cannot be deleted"},
    )
    assert api(env.url, "GET", "/api/v2/buckets/nope")[1] == {
        "code": "invalid",
        "message": "id must have a length of 16 bytes",
    }


@pytest.mark.parametrize(
    ("rule", "status", "message"),
    [
        ({"everySeconds": -1}, 422, "expiration seconds cannot be negative"),
        (
            {"everySeconds": 0, "shardGroupDurationSeconds": -1},
            422,
            "shard-group duration seconds cannot be negative",
        ),
        ({"everySeconds": 1800}, 500, "retention policy duration must be at least 1h0m0s"),
        (
            {"everySeconds": 3600, "shardGroupDurationSeconds": 86400},
            500,
            "retention policy duration must be greater than the shard duration",
        ),
    ],
)
def test_bucket_create_validation(
    env: Env, rule: dict[str, int], status: int, message: str
) -> None:
    """postBucketRequest.OK (422s), then the storage engine's meta client, whose
    errors InfluxDB does not map to a client status (500)."""
    body = {"orgID": env.org_id, "name": "bad", "retentionRules": [{"type": "expire", **rule}]}
    got, answer = api(env.url, "POST", "/api/v2/buckets", body=body)
    assert (got, answer["message"]) == (status, message)
    assert api(env.url, "GET", f"/api/v2/buckets?orgID={env.org_id}&name=bad")[0] == 404


def test_bucket_update_validation(env: Env) -> None:
    """TestHTTPBucketService_InvalidRetention ("update with negative retention",
    "update with negative shard-group duration"); a retention shorter than the
    stored shard-group duration is refused on update."""
    bucket_id = env.bucket("news", 90 * 86400)
    for rule, message in (
        ({"everySeconds": -10}, "expiration seconds cannot be negative"),
        ({"shardGroupDurationSeconds": -10}, "shard-group duration seconds cannot be negative"),
        (
            {"everySeconds": 3600},
            "shard-group duration must also be updated to be smaller than new retention duration",
        ),
    ):
        status, body = api(
            env.url, "PATCH", f"/api/v2/buckets/{bucket_id}", body={"retentionRules": [rule]}
        )
        assert (status, body["code"], body["message"]) == (422, "unprocessable entity", message)
    assert api(env.url, "PATCH", f"/api/v2/buckets/{bucket_id}", body={"name": "_x"})[0] == 400


def test_bucket_lists_paging_and_filters(env: Env) -> None:
    """paging.go DecodeFindOptions (limit 1..100, default 20) and NewPagingLinks (next
    when a page is full); tenant/storage_bucket.go listBucketsByOrg (by name, `after`
    skips through the given ID) and ListBuckets (by ID); tenant/service_bucket.go
    FindBuckets (an org and a name is a lookup: 404 when missing); the client's
    find_buckets_iter follows links.next with `after`."""
    for name in ("b3", "b1", "b2", "a9"):
        env.bucket(name)
    listed = env.client.buckets_api().find_buckets(org_id=env.org_id, limit=100).buckets
    assert [b.name for b in listed] == ["_monitoring", "_tasks", "a9", "b1", "b2", "b3", "markets"]
    _, page = api(env.url, "GET", f"/api/v2/buckets?orgID={env.org_id}&limit=2&offset=2")
    assert [b["name"] for b in page["buckets"]] == ["a9", "b1"]
    assert page["links"]["next"] == (
        f"/api/v2/buckets?descending=false&limit=2&offset=4&orgID={env.org_id}"
    )
    assert (
        page["links"]["prev"]
        == f"/api/v2/buckets?descending=false&limit=2&offset=0&orgID={env.org_id}"
    )
    after = listed[2].id
    _, page = api(env.url, "GET", f"/api/v2/buckets?orgID={env.org_id}&after={after}&limit=2")
    assert [b["name"] for b in page["buckets"]] == ["b1", "b2"]
    every = [b.name for b in env.client.buckets_api().find_buckets_iter(limit=2)]
    assert sorted(every) == sorted(b.name for b in listed)
    assert api(env.url, "GET", "/api/v2/buckets?limit=101")[1] == {
        "code": "invalid",
        "message": "limit must be between 1 and 100",
    }
    assert api(env.url, "GET", "/api/v2/buckets?offset=x")[1]["message"] == "offset is invalid"
    # By name: without an org a filtered list (client find_bucket_by_name), with one a lookup.
    assert env.client.buckets_api().find_bucket_by_name("b2").name == "b2"
    assert env.client.buckets_api().find_bucket_by_name("nope") is None
    status, body = api(env.url, "GET", f"/api/v2/buckets?orgID={env.org_id}&name=nope")
    assert (status, body) == (404, {"code": "not found", "message": 'bucket "nope" not found'})
    status, body = api(env.url, "GET", "/api/v2/buckets?org=nope")
    assert (status, body["message"]) == (404, 'organization name "nope" not found')
    # What a token may not read is left out; system buckets need read on the org.
    reader, _ = env.token(("read", "buckets", env.bucket_id))
    _, page = api(env.url, "GET", f"/api/v2/buckets?orgID={env.org_id}", reader)
    assert [b["name"] for b in page["buckets"]] == ["markets"]
    org_reader, _ = env.token(("read", "orgs", env.org_id))
    _, page = api(env.url, "GET", f"/api/v2/buckets?orgID={env.org_id}", org_reader)
    assert [b["name"] for b in page["buckets"]] == ["_monitoring", "_tasks"]


# --------------------------------------------------------------------------- authorizations


def test_authorization_crud(env: Env) -> None:
    """authorization/http_server.go (TestService_handlePostAuthorization "create a
    new authorization", TestService_handleGetAuthorization "get a authorization by
    id" / "not found", TestService_handleDeleteAuthorization "remove a authorization
    by id" / "authorization not found"); with hashed tokens (on by default in 2.9,
    authorization/storage_authorization.go) the token is shown once."""
    auths = env.client.authorizations_api()
    perms = [
        Permission(
            action="write",
            resource=PermissionResource(type="buckets", id=env.bucket_id, org_id=env.org_id),
        )
    ]
    created = auths.create_authorization(org_id=env.org_id, permissions=perms)
    assert (
        created.token
        and created.status == "active"
        and created.org == ORG
        and created.user == "admin"
    )
    assert (
        created.permissions[0].resource.name == "markets"
        and created.permissions[0].resource.org == ORG
    )
    listed = auths.find_authorizations(org_id=env.org_id)
    assert {a.id for a in listed} >= {created.id} and all(a.token == "" for a in listed)
    assert auths.find_authorizations_by_org_id(env.org_id)
    assert api(env.url, "GET", f"/api/v2/authorizations/{created.id}")[1]["token"] == ""
    assert api(env.url, "GET", "/api/v2/authorizations?user=admin")[0] == 200
    created.status = "inactive"
    created.description = "feeder"
    updated = auths.update_authorization(created)
    assert (updated.status, updated.description) == ("inactive", "feeder")
    auths.delete_authorization(created)
    missing = "0000000000000abc"
    assert api(env.url, "GET", f"/api/v2/authorizations/{missing}") == (
        404,
        {"code": "not found", "message": "authorization not found"},
    )
    assert api(env.url, "DELETE", f"/api/v2/authorizations/{missing}")[0] == 404


def test_authorization_requests_are_validated(env: Env) -> None:
    """decodePostAuthorizationRequest: IDs are decoded with the JSON (an ID that is no
    ID is "invalid json structure"), then Validate (permissions, org id, status);
    auth.go Valid (a permission of another org)."""
    base = {
        "orgID": env.org_id,
        "permissions": [{"action": "read", "resource": {"type": "buckets"}}],
    }
    cases = [
        ({**base, "orgID": "x"}, "invalid json structure: id must have a length of 16 bytes"),
        ({**base, "permissions": []}, "authorization must include permissions"),
        (
            {**base, "permissions": [{"action": "read", "resource": {"type": "nope"}}]},
            "invalid resource type for permission: unknown resource type for permission",
        ),
        ({"permissions": base["permissions"]}, "org id required: invalid ID"),
        ({**base, "status": "maybe"}, "invalid status: must be active or inactive"),
    ]
    for body, message in cases:
        assert api(env.url, "POST", "/api/v2/authorizations", body=body) == (
            400,
            {"code": "invalid", "message": message},
        )


def test_permissions_are_enforced(env: Env) -> None:
    """authorizer/auth.go (create needs write on the org's authorizations and on the
    user, then VerifyPermissions: 403 "permission ... is not allowed"), authz.go
    Permission.matchesV1 (a permission with an ID matches that resource only),
    authorizer/authorize_find.go (lists leave out what may not be read)."""
    reader, reader_id = env.token(("read", "buckets", None), description="grafana")
    grant = {
        "orgID": env.org_id,
        "permissions": [{"action": "write", "resource": {"type": "buckets"}}],
    }
    assert api(env.url, "POST", "/api/v2/authorizations", reader, grant) == (
        401,
        {
            "code": "unauthorized",
            "message": f"write:orgs/{env.org_id}/authorizations is unauthorized",
        },
    )
    # The users permission must be global: a permission with an org ID and no ID only
    # matches permissions asked with that org ID, and users/<id> is asked without one.
    scoped, _ = env.token(("write", "authorizations", None), ("write", "users", None))
    status, body = api(env.url, "POST", "/api/v2/authorizations", scoped, grant)
    assert (status, body["message"]) == (401, f"write:users/{env.user_id} is unauthorized")
    grant_all = [
        {"action": "write", "resource": {"type": "authorizations", "orgID": env.org_id}},
        {"action": "write", "resource": {"type": "users"}},
        {"action": "read", "resource": {"type": "buckets", "orgID": env.org_id}},
    ]
    created = {"orgID": env.org_id, "permissions": grant_all}
    manager = api(env.url, "POST", "/api/v2/authorizations", body=created)[1]["token"]
    wanted = "write:buckets"  # the permission as asked: no org ID in `grant`
    assert api(env.url, "POST", "/api/v2/authorizations", manager, grant) == (
        403,
        {
            "code": "forbidden",
            "message": f"permission {wanted} is not allowed: {wanted} is unauthorized",
        },
    )
    ok = {
        "orgID": env.org_id,
        "permissions": [{"action": "read", "resource": {"type": "buckets", "orgID": env.org_id}}],
    }
    assert api(env.url, "POST", "/api/v2/authorizations", manager, ok)[0] == 201
    # A read-only token lists no authorization (not even its own: it may not read users).
    assert api(env.url, "GET", "/api/v2/authorizations", reader) == (
        200,
        {"links": {"self": "/api/v2/authorizations"}, "authorizations": []},
    )
    assert api(env.url, "GET", f"/api/v2/authorizations/{reader_id}", reader)[0] == 401
    # A permission on one bucket covers that bucket only.
    other = env.bucket("news")
    writer, _ = env.token(("write", "buckets", env.bucket_id))
    assert write(env, "markets", "m v=1", writer)[0] == 204
    assert write(env, "news", "m v=1", writer) == (
        403,
        {"code": "forbidden", "message": "insufficient permissions for write"},
    )
    assert api(env.url, "GET", f"/api/v2/buckets/{other}", writer) == (
        401,
        {
            "code": "unauthorized",
            "message": f"read:orgs/{env.org_id}/buckets/{other} is unauthorized",
        },
    )


def test_inactive_tokens(env: Env) -> None:
    """An inactive token authenticates, but its permission set is an error (auth.go
    PermissionSet "token is inactive"): 403 on writes (write_handler.go
    checkBucketWritePermissions wraps it), 401 through the authorizer, left out of lists."""
    token, auth_id = env.token(("write", "buckets", None), ("read", "buckets", None))
    assert (
        api(env.url, "PATCH", f"/api/v2/authorizations/{auth_id}", body={"status": "inactive"})[0]
        == 200
    )
    assert write(env, "markets", "m v=1", token) == (
        403,
        {"code": "forbidden", "message": "insufficient permissions for write: token is inactive"},
    )
    assert api(env.url, "GET", f"/api/v2/buckets/{env.bucket_id}", token) == (
        401,
        {"code": "unauthorized", "message": "token is inactive"},
    )
    assert api(env.url, "GET", f"/api/v2/buckets?orgID={env.org_id}", token)[1]["buckets"] == []
    assert api(env.url, "DELETE", f"/api/v2/authorizations/{auth_id}")[0] == 204
    assert write(env, "markets", "m v=1", token)[0] == 401


def test_users_for_tokens_only(env: Env) -> None:
    """POST /api/v2/users (tenant/http_server_user.go handlePostUser: no password, status
    active by default; authorizer/user.go CreateUser: global write:users;
    tenant/storage_user.go: a taken name is a conflict), then what the watchlist API
    does with such a user's token: read+write on the org's authorizations and on the
    user lets it make and revoke tokens of its own user, with only what it holds
    (authorizer/auth.go VerifyPermissions)."""
    status, user = api(env.url, "POST", "/api/v2/users", body={"name": "bbdash-custom"})
    assert status == 201, user
    assert (user["name"], user["status"]) == ("bbdash-custom", "active")
    assert user["links"] == {"self": f"/api/v2/users/{user['id']}"}
    assert api(env.url, "POST", "/api/v2/users", body={"name": "bbdash-custom"}) == (
        422,
        {"code": "conflict", "message": "user with name bbdash-custom already exists"},
    )
    # GET by name (what the influxdb role's users.yml asks): one user, or 404.
    assert api(env.url, "GET", "/api/v2/users?name=bbdash-custom") == (
        200,
        {"links": {"self": "/api/v2/users"}, "users": [user]},
    )
    assert api(env.url, "GET", "/api/v2/users?name=nobody") == (
        404,
        {"code": "not found", "message": "user not found"},
    )
    reader, _ = env.token(("read", "buckets", None))
    # A token that may not read users finds none (authorizer/user.go AuthorizeFindUsers).
    assert api(env.url, "GET", "/api/v2/users?name=bbdash-custom", reader) == (
        200,
        {"links": {"self": "/api/v2/users"}, "users": []},
    )
    assert api(env.url, "POST", "/api/v2/users", reader, body={"name": "x"}) == (
        401,
        {"code": "unauthorized", "message": "write:users is unauthorized"},
    )
    custom = env.bucket("custom_trader")
    perms = [
        {"action": a, "resource": {"type": t, **ids}}
        for t, ids in (
            ("buckets", {"id": custom, "orgID": env.org_id}),
            ("authorizations", {"orgID": env.org_id}),
            ("users", {"id": user["id"]}),
        )
        for a in ("read", "write")
    ]
    body = {"orgID": env.org_id, "userID": user["id"], "permissions": perms}
    status, made = api(env.url, "POST", "/api/v2/authorizations", body=body)
    assert status == 201, made
    own = made["token"]
    write_only = [{"action": "write", "resource": {"type": "buckets", "id": custom}}]
    status, child = api(
        env.url,
        "POST",
        "/api/v2/authorizations",
        own,
        body={"orgID": env.org_id, "description": "custom:trader:x", "permissions": write_only},
    )
    assert status == 201, child
    assert child["userID"] == user["id"]  # no userID: the token's own user
    assert write(env, "custom_trader", "m v=1", child["token"])[0] == 204
    assert write(env, "markets", "m v=1", child["token"])[0] == 403
    markets = [{"action": "write", "resource": {"type": "buckets", "id": env.bucket_id}}]
    status, refused = api(
        env.url,
        "POST",
        "/api/v2/authorizations",
        own,
        body={"orgID": env.org_id, "permissions": markets},
    )
    assert (status, refused["code"]) == (403, "forbidden")
    someone_else = {"orgID": env.org_id, "userID": env.user_id, "permissions": write_only}
    status, refused = api(env.url, "POST", "/api/v2/authorizations", own, body=someone_else)
    assert (status, refused["message"]) == (401, f"write:users/{env.user_id} is unauthorized")
    listed = api(env.url, "GET", f"/api/v2/authorizations?orgID={env.org_id}", own)[1]
    assert sorted(a["id"] for a in listed["authorizations"]) == sorted([made["id"], child["id"]])
    patched = api(
        env.url, "PATCH", f"/api/v2/authorizations/{child['id']}", own, body={"status": "inactive"}
    )
    assert patched[0] == 200
    assert write(env, "custom_trader", "m v=2", child["token"])[0] == 403
    assert api(env.url, "DELETE", f"/api/v2/authorizations/{child['id']}", own)[0] == 204


def test_series_cardinality(env: Env) -> None:
    """influxdb.cardinality (query/stdlib/influxdata/influxdb/provider.go
    SeriesCardinalityReaderFor, storage/flux/reader.go seriesCardinalityIterator: one
    table, empty group key, one long _value; v1/services/storage/store.go
    ReadSeriesCardinality: the series with data in the range, a series being the
    measurement, the tags and the field)."""
    flux = (
        'import "influxdata/influxdb"\ninfluxdb.cardinality(bucket: "markets", start: time(v: 0))'
    )
    dialect = {"annotations": ["datatype", "group", "default"]}
    assert flux_query(env, flux, dialect=dialect) == (
        200,
        "#datatype,string,long,long\r\n#group,false,false,false\r\n#default,_result,,\r\n"
        ",result,table,_value\r\n,,0,0\r\n\r\n",
    )
    assert write(env, "markets", "m,a=1 v=1,w=2\nm,a=2 v=1\nm,a=2 v=3\nn v=1")[0] == 204
    assert flux_query(env, flux, dialect={"annotations": []}) == (
        200,
        ",result,table,_value\r\n,_result,0,4\r\n\r\n",
    )
    later = 'import "influxdata/influxdb"\n' + (
        'influxdb.cardinality(bucket: "markets", start: -2h, stop: -1h)'
    )
    assert flux_query(env, later, dialect={"annotations": []})[1].endswith(",0\r\n\r\n")
    writer, _ = env.token(("write", "buckets", env.bucket_id))
    status, body = flux_query(env, flux, writer)
    assert (status, body["code"]) == (404, "not found")
    status, body = flux_query(env, flux.replace("start: time(v: 0)", 'start: 0, host: "x"'))
    assert (status, body["code"]) == (400, "invalid")
    assert body["message"].startswith("test double: unsupported Flux")


# --------------------------------------------------------------------------- writes


def test_write_handler_cases(env: Env) -> None:
    """http/write_handler_test.go TestWriteHandler_handleWrite, rewritten: "simple
    body is accepted", "empty request body is ok", "org error returns 404 error",
    "missing bucket returns 404", "bucket error returns 404 error", "invalid line
    protocol returns 400", "forbidden to write with insufficient permission"; and
    decodeWriteRequest's precision check and http/requests.go queryOrganization."""
    assert write(env, "markets", "m1,t1=v1 f1=1") == (204, None)
    assert write(env, "markets", b"") == (204, None)
    assert write(env, env.bucket_id, "m1,t1=v1 f1=2") == (204, None)  # a bucket ID works too
    assert api(env.url, "POST", "/api/v2/write?org=nope&bucket=markets", body="m1 f1=1") == (
        404,
        {"code": "not found", "message": 'organization name "nope" not found'},
    )
    assert api(env.url, "POST", f"/api/v2/write?org={ORG}&bucket=", body="m1 f1=1") == (
        404,
        {"code": "not found", "message": "bucket not found"},
    )
    assert write(env, "nope", "m1 f1=1") == (
        404,
        {"code": "not found", "message": 'bucket "nope" not found'},
    )
    assert write(env, "markets", "invalid") == (
        400,
        {"code": "invalid", "message": "unable to parse 'invalid': missing fields"},
    )
    reader, _ = env.token(("read", "buckets", None))
    assert write(env, "markets", "m1,t1=v1 f1=1", reader) == (
        403,
        {"code": "forbidden", "message": "insufficient permissions for write"},
    )
    assert write(env, "markets", "m1 f1=1", precision="h") == (
        400,
        {
            "code": "invalid",
            "message": "invalid precision; valid precision units are ns, us, ms, and s",
        },
    )
    assert api(env.url, "POST", "/api/v2/write?bucket=markets", body="m1 f1=1") == (
        400,
        {"code": "invalid", "message": "Please provide either orgID or org"},
    )
    assert (
        api(env.url, "POST", f"/api/v2/write?org={env.org_id}&bucket=markets", body="m1 f1=3")[0]
        == 204
    )
    # models/points.go ParsePointsWithPrecision: every bad line named, nothing stored.
    status, body = write(env, "markets", "good f=1 1\nbad\nm f=x")
    assert (status, body["message"]) == (
        400,
        "unable to parse 'bad': missing fields\nunable to parse 'm f=x': invalid number",
    )
    count = flux_query(
        env,
        'from(bucket: "markets") |> range(start: 0) |> filter(fn: (r) => r._measurement == "good")',
    )
    assert count == (200, "\r\n")


def test_client_writes_with_precisions_and_points(env: Env) -> None:
    """The client's write API (SYNCHRONOUS): line protocol, Point objects, each
    precision (models/points.go ValidPrecision: ns, us, ms, s)."""
    writer = env.client.write_api(write_options=SYNCHRONOUS)
    base = int(time.time()) - 60
    writer.write(
        "markets", record=f"market_data,symbol=A price=1 {base}", write_precision=WritePrecision.S
    )
    writer.write(
        "markets",
        record=f"market_data,symbol=B price=2 {base * 1000}",
        write_precision=WritePrecision.MS,
    )
    writer.write(
        "markets",
        record=f"market_data,symbol=C price=3 {base * 10**6}",
        write_precision=WritePrecision.US,
    )
    writer.write(
        "markets",
        record=Point("market_data")
        .tag("symbol", "D")
        .field("price", 4.5)
        .field("volume", 7)
        .time(base * NS),
    )
    tables = env.client.query_api().query('from(bucket: "markets") |> range(start: -1h)')
    got = {
        (r["symbol"], r.get_field()): (r.get_value(), r.get_time().timestamp())
        for t in tables
        for r in t.records
    }
    assert got == {
        ("A", "price"): (1.0, base),
        ("B", "price"): (2.0, base),
        ("C", "price"): (3.0, base),
        ("D", "price"): (4.5, base),
        ("D", "volume"): (7, base),
    }


def test_gzip_writes(env: Env) -> None:
    """http/points/batch_reader.go BatchReadCloser (Content-Encoding gzip or x-gzip),
    points_parser.go (a bad checksum or a later header "invalid", 400; other read
    errors "internal error", 500); a first header gzip.NewReader refuses is not an
    *errors.Error: HandleHTTPError hides it (500, "An internal error has occurred").
    The client sends gzip with enable_gzip=True."""
    gzipped = env.client_for(ADMIN, enable_gzip=True).write_api(write_options=SYNCHRONOUS)
    gzipped.write("markets", record="zipped,src=client v=1")
    query = urllib.parse.urlencode({"org": ORG, "bucket": "markets"})
    path = f"/api/v2/write?{query}"
    packed = gzip.compress(b"zipped,src=raw v=2")
    for encoding in ("gzip", "x-gzip"):
        assert (
            request(env.url, "POST", path, ADMIN, packed, {"Content-Encoding": encoding})[0] == 204
        )
    two_members = gzip.compress(b"zipped,src=two v=3\n") + gzip.compress(b"zipped,src=two v=4")
    assert (
        request(env.url, "POST", path, ADMIN, two_members, {"Content-Encoding": "gzip"})[0] == 204
    )
    _, body = flux_query(
        env,
        'from(bucket: "markets") |> range(start: 0) |> filter(fn: (r) => r._measurement == "zipped")',
    )
    assert {line.split(",")[-1] for line in body.splitlines()[1:] if line} == {
        "client",
        "raw",
        "two",
    }
    bad_crc = packed[:-8] + b"\x00\x00\x00\x00" + packed[-4:]
    cases = [
        (b"m v=1", 500, "internal error", "An internal error has occurred - check server logs"),
        (b"", 500, "internal error", "An internal error has occurred - check server logs"),
        (bad_crc, 400, "invalid", "unable to read data: gzip: invalid checksum"),
        (packed[:-4], 500, "internal error", "unable to read data: unexpected EOF"),
        (packed + b"garbage-here", 400, "invalid", "unable to read data: gzip: invalid header"),
    ]
    for body, status, code, message in cases:
        got, headers, payload = request(
            env.url, "POST", path, ADMIN, body, {"Content-Encoding": "gzip"}
        )
        assert (got, json.loads(payload)) == (status, {"code": code, "message": message}), body
        assert headers["x-platform-error-code"] == code


def test_partial_writes(env: Env) -> None:
    """ "partial write error is unprocessable" (write_handler_test.go), with the storage
    engine's reasons: a field type conflict within a shard group drops that point
    (tsdb/field_validator.go, tsdb/shard.go), while another shard group takes the new
    type; points beyond the retention are dropped (v1/coordinator/points_writer.go
    MapShards, SummariseDropped); the rest of the batch is stored."""
    now = time.time_ns()
    assert write(env, "markets", f"m,s=a v=1 {now - 60 * NS}") == (204, None)
    status, body = write(
        env, "markets", f'm,s=a v="text" {now - 30 * NS}\nm,s=b v=2 {now - 20 * NS}'
    )
    assert (status, body) == (
        422,
        {
            "code": "unprocessable entity",
            "message": 'failure writing points to database: partial write: field type conflict: input field "v" '
            'on measurement "m" is type string, already exists as type float dropped=1',
        },
    )
    old = now - 3 * 86400 * NS  # markets keeps 7 days, in 1-day shard groups: another group
    assert write(env, "markets", f'm,s=a v="text" {old}') == (204, None)
    _, csv_text = flux_query(
        env,
        'from(bucket: "markets") |> range(start: -1h) |> filter(fn: (r) => r._measurement == "m")',
    )
    assert sorted(row.split(",")[6] for row in csv_text.splitlines()[1:] if row) == ["1", "2"]
    expired = now - 8 * 86400 * NS
    status, body = write(env, "markets", f"m,s=a v=3 {expired}\nm,s=c v=4 {now}")
    assert status == 422
    message = body["message"]
    assert message.startswith(
        "failure writing points to database: partial write: dropped 1 points outside retention policy of "
        "duration 168h0m0s - oldest point m,s=a at " + rfc3339(expired)
    )
    assert "dropped because it violates a Retention Policy Lower Bound at" in message
    assert message.endswith(
        f"dropped=1 for database: {env.bucket_id} for retention policy: autogen"
    )


def test_the_feeders_writer(env: Env) -> None:
    """files/feeders/src/bbdash/common/influx.py InfluxWriter: what it sends and how
    it classifies the answers (2xx stored, 400/413/422 the data, the rest retry)."""
    from bbdash.common.influx import InfluxWriter, WriteOutcome

    feeder, _ = env.token(("write", "buckets", env.bucket_id))
    writer = InfluxWriter(env.url, ORG, "markets", feeder)
    try:
        now = time.time_ns()
        assert writer.write([f"market_data,symbol=A price=1 {now}"]).outcome is WriteOutcome.OK
        assert writer.write(["market_data,symbol=A price="]).outcome is WriteOutcome.REJECTED
        conflict = writer.write([f'market_data,symbol=A price="x" {now + 1}'])
        assert (conflict.outcome, conflict.status) == (WriteOutcome.REJECTED, 422)
        other = InfluxWriter(env.url, ORG, "news", feeder)
        assert other.write(["m v=1"]).status == 404
        other.close()
        wrong = InfluxWriter(env.url, ORG, "markets", "nope")
        assert (wrong.write(["m v=1"]).outcome, wrong.write(["m v=1"]).status) == (
            WriteOutcome.RETRY,
            401,
        )
        wrong.close()
    finally:
        writer.close()


# --------------------------------------------------------------------------- queries


def _seed(env: Env, start: int, bucket: str = "markets") -> None:
    lines = [
        f'market_data,exchange=x,symbol=BTC price=100.5,volume=3i,up=true,note="a b" {start + 1 * NS}',
        f'market_data,exchange=x,symbol=BTC price=101.25,volume=4i,up=false,note="c" {start + 2 * NS}',
        f"market_data,exchange=x,symbol=ETH price=10,volume=5i {start + 3 * NS}",
    ]
    assert write(env, bucket, "\n".join(lines)) == (204, None)


def test_query_api_reads_every_type(env: Env) -> None:
    """The client's query() parses the annotated CSV (default dialect: datatype,
    group, default): long for integers and count(), double, boolean, string,
    dateTime:RFC3339 (flux csv/result.go writeDatatypes); the group key columns are
    _start, _stop, _field, _measurement and the tags (storage/flux/reader.go)."""
    start = (time.time_ns() - 10 * MINUTE) // NS * NS
    _seed(env, start)
    tables = env.client.query_api().query('from(bucket: "markets") |> range(start: -1h)')
    values = {
        (r["symbol"], r.get_field(), r.get_time().timestamp()): r.get_value()
        for t in tables
        for r in t.records
    }
    assert values[("BTC", "price", (start + NS) / NS)] == 100.5
    assert values[("BTC", "volume", (start + NS) / NS)] == 3
    assert values[("BTC", "up", (start + 2 * NS) / NS)] is False
    assert values[("BTC", "note", (start + NS) / NS)] == "a b"
    by_field = {t.records[0].get_field() + t.records[0]["symbol"]: t for t in tables}
    assert [c.data_type for c in by_field["priceBTC"].columns] == [
        "string",
        "long",
        "dateTime:RFC3339",
        "dateTime:RFC3339",
        "dateTime:RFC3339",
        "double",
        "string",
        "string",
        "string",
        "string",
    ]
    assert by_field["volumeBTC"].columns[5].data_type == "long"
    assert by_field["upBTC"].columns[5].data_type == "boolean"
    assert [c.label for c in by_field["priceBTC"].get_group_key()] == [
        "_start",
        "_stop",
        "_field",
        "_measurement",
        "exchange",
        "symbol",
    ]
    counted = env.client.query_api().query(
        'from(bucket: "markets") |> range(start: -1h) |> filter(fn: (r) => r._field == "price") |> count()'
    )
    assert sorted((t.records[0]["symbol"], t.records[0].get_value()) for t in counted) == [
        ("BTC", 2),
        ("ETH", 1),
    ]
    assert counted[0].columns[4].label == "_value" and counted[0].columns[4].data_type == "long"
    stream = list(
        env.client.query_api().query_stream(
            'from(bucket: "markets") |> range(start: -1h) |> last()'
        )
    )
    assert len(stream) == 6  # one last row per series and field


def test_query_csv_is_the_flux_encoders(env: Env) -> None:
    """flux csv/result.go Encode + DelimitedMultiResultEncoder, on a pushed-down read:
    the annotations asked, in the order asked; a schema block when the columns or the
    group key change (a blank line before it); with #default the result column of
    data rows is empty; CRLF line ends and a CRLF after the result."""
    start = 1_700_000_000 * NS
    env.bucket("custom")  # infinite retention, as the role's "custom" bucket
    _seed(env, start, "custom")
    flux = (
        f'from(bucket: "custom") |> range(start: {rfc3339(start)}, stop: {rfc3339(start + MINUTE)})'
        ' |> filter(fn: (r) => r._field == "price" or r._field == "up")'
    )
    status, text = flux_query(env, flux, dialect={"annotations": ["group", "datatype", "default"]})
    assert status == 200
    window = "2023-11-14T22:13:20Z,2023-11-14T22:14:20Z"
    assert text == (
        "#group,false,false,true,true,false,false,true,true,true,true\r\n"
        "#datatype,string,long,dateTime:RFC3339,dateTime:RFC3339,dateTime:RFC3339,double,string,string,string,string\r\n"
        "#default,_result,,,,,,,,,\r\n"
        ",result,table,_start,_stop,_time,_value,_field,_measurement,exchange,symbol\r\n"
        f",,0,{window},2023-11-14T22:13:21Z,100.5,price,market_data,x,BTC\r\n"
        f",,0,{window},2023-11-14T22:13:22Z,101.25,price,market_data,x,BTC\r\n"
        "\r\n"
        "#group,false,false,true,true,false,false,true,true,true,true\r\n"
        "#datatype,string,long,dateTime:RFC3339,dateTime:RFC3339,dateTime:RFC3339,boolean,string,string,string,string\r\n"
        "#default,_result,,,,,,,,,\r\n"
        ",result,table,_start,_stop,_time,_value,_field,_measurement,exchange,symbol\r\n"
        f",,1,{window},2023-11-14T22:13:21Z,true,up,market_data,x,BTC\r\n"
        f",,1,{window},2023-11-14T22:13:22Z,false,up,market_data,x,BTC\r\n"
        "\r\n"
        "#group,false,false,true,true,false,false,true,true,true,true\r\n"
        "#datatype,string,long,dateTime:RFC3339,dateTime:RFC3339,dateTime:RFC3339,double,string,string,string,string\r\n"
        "#default,_result,,,,,,,,,\r\n"
        ",result,table,_start,_stop,_time,_value,_field,_measurement,exchange,symbol\r\n"
        f",,2,{window},2023-11-14T22:13:23Z,10,price,market_data,x,ETH\r\n"
        "\r\n"
    )
    # No annotations asked (the infra tests' query): header and rows, result named.
    status, plain = flux_query(env, flux + ' |> filter(fn: (r) => r.symbol == "ETH")')
    assert plain == (
        ",result,table,_start,_stop,_time,_value,_field,_measurement,exchange,symbol\r\n"
        f",_result,0,{window},2023-11-14T22:13:23Z,10,price,market_data,x,ETH\r\n\r\n"
    )
    assert float(plain.splitlines()[1].split(",")[6]) == 10.0
    # header: false, another delimiter, yield's name.
    status, custom = flux_query(
        env,
        flux + ' |> filter(fn: (r) => r.symbol == "ETH") |> yield(name: "mine")',
        dialect={"header": False, "delimiter": ";", "annotations": ["datatype"]},
    )
    assert custom == (
        "#datatype;string;long;dateTime:RFC3339;dateTime:RFC3339;dateTime:RFC3339;double;string;string;string;string\r\n"
        f";mine;0;{window.replace(',', ';')};2023-11-14T22:13:23Z;10;price;market_data;x;ETH\r\n\r\n"
    )
    raw = env.client.query_api().query_raw(
        flux, dialect=Dialect(annotations=["default", "datatype"])
    )
    assert raw.data.decode().startswith("#default,_result,,,,,,,,,\r\n#datatype,")
    rows = list(env.client.query_api().query_csv(flux))
    assert rows[0][0] == "#datatype" and rows[1][0] == "#group" and rows[2][0] == "#default"


def test_flux_csv_encoder_upstream_cases() -> None:
    """flux csv/result_test.go, rewritten against the double's encoder:
    TestResultEncoder "multiple tables" and TestMultiResultEncoder "single result",
    "empty result", "group key column change"."""
    double = load_double()
    t0 = 1_523_923_200 * NS  # 2018-04-17T00:00:00Z
    cols = [
        ("_start", "time"),
        ("_stop", "time"),
        ("_time", "time"),
        ("_measurement", "string"),
        ("host", "string"),
        ("_value", "float"),
    ]
    key = ("_start", "_stop", "_measurement", "host")

    def table(
        rows: list[list[Any]], key_cols: tuple[str, ...] = key, values: dict[str, Any] | None = None
    ) -> Any:
        return double.Table(key_cols, cols, rows, values or {})

    cpu = table(
        [
            [t0, t0 + 5 * MINUTE, t0, "cpu", "A", 42.0],
            [t0, t0 + 5 * MINUTE, t0 + NS, "cpu", "A", 43.0],
        ]
    )
    mem = table(
        [
            [t0 + 5 * MINUTE, t0 + 10 * MINUTE, t0 + 6 * MINUTE, "mem", "A", 52.0],
            [t0 + 5 * MINUTE, t0 + 10 * MINUTE, t0 + 7 * MINUTE + NS, "mem", "A", 53.0],
        ]
    )
    default = ["datatype", "group", "default"]
    head = (
        "#datatype,string,long,dateTime:RFC3339,dateTime:RFC3339,dateTime:RFC3339,string,string,double\r\n"
        "#group,false,false,true,true,false,true,true,false\r\n"
    )
    encoded = double.encode_csv(double.FluxResult("_result", [cpu, mem]), default)
    assert encoded == (
        head + "#default,_result,,,,,,,\r\n"
        ",result,table,_start,_stop,_time,_measurement,host,_value\r\n"
        ",,0,2018-04-17T00:00:00Z,2018-04-17T00:05:00Z,2018-04-17T00:00:00Z,cpu,A,42\r\n"
        ",,0,2018-04-17T00:00:00Z,2018-04-17T00:05:00Z,2018-04-17T00:00:01Z,cpu,A,43\r\n"
        ",,1,2018-04-17T00:05:00Z,2018-04-17T00:10:00Z,2018-04-17T00:06:00Z,mem,A,52\r\n"
        ",,1,2018-04-17T00:05:00Z,2018-04-17T00:10:00Z,2018-04-17T00:07:01Z,mem,A,53\r\n"
        "\r\n"
    )
    empty = table(
        [], values={"_start": t0, "_stop": t0 + 5 * MINUTE, "_measurement": "cpu", "host": "A"}
    )
    assert double.encode_csv(double.FluxResult("_result", [empty]), default) == (
        head + "#default,_result,0,2018-04-17T00:00:00Z,2018-04-17T00:05:00Z,,cpu,A,\r\n"
        ",result,table,_start,_stop,_time,_measurement,host,_value\r\n\r\n"
    )
    narrower = table(
        [[t0, t0 + 5 * MINUTE, t0, "cpu", "B", 44.0]], key_cols=("_start", "_stop", "_measurement")
    )
    changed = double.encode_csv(double.FluxResult("_result", [cpu, narrower]), default)
    assert (
        "\r\n\r\n#datatype," in changed
        and "#group,false,false,true,true,false,true,false,false\r\n" in changed
    )
    no_header = double.encode_csv(double.FluxResult("_result", [cpu]), default, header=False)
    assert ",result,table," not in no_header


def test_query_answers_are_gzipped_when_asked(env: Env) -> None:
    """http/query_handler.go wraps the query in NYTimes/gziphandler v1.0.1
    (GzipHandler: Vary: Accept-Encoding always; gzip when the client accepts it
    and the answer reaches DefaultMinSize, 1400 bytes); the client asks with
    enable_gzip=True."""
    now = time.time_ns()
    assert write(
        env, "markets", "\n".join(f"big,n={i} v={i} {now - i * NS}" for i in range(50))
    ) == (204, None)
    body = json.dumps(
        {
            "query": 'from(bucket: "markets") |> range(start: -1h) |> filter(fn: (r) => r._measurement == "big")'
        }
    )
    headers = {"Content-Type": "application/json", "Accept-Encoding": "gzip"}
    status, got, payload = request(
        env.url, "POST", f"/api/v2/query?org={ORG}", ADMIN, body, headers
    )
    assert status == 200 and got["content-encoding"] == "gzip" and got["vary"] == "Accept-Encoding"
    assert got["content-type"] == "text/csv; charset=utf-8"
    assert gzip.decompress(payload).decode().count("\r\n,_result,") >= 1
    small = json.dumps(
        {"query": 'from(bucket: "markets") |> range(start: -1h) |> filter(fn: (r) => r.n == "1")'}
    )
    status, got, payload = request(
        env.url, "POST", f"/api/v2/query?org={ORG}", ADMIN, small, headers
    )
    assert status == 200 and "content-encoding" not in got and payload.startswith(b",result,table")
    status, got, payload = request(
        env.url, "POST", f"/api/v2/query?org={ORG}", ADMIN, body, {"Accept-Encoding": "gzip;q=0"}
    )
    assert status == 200 and "content-encoding" not in got
    zipped = env.client_for(ADMIN, enable_gzip=True)
    tables = zipped.query_api().query(
        'from(bucket: "markets") |> range(start: -1h) |> filter(fn: (r) => r._measurement == "big")'
    )
    assert len(tables) == 50


def test_query_request_validation(env: Env) -> None:
    """http/query_test.go TestQueryRequest_Validate ("requires query, spec, or ast",
    "requires flux type", "comment must be a single character", "delimiter must be
    a single character", "unknown annotations", "unknown date time format"),
    Test_decodeQueryRequest ("error decoding json", "valid query request with
    explicit content-type": application/vnd.flux), all wrapped by handleQuery as
    "failed to decode request body" (400)."""
    ok = 'from(bucket: "markets") |> range(start: -1h)'
    cases = [
        ({}, "request body requires either query or AST"),
        ({"query": ok, "type": "influxql"}, "unknown query type: influxql"),
        (
            {"query": ok, "dialect": {"commentPrefix": "##"}},
            "invalid dialect comment prefix: must be length 0 or 1",
        ),
        (
            {"query": ok, "dialect": {"delimiter": ";;"}},
            "invalid dialect delimeter: must be length 1",
        ),
        (
            {"query": ok, "dialect": {"annotations": ["null"]}},
            "unknown dialect annotation type: null",
        ),
        (
            {"query": ok, "dialect": {"dateTimeFormat": "RFC1"}},
            "unknown dialect date time format: RFC1",
        ),
    ]
    for body, message in cases:
        assert api(env.url, "POST", f"/api/v2/query?org={ORG}", body=body) == (
            400,
            {"code": "invalid", "message": f"failed to decode request body: {message}"},
        )
    status, body = api(env.url, "POST", f"/api/v2/query?org={ORG}", body="not json")
    assert status == 400 and body["message"].startswith(
        "failed to decode request body: failed parsing request body as JSON; if sending a raw Flux script, "
        "set 'Content-Type: application/vnd.flux' in your request headers: "
    )
    assert api(
        env.url, "POST", f"/api/v2/query?org={ORG}", body=ok, Content_Type="application/vnd.flux"
    ) == (
        200,
        "\r\n",
    )
    assert api(env.url, "POST", "/api/v2/query", body={"query": ok}) == (
        400,
        {
            "code": "invalid",
            "message": "failed to decode request body: Please provide either orgID or org",
        },
    )
    assert api(env.url, "POST", "/api/v2/query?org=nope", body={"query": ok})[1]["message"] == (
        'failed to decode request body: organization name "nope" not found'
    )
    status, _, payload = request(
        env.url,
        "POST",
        f"/api/v2/query?org={ORG}",
        ADMIN,
        json.dumps({"query": ok}),
        {"Content-Type": "application/json", "Prefer": "return-no-content"},
    )
    assert (status, payload) == (204, b"")


def test_query_buckets_and_permissions(env: Env) -> None:
    """query/stdlib/influxdata/influxdb/provider.go lookupBucketID ("could not find
    bucket", NotFound, through the authorized bucket service: a bucket the token may
    not read is not found), from.go (a read needs range())."""
    flux = 'from(bucket: "markets") |> range(start: -1h)'
    writer, _ = env.token(("write", "buckets", env.bucket_id))
    for token, bucket in ((ADMIN, "nope"), (writer, "markets")):
        status, body = flux_query(env, flux.replace("markets", bucket), token)
        assert (status, body["code"]) == (404, "not found")
        assert body["message"].endswith(f'could not find bucket "{bucket}"')
    status, body = flux_query(env, 'from(bucket: "markets")')
    assert (
        status == 400
        and "cannot submit unbounded read to \"markets\"; try bounding 'from' with a call to 'range'"
        in body["message"]
    )
    status, body = flux_query(
        env, flux + ' |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")'
    )
    assert (status, body["code"]) == (400, "invalid") and body["message"].startswith(
        "test double: unsupported Flux"
    )


def test_aggregates_and_windows(env: Env) -> None:
    """The pushed-down aggregates (query/stdlib/influxdata/influxdb/rules.go
    PushDownBareAggregateRule, PushDownAggregateWindowRule; storage/flux/reader.go):
    count/sum/mean have no _time, selectors keep the row's; aggregateWindow stamps
    each window's (range-clipped) stop as _time, windows aligned on the epoch."""
    start = 1_700_000_100 * NS  # 22:15:00Z, on a 5-minute boundary
    lines = [
        f"p,s=a v={v} {start + m * MINUTE}"
        for m, v in ((0, 1.0), (1, 3.0), (4, 5.0), (6, 10.0), (9, 20.0))
    ]
    env.bucket("custom")
    assert write(env, "custom", "\n".join(lines)) == (204, None)
    window = f"range(start: {rfc3339(start - 2 * MINUTE)}, stop: {rfc3339(start + 10 * MINUTE)})"
    base = f'from(bucket: "custom") |> {window} |> filter(fn: (r) => r._measurement == "p")'

    def rows(flux: str) -> list[list[str]]:
        status, text = flux_query(env, flux)
        assert status == 200, text
        return [line.split(",")[3:] for line in text.splitlines()[1:] if line]

    clip = [rfc3339(start - 2 * MINUTE), rfc3339(start + 10 * MINUTE)]
    assert rows(base + " |> count()") == [[*clip, "5", "v", "p", "a"]]
    assert rows(base + " |> sum()") == [[*clip, "39", "v", "p", "a"]]
    assert rows(base + " |> mean()") == [[*clip, "7.8", "v", "p", "a"]]
    assert rows(base + " |> max()") == [[*clip, rfc3339(start + 9 * MINUTE), "20", "v", "p", "a"]]
    assert rows(base + " |> first()") == [[*clip, rfc3339(start), "1", "v", "p", "a"]]
    means = rows(base + " |> aggregateWindow(every: 5m, fn: mean, createEmpty: false)")
    assert [r[2:4] for r in means] == [
        [rfc3339(start + 5 * MINUTE), "3"],
        [rfc3339(start + 10 * MINUTE), "15"],
    ]
    counts = rows(base + " |> aggregateWindow(every: 5m, fn: count)")
    assert [r[2:4] for r in counts] == [
        [rfc3339(start), "0"],
        [rfc3339(start + 5 * MINUTE), "3"],
        [rfc3339(start + 10 * MINUTE), "2"],
    ]
    assert rows(base + " |> limit(n: 2, offset: 1)")[0][3] == "3"


# --------------------------------------------------------------------------- delete


def test_delete_api(env: Env) -> None:
    """http/delete_handler.go: start/stop in RFC3339Nano, a predicate of tag rules
    joined by AND (predicate/parser.go), org and bucket from the query, write
    permission on the bucket ("insufficient permissions to delete", 403), 204; the
    storage engine deletes start <= time <= stop of the matching series."""
    t0 = 1_700_000_000 * NS
    lines = [
        f"market_data,symbol={s},exchange=x price={i} {t0 + i * NS}"
        for i, s in enumerate(("A", "A", "B", "B"))
    ]
    lines.append(f"other,symbol=A v=1 {t0}")
    custom = env.bucket("custom")
    assert write(env, "custom", "\n".join(lines)) == (204, None)
    delete = env.client.delete_api()
    start, stop = (
        dt.datetime.fromtimestamp(t0 / NS, dt.UTC),
        dt.datetime.fromtimestamp(t0 / NS + 1, dt.UTC),
    )
    delete.delete(
        start, stop, '_measurement="market_data" AND symbol="A"', bucket="custom", org=ORG
    )
    flux = f'from(bucket: "custom") |> range(start: {rfc3339(t0)}, stop: {rfc3339(t0 + MINUTE)})'
    _, text = flux_query(env, flux)
    kept = sorted(
        (r.split(",")[7], r.split(",")[-1], r.split(",")[5])
        for r in text.splitlines()
        if r and not r.startswith(",result,")
    )
    assert kept == [
        ("price", "B", rfc3339(t0 + 2 * NS)),
        ("price", "B", rfc3339(t0 + 3 * NS)),
        ("v", "A", rfc3339(t0)),
    ]
    delete.delete("1970-01-01T00:00:00Z", "2100-01-01T00:00:00Z", "", bucket=custom, org=ORG)
    assert flux_query(env, flux) == (200, "\r\n")
    reader, _ = env.token(("read", "buckets", None))
    body = {"start": "1970-01-01T00:00:00Z", "stop": "2100-01-01T00:00:00Z"}
    assert api(env.url, "POST", f"/api/v2/delete?org={ORG}&bucket=markets", reader, body) == (
        403,
        {"code": "forbidden", "message": "insufficient permissions to delete"},
    )
    errors = [
        (
            "?org=bloomberg&bucket=markets",
            {"stop": body["stop"]},
            400,
            "error decoding json body: invalid RFC3339Nano for field start, please format your time with RFC3339Nano "
            "format, example: 2009-01-02T23:00:00Z",
        ),
        (
            "?org=bloomberg&bucket=markets",
            {**body, "predicate": 'a="1" OR b="2"'},
            400,
            "error decoding json body: the logical operator OR is not supported yet at position 6",
        ),
        (
            "?org=bloomberg&bucket=markets",
            {**body, "predicate": '_field="price"'},
            501,
            "delete by field is not supported",
        ),
        ("?org=bloomberg", body, 400, "Please provide either bucketID or bucket"),
        ("?org=bloomberg&bucket=nope", body, 404, 'bucket "nope" not found'),
        ("?bucket=markets", body, 400, "Please provide either orgID or org"),
    ]
    for query, payload, status, message in errors:
        got_status, got = api(env.url, "POST", f"/api/v2/delete{query}", body=payload)
        assert (got_status, got["message"]) == (status, message)


@pytest.mark.parametrize(
    ("predicate", "message"),
    [
        ("abc=opq", None),
        ('abc=opq and gender="male"', None),
        ('               abc="opq" AND gender="male" AND temp=1123', None),
        (
            ' abc="opq" Or gender="male" OR temp=1123',
            "the logical operator OR is not supported yet at position 11",
        ),
        (' (t1="v1" and t2="v2") and (t3=v3 and (t4=v4 and t5=v5 and t6=v6))', None),
        (' (t1="v1" and t2="v2") and (', "extra ( seen"),
        (' (t1="v1" and t2="v2"))', "extra ) seen"),
        ('           abc   =         "opq"', None),
        ("abc=0x1231", None),
        ("abc=2d", None),
        ("abc=-5i", None),
        ("abc= -1221", None),
        (' abc != "opq"', None),
        ("abc=true", None),
        ("abc!~/^payments\\./", 'operator: "!~" at position: 3 is not supported yet'),
        ("abc=~/^payments\\./", 'operator: "=~" at position: 3 is not supported yet'),
        ("abc>1000", 'invalid operator ">" at position: 3'),
        ("abc='single'", 'bad tag value: "single", at position 4'),
    ],
)
def test_delete_predicates(env: Env, predicate: str, message: str | None) -> None:
    """predicate/parser_test.go TestParseNode and TestParseTagRule, through the API."""
    body = {"start": "1970-01-01T00:00:00Z", "stop": "2100-01-01T00:00:00Z", "predicate": predicate}
    status, answer = api(env.url, "POST", f"/api/v2/delete?org={ORG}&bucket=markets", body=body)
    if message is None:
        assert status == 204, answer
    else:
        assert (status, answer) == (
            400,
            {"code": "invalid", "message": f"error decoding json body: {message}"},
        )


# --------------------------------------------------------------------------- tasks


def render_task(task: dict[str, Any], org: str = ORG) -> str:
    """The task's Flux as roles/influxdb/tasks/flux_tasks.yml renders it
    (bbdash.downsample.flux, through the role's filter influxdb_task_flux)."""
    return task_flux(task, org)


DEFAULTS = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
# The role's task as a `mean` task: the double's Flux subset has no union() or
# user-defined functions, so it cannot run the candles the role ships (their Flux
# is type-checked by tests/static/test_data_influxdb_role.py instead); these
# tests are about the double's task API and executor.
# The seed's 10-minute lookback keeps the fixtures' "too old" point out of range.
FIVE_MIN = dict(
    next(t for t in DEFAULTS["influxdb_downsample_tasks"] if t["name"] == "downsample_5min"),
    fn="mean",
    lookback="10m",
)


def test_task_crud_like_the_role(env: Env) -> None:
    """roles/influxdb/tasks/flux_tasks.yml through the API: POST /api/v2/tasks,
    GET /api/v2/tasks?orgID=&limit=500, PATCH (flux, status, description), DELETE;
    http/task_service.go newTaskResponse, task/options/options.go (name, every,
    offset parsed from the Flux)."""
    flux = render_task(FIVE_MIN)
    tasks = env.client.tasks_api()
    created = tasks.create_task(
        task_create_request=TaskCreateRequest(
            flux=flux, org_id=env.org_id, status="active", description="seed"
        )
    )
    assert (created.name, created.every, created.offset, created.status) == (
        "downsample_5min",
        "5m",
        "30s",
        "active",
    )
    assert (
        created.owner_id
        and created.org == ORG
        and created.links.runs == f"/api/v2/tasks/{created.id}/runs"
    )
    _, listed = api(env.url, "GET", f"/api/v2/tasks?orgID={env.org_id}&limit=500")
    assert [t["id"] for t in listed["tasks"]] == [created.id]
    assert listed["links"]["self"] == f"/api/v2/tasks?limit=500&orgID={env.org_id}"
    assert tasks.find_tasks(name="downsample_5min")[0].id == created.id
    status, patched = api(
        env.url,
        "PATCH",
        f"/api/v2/tasks/{created.id}",
        body={
            "flux": flux.replace("every: 5m", "every: 10m"),
            "status": "inactive",
            "description": "changed",
        },
    )
    assert status == 200 and (patched["every"], patched["status"], patched["description"]) == (
        "10m",
        "inactive",
        "changed",
    )
    tasks.delete_task(created.id)
    assert (
        api(env.url, "DELETE", f"/api/v2/tasks/{created.id}")[0] == 404
    )  # the role accepts [204, 404]


def test_task_not_found_statuses(env: Env) -> None:
    """http/task_service_test.go TestTaskHandler_NotFoundStatus: get, update, delete,
    logs, run logs, runs, force run, get run of a missing task (or run) are 404."""
    missing = "0000000000cccccd"
    task = env.client.tasks_api().create_task(
        task_create_request=TaskCreateRequest(
            flux=render_task(FIVE_MIN), org_id=env.org_id, status="active"
        )
    )
    run_missing = "0000000000aaaaab"
    calls = [
        ("GET", f"/api/v2/tasks/{missing}", None),
        ("PATCH", f"/api/v2/tasks/{missing}", {"status": "active"}),
        ("DELETE", f"/api/v2/tasks/{missing}", None),
        ("GET", f"/api/v2/tasks/{missing}/logs", None),
        ("GET", f"/api/v2/tasks/{missing}/runs", None),
        ("POST", f"/api/v2/tasks/{missing}/runs", {}),
        ("GET", f"/api/v2/tasks/{missing}/runs/{run_missing}", None),
        ("GET", f"/api/v2/tasks/{missing}/runs/{run_missing}/logs", None),
        ("GET", f"/api/v2/tasks/{task.id}/runs/{run_missing}", None),
        ("GET", f"/api/v2/tasks/{task.id}/runs/{run_missing}/logs", None),
    ]
    for method, path, body in calls:
        status, answer = api(env.url, method, path, body=body)
        assert (status, answer["code"]) == (404, "not found"), (method, path, answer)
    assert (
        api(env.url, "GET", f"/api/v2/tasks/{missing}")[1]["message"]
        == "failed to find task: task not found"
    )
    assert api(env.url, "GET", f"/api/v2/tasks/{task.id}/runs")[1]["runs"] == []


@pytest.mark.parametrize(
    ("flux", "message"),
    [
        ('from(bucket: "x") |> range(start: -1h)', "invalid options: no task options defined"),
        (
            'option task = {every: 1h}\nfrom(bucket: "x")',
            "invalid options: missing required option: name",
        ),
        (
            'option task = {name: "a"}\nfrom(bucket: "x")',
            "invalid options: missing required option: cron or every",
        ),
        (
            'option task = {name: "a", every: 1h, cron: "* * * * *"}\nfrom(bucket: "x")',
            "invalid options: cannot use both cron and every in task options",
        ),
        (
            'option task = {name: "a", every: 10ms}\nfrom(bucket: "x")',
            "invalid options: every option must be at least 1 second",
        ),
    ],
)
def test_task_options_are_checked(env: Env, flux: str, message: str) -> None:
    """task/options/options.go FromScriptAST and Validate, options_errors.go,
    wrapped by taskmodel.ErrTaskOptionParse (400)."""
    assert api(env.url, "POST", "/api/v2/tasks", body={"orgID": env.org_id, "flux": flux}) == (
        400,
        {"code": "invalid", "message": message},
    )


def test_task_lists_page_with_after(env: Env) -> None:
    """TestTaskHandler_handleGetTasks ("get tasks by after and limit": links.next
    carries after=<last ID>; "get tasks by org name bad"); decodeGetTasksRequest
    (limit 1..500)."""
    flux = render_task(FIVE_MIN)
    ids = sorted(
        env.client.tasks_api()
        .create_task(
            task_create_request=TaskCreateRequest(
                flux=flux.replace("downsample_5min", f"t{i}"), org_id=env.org_id, status="active"
            )
        )
        .id
        for i in range(3)
    )
    _, page = api(env.url, "GET", f"/api/v2/tasks?after={ids[0]}&limit=1")
    assert [t["id"] for t in page["tasks"]] == [ids[1]]
    assert page["links"] == {
        "self": f"/api/v2/tasks?after={ids[0]}&limit=1",
        "next": f"/api/v2/tasks?after={ids[1]}&limit=1",
    }
    assert sorted(t.id for t in env.client.tasks_api().find_tasks_iter(limit=1)) == ids
    assert api(env.url, "GET", "/api/v2/tasks?org=non-existent-org") == (
        400,
        {
            "code": "invalid",
            "message": "failed to decode request: org non-existent-org not found or unauthorized: "
            "org not found or unauthorized",
        },
    )
    assert api(env.url, "GET", "/api/v2/tasks?limit=501")[1]["message"] == (
        "failed to decode request: limit must be between 1 and 500"
    )


def _downsample_setup(env: Env) -> tuple[Any, int]:
    env.bucket("markets_5min", 30 * 86400)
    task = env.client.tasks_api().create_task(
        task_create_request=TaskCreateRequest(
            flux=render_task(FIVE_MIN), org_id=env.org_id, status="active"
        )
    )
    five = 5 * MINUTE
    scheduled = (
        time.time_ns() // five
    ) * five  # a run at a 5-minute mark, as `every: 5m` schedules it
    lines = [
        f"market_data,exchange=x,symbol=BTC,asset_type=crypto price={p} {scheduled - m * MINUTE}"
        for m, p in ((9, 100.0), (7, 110.0), (4, 200.0), (1, 220.0))
    ]
    lines.append(
        f"market_data,exchange=x,symbol=BTC,asset_type=crypto price=999 {scheduled - 11 * MINUTE}"
    )
    lines.append(f"other,exchange=x price=5 {scheduled - 2 * MINUTE}")
    assert write(env, "markets", "\n".join(lines)) == (204, None)
    return task, scheduled


def test_manual_run_executes_the_downsampling_flux(env: Env) -> None:
    """POST /api/v2/tasks/{id}/runs (http/task_service.go handleForceRun, kv/task.go
    forceRun: 201, status "scheduled", scheduledFor in whole seconds); the executor
    (task/backend/executor/executor.go) runs the task's Flux with now() = scheduledFor
    and finishes the run (success, logs "Started task from script", "Completed(success)")
    and the task (kv/task.go finishRun: latestCompleted, lastRunStatus). The Flux is
    bbdash.downsample.flux (FIVE_MIN): the last 10 minutes of markets,
    5-minute means stamped at each window's stop, written to markets_5min; a second
    run rewrites the same points."""
    task, scheduled = _downsample_setup(env)
    tasks = env.client.tasks_api()
    when = dt.datetime.fromtimestamp(scheduled / NS, dt.UTC)
    run = tasks.run_manually(task.id, scheduled_for=when)
    assert run.status == "scheduled" and run.scheduled_for == when and run.requested_at is not None
    runs = tasks.get_runs(task.id)
    assert [(r.id, r.status) for r in runs] == [(run.id, "success")]
    finished = tasks.get_run(task.id, run.id)
    assert finished.started_at and finished.finished_at
    messages = [entry.message for entry in finished.log]
    assert messages[0].startswith(
        'Started task from script: "option task = {name: \\"downsample_5min\\"'
    )
    assert messages[-1] == "Completed(success)"
    assert [e.message for e in tasks.get_run_logs(task.id, run.id)] == messages
    again = (
        tasks.get_task(task.id) if hasattr(tasks, "get_task") else tasks.find_task_by_id(task.id)
    )
    assert again.last_run_status == "success" and again.latest_completed == when
    expected = {scheduled - 5 * MINUTE: 105.0, scheduled: 210.0}

    def downsampled() -> dict[int, float]:
        tables = env.client.query_api().query(
            'from(bucket: "markets_5min") |> range(start: -1h, stop: 1h)'
        )
        out = {}
        for table in tables:
            for record in table.records:
                assert (record.get_measurement(), record["symbol"], record["asset_type"]) == (
                    "market_data",
                    "BTC",
                    "crypto",
                )
                out[int(record.get_time().timestamp()) * NS] = record.get_value()
        return out

    assert downsampled() == expected
    tasks.run_manually(task.id, scheduled_for=when)
    assert downsampled() == expected and len(tasks.get_runs(task.id)) == 2


def test_manual_runs_of_fields_and_failures(env: Env) -> None:
    """The template's `fields` filter (`r._field == "a" or r._field == "b"`); a run
    that fails (a destination bucket that does not exist: provider.go "could not
    find bucket") is "failed", logs the error after "Completed(failed)", and
    kv/task.go finishRun keeps the second-to-last log line as lastRunError; an
    inactive task cannot be forced (authorizer/task.go ErrInactiveTask, 400)."""
    env.bucket("markets_5min", 30 * 86400)
    spec = {**FIVE_MIN, "fields": ["price"], "destination": "nowhere"}
    flux = render_task(spec)
    assert 'filter(fn: (r) => r._field == "price")' in flux
    task = env.client.tasks_api().create_task(
        task_create_request=TaskCreateRequest(flux=flux, org_id=env.org_id, status="active")
    )
    status, run = api(env.url, "POST", f"/api/v2/tasks/{task.id}/runs", body={})
    assert (status, run["status"]) == (201, "scheduled")
    _, finished = api(env.url, "GET", f"/api/v2/tasks/{task.id}/runs/{run['id']}")
    assert finished["status"] == "failed"
    assert [e["message"] for e in finished["log"]][1:] == [
        "Completed(failed)",
        'could not execute task run: could not find bucket "nowhere"',
    ]
    _, stored = api(env.url, "GET", f"/api/v2/tasks/{task.id}")
    assert (stored["lastRunStatus"], stored["lastRunError"]) == ("failed", "Completed(failed)")
    assert api(env.url, "PATCH", f"/api/v2/tasks/{task.id}", body={"status": "inactive"})[0] == 200
    assert api(env.url, "POST", f"/api/v2/tasks/{task.id}/runs", body={}) == (
        400,
        {"code": "invalid", "message": "failed to force run: inactive task"},
    )
    reader, _ = env.token(("read", "tasks", None))
    assert api(env.url, "GET", f"/api/v2/tasks/{task.id}", reader)[0] == 200
    assert api(env.url, "DELETE", f"/api/v2/tasks/{task.id}", reader) == (
        500,
        {"code": "internal error", "message": "failed to delete task: unauthorized"},
    )


def test_double_only_task_trigger(env: Env) -> None:
    """Test-only (not InfluxDB): POST /__double/tasks/{id}/run runs a task's Flux once,
    whatever its status, with now() = the given time, and records the run."""
    task, scheduled = _downsample_setup(env)
    api(env.url, "PATCH", f"/api/v2/tasks/{task.id}", body={"status": "inactive"})
    status, run = api(
        env.url, "POST", f"/__double/tasks/{task.id}/run", None, {"now": rfc3339(scheduled)}
    )
    assert (status, run["status"]) == (201, "success")
    _, text = flux_query(env, 'from(bucket: "markets_5min") |> range(start: -1h, stop: 1h)')
    assert sorted(float(r.split(",")[6]) for r in text.splitlines()[1:] if r) == [105.0, 210.0]


# --------------------------------------------------------------------------- the role's calls as sent


def test_the_roles_and_infra_calls_as_sent(env: Env) -> None:
    """The exact requests of roles/influxdb/tasks/*.yml and tests/infra (uri and curl,
    no client library): the org lookup, the bucket and task lists, the token probes
    (an empty write with Content-Type text/plain; a bucket lookup by name), a curl
    write (form content type), the backup test's query parsed by column."""
    _, orgs = api(env.url, "GET", f"/api/v2/orgs?org={ORG}")
    org_id = orgs["orgs"][0]["id"]
    assert api(env.url, "GET", f"/api/v2/buckets?orgID={org_id}&limit=100")[0] == 200
    assert api(env.url, "GET", f"/api/v2/tasks?orgID={org_id}&limit=500")[0] == 200
    assert api(env.url, "GET", f"/api/v2/authorizations?orgID={org_id}")[0] == 200
    feeder, _ = env.token(("write", "buckets", env.bucket_id))
    grafana, _ = env.token(("read", "buckets", None))
    probe = f"/api/v2/write?org={ORG}&bucket=markets"
    plain = {"Content-Type": "text/plain; charset=utf-8"}
    assert request(env.url, "POST", probe, feeder, b"", plain)[0] == 204
    assert request(env.url, "POST", probe, grafana, b"", plain)[0] == 403
    status, lookup = api(env.url, "GET", f"/api/v2/buckets?orgID={org_id}&name=markets", grafana)
    assert status == 200 and [b["name"] for b in lookup["buckets"]] == ["markets"]
    assert (
        api(env.url, "GET", f"/api/v2/buckets?orgID={org_id}&name=markets", feeder)[1]["buckets"]
        == []
    )
    marker = f"m{time.time_ns()}"
    line = f"market_data,exchange=test,symbol={marker},asset_type=crypto price=101"
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    assert request(env.url, "POST", probe, feeder, line, form)[0] == 204
    query = {
        "query": f'from(bucket: "markets") |> range(start: -1h) |> filter(fn: (r) => r.symbol == "{marker}")'
    }
    status, text = api(env.url, "POST", f"/api/v2/query?org={ORG}", grafana, query)
    assert status == 200 and [float(r.split(",")[6]) for r in text.splitlines()[1:] if r] == [101.0]


# --------------------------------------------------------------------------- persistence


def test_state_survives_restarts_and_kills(server: Server) -> None:
    """Not InfluxDB's format: the double keeps its metadata at once and its points in
    an append-only log flushed every two seconds (README); a restart (SIGTERM) keeps
    everything, a kill (SIGKILL) loses at most the last two seconds."""
    onboard(server.url)
    now = time.time_ns()
    assert (
        api(server.url, "POST", f"/api/v2/write?org={ORG}&bucket=markets", body=f"m v=1 {now}")[0]
        == 204
    )
    time.sleep(2.5)
    server.stop(signal.SIGKILL)
    server.start()
    assert api(server.url, "GET", "/api/v2/setup", None)[1] == {"allowed": False}
    assert (
        api(server.url, "POST", f"/api/v2/write?org={ORG}&bucket=markets", body=f"m v=2 {now + 1}")[
            0
        ]
        == 204
    )
    server.stop(signal.SIGTERM)
    server.start()
    _, text = api(
        server.url,
        "POST",
        f"/api/v2/query?org={ORG}",
        body={"query": 'from(bucket: "markets") |> range(start: -1h)'},
    )
    assert sorted(r.split(",")[6] for r in text.splitlines()[1:] if r) == ["1", "2"]
