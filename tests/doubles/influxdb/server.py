#!/usr/bin/env python3
"""InfluxDB 2 TEST DOUBLE: a small stdlib HTTP server imitating parts of the InfluxDB 2 API.

This is NOT InfluxDB. It exists because the real server cannot be installed
here. It imitates what the feeders' tests, their benchmark and the `influxdb`
and `backup` roles use, with the real server's status codes and messages
where they were checked (see README.md for the list and the sources):

- Writes: `POST /api/v2/write?org=&bucket=&precision=` parses line protocol
  (escapes, quoted strings, i/u integers, booleans) and stores points with
  InfluxDB's semantics: one point per series (measurement + tag set) and
  timestamp, a later write of the same key merges its fields (last write
  wins). One malformed line rejects the batch (400); a field type conflict
  gives 422; an empty body 204 with nothing written (InfluxDB 2.1 and later:
  the handler parses zero points and writes them); a token without write
  permission on the bucket 403 "insufficient permissions for write" (checked
  before the body is read, as the real handler does).
- Onboarding (`/api/v2/setup`), organisations, buckets with retention rules
  (the real server's validation: no negative values, one rule, a retention of
  at least one hour, a shard-group duration not longer than the retention,
  default shard-group durations), tasks (Flux text with `option task`),
  authorizations with permissions enforced on every endpoint. Tokens are
  stored hashed, as InfluxDB 2.9 does: a token is shown once, when created.
- A minimal `/api/v2/query` (from / range / filter / count / last / limit)
  answering CSV, enough to read back what a test wrote.
- `/health`, `/ping`, `/metrics`.
- Outage simulation for the feeders' tests: mode `up`, `fail` (503), `hang`;
  `stop()` closes the socket, `start()` reopens it.

Two ways to run it:

- Embedded or from the command line with `--token T`: already set up, org
  `bloomberg`, T is the operator token, any bucket name is accepted unless
  `--bucket` lists them. This is what the feeders' tests and bench use.
- As the `bbdash-testdouble/influxdb` container (no `--token`): not set up
  until `POST /api/v2/setup`, listening on INFLUXD_HTTP_BIND_ADDRESS (default
  `:8086`), state kept under the directory of INFLUXD_BOLT_PATH (default
  /var/lib/influxdb2) so it survives a restart, and an `influx` command
  installed in the container that implements `ping`, `backup` and
  `restore --full` against this double (a JSON file, not InfluxDB's format).

Test-only endpoints, under `/__double/`: `GET points?bucket=`, `GET stats`,
`POST mode` (body `up|fail|hang`), `POST reset`, and `GET backup` /
`POST restore` (operator token) used by the double's `influx` command.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import csv
import hashlib
import io
import json
import math
import os
import re
import secrets
import signal
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

VERSION = "2.9.1-testdouble"
BANNER = "InfluxDB 2 TEST DOUBLE (not InfluxDB)"
_PRECISION_NS = {"ns": 1, "us": 1_000, "ms": 1_000_000, "s": 1_000_000_000}
_DURATION_NS = {
    "ns": 1,
    "us": 1_000,
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
    "d": 86_400_000_000_000,
    "w": 604_800_000_000_000,
}
HOUR_S = 3600
DAY_S = 86400
# The resource types an operator token covers (a subset of InfluxDB's list).
RESOURCE_TYPES = (
    "authorizations",
    "buckets",
    "dashboards",
    "orgs",
    "sources",
    "tasks",
    "telegrafs",
    "users",
    "variables",
    "scrapers",
    "secrets",
    "labels",
    "views",
    "documents",
    "notificationRules",
    "notificationEndpoints",
    "checks",
    "dbrp",
    "notebooks",
    "annotations",
    "remotes",
    "replications",
)
STATE_FILE = "bbdash-testdouble-state.json"
BACKUP_FILE = "bbdash-testdouble-backup.json"

SeriesKey = tuple[str, str, tuple[tuple[str, str], ...]]  # bucket, measurement, sorted tags


class LineProtocolError(ValueError):
    """A line that InfluxDB would refuse to parse."""


class ApiError(Exception):
    """An error answered as InfluxDB does: a status and a JSON {code, message}."""

    CODES: ClassVar[dict[int, str]] = {
        400: "invalid",
        401: "unauthorized",
        403: "forbidden",
        404: "not found",
        405: "method not allowed",
        413: "request too large",
        422: "unprocessable entity",
        500: "internal error",
    }

    def __init__(self, status: int, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code or self.CODES.get(status, "internal error")
        self.message = message


@dataclass(frozen=True)
class ParsedLine:
    """One parsed line of line protocol."""

    measurement: str
    tags: tuple[tuple[str, str], ...]
    fields: dict[str, Any]
    timestamp: int | None


def _split_unescaped(text: str, sep: str, *, respect_quotes: bool = False) -> list[str]:
    """Split on `sep` not preceded by a backslash (and, optionally, not inside quotes)."""
    parts: list[str] = []
    current: list[str] = []
    in_quotes = False
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            current.append(text[i : i + 2])
            i += 2
            continue
        if respect_quotes and ch == '"':
            in_quotes = not in_quotes
        elif ch == sep and not in_quotes:
            parts.append("".join(current))
            current = []
            i += 1
            continue
        current.append(ch)
        i += 1
    if respect_quotes and in_quotes:
        raise LineProtocolError("unbalanced quotes")
    parts.append("".join(current))
    return parts


def _unescape(text: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(text):
        if text[i] == "\\" and i + 1 < len(text) and text[i + 1] in ', ="\\':
            out.append(text[i + 1])
            i += 2
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def _parse_field_value(raw: str) -> Any:
    if not raw:
        raise LineProtocolError("missing field value")
    if raw[0] == '"':
        if len(raw) < 2 or raw[-1] != '"':
            raise LineProtocolError("invalid string field")
        return raw[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    if raw in ("t", "T", "true", "True", "TRUE"):
        return True
    if raw in ("f", "F", "false", "False", "FALSE"):
        return False
    if raw[-1] in "iu":
        try:
            value = int(raw[:-1])
        except ValueError as exc:
            raise LineProtocolError(f"invalid integer {raw!r}") from exc
        if raw[-1] == "u" and value < 0:
            raise LineProtocolError(f"invalid unsigned integer {raw!r}")
        return value
    try:
        number = float(raw)
    except ValueError as exc:
        raise LineProtocolError(f"invalid number {raw!r}") from exc
    if not math.isfinite(number) or raw.lower() in (
        "nan",
        "inf",
        "+inf",
        "-inf",
        "infinity",
    ):
        raise LineProtocolError(f"invalid number {raw!r}")
    return number


def parse_line(line: str) -> ParsedLine:
    """Parse one line of line protocol; raise `LineProtocolError` like InfluxDB would."""
    if "\\" not in line and '"' not in line:
        return _parse_plain(line)
    sections = _split_unescaped(line, " ", respect_quotes=True)
    if len(sections) not in (2, 3):
        raise LineProtocolError("expected measurement, fields and optional timestamp")
    key, field_text = sections[0], sections[1]
    key_parts = _split_unescaped(key, ",")
    measurement = _unescape(key_parts[0])
    if not measurement:
        raise LineProtocolError("missing measurement")
    tags: dict[str, str] = {}
    for tag in key_parts[1:]:
        pair = _split_unescaped(tag, "=")
        if len(pair) != 2 or not pair[0] or not pair[1]:
            raise LineProtocolError(f"invalid tag {tag!r}")
        tags[_unescape(pair[0])] = _unescape(pair[1])
    fields: dict[str, Any] = {}
    for item in _split_unescaped(field_text, ",", respect_quotes=True):
        pair = _split_unescaped(item, "=", respect_quotes=True)
        if len(pair) != 2 or not pair[0]:
            raise LineProtocolError(f"invalid field {item!r}")
        fields[_unescape(pair[0])] = _parse_field_value(pair[1])
    if not fields:
        raise LineProtocolError("missing fields")
    timestamp: int | None = None
    if len(sections) == 3:
        try:
            timestamp = int(sections[2])
        except ValueError as exc:
            raise LineProtocolError(f"invalid timestamp {sections[2]!r}") from exc
    return ParsedLine(measurement, tuple(sorted(tags.items())), fields, timestamp)


def _parse_plain(line: str) -> ParsedLine:
    """Fast path for lines without escapes or string fields (the common case in benchmarks)."""
    sections = line.split(" ")
    if len(sections) not in (2, 3):
        raise LineProtocolError("expected measurement, fields and optional timestamp")
    key_parts = sections[0].split(",")
    if not key_parts[0]:
        raise LineProtocolError("missing measurement")
    tags: dict[str, str] = {}
    for tag in key_parts[1:]:
        name, sep, value = tag.partition("=")
        if not sep or not name or not value or "=" in value:
            raise LineProtocolError(f"invalid tag {tag!r}")
        tags[name] = value
    fields: dict[str, Any] = {}
    for item in sections[1].split(","):
        name, sep, raw = item.partition("=")
        if not sep or not name:
            raise LineProtocolError(f"invalid field {item!r}")
        fields[name] = _parse_field_value(raw)
    timestamp: int | None = None
    if len(sections) == 3:
        try:
            timestamp = int(sections[2])
        except ValueError as exc:
            raise LineProtocolError(f"invalid timestamp {sections[2]!r}") from exc
    return ParsedLine(key_parts[0], tuple(sorted(tags.items())), fields, timestamp)


def _type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "float"
    return "string"


def parse_duration_ns(text: str) -> int:
    """A Flux/Go duration literal ("1h30m", "5m", "90d") in nanoseconds."""
    text = text.strip()
    parts = re.findall(r"(\d+)(ns|us|µs|ms|s|m|h|d|w|mo|y)", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"invalid duration {text!r}")
    total = 0
    for number, unit in parts:
        if unit in ("mo", "y"):
            raise ValueError(f"calendar unit {unit!r} not supported by the test double")
        total += int(number) * _DURATION_NS["us" if unit == "µs" else unit]
    return total


def default_shard_group_seconds(retention_s: int) -> int:
    """InfluxDB's default shard-group duration for a retention period (0 = infinite)."""
    if retention_s == 0 or retention_s >= 180 * DAY_S:
        return 7 * DAY_S
    if retention_s >= 2 * DAY_S:
        return DAY_S
    return HOUR_S


