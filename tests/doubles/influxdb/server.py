#!/usr/bin/env python3
"""InfluxDB 2 TEST DOUBLE: a tiny stdlib HTTP server imitating the write side of InfluxDB 2.

This is NOT InfluxDB. It exists because the real server cannot be installed
here; it imitates only what the feeders' tests and benchmark need:

- `POST /api/v2/write?org=&bucket=&precision=` with `Authorization: Token <t>`:
  parses line protocol (escapes, quoted strings, i/u integers, booleans) and
  stores points with InfluxDB's semantics: one point per series (measurement +
  tag set) and timestamp, a later write of the same series and timestamp merges
  its fields over the earlier ones (last write wins). Like InfluxDB OSS 2, one
  malformed line rejects the whole batch with 400 and the first bad line in the
  message; a field whose type differs from what the bucket holds gives 422.
- `GET /health` (JSON, status "pass") and `GET /ping` (204), as InfluxDB does.
- Outage simulation: mode `up` (normal), `fail` (every write answers 503),
  `hang` (writes wait `hang_s` before answering 503, to exercise client
  timeouts); `stop()` closes the listening socket (connection refused) and
  `start()` reopens it on the same port.
- Test-only endpoints under `/__double/`: `GET /__double/points?bucket=` (JSON
  list of stored points), `GET /__double/stats`, `POST /__double/mode` (body
  `up|fail|hang`), `POST /__double/reset`.

Stdlib only, Python 3.11, so it can run anywhere, including as a container:

    python3 tests/doubles/influxdb/server.py --port 8086 --token test-token
"""

from __future__ import annotations

import argparse
import json
import math
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

VERSION = "2.7.11-testdouble"
_PRECISION_NS = {"ns": 1, "us": 1_000, "ms": 1_000_000, "s": 1_000_000_000}

SeriesKey = tuple[str, str, tuple[tuple[str, str], ...]]  # bucket, measurement, sorted tags


class LineProtocolError(ValueError):
    """A line that InfluxDB would refuse to parse."""


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


class InfluxDBDouble:
    """The test double; `start()` it, point a client at `url`, inspect `points()`."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        token: str = "test-token",
        org: str = "bloomberg",
        buckets: tuple[str, ...] | None = None,
        hang_s: float = 5.0,
    ) -> None:
        self.host = host
        self.port = port
        self.token = token
        self.org = org
        self.buckets = buckets  # None: any bucket accepted
        self.hang_s = hang_s
        self.mode = "up"
        self.store = Store()
        self.lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

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

    def set_mode(self, mode: str) -> None:
        if mode not in ("up", "fail", "hang"):
            raise ValueError(mode)
        self.mode = mode

    def reset(self) -> None:
        with self.lock:
            self.store = Store()

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
            for line in parsed:
                ts = now_ns if line.timestamp is None else line.timestamp * scale
                key = (bucket, line.measurement, line.tags)
                series = store.series.setdefault(key, {})
                series.setdefault(ts, {}).update(line.fields)
                for name, value in line.fields.items():
                    store.field_types[(bucket, line.measurement, name)] = _type_name(value)
        return 204, {}


def _make_handler(double: InfluxDBDouble) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "InfluxDB-TestDouble"

        def log_message(self, format: str, *args: Any) -> None:
            return

        def _reply(
            self, status: int, body: Any = None, headers: dict[str, str] | None = None
        ) -> None:
            payload = b"" if body is None else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("X-Influxdb-Version", VERSION)
            self.send_header("X-Influxdb-Build", "OSS")
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            if payload:
                self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if payload:
                self.wfile.write(payload)

        def _body(self) -> bytes:
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            query = parse_qs(url.query)
            if url.path == "/health":
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
            elif url.path == "/ping":
                self._reply(204)
            elif url.path == "/__double/points":
                bucket = query.get("bucket", [None])[0]
                self._reply(200, double.points(bucket))
            elif url.path == "/__double/stats":
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
            else:
                self._reply(404, {"code": "not found", "message": "path not found"})

        def do_POST(self) -> None:
            url = urlsplit(self.path)
            query = parse_qs(url.query)
            body = self._body()
            if url.path == "/__double/mode":
                try:
                    double.set_mode(body.decode().strip())
                except ValueError:
                    self._reply(400, {"message": "mode must be up, fail or hang"})
                    return
                self._reply(204)
                return
            if url.path == "/__double/reset":
                double.reset()
                self._reply(204)
                return
            if url.path != "/api/v2/write":
                self._reply(404, {"code": "not found", "message": "path not found"})
                return
            auth = self.headers.get("Authorization", "")
            if auth != f"Token {double.token}":
                self._reply(401, {"code": "unauthorized", "message": "unauthorized access"})
                return
            if double.mode == "hang":
                time.sleep(double.hang_s)
            if double.mode in ("fail", "hang"):
                self._reply(
                    503,
                    {"code": "unavailable", "message": "test double: simulated outage"},
                    {"Retry-After": "1"},
                )
                return
            org = query.get("org", [""])[0]
            bucket = query.get("bucket", [""])[0]
            if org and org != double.org:
                self._reply(
                    404,
                    {
                        "code": "not found",
                        "message": f'organization name "{org}" not found',
                    },
                )
                return
            if not bucket or (double.buckets is not None and bucket not in double.buckets):
                self._reply(
                    404,
                    {"code": "not found", "message": f'bucket "{bucket}" not found'},
                )
                return
            try:
                text = body.decode("utf-8")
            except UnicodeDecodeError:
                self._reply(400, {"code": "invalid", "message": "body is not UTF-8"})
                return
            status, error = double.write(bucket, text, query.get("precision", ["ns"])[0])
            self._reply(status, error or None)

    return Handler


def main() -> None:
    parser = argparse.ArgumentParser(description="InfluxDB 2 test double (not InfluxDB).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8086)
    parser.add_argument("--token", default="test-token")
    parser.add_argument("--org", default="bloomberg")
    parser.add_argument("--bucket", action="append", help="accepted bucket (repeat); default any")
    args = parser.parse_args()
    double = InfluxDBDouble(
        args.host,
        args.port,
        token=args.token,
        org=args.org,
        buckets=tuple(args.bucket) if args.bucket else None,
    )
    double.start()
    print(f"InfluxDB test double listening on {double.url}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        double.stop()


if __name__ == "__main__":
    main()