def _now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _rfc3339_ns(ts: int) -> str:
    seconds, nanos = divmod(ts, 1_000_000_000)
    base = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{base}.{nanos:09d}".rstrip("0").rstrip(".") + "Z"


def _new_id() -> str:
    while True:
        value = secrets.token_hex(8)
        if value != "0" * 16:
            return value


def _new_token() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(64)).decode()


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def operator_permissions() -> list[dict[str, Any]]:
    """Read and write on every resource of every organisation: the setup token."""
    return [
        {"action": action, "resource": {"type": rtype}}
        for rtype in RESOURCE_TYPES
        for action in ("read", "write")
    ]


def allowed(
    permissions: list[dict[str, Any]],
    action: str,
    rtype: str,
    rid: str | None = None,
    org_id: str | None = None,
) -> bool:
    """InfluxDB's rule: a permission matches its action and type, and its id/orgID when set."""
    for perm in permissions:
        if perm.get("action") != action:
            continue
        resource = perm.get("resource") or {}
        if resource.get("type") != rtype:
            continue
        if resource.get("id") and resource["id"] != rid:
            continue
        if resource.get("orgID") and resource["orgID"] != org_id:
            continue
        return True
    return False


@dataclass
class Store:
    """Points by series and timestamp, with InfluxDB's last-write-wins merge."""

    series: dict[SeriesKey, dict[int, dict[str, Any]]] = field(default_factory=dict)
    field_types: dict[tuple[str, str, str], str] = field(default_factory=dict)
    write_requests: int = 0
    lines_received: int = 0
    rejected_requests: int = 0

    def point_count(self, bucket: str | None = None) -> int:
        return sum(len(points) for key, points in self.series.items() if bucket in (None, key[0]))

    def to_json(self) -> list[dict[str, Any]]:
        return [
            {
                "bucket": key[0],
                "measurement": key[1],
                "tags": [list(tag) for tag in key[2]],
                "points": [[ts, fields] for ts, fields in points.items()],
            }
            for key, points in self.series.items()
        ]

    @classmethod
    def from_json(cls, data: list[dict[str, Any]]) -> Store:
        store = cls()
        for item in data:
            key = (item["bucket"], item["measurement"], tuple(tuple(t) for t in item["tags"]))
            series = store.series.setdefault(key, {})  # type: ignore[arg-type]
            for ts, fields in item["points"]:
                series[int(ts)] = dict(fields)
                for name, value in fields.items():
                    store.field_types[(key[0], key[1], name)] = _type_name(value)
        return store


@dataclass
class Meta:
    """Everything but the points: what InfluxDB keeps in its bolt and sqlite files."""

    setup_done: bool = False
    orgs: dict[str, dict[str, Any]] = field(default_factory=dict)
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    buckets: dict[str, dict[str, Any]] = field(default_factory=dict)
    auths: dict[str, dict[str, Any]] = field(default_factory=dict)
    tasks: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "setup_done": self.setup_done,
            "orgs": self.orgs,
            "users": self.users,
            "buckets": self.buckets,
            "auths": self.auths,
            "tasks": self.tasks,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Meta:
        return cls(
            setup_done=bool(data.get("setup_done")),
            orgs=dict(data.get("orgs", {})),
            users=dict(data.get("users", {})),
            buckets=dict(data.get("buckets", {})),
            auths=dict(data.get("auths", {})),
            tasks=dict(data.get("tasks", {})),
        )


class InfluxDBDouble:
    """The test double; `start()` it, point a client at `url`, inspect `points()`.

    With a `token`, it starts already set up (org `org`, `token` as operator
    token) and accepts any bucket name unless `buckets` lists them. Without
    one, it waits for `POST /api/v2/setup`, like a fresh InfluxDB.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        token: str | None = "test-token",
        org: str = "bloomberg",
        buckets: tuple[str, ...] | None = None,
        hang_s: float = 5.0,
        state_dir: Path | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.token = token
        self.org = org
        self.buckets = buckets  # None: any bucket accepted (embedded mode only)
        self.hang_s = hang_s
        self.mode = "up"
        self.store = Store()
        self.meta = Meta()
        self.lock = threading.RLock()
        self.state_dir = state_dir
        self.started_at = time.time()
        self.accept_any_bucket = token is not None and buckets is None
        self._points_dirty = False
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._saver: threading.Thread | None = None
        self._stopping = threading.Event()
        if state_dir is not None and (state_dir / STATE_FILE).exists():
            self._load_state()
        elif token is not None:
            self._preset(token, org, buckets)

    # --- lifecycle -----------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> InfluxDBDouble:
        """Listen (again) on the configured port; port 0 picks one and keeps it for restarts."""
        server = ThreadingHTTPServer((self.host, self.port), _make_handler(self))
        server.daemon_threads = True
        self.port = int(server.server_address[1])
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, daemon=True)
        self._thread.start()
        if self.state_dir is not None and self._saver is None:
            self._saver = threading.Thread(target=self._save_points_loop, daemon=True)
            self._saver.start()
        return self

    def stop(self) -> None:
        """Close the socket: clients get "connection refused", as when InfluxDB is down."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def shutdown(self) -> None:
        """Stop and write the state (container mode): what SIGTERM does."""
        self._stopping.set()
        self.stop()
        self.save_state()

    def set_mode(self, mode: str) -> None:
        if mode not in ("up", "fail", "hang"):
            raise ValueError(mode)
        self.mode = mode

    def reset(self) -> None:
        with self.lock:
            self.store = Store()
            self._points_dirty = True

    # --- state -----------------------------------------------------------------------

    def _preset(self, token: str, org: str, buckets: tuple[str, ...] | None) -> None:
        """Embedded mode: set up with `token` as operator token."""
        self._setup(
            username="admin",
            password="test-double-password",
            org_name=org,
            bucket_name=(buckets[0] if buckets else None),
            retention_s=0,
            token=token,
        )
        for name in (buckets or ())[1:]:
            self._create_bucket(self._org_by_name(org)["id"], name, 0, 0, "")

    def _state_path(self) -> Path | None:
        return None if self.state_dir is None else self.state_dir / STATE_FILE

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {
                "format": "bbdash-testdouble-influxdb/1",
                "version": VERSION,
                "meta": json.loads(json.dumps(self.meta.to_json())),
                "points": self.store.to_json(),
            }

    def load_snapshot(self, data: dict[str, Any]) -> None:
        if data.get("format") != "bbdash-testdouble-influxdb/1":
            raise ApiError(400, "not a backup of the InfluxDB test double")
        with self.lock:
            self.meta = Meta.from_json(data["meta"])
            self.store = Store.from_json(data["points"])
            self._points_dirty = True
        self.save_state()

    def save_state(self) -> None:
        path = self._state_path()
        if path is None:
            return
        data = self.snapshot()
        with self.lock:
            self._points_dirty = False
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data))
        tmp.replace(path)

    def _load_state(self) -> None:
        path = self._state_path()
        assert path is not None
        data = json.loads(path.read_text())
        self.meta = Meta.from_json(data["meta"])
        self.store = Store.from_json(data["points"])

    def _save_points_loop(self) -> None:
        while not self._stopping.wait(2.0):
            if self._points_dirty:
                with contextlib.suppress(OSError):
                    self.save_state()

    def _changed(self) -> None:
        """Metadata changed: persist now (container mode), as InfluxDB commits to its bolt file."""
        self.save_state()

    # --- points ------------------------------------------------------------------------

    def points(self, bucket: str | None = None) -> list[dict[str, Any]]:
        """Stored points as dicts (measurement, tags, fields, time), sorted by time."""
        with self.lock:
            out = [
                {
                    "bucket": key[0],
                    "measurement": key[1],
                    "tags": dict(key[2]),
                    "fields": dict(fields),
                    "time": ts,
                }
                for key, points in self.store.series.items()
                if bucket in (None, key[0])
                for ts, fields in points.items()
            ]
        out.sort(key=lambda p: (p["time"], p["measurement"], sorted(p["tags"].items())))
        return out

    def point_count(self, bucket: str | None = None) -> int:
        with self.lock:
            return self.store.point_count(bucket)

    def write(self, bucket: str, body: str, precision: str = "ns") -> tuple[int, dict[str, Any]]:
        """Apply a write request body; return (status, error body). Used by the handler."""
        scale = _PRECISION_NS.get(precision)
        if scale is None:
            return 400, {
                "code": "invalid",
                "message": f"invalid precision {precision!r}",
            }
        parsed: list[ParsedLine] = []
        lines = [line for line in body.split("\n") if line.strip() and not line.startswith("#")]
        for number, line in enumerate(lines, start=1):
            try:
                parsed.append(parse_line(line.rstrip("\r")))
            except LineProtocolError as exc:
                with self.lock:
                    self.store.rejected_requests += 1
                return 400, {
                    "code": "invalid",
                    "message": f"unable to parse '{line[:200]}': {exc} (line {number})",
                }
        now_ns = time.time_ns()
        retention_ns = self._retention_ns(bucket)
        with self.lock:
            store = self.store
            store.write_requests += 1
            store.lines_received += len(parsed)
            for line in parsed:  # type conflicts reject the batch before anything is stored
                for name, value in line.fields.items():
                    known = store.field_types.get((bucket, line.measurement, name))
                    if known is not None and known != _type_name(value):
                        store.rejected_requests += 1
                        return 422, {
                            "code": "unprocessable entity",
                            "message": f"failure writing points to database: partial write: "
                            f'field type conflict: input field "{name}" on measurement '
                            f'"{line.measurement}" is type {_type_name(value)}, already '
                            f"exists as type {known} dropped=1",
                        }
            dropped = 0
            for line in parsed:
                ts = now_ns if line.timestamp is None else line.timestamp * scale
                if retention_ns and ts < now_ns - retention_ns:
                    dropped += 1
                    continue
                key = (bucket, line.measurement, line.tags)
                series = store.series.setdefault(key, {})
                series.setdefault(ts, {}).update(line.fields)
                for name, value in line.fields.items():
                    store.field_types[(bucket, line.measurement, name)] = _type_name(value)
            self._points_dirty = True
        if dropped:
            return 422, {
                "code": "unprocessable entity",
                "message": "failure writing points to database: partial write: "
                f"points beyond retention policy dropped={dropped}",
            }
        return 204, {}

    def _retention_ns(self, bucket_name: str) -> int:
        with self.lock:
            for bucket in self.meta.buckets.values():
                if bucket["name"] == bucket_name:
                    return int(bucket["retention_s"]) * 1_000_000_000
        return 0

    # --- authentication -----------------------------------------------------------

    def authenticate(self, header: str) -> dict[str, Any]:
        scheme, _, token = header.partition(" ")
        if scheme not in ("Token", "Bearer") or not token:
            raise ApiError(401, "unauthorized access")
        digest = _token_hash(token.strip())
        with self.lock:
            for auth in self.meta.auths.values():
                if auth["token_hash"] == digest:
                    if auth["status"] != "active":
                        raise ApiError(401, "authorization is inactive")
                    return auth
        raise ApiError(401, "unauthorized access")

    @staticmethod
    def require(
        auth: dict[str, Any], action: str, rtype: str, rid: str | None, org_id: str | None
    ) -> None:
        if not allowed(auth["permissions"], action, rtype, rid, org_id):
            target = f"orgs/{org_id}/{rtype}" if org_id else rtype
            if rid:
                target += f"/{rid}"
            raise ApiError(401, f"{action}:{target} is unauthorized")

    # --- onboarding ----------------------------------------------------------------

    def _setup(
        self,
        *,
        username: str,
        password: str,
        org_name: str,
        bucket_name: str | None,
        retention_s: int,
        token: str | None,
    ) -> dict[str, Any]:
        now = _now_rfc3339()
        org = {"id": _new_id(), "name": org_name, "description": "", "createdAt": now}
        user = {
            "id": _new_id(),
            "name": username,
            "status": "active",
            "password_sha256": hashlib.sha256(password.encode()).hexdigest(),
        }
        self.meta.orgs[org["id"]] = org
        self.meta.users[user["id"]] = user
        for name, retention in (("_monitoring", 7 * DAY_S), ("_tasks", 3 * DAY_S)):
            self._create_bucket(org["id"], name, retention, 0, "", system=True)
        bucket = None
        if bucket_name:
            bucket = self._create_bucket(org["id"], bucket_name, retention_s, 0, "")
        token = token or _new_token()
        auth = self._create_auth(
            org["id"], user["id"], f"{username}'s Token", operator_permissions(), token
        )
        self.meta.setup_done = True
        return {
            "user": self._user_view(user),
            "org": self._org_view(org),
            "bucket": None if bucket is None else self._bucket_view(bucket),
            "auth": {**self._auth_view(auth), "token": token},
        }

    def api_setup(self, body: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            if self.meta.setup_done:
                raise ApiError(422, "onboarding has already been completed", "conflict")
            username = str(body.get("username") or "")
            password = str(body.get("password") or "")
            org_name = str(body.get("org") or "")
            bucket_name = str(body.get("bucket") or "")
            if not username:
                raise ApiError(422, "username is empty")
            if password and len(password) < 8:
                raise ApiError(422, "passwords must be at least 8 characters long")
            if not org_name:
                raise ApiError(422, "org name is empty")
            if not bucket_name:
                raise ApiError(422, "bucket name is empty")
            if "retentionPeriodSeconds" in body:
                retention_s = int(body["retentionPeriodSeconds"] or 0)
            else:
                retention_s = int(body.get("retentionPeriodHrs") or 0) * HOUR_S
            self._check_retention(retention_s, 0, creating=True)
            result = self._setup(
                username=username,
                password=password,
                org_name=org_name,
                bucket_name=bucket_name,
                retention_s=retention_s,
                token=str(body.get("token") or "") or None,
            )
        self._changed()
        return result

    # --- organisations ---------------------------------------------------------------

    def _org_by_name(self, name: str) -> dict[str, Any]:
        for org in self.meta.orgs.values():
            if org["name"] == name:
                return org
        raise ApiError(404, f'organization name "{name}" not found')

    def _org_view(self, org: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": org["id"],
            "name": org["name"],
            "description": org.get("description", ""),
            "createdAt": org["createdAt"],
            "updatedAt": org["createdAt"],
            "links": {"self": f"/api/v2/orgs/{org['id']}"},
        }

    def _user_view(self, user: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": user["id"],
            "name": user["name"],
            "status": user["status"],
            "links": {"self": f"/api/v2/users/{user['id']}"},
        }

    def resolve_org(self, query: dict[str, list[str]], body: dict[str, Any] | None = None) -> str:
        """The org ID named by ?orgID= / ?org= (or the body's orgID / org)."""
        body = body or {}
        org_id = (query.get("orgID") or [None])[0] or body.get("orgID")
        org_name = (query.get("org") or [None])[0] or body.get("org")
        with self.lock:
            if org_id:
                if org_id not in self.meta.orgs:
                    raise ApiError(404, "organization not found")
                return str(org_id)
            if org_name:
                return str(self._org_by_name(str(org_name))["id"])
        raise ApiError(400, "Please provide either orgID or org")

    def api_orgs(self, auth: dict[str, Any], query: dict[str, list[str]]) -> dict[str, Any]:
        name = (query.get("org") or [None])[0]
        org_id = (query.get("orgID") or [None])[0]
        with self.lock:
            orgs = [
                self._org_view(o)
                for o in self.meta.orgs.values()
                if (name is None or o["name"] == name)
                and (org_id is None or o["id"] == org_id)
                and allowed(auth["permissions"], "read", "orgs", o["id"], o["id"])
            ]
        if name is not None and not orgs:
            raise ApiError(404, f'organization name "{name}" not found')
        return {"orgs": orgs, "links": {"self": "/api/v2/orgs"}}

    # --- buckets -------------------------------------------------------------------------

    def _bucket_view(self, bucket: dict[str, Any]) -> dict[str, Any]:
        rules = []
        if bucket["retention_s"] or bucket["shard_s"]:
            rules.append(
                {
                    "type": "expire",
                    "everySeconds": bucket["retention_s"],
                    "shardGroupDurationSeconds": bucket["shard_s"],
                }
            )
        org = self.meta.orgs.get(bucket["orgID"], {})
        return {
            "id": bucket["id"],
            "orgID": bucket["orgID"],
            "type": bucket["type"],
            "name": bucket["name"],
            "description": bucket.get("description", ""),
            "retentionRules": rules,
            "createdAt": bucket["createdAt"],
            "updatedAt": bucket["updatedAt"],
            "labels": [],
            "links": {
                "self": f"/api/v2/buckets/{bucket['id']}",
                "org": f"/api/v2/orgs/{bucket['orgID']}",
                "write": f"/api/v2/write?org={org.get('id', '')}&bucket={bucket['id']}",
            },
        }

    @staticmethod
    def _check_retention(retention_s: int, shard_s: int, *, creating: bool) -> int:
        """The real server's checks (tenant HTTP layer, then the storage engine's meta
        client); returns the effective shard-group duration."""
        if retention_s < 0:
            raise ApiError(422, "expiration seconds cannot be negative")
        if shard_s < 0:
            raise ApiError(422, "shard-group duration seconds cannot be negative")
        if 0 < retention_s < HOUR_S:
            # Not mapped to a client error by InfluxDB: it answers 500.
            raise ApiError(500, "retention policy duration must be at least 1h0m0s")
        if shard_s == 0:
            shard_s = default_shard_group_seconds(retention_s)
        elif shard_s < HOUR_S:
            shard_s = default_shard_group_seconds(HOUR_S)
        if retention_s and retention_s < shard_s:
            if creating:
                raise ApiError(
                    500, "retention policy duration must be greater than the shard duration"
                )
            raise ApiError(
                422,
                "shard-group duration must also be updated to be smaller than new retention duration",
            )
        return shard_s

    def _create_bucket(
        self,
        org_id: str,
        name: str,
        retention_s: int,
        shard_s: int,
        description: str,
        *,
        system: bool = False,
    ) -> dict[str, Any]:
        for bucket in self.meta.buckets.values():
            if bucket["orgID"] == org_id and bucket["name"] == name:
                raise ApiError(422, f"bucket with name {name} already exists", "conflict")
        shard_s = self._check_retention(retention_s, shard_s, creating=True)
        now = _now_rfc3339()
        bucket = {
            "id": _new_id(),
            "orgID": org_id,
            "type": "system" if system else "user",
            "name": name,
            "description": description,
            "retention_s": retention_s,
            "shard_s": shard_s,
            "createdAt": now,
            "updatedAt": now,
        }
        self.meta.buckets[bucket["id"]] = bucket
        return bucket

    @staticmethod
    def _rules(body: dict[str, Any]) -> tuple[int | None, int | None]:
        rules = body.get("retentionRules")
        if rules is None:
            return None, None
        if not isinstance(rules, list):
            raise ApiError(400, "retentionRules must be a list")
        if len(rules) > 1:
            raise ApiError(422, "buckets cannot have more than one retention rule at this time")
        if not rules:
            return 0, None
        rule = rules[0]
        every = rule.get("everySeconds")
        shard = rule.get("shardGroupDurationSeconds")
        return (
            None if every is None else int(every),
            None if shard is None else int(shard),
        )

    def api_buckets_list(self, auth: dict[str, Any], query: dict[str, list[str]]) -> dict[str, Any]:
        org_id = None
        if query.get("org") or query.get("orgID"):
            org_id = self.resolve_org(query)
        name = (query.get("name") or [None])[0]
        bucket_id = (query.get("id") or [None])[0]
        limit = int((query.get("limit") or ["20"])[0])
        offset = int((query.get("offset") or ["0"])[0])
        with self.lock:
            found = [
                self._bucket_view(b)
                for b in sorted(self.meta.buckets.values(), key=lambda b: (b["type"], b["name"]))
                if (org_id is None or b["orgID"] == org_id)
                and (name is None or b["name"] == name)
                and (bucket_id is None or b["id"] == bucket_id)
                and allowed(auth["permissions"], "read", "buckets", b["id"], b["orgID"])
            ]
        return {"buckets": found[offset : offset + limit], "links": {"self": "/api/v2/buckets"}}

    def api_bucket_create(self, auth: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
        org_id = str(body.get("orgID") or "")
        if not org_id:
            raise ApiError(400, "organization id must be provided")
        name = str(body.get("name") or "")
        if name.startswith("_"):
            raise ApiError(
                400, f"bucket name {name} is invalid. Buckets may not start with underscore"
            )
        if not name:
            raise ApiError(400, "bucket name is empty")
        every, shard = self._rules(body)
        with self.lock:
            if org_id not in self.meta.orgs:
                raise ApiError(404, "organization not found")
            self.require(auth, "write", "buckets", None, org_id)
            bucket = self._create_bucket(
                org_id, name, every or 0, shard or 0, str(body.get("description") or "")
            )
            view = self._bucket_view(bucket)
        self._changed()
        return view

    def _bucket(self, bucket_id: str) -> dict[str, Any]:
        bucket = self.meta.buckets.get(bucket_id)
        if bucket is None:
            raise ApiError(404, "bucket not found")
        return bucket

    def api_bucket_get(self, auth: dict[str, Any], bucket_id: str) -> dict[str, Any]:
        with self.lock:
            bucket = self._bucket(bucket_id)
            self.require(auth, "read", "buckets", bucket_id, bucket["orgID"])
            return self._bucket_view(bucket)

    def api_bucket_patch(
        self, auth: dict[str, Any], bucket_id: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        every, shard = self._rules(body)
        with self.lock:
            bucket = self._bucket(bucket_id)
            self.require(auth, "write", "buckets", bucket_id, bucket["orgID"])
            retention = bucket["retention_s"] if every is None else every
            shard_s = bucket["shard_s"] if shard is None else shard
            if every is not None and every < 0:
                raise ApiError(422, "expiration seconds cannot be negative")
            if shard is not None and shard < 0:
                raise ApiError(422, "shard-group duration seconds cannot be negative")
            if shard is None and every is not None:
                # Only the retention changes: the stored shard duration must still fit.
                shard_s = bucket["shard_s"]
            shard_s = self._check_retention(retention, shard_s, creating=False)
            new_name = body.get("name")
            if new_name is not None and new_name != bucket["name"]:
                if str(new_name).startswith("_"):
                    raise ApiError(400, f"bucket name {new_name} is invalid")
                self._rename_points(bucket["name"], str(new_name))
                bucket["name"] = str(new_name)
            if "description" in body:
                bucket["description"] = str(body["description"] or "")
            bucket["retention_s"] = retention
            bucket["shard_s"] = shard_s
            bucket["updatedAt"] = _now_rfc3339()
            view = self._bucket_view(bucket)
        self._changed()
        return view

    def _rename_points(self, old: str, new: str) -> None:
        store = self.store
        for key in [k for k in store.series if k[0] == old]:
            store.series[(new, key[1], key[2])] = store.series.pop(key)
        for key in [k for k in store.field_types if k[0] == old]:
            store.field_types[(new, key[1], key[2])] = store.field_types.pop(key)

    def api_bucket_delete(self, auth: dict[str, Any], bucket_id: str) -> None:
        with self.lock:
            bucket = self._bucket(bucket_id)
            self.require(auth, "write", "buckets", bucket_id, bucket["orgID"])
            if bucket["type"] == "system":
                raise ApiError(403, "system buckets cannot be deleted")
            del self.meta.buckets[bucket_id]
            store = self.store
            for key in [k for k in store.series if k[0] == bucket["name"]]:
                del store.series[key]
        self._changed()

    def find_bucket(self, org_id: str, name_or_id: str) -> dict[str, Any] | None:
        with self.lock:
            bucket = self.meta.buckets.get(name_or_id)
            if bucket is not None and bucket["orgID"] == org_id:
                return bucket
            for bucket in self.meta.buckets.values():
                if bucket["orgID"] == org_id and bucket["name"] == name_or_id:
                    return bucket
        return None

    # --- authorizations -------------------------------------------------------------

    def _create_auth(
        self,
        org_id: str,
        user_id: str,
        description: str,
        permissions: list[dict[str, Any]],
        token: str,
    ) -> dict[str, Any]:
        now = _now_rfc3339()
        auth = {
            "id": _new_id(),
            "orgID": org_id,
            "userID": user_id,
            "description": description,
            "status": "active",
            "permissions": permissions,
            "token_hash": _token_hash(token),
            "createdAt": now,
            "updatedAt": now,
        }
        self.meta.auths[auth["id"]] = auth
        return auth

    def _auth_view(self, auth: dict[str, Any]) -> dict[str, Any]:
        org = self.meta.orgs.get(auth["orgID"], {})
        user = self.meta.users.get(auth["userID"], {})
        permissions = []
        for perm in auth["permissions"]:
            resource = dict(perm["resource"])
            if resource.get("id") and resource.get("type") == "buckets":
                bucket = self.meta.buckets.get(resource["id"])
                if bucket is not None:
                    resource["name"] = bucket["name"]
            if resource.get("orgID"):
                resource["org"] = self.meta.orgs.get(resource["orgID"], {}).get("name", "")
            permissions.append({"action": perm["action"], "resource": resource})
        # Like InfluxDB 2.9 with hashed tokens: the token itself is never listed.
        return {
            "id": auth["id"],
            "status": auth["status"],
            "description": auth["description"],
            "orgID": auth["orgID"],
            "org": org.get("name", ""),
            "userID": auth["userID"],
            "user": user.get("name", ""),
            "permissions": permissions,
            "createdAt": auth["createdAt"],
            "updatedAt": auth["updatedAt"],
            "links": {
                "self": f"/api/v2/authorizations/{auth['id']}",
                "user": f"/api/v2/users/{auth['userID']}",
            },
        }

    def api_auths_list(self, auth: dict[str, Any], query: dict[str, list[str]]) -> dict[str, Any]:
        org_id = None
        if query.get("org") or query.get("orgID"):
            org_id = self.resolve_org(query)
        user_name = (query.get("user") or [None])[0]
        user_id = (query.get("userID") or [None])[0]
        with self.lock:
            found = [
                self._auth_view(a)
                for a in self.meta.auths.values()
                if (org_id is None or a["orgID"] == org_id)
                and (user_id is None or a["userID"] == user_id)
                and (
                    user_name is None
                    or self.meta.users.get(a["userID"], {}).get("name") == user_name
                )
                and (
                    a["id"] == auth["id"]
                    or allowed(auth["permissions"], "read", "authorizations", a["id"], a["orgID"])
                )
            ]
        return {"authorizations": found, "links": {"self": "/api/v2/authorizations"}}

    def api_auth_create(self, auth: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
        org_id = str(body.get("orgID") or "")
        permissions = body.get("permissions")
        if not org_id:
            raise ApiError(400, "org id is required")
        if not isinstance(permissions, list) or not permissions:
            raise ApiError(400, "authorization must have at least one permission")
        clean: list[dict[str, Any]] = []
        with self.lock:
            if org_id not in self.meta.orgs:
                raise ApiError(404, "organization not found")
            self.require(auth, "write", "authorizations", None, org_id)
            for perm in permissions:
                action = perm.get("action")
                resource = perm.get("resource") or {}
                rtype = resource.get("type")
                if action not in ("read", "write") or rtype not in RESOURCE_TYPES:
                    raise ApiError(400, f"invalid permission {json.dumps(perm)}")
                entry: dict[str, Any] = {"type": rtype}
                if resource.get("id"):
                    entry["id"] = str(resource["id"])
                if resource.get("orgID"):
                    entry["orgID"] = str(resource["orgID"])
                # Nobody hands out more than they hold.
                if not allowed(
                    auth["permissions"], action, rtype, entry.get("id"), entry.get("orgID")
                ):
                    raise ApiError(403, f"permission {action}:{rtype} is not allowed")
                clean.append({"action": action, "resource": entry})
            user_id = str(body.get("userID") or auth["userID"])
            token = _new_token()
            created = self._create_auth(
                org_id, user_id, str(body.get("description") or ""), clean, token
            )
            if body.get("status") == "inactive":
                created["status"] = "inactive"
            view = {**self._auth_view(created), "token": token}
        self._changed()
        return view

    def _auth(self, auth_id: str) -> dict[str, Any]:
        found = self.meta.auths.get(auth_id)
        if found is None:
            raise ApiError(404, "authorization not found")
        return found

    def api_auth_get(self, auth: dict[str, Any], auth_id: str) -> dict[str, Any]:
        with self.lock:
            found = self._auth(auth_id)
            if auth_id != auth["id"]:
                self.require(auth, "read", "authorizations", auth_id, found["orgID"])
            return self._auth_view(found)

    def api_auth_patch(
        self, auth: dict[str, Any], auth_id: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        with self.lock:
            found = self._auth(auth_id)
            self.require(auth, "write", "authorizations", auth_id, found["orgID"])
            if "status" in body:
                if body["status"] not in ("active", "inactive"):
                    raise ApiError(400, "status must be active or inactive")
                found["status"] = body["status"]
            if "description" in body:
                found["description"] = str(body["description"] or "")
            found["updatedAt"] = _now_rfc3339()
            view = self._auth_view(found)
        self._changed()
        return view

    def api_auth_delete(self, auth: dict[str, Any], auth_id: str) -> None:
        with self.lock:
            found = self._auth(auth_id)
            self.require(auth, "write", "authorizations", auth_id, found["orgID"])
            del self.meta.auths[auth_id]
        self._changed()

    # --- tasks ---------------------------------------------------------------------------

    @staticmethod
    def parse_task_options(flux: str) -> dict[str, Any]:
        match = re.search(r"option\s+task\s*=\s*\{(.*?)\}", flux, re.DOTALL)
        if match is None:
            raise ApiError(400, "invalid options: no task options defined")
        text = match.group(1)
        options: dict[str, Any] = {}
        name = re.search(r'\bname\s*:\s*"((?:[^"\\]|\\.)*)"', text)
        every = re.search(r"\bevery\s*:\s*([0-9a-zµ]+)", text)
        cron = re.search(r'\bcron\s*:\s*"([^"]*)"', text)
        offset = re.search(r"\boffset\s*:\s*([0-9a-zµ]+)", text)
        if name is None or not name.group(1):
            raise ApiError(400, "invalid options: missing required option: 'name'")
        if (every is None) == (cron is None):
            raise ApiError(400, "invalid options: must specify exactly one of either cron or every")
        options["name"] = name.group(1)
        try:
            if every is not None:
                if parse_duration_ns(every.group(1)) < 1_000_000_000:
                    raise ApiError(400, "invalid options: every option must be at least 1 second")
                options["every"] = every.group(1)
            else:
                options["cron"] = cron.group(1)  # type: ignore[union-attr]
            if offset is not None:
                parse_duration_ns(offset.group(1))
                options["offset"] = offset.group(1)
        except ValueError as exc:
            raise ApiError(400, f"invalid options: {exc}") from exc
        if flux.count("(") != flux.count(")") or flux.count("{") != flux.count("}"):
            raise ApiError(400, "compilation failed: unbalanced brackets")
        return options

    def _task_view(self, task: dict[str, Any]) -> dict[str, Any]:
        org = self.meta.orgs.get(task["orgID"], {})
        view = {
            "id": task["id"],
            "orgID": task["orgID"],
            "org": org.get("name", ""),
            "name": task["name"],
            "description": task.get("description", ""),
            "status": task["status"],
            "ownerID": task["ownerID"],
            "flux": task["flux"],
            "labels": [],
            "createdAt": task["createdAt"],
            "updatedAt": task["updatedAt"],
            "links": {"self": f"/api/v2/tasks/{task['id']}"},
        }
        for key in ("every", "cron", "offset"):
            if key in task:
                view[key] = task[key]
        return view

    def api_tasks_list(self, auth: dict[str, Any], query: dict[str, list[str]]) -> dict[str, Any]:
        org_id = None
        if query.get("org") or query.get("orgID"):
            org_id = self.resolve_org(query)
        name = (query.get("name") or [None])[0]
        limit = int((query.get("limit") or ["100"])[0])
        with self.lock:
            found = [
                self._task_view(t)
                for t in sorted(self.meta.tasks.values(), key=lambda t: t["id"])
                if (org_id is None or t["orgID"] == org_id)
                and (name is None or t["name"] == name)
                and allowed(auth["permissions"], "read", "tasks", t["id"], t["orgID"])
            ]
        return {"tasks": found[:limit], "links": {"self": "/api/v2/tasks"}}

    def api_task_create(self, auth: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
        flux = str(body.get("flux") or "")
        if not flux:
            raise ApiError(400, "flux is required")
        org_id = self.resolve_org({}, body)
        options = self.parse_task_options(flux)
        status = str(body.get("status") or "active")
        if status not in ("active", "inactive"):
            raise ApiError(400, "status must be active or inactive")
        now = _now_rfc3339()
        with self.lock:
            self.require(auth, "write", "tasks", None, org_id)
            task = {
                "id": _new_id(),
                "orgID": org_id,
                "ownerID": auth["userID"],
                "flux": flux,
                "status": status,
                "description": str(body.get("description") or ""),
                "createdAt": now,
                "updatedAt": now,
                **options,
            }
            self.meta.tasks[task["id"]] = task
            view = self._task_view(task)
        self._changed()
        return view

    def _task(self, task_id: str) -> dict[str, Any]:
        task = self.meta.tasks.get(task_id)
        if task is None:
            raise ApiError(404, "failed to find task: task not found")
        return task

    def api_task_get(self, auth: dict[str, Any], task_id: str) -> dict[str, Any]:
        with self.lock:
            task = self._task(task_id)
            self.require(auth, "read", "tasks", task_id, task["orgID"])
            return self._task_view(task)

    def api_task_patch(
        self, auth: dict[str, Any], task_id: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        with self.lock:
            task = self._task(task_id)
            self.require(auth, "write", "tasks", task_id, task["orgID"])
            if "flux" in body:
                options = self.parse_task_options(str(body["flux"]))
                for key in ("every", "cron", "offset"):
                    task.pop(key, None)
                task.update(options)
                task["flux"] = str(body["flux"])
            if "status" in body:
                if body["status"] not in ("active", "inactive"):
                    raise ApiError(400, "status must be active or inactive")
                task["status"] = body["status"]
            if "description" in body:
                task["description"] = str(body["description"] or "")
            task["updatedAt"] = _now_rfc3339()
            view = self._task_view(task)
        self._changed()
        return view

    def api_task_delete(self, auth: dict[str, Any], task_id: str) -> None:
        with self.lock:
            task = self._task(task_id)
            self.require(auth, "write", "tasks", task_id, task["orgID"])
            del self.meta.tasks[task_id]
        self._changed()

    # --- writes and queries ---------------------------------------------------------

    def check_write(self, auth: dict[str, Any], query: dict[str, list[str]]) -> str:
        """Org, bucket and permission checks of a write, in the real handler's order;
        returns the bucket name the points go to."""
        org_name = (query.get("org") or [""])[0]
        org_id = (query.get("orgID") or [""])[0]
        bucket_ref = (query.get("bucket") or [""])[0]
        with self.lock:
            if org_id:
                if org_id not in self.meta.orgs:
                    raise ApiError(404, "organization not found")
            elif org_name:
                org_id = self._org_by_name(org_name)["id"]
            else:
                org_id = auth["orgID"]
            if not bucket_ref:
                raise ApiError(404, 'bucket "" not found')
            bucket = self.find_bucket(org_id, bucket_ref)
            if bucket is None:
                if self.accept_any_bucket:
                    return bucket_ref
                raise ApiError(404, f'bucket "{bucket_ref}" not found')
            if not allowed(auth["permissions"], "write", "buckets", bucket["id"], org_id):
                raise ApiError(403, "insufficient permissions for write")
            return str(bucket["name"])

    def api_query(
        self, auth: dict[str, Any], query: dict[str, list[str]], body: bytes, ctype: str
    ) -> str:
        if "json" in ctype:
            try:
                request = json.loads(body or b"{}")
            except json.JSONDecodeError as exc:
                raise ApiError(400, f"failed to decode request body: {exc}") from exc
            flux = str(request.get("query") or "")
            dialect = request.get("dialect") or {}
        else:
            flux = body.decode("utf-8", "replace")
            dialect = {}
        org_id = self.resolve_org(query, {"orgID": auth["orgID"]})
        program = FluxProgram.parse(flux)
        with self.lock:
            bucket = self.find_bucket(org_id, program.bucket)
            if bucket is None or not allowed(
                auth["permissions"], "read", "buckets", bucket["id"], org_id
            ):
                raise ApiError(
                    404,
                    f'failed to initialize execute state: could not find bucket "{program.bucket}"',
                )
            rows = [
                (key[1], key[2], ts, fields)
                for key, points in self.store.series.items()
                if key[0] == bucket["name"]
                for ts, fields in points.items()
            ]
        return program.run(rows, dialect)

    def metrics(self) -> str:
        with self.lock:
            counts = {
                "influxdb_buckets_total": len(self.meta.buckets),
                "influxdb_organizations_total": len(self.meta.orgs),
                "influxdb_tokens_total": len(self.meta.auths),
                "influxdb_users_total": len(self.meta.users),
                "influxdb_tasks_total": len(self.meta.tasks),
            }
            writes = self.store.write_requests
        lines = [f"# {BANNER}"]
        for name, value in counts.items():
            lines += [
                f"# HELP {name} Number of total {name.split('_')[1]} on the server",
                f"# TYPE {name} counter",
                f"{name} {value}",
            ]
        lines += [
            "# HELP influxdb_uptime_seconds influxdb process uptime in seconds",
            "# TYPE influxdb_uptime_seconds gauge",
            f"influxdb_uptime_seconds {time.time() - self.started_at:.3f}",
            "# HELP influxdb_info Information about the influxdb environment.",
            "# TYPE influxdb_info gauge",
            f'influxdb_info{{arch="amd64",build="OSS",os="linux",version="{VERSION}"}} 1',
            "# HELP bbdash_testdouble_write_requests_total Writes accepted by the test double.",
            "# TYPE bbdash_testdouble_write_requests_total counter",
            f"bbdash_testdouble_write_requests_total {writes}",
        ]
        return "\n".join(lines) + "\n"


@dataclass
class FluxProgram:
    """The few Flux pipelines the double answers: from |> range |> filter [|> count|last|limit]."""

    bucket: str
    start_ns: int
    stop_ns: int
    predicates: list[tuple[str, str, str]]
    tail: list[tuple[str, dict[str, str]]]

    @classmethod
    def parse(cls, flux: str) -> FluxProgram:
        text = re.sub(r"//[^\n]*", "", flux).strip()
        calls = [c.strip() for c in text.split("|>")]
        head = re.fullmatch(r'from\s*\(\s*bucket\s*:\s*"([^"]+)"\s*\)', calls[0])
        if head is None:
            raise ApiError(400, 'test double: a query must start with from(bucket: "...")')
        now = time.time_ns()
        start, stop = 0, now + 1
        predicates: list[tuple[str, str, str]] = []
        tail: list[tuple[str, dict[str, str]]] = []
        seen_range = False
        for call in calls[1:]:
            match = re.fullmatch(r"(\w+)\s*\((.*)\)", call, re.DOTALL)
            if match is None:
                raise ApiError(400, f"test double: cannot parse {call!r}")
            name, args = match.group(1), match.group(2).strip()
            if name == "range":
                seen_range = True
                kwargs = _flux_kwargs(args)
                start = _flux_time(kwargs.get("start", "0"), now)
                if "stop" in kwargs:
                    stop = _flux_time(kwargs["stop"], now)
            elif name == "filter":
                predicates += _flux_predicates(args)
            elif name in ("count", "last", "first", "limit", "yield", "sort"):
                tail.append((name, _flux_kwargs(args) if args else {}))
            else:
                raise ApiError(400, f"test double: unsupported Flux function {name}()")
        if not seen_range:
            raise ApiError(
                400,
                'error in building plan while starting program: cannot submit unbounded read to "'
                + head.group(1)
                + "\"; try bounding 'from' with a call to 'range'",
            )
        return cls(head.group(1), start, stop, predicates, tail)

    def _matches(self, record: dict[str, Any]) -> bool:
        for key, op, value in self.predicates:
            actual = record.get(key)
            if (op == "==" and actual != value) or (op == "!=" and actual == value):
                return False
        return True

    def run(
        self,
        rows: list[tuple[str, tuple[tuple[str, str], ...], int, dict[str, Any]]],
        dialect: dict[str, Any],
    ) -> str:
        tables: dict[tuple[Any, ...], list[tuple[int, Any]]] = {}
        for measurement, tags, ts, fields in rows:
            if not self.start_ns <= ts < self.stop_ns:
                continue
            for name, value in fields.items():
                record = {"_measurement": measurement, "_field": name, **dict(tags)}
                if self._matches(record):
                    tables.setdefault((measurement, name, tags), []).append((ts, value))
        out: list[tuple[tuple[str, ...], list[list[str]]]] = []
        for index, ((measurement, name, tags), points) in enumerate(
            sorted(tables.items(), key=lambda kv: (kv[0][0], kv[0][2], kv[0][1]))
        ):
            points.sort()
            with_time = True
            for func, kwargs in self.tail:
                if func == "count":
                    points = [(0, len(points))]
                    with_time = False
                elif func == "last":
                    points = points[-1:]
                elif func == "first":
                    points = points[:1]
                elif func == "limit":
                    points = points[: int(kwargs.get("n", "0"))]
            tag_names = tuple(k for k, _ in tags)
            header = (
                ("", "result", "table", "_start", "_stop")
                + (("_time",) if with_time else ())
                + ("_value", "_field", "_measurement")
                + tag_names
            )
            data = []
            for ts, value in points:
                row = [
                    "",
                    "_result",
                    str(index),
                    _rfc3339_ns(self.start_ns),
                    _rfc3339_ns(self.stop_ns),
                ]
                if with_time:
                    row.append(_rfc3339_ns(ts))
                row += [_flux_value(value), name, measurement] + [v for _, v in tags]
                data.append(row)
            if data:
                out.append((header, data))
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        annotations = dialect.get("annotations") or []
        for number, (header, data) in enumerate(out):
            if number:
                buffer.write("\r\n")
            if "datatype" in annotations:
                writer.writerow(
                    ["#datatype", "string", "long", "dateTime:RFC3339", "dateTime:RFC3339"]
                    + (["dateTime:RFC3339"] if "_time" in header else [])
                    + ["double"]
                    + ["string"] * (len(header) - (7 if "_time" in header else 6))
                )
            writer.writerow(header)
            writer.writerows(data)
        return buffer.getvalue()


def _flux_kwargs(args: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in re.split(r",(?![^(]*\))", args):
        if not part.strip():
            continue
        key, sep, value = part.partition(":")
        if not sep:
            raise ApiError(400, f"test double: cannot parse argument {part!r}")
        out[key.strip()] = value.strip()
    return out


def _flux_time(value: str, now: int) -> int:
    value = value.strip()
    if value in ("now()",):
        return now
    if value.startswith("-"):
        return now - parse_duration_ns(value[1:])
    if re.fullmatch(r"-?\d+", value):
        return int(value) * 1_000_000_000
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ApiError(400, f"test double: cannot parse time {value!r}") from exc
    return int(parsed.timestamp()) * 1_000_000_000 + parsed.microsecond * 1000


def _flux_predicates(args: str) -> list[tuple[str, str, str]]:
    match = re.fullmatch(r"fn\s*:\s*\(\s*(\w+)\s*\)\s*=>\s*(.+)", args, re.DOTALL)
    if match is None:
        raise ApiError(400, f"test double: cannot parse filter {args!r}")
    var, body = match.group(1), match.group(2).strip()
    if body.startswith("(") and body.endswith(")"):
        body = body[1:-1]
    out = []
    for clause in re.split(r"\s+and\s+", body):
        item = re.fullmatch(
            rf'\s*{var}(?:\.(\w+)|\["([^"]+)"\])\s*(==|!=)\s*"((?:[^"\\]|\\.)*)"\s*', clause
        )
        if item is None:
            raise ApiError(400, f"test double: unsupported filter clause {clause.strip()!r}")
        out.append((item.group(1) or item.group(2), item.group(3), item.group(4)))
    return out


def _flux_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e21 else repr(value)
    return str(value)


def _make_handler(double: InfluxDBDouble) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "InfluxDB-TestDouble"

        def log_message(self, format: str, *args: Any) -> None:
            return

        def _reply(
            self, status: int, body: Any = None, headers: dict[str, str] | None = None
        ) -> None:
            if isinstance(body, str):
                payload = body.encode()
                ctype = "text/plain; charset=utf-8"
            else:
                payload = b"" if body is None else json.dumps(body).encode()
                ctype = "application/json; charset=utf-8"
            self.send_response(status)
            self.send_header("X-Influxdb-Version", VERSION)
            self.send_header("X-Influxdb-Build", "OSS")
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            if payload:
                self.send_header("Content-Type", (headers or {}).get("Content-Type", ctype))
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if payload:
                self.wfile.write(payload)

        def _body(self) -> bytes:
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def _json(self, body: bytes) -> dict[str, Any]:
            if not body:
                return {}
            try:
                data = json.loads(body)
            except json.JSONDecodeError as exc:
                raise ApiError(400, f"failed to decode request body: {exc}") from exc
            if not isinstance(data, dict):
                raise ApiError(400, "failed to decode request body: expected an object")
            return data

        def _auth(self) -> dict[str, Any]:
            return double.authenticate(self.headers.get("Authorization", ""))

        def _dispatch(self, method: str) -> None:
            url = urlsplit(self.path)
            query = parse_qs(url.query)
            path = url.path.rstrip("/") or "/"
            body = self._body() if method in ("POST", "PATCH", "PUT") else b""
            try:
                self._route(method, path, query, body)
            except ApiError as exc:
                self._reply(exc.status, {"code": exc.code, "message": exc.message})

        def _route(self, method: str, path: str, query: dict[str, list[str]], body: bytes) -> None:
            if method == "GET" and path == "/health":
                self._reply(
                    200,
                    {
                        "name": "influxdb",
                        "message": "ready for queries and writes",
                        "status": "pass",
                        "checks": [],
                        "version": VERSION,
                        "commit": "testdouble",
                    },
                )
                return
            if path == "/ping" and method in ("GET", "HEAD"):
                self._reply(204)
                return
            if method == "GET" and path == "/metrics":
                self._reply(200, double.metrics(), {"Content-Type": "text/plain; version=0.0.4"})
                return
            if path.startswith("/__double/"):
                self._route_double(method, path, query, body)
                return
            if path == "/api/v2/write" and method == "POST":
                self._write(query, body)
                return
            if path == "/api/v2/setup":
                if method == "GET":
                    self._reply(200, {"allowed": not double.meta.setup_done})
                elif method == "POST":
                    self._reply(201, double.api_setup(self._json(body)))
                else:
                    raise ApiError(405, "method not allowed")
                return
            auth = self._auth()
            parts = path.split("/")[3:]  # after /api/v2
            if not path.startswith("/api/v2/") or not parts:
                raise ApiError(404, "path not found")
            resource, item = parts[0], (parts[1] if len(parts) > 1 else None)
            if len(parts) > 2:
                raise ApiError(404, "path not found")
            if resource == "query" and method == "POST" and item is None:
                csv_text = double.api_query(auth, query, body, self.headers.get("Content-Type", ""))
                self._reply(200, csv_text, {"Content-Type": "text/csv; charset=utf-8"})
                return
            handlers = {
                ("orgs", "GET", False): lambda: double.api_orgs(auth, query),
                ("buckets", "GET", False): lambda: double.api_buckets_list(auth, query),
                ("buckets", "POST", False): lambda: (
                    201,
                    double.api_bucket_create(auth, self._json(body)),
                ),
                ("buckets", "GET", True): lambda: double.api_bucket_get(auth, str(item)),
                ("buckets", "PATCH", True): lambda: double.api_bucket_patch(
                    auth, str(item), self._json(body)
                ),
                ("buckets", "DELETE", True): lambda: (
                    204,
                    double.api_bucket_delete(auth, str(item)),
                ),
                ("authorizations", "GET", False): lambda: double.api_auths_list(auth, query),
                ("authorizations", "POST", False): lambda: (
                    201,
                    double.api_auth_create(auth, self._json(body)),
                ),
                ("authorizations", "GET", True): lambda: double.api_auth_get(auth, str(item)),
                ("authorizations", "PATCH", True): lambda: double.api_auth_patch(
                    auth, str(item), self._json(body)
                ),
                ("authorizations", "DELETE", True): lambda: (
                    204,
                    double.api_auth_delete(auth, str(item)),
                ),
                ("tasks", "GET", False): lambda: double.api_tasks_list(auth, query),
                ("tasks", "POST", False): lambda: (
                    201,
                    double.api_task_create(auth, self._json(body)),
                ),
                ("tasks", "GET", True): lambda: double.api_task_get(auth, str(item)),
                ("tasks", "PATCH", True): lambda: double.api_task_patch(
                    auth, str(item), self._json(body)
                ),
                ("tasks", "DELETE", True): lambda: (204, double.api_task_delete(auth, str(item))),
            }
            handler = handlers.get((resource, method, item is not None))
            if handler is None:
                raise ApiError(404, "path not found")
            result = handler()
            if isinstance(result, tuple):
                status, payload = result
                self._reply(status, payload)
            else:
                self._reply(200, result)

        def _route_double(
            self, method: str, path: str, query: dict[str, list[str]], body: bytes
        ) -> None:
            if method == "GET" and path == "/__double/points":
                bucket = query.get("bucket", [None])[0]
                self._reply(200, double.points(bucket))
            elif method == "GET" and path == "/__double/stats":
                with double.lock:
                    store = double.store
                    stats = {
                        "mode": double.mode,
                        "points": store.point_count(),
                        "write_requests": store.write_requests,
                        "lines_received": store.lines_received,
                        "rejected_requests": store.rejected_requests,
                    }
                self._reply(200, stats)
            elif method == "POST" and path == "/__double/mode":
                try:
                    double.set_mode(body.decode().strip())
                except ValueError:
                    self._reply(400, {"message": "mode must be up, fail or hang"})
                    return
                self._reply(204)
            elif method == "POST" and path == "/__double/reset":
                double.reset()
                self._reply(204)
            elif path in ("/__double/backup", "/__double/restore"):
                auth = self._auth()
                if not allowed(auth["permissions"], "write", "authorizations") or not allowed(
                    auth["permissions"], "read", "buckets"
                ):
                    raise ApiError(401, "backup and restore need an operator token")
                if method == "GET" and path == "/__double/backup":
                    self._reply(200, double.snapshot())
                elif method == "POST" and path == "/__double/restore":
                    double.load_snapshot(self._json(body))
                    self._reply(204)
                else:
                    raise ApiError(405, "method not allowed")
            else:
                raise ApiError(404, "path not found")

        def _write(self, query: dict[str, list[str]], body: bytes) -> None:
            auth = self._auth()
            if double.mode == "hang":
                time.sleep(double.hang_s)
            if double.mode in ("fail", "hang"):
                self._reply(
                    503,
                    {"code": "unavailable", "message": "test double: simulated outage"},
                    {"Retry-After": "1"},
                )
                return
            bucket = double.check_write(auth, query)
            if not body:
                # InfluxDB v2.9.1 http/write_handler.go: token, org, bucket and
                # write permission are checked, then zero points are written: 204.
                self._reply(204)
                return
            try:
                text = body.decode("utf-8")
            except UnicodeDecodeError:
                self._reply(400, {"code": "invalid", "message": "body is not UTF-8"})
                return
            status, error = double.write(bucket, text, query.get("precision", ["ns"])[0])
            self._reply(status, error or None)

        def do_GET(self) -> None:
            self._dispatch("GET")

        def do_HEAD(self) -> None:
            self._dispatch("HEAD")

        def do_POST(self) -> None:
            self._dispatch("POST")

        def do_PATCH(self) -> None:
            self._dispatch("PATCH")

        def do_DELETE(self) -> None:
            self._dispatch("DELETE")

    return Handler


# --- the double's `influx` command (installed in the container) ----------------------


def _cli_request(
    method: str, url: str, token: str | None, data: bytes | None = None
) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=data, method=method)
    if token:
        request.add_header("Authorization", f"Token {token}")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def cli(argv: list[str]) -> int:
    """`influx ping|backup|restore --full`, against this double only."""
    parser = argparse.ArgumentParser(prog="influx", description=f"{BANNER}: influx CLI stand-in")
    parser.add_argument("command", choices=["ping", "backup", "restore", "version"])
    parser.add_argument("path", nargs="?")
    parser.add_argument("--host", default=os.environ.get("INFLUX_HOST", "http://localhost:8086"))
    parser.add_argument("-t", "--token", default=os.environ.get("INFLUX_TOKEN"))
    parser.add_argument("--full", action="store_true")
    parser.add_argument("--compression", default="gzip")
    args, unknown = parser.parse_known_intermixed_args(argv)
    if unknown:
        print(f"{BANNER}: unsupported flags {unknown}", file=sys.stderr)
        return 2
    host = args.host.rstrip("/")
    if args.command == "version":
        print(f"Influx CLI {VERSION} ({BANNER})")
        return 0
    if args.command == "ping":
        try:
            status, _ = _cli_request("GET", f"{host}/health", None)
        except OSError as exc:
            print(f"Error: {exc}", file=sys.stderr)
            return 1
        if status != 200:
            print(f"Error: health check failed: {status}", file=sys.stderr)
            return 1
        print("OK")
        return 0
    if not args.path:
        print("Error: a backup directory is required", file=sys.stderr)
        return 2
    directory = Path(args.path)
    if args.command == "backup":
        status, payload = _cli_request("GET", f"{host}/__double/backup", args.token)
        if status != 200:
            print(
                f"Error: failed to backup: {status} {payload.decode(errors='replace')}",
                file=sys.stderr,
            )
            return 1
        directory.mkdir(parents=True, exist_ok=True)
        (directory / BACKUP_FILE).write_bytes(payload)
        print(f"{BANNER}: backup written to {directory / BACKUP_FILE}")
        return 0
    if not args.full:
        print(f"{BANNER}: only `influx restore --full` is implemented", file=sys.stderr)
        return 2
    source = directory / BACKUP_FILE
    if not source.exists():
        print(f"Error: no backup of the test double in {directory}", file=sys.stderr)
        return 1
    status, payload = _cli_request(
        "POST", f"{host}/__double/restore", args.token, source.read_bytes()
    )
    if status != 204:
        print(
            f"Error: failed to restore: {status} {payload.decode(errors='replace')}",
            file=sys.stderr,
        )
        return 1
    print(f"{BANNER}: restored {source}")
    return 0


def _install_cli() -> None:
    """Give the container an `influx` command (ping, backup, restore) backed by this double."""
    target = Path("/usr/local/bin/influx")
    script = f'#!/bin/sh\n# {BANNER}\nexec python3 {Path(__file__).resolve()} cli "$@"\n'
    with contextlib.suppress(OSError):
        if not target.exists() or target.read_text() != script:
            target.write_text(script)
            target.chmod(0o755)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "cli":
        sys.exit(cli(sys.argv[2:]))
    parser = argparse.ArgumentParser(description=f"{BANNER}.")
    parser.add_argument("--host", default=None)
    parser.add_argument("--port", type=int, default=None)
    parser.add_argument("--token", default=None, help="operator token: start already set up")
    parser.add_argument("--org", default="bloomberg")
    parser.add_argument("--bucket", action="append", help="accepted bucket (repeat); default any")
    parser.add_argument("--state-dir", type=Path, default=None)
    args, _ = parser.parse_known_args()  # the real image's flags (influxd ...) are ignored
    container = args.token is None
    bind = os.environ.get("INFLUXD_HTTP_BIND_ADDRESS", ":8086" if container else "127.0.0.1:8086")
    bind_host, _, bind_port = bind.rpartition(":")
    host = args.host or bind_host or "0.0.0.0"
    port = args.port if args.port is not None else int(bind_port or 8086)
    state_dir = args.state_dir
    if state_dir is None and container:
        state_dir = Path(
            os.environ.get("INFLUXD_BOLT_PATH", "/var/lib/influxdb2/influxd.bolt")
        ).parent
    double = InfluxDBDouble(
        host,
        port,
        token=args.token,
        org=args.org,
        buckets=tuple(args.bucket) if args.bucket else None,
        state_dir=state_dir,
    )
    if container:
        _install_cli()
    double.start()
    print(f"{BANNER} listening on {double.url}", flush=True)

    def _terminate(signum: int, frame: Any) -> None:
        double.shutdown()
        sys.exit(0)

    signal.signal(signal.SIGTERM, _terminate)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        double.shutdown()


if __name__ == "__main__":
    main()
