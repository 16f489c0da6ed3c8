#!/usr/bin/env python3
"""InfluxDB 2 TEST DOUBLE: a small stdlib HTTP server imitating parts of the InfluxDB 2 API.

This is NOT InfluxDB. It exists because the real server cannot be installed
here. It imitates what the project's roles, feeders and tests send, and it
answers as InfluxDB v2.9.1 does wherever the project depends on the answer.
Every behaviour names the upstream source it mirrors (README.md, table
"Endpoints"); the references in the comments below use the same form:
`influxdb v2.9.1 <file>` is github.com/influxdata/influxdb at tag v2.9.1,
`flux v0.200.0 <file>` is github.com/influxdata/flux at the tag that
v2.9.1's go.mod requires.

- Writes (`/api/v2/write`): gzip bodies, precision, line protocol, partial
  writes (field type conflicts per shard group, points beyond retention).
- Onboarding, organisations, buckets (retention rules, paging), tasks
  (with manual runs that execute the Flux subset below), users without a
  password (POST only), authorizations with permissions enforced as
  InfluxDB's authorizer package does; tokens stored hashed, as InfluxDB 2.9 does.
- `/api/v2/query`: a Flux subset (from, range, filter, aggregateWindow,
  count/sum/mean/min/max/first/last, limit, yield, to; influxdb.cardinality)
  answered in the flux CSV encoder's format, annotations included.
- `/api/v2/delete` with InfluxDB's predicate syntax.
- `/health`, `/ping`, `/ready`, `/metrics`.
- Outage simulation for the feeders' tests: mode `up`, `fail` (503), `hang`;
  `stop()` closes the socket, `start()` reopens it.

Two ways to run it:

- Embedded or from the command line with `--token T`: already set up, org
  `bloomberg`, T is the operator token; a write to an unknown bucket name
  creates that bucket unless `--bucket` lists the buckets (a convenience of
  the double for the feeders' tests: InfluxDB answers 404).
- As the `bbdash-testdouble/influxdb` container (no `--token`): not set up
  until `POST /api/v2/setup`, listening on INFLUXD_HTTP_BIND_ADDRESS (default
  `:8086`), state kept under the directory of INFLUXD_BOLT_PATH (default
  /var/lib/influxdb2) so it survives a restart, and an `influx` command
  installed in the container that implements `ping`, `backup` and
  `restore --full` against this double (a JSON file, not InfluxDB's format).

Test-only endpoints, under `/__double/`: `GET points?bucket=`, `GET stats`,
`POST mode` (body `up|fail|hang`), `POST reset`, `POST tasks/{id}/run`, and
`GET backup` / `POST restore` (operator token) used by the double's `influx`
command.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import gzip
import hashlib
import json
import math
import os
import re
import secrets
import signal
import struct
import sys
import threading
import time
import urllib.error
import urllib.request
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlencode, urlsplit

VERSION = "2.9.1-testdouble"
BANNER = "InfluxDB 2 TEST DOUBLE (not InfluxDB)"
_PRECISION_NS = {"ns": 1, "us": 1_000, "ms": 1_000_000, "s": 1_000_000_000}
_DURATION_NS = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
    "d": 86_400_000_000_000,
    "w": 604_800_000_000_000,
}
NS = 1_000_000_000
HOUR_S = 3600
DAY_S = 86400
# influxdb v2.9.1 models/points.go: MinNanoTime and MaxNanoTime.
MIN_NANO_TIME = -(2**63) + 2
MAX_NANO_TIME = 2**63 - 2
# Nanoseconds from Go's zero time (0001-01-01) to the Unix epoch: Go's
# time.Truncate, which aligns shard groups (influxdb v2.9.1
# v1/services/meta/data.go CreateShardGroup), counts from the zero time.
GO_ZERO_TO_UNIX_NS = 62_135_596_800 * NS
# influxdb v2.9.1 authz.go: the resource types (OperPermissions covers them all).
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
    "instance",
)
STATE_FILE = "bbdash-testdouble-state.json"  # metadata (and, in format 1, the points)
POINTS_FILE = "bbdash-testdouble-points.json"  # compacted points
LOG_PREFIX = "bbdash-testdouble-points."  # append-only logs: <prefix><generation>.log
BACKUP_FILE = "bbdash-testdouble-backup.json"
BACKUP_FORMAT = "bbdash-testdouble-influxdb/2"
# Compact the append-only log when it exceeds this many bytes and is larger
# than the compacted file (so a store of N values costs O(N) disk at most ~2x).
COMPACT_MIN_BYTES = 32 * 1024 * 1024
MAX_RUNS_KEPT = 1000

SeriesKey = tuple[str, str, tuple[tuple[str, str], ...]]  # bucket ID, measurement, sorted tags


# --- errors ------------------------------------------------------------------------------

# influxdb v2.9.1 kit/platform/errors/errors.go (codes) and
# kit/transport/http/error_handler.go influxDBErrorToStatusCode (their statuses).
STATUS_BY_CODE = {
    "internal error": 500,
    "not implemented": 501,
    "invalid": 400,
    "unprocessable entity": 422,
    "empty value": 400,
    "conflict": 422,
    "not found": 404,
    "unavailable": 503,
    "forbidden": 403,
    "too many requests": 429,
    "unauthorized": 401,
    "method not allowed": 405,
    "request too large": 413,
}
# kit/transport/http/error_handler.go HandleHTTPError: an error that is not an
# *errors.Error is answered with this message, code "internal error".
HIDDEN_INTERNAL_MESSAGE = "An internal error has occurred - check server logs"


class LineProtocolError(ValueError):
    """A line that InfluxDB would refuse to parse (the reason, as models/points.go words it)."""


class ApiError(Exception):
    """An error answered as InfluxDB's HandleHTTPError does: status from the code,
    body {"code", "message"} and the X-Platform-Error-Code header."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        if code not in STATUS_BY_CODE:
            raise ValueError(f"unknown InfluxDB error code {code!r}")
        self.code = code
        self.message = message

    @property
    def status(self) -> int:
        return STATUS_BY_CODE[self.code]

    def wrap(self, msg: str, code: str | None = None) -> ApiError:
        """errors.Error{Msg: msg, Err: self, Code: code}: "msg: inner", the outer
        code when set, else the inner one (kit/platform/errors ErrorCode)."""
        return ApiError(code or self.code, f"{msg}: {self.message}")


class FluxError(Exception):
    """A Flux compile or runtime error, with the InfluxDB error code it maps to."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def unsupported(what: str) -> FluxError:
    """What the double's Flux subset does not implement: refused, never guessed."""
    return FluxError("invalid", f"test double: unsupported Flux: {what}")


# --- small helpers -------------------------------------------------------------------


class UInt(int):
    """An unsigned integer field value (line protocol `u` suffix): its own type."""


def go_json(value: Any, *, pretty: bool = False) -> bytes:
    """JSON as Go's encoding/json writes it: UTF-8, <, > and & escaped."""
    if pretty:
        text = json.dumps(value, ensure_ascii=False, indent="\t")
    else:
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    for raw, escaped in (
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("&", "\\u0026"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(raw, escaped)
    return text.encode()


def rfc3339_ns(ts: int) -> str:
    """Go's time.RFC3339Nano in UTC (trailing zeros of the fraction dropped)."""
    seconds, nanos = divmod(ts, NS)
    base = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    fraction = f".{nanos:09d}".rstrip("0").rstrip(".")
    return f"{base}{fraction}Z"


def now_rfc3339() -> str:
    return rfc3339_ns(time.time_ns())


_RFC3339_RE = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})\Z"
)


def parse_rfc3339_ns(text: str) -> int:
    """Go's time.Parse(time.RFC3339Nano, text) as Unix nanoseconds; ValueError if not."""
    match = _RFC3339_RE.match(text)
    if match is None:
        raise ValueError(f"not RFC3339: {text!r}")
    year, month, day, hour, minute, second = (int(match.group(i)) for i in range(1, 7))
    fraction = match.group(7) or ""
    zone = match.group(8)
    moment = datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    ns = (delta.days * DAY_S + delta.seconds) * NS + int((fraction + "000000000")[:9])
    if zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        ns -= sign * (int(zone[1:3]) * HOUR_S + int(zone[4:6]) * 60) * NS
    return ns


def go_duration(ns: int) -> str:
    """Go's time.Duration.String for whole seconds and more (e.g. 168h0m0s)."""
    if ns == 0:
        return "0s"
    sign = "-" if ns < 0 else ""
    ns = abs(ns)
    hours, rest = divmod(ns, 3600 * NS)
    minutes, rest = divmod(rest, 60 * NS)
    seconds = Decimal(rest) / NS
    sec_text = format(seconds.normalize(), "f") if rest else "0"
    if hours:
        return f"{sign}{hours}h{minutes}m{sec_text}s"
    if minutes:
        return f"{sign}{minutes}m{sec_text}s"
    return f"{sign}{sec_text}s"


def task_duration(ns: int) -> str:
    """influxdb v2.9.1 http/task_service.go customParseDuration (a task's offset)."""
    out = "-" if ns < 0 else ""
    ns = abs(ns)
    hours, ns = divmod(ns, 3600 * NS)
    if hours:
        out += f"{hours}h"
    if ns == 0:
        return out
    minutes, ns = divmod(ns, 60 * NS)
    if minutes:
        out += f"{minutes}m"
    if ns == 0:
        return out
    seconds = ns // NS
    if seconds:
        out += f"{seconds}s"
    return out


def go_float(value: float) -> str:
    """Go's strconv.FormatFloat(v, 'f', -1, 64), as flux v0.200.0 csv/result.go writes doubles."""
    text = format(Decimal(repr(float(value))), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def parse_duration_ns(text: str) -> int:
    """A Flux/Go duration literal ("1h30m", "5m", "90d") in nanoseconds."""
    text = text.strip()
    parts = re.findall(r"(\d+)(ns|us|µs|ms|mo|s|m|h|d|w|y)", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"invalid duration {text!r}")
    total = 0
    for number, unit in parts:
        if unit in ("mo", "y"):
            raise ValueError(f"calendar unit {unit!r} not supported by the test double")
        total += int(number) * _DURATION_NS[unit]
    return total


def default_shard_group_seconds(retention_s: int) -> int:
    """InfluxDB's default shard-group duration for a retention period (0 = infinite):
    influxdb v2.9.1 v1/services/meta/data.go NormalisedShardDuration/shardGroupDuration."""
    if retention_s == 0 or retention_s >= 180 * DAY_S:
        return 7 * DAY_S
    if retention_s >= 2 * DAY_S:
        return DAY_S
    return HOUR_S


def shard_group_start(ts: int, shard_ns: int) -> int:
    """The start of the shard group holding `ts`: Go's Time.Truncate(d), which
    counts from Go's zero time, not from the Unix epoch (7-day groups start on Mondays)."""
    if shard_ns <= 0:
        return 0
    return (ts + GO_ZERO_TO_UNIX_NS) // shard_ns * shard_ns - GO_ZERO_TO_UNIX_NS


def new_id() -> str:
    """A platform ID: 16 lowercase hex digits, never zero (kit/platform/id.go)."""
    while True:
        value = secrets.token_hex(8)
        if value != "0" * 16:
            return value


def is_platform_id(text: str) -> bool:
    """kit/platform/id.go IDFromString: 16 hex digits that are not all zero."""
    return bool(re.fullmatch(r"[0-9a-fA-F]{16}", text)) and int(text, 16) != 0


def check_id(text: str) -> str:
    """IDFromString's errors: wrong length, then not hex or zero."""
    if len(text) != 16:
        raise ApiError("invalid", "id must have a length of 16 bytes")
    if not is_platform_id(text):
        raise ApiError("invalid", "invalid ID")
    return text.lower()


def new_token() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(64)).decode()


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def type_name(value: Any) -> str:
    """The field types of influxql (tsdb/field_validator.go: "type float ... as type integer")."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, UInt):
        return "unsigned"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "float"
    return "string"


def encode_value(value: Any) -> Any:
    """A field value in the state files: JSON keeps floats, ints, bools and strings
    apart; unsigned integers are wrapped."""
    if isinstance(value, UInt):
        return {"u": int(value)}
    return value


def decode_value(value: Any) -> Any:
    if isinstance(value, dict):
        return UInt(value["u"])
    return value


# --- line protocol ---------------------------------------------------------------------


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


_BOOL_TRUE = ("t", "T", "true", "True", "TRUE")
_BOOL_FALSE = ("f", "F", "false", "False", "FALSE")
_NUMBER_RE = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\Z")


def _parse_field_value(raw: str) -> Any:
    """A field value; the reasons are models/points.go's (scanFieldValue, scanNumber, scanBoolean)."""
    if not raw:
        raise LineProtocolError("missing field value")
    if raw[0] == '"':
        if len(raw) < 2 or raw[-1] != '"':
            raise LineProtocolError("unbalanced quotes")
        return raw[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    if raw[0] in "tTfF":
        if raw in _BOOL_TRUE:
            return True
        if raw in _BOOL_FALSE:
            return False
        raise LineProtocolError("invalid boolean")
    if raw[-1] in "iu":
        digits = raw[:-1]
        if not re.fullmatch(r"[+-]?\d+", digits):
            raise LineProtocolError("invalid number")
        value = int(digits)
        if raw[-1] == "u":
            if value < 0 or value >= 2**64:
                raise LineProtocolError(
                    f'unable to parse unsigned {digits}: strconv.ParseUint: parsing "{digits}": '
                    + ("invalid syntax" if value < 0 else "value out of range")
                )
            return UInt(value)
        if not -(2**63) <= value < 2**63:
            raise LineProtocolError(
                f'unable to parse integer {digits}: strconv.ParseInt: parsing "{digits}": '
                "value out of range"
            )
        return value
    if not _NUMBER_RE.match(raw):
        raise LineProtocolError("invalid number")
    number = float(raw)
    if not math.isfinite(number):
        raise LineProtocolError("invalid number")
    return number


def _parse_timestamp(text: str) -> int:
    if not re.fullmatch(r"-?\d+", text):
        raise LineProtocolError("bad timestamp")
    return int(text)


def parse_line(line: str) -> ParsedLine:
    """Parse one line of line protocol; raise `LineProtocolError` with the reason
    InfluxDB gives (influxdb v2.9.1 models/points.go parsePoint)."""
    if "\\" not in line and '"' not in line:
        return _parse_plain(line)
    sections = [s for s in _split_unescaped(line, " ", respect_quotes=True) if s != ""]
    if len(sections) < 2:
        raise LineProtocolError("missing fields")
    if len(sections) > 3:
        raise LineProtocolError("bad timestamp")
    key, field_text = sections[0], sections[1]
    key_parts = _split_unescaped(key, ",")
    measurement = _unescape(key_parts[0])
    if not measurement:
        raise LineProtocolError("missing measurement")
    tags: dict[str, str] = {}
    for tag in key_parts[1:]:
        pair = _split_unescaped(tag, "=")
        if len(pair) != 2:
            raise LineProtocolError("missing tag value" if len(pair) == 1 else "invalid tag format")
        if not pair[0]:
            raise LineProtocolError("missing tag key")
        if not pair[1]:
            raise LineProtocolError("missing tag value")
        tags[_unescape(pair[0])] = _unescape(pair[1])
    fields: dict[str, Any] = {}
    for item in _split_unescaped(field_text, ",", respect_quotes=True):
        pair = _split_unescaped(item, "=", respect_quotes=True)
        if len(pair) == 1:
            raise LineProtocolError(
                "missing field value" if item.endswith("=") else "invalid field format"
            )
        if len(pair) != 2:
            raise LineProtocolError("invalid field format")
        if not pair[0]:
            raise LineProtocolError("missing field key")
        fields[_unescape(pair[0])] = _parse_field_value(pair[1])
    if not fields:
        raise LineProtocolError("missing fields")
    timestamp = _parse_timestamp(sections[2]) if len(sections) == 3 else None
    return ParsedLine(measurement, tuple(sorted(tags.items())), fields, timestamp)


def _parse_plain(line: str) -> ParsedLine:
    """Fast path for lines without escapes or string fields (the common case in benchmarks)."""
    sections = [s for s in line.split(" ") if s != ""]
    if len(sections) < 2:
        raise LineProtocolError("missing fields")
    if len(sections) > 3:
        raise LineProtocolError("bad timestamp")
    key_parts = sections[0].split(",")
    if not key_parts[0]:
        raise LineProtocolError("missing measurement")
    tags: dict[str, str] = {}
    for tag in key_parts[1:]:
        name, sep, value = tag.partition("=")
        if not sep:
            raise LineProtocolError("missing tag value")
        if not name:
            raise LineProtocolError("missing tag key")
        if not value:
            raise LineProtocolError("missing tag value")
        if "=" in value:
            raise LineProtocolError("invalid tag format")
        tags[name] = value
    fields: dict[str, Any] = {}
    for item in sections[1].split(","):
        name, sep, raw = item.partition("=")
        if not sep:
            raise LineProtocolError("invalid field format")
        if not name:
            raise LineProtocolError("missing field key")
        fields[name] = _parse_field_value(raw)
    timestamp = _parse_timestamp(sections[2]) if len(sections) == 3 else None
    return ParsedLine(key_parts[0], tuple(sorted(tags.items())), fields, timestamp)


def parse_body(body: str) -> list[ParsedLine]:
    """All lines of a write body, or LineProtocolError naming every bad line as
    influxdb v2.9.1 models/points.go ParsePointsWithPrecision does:
    "unable to parse '<line>': <reason>", one per line, joined by newlines."""
    parsed: list[ParsedLine] = []
    failed: list[str] = []
    for block in body.split("\n"):
        line = block.lstrip(" \t")
        if not line or line.startswith("#"):
            continue
        try:
            parsed.append(parse_line(line))
        except LineProtocolError as exc:
            failed.append(f"unable to parse '{line}': {exc}")
    if failed:
        raise LineProtocolError("\n".join(failed))
    return parsed


# --- gzip (influxdb v2.9.1 http/points/batch_reader.go, Go's compress/gzip) ----------------


class GzipHeaderError(Exception):
    """gzip.NewReader failed on the first header: not a *errors.Error upstream."""


class GzipReadError(Exception):
    """Reading the body failed; `code` as http/points/points_parser.go maps it."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


_GZIP_FHCRC, _GZIP_FEXTRA, _GZIP_FNAME, _GZIP_FCOMMENT = 2, 4, 8, 16


def _gzip_header_end(data: bytes, pos: int) -> int:
    """The offset after a gzip member header at `pos`; ValueError("header") when it is not
    one, EOFError when it is cut short (compress/gzip reader.go readHeader)."""
    if len(data) - pos < 10:
        raise EOFError
    if data[pos] != 0x1F or data[pos + 1] != 0x8B or data[pos + 2] != 8:
        raise ValueError("header")
    flags = data[pos + 3]
    end = pos + 10
    if flags & _GZIP_FEXTRA:
        if len(data) < end + 2:
            raise EOFError
        (extra,) = struct.unpack_from("<H", data, end)
        end += 2 + extra
    for flag in (_GZIP_FNAME, _GZIP_FCOMMENT):
        if flags & flag:
            zero = data.find(b"\x00", end)
            if zero < 0:
                raise EOFError
            end = zero + 1
    if flags & _GZIP_FHCRC:
        if len(data) < end + 2:
            raise EOFError
        (crc,) = struct.unpack_from("<H", data, end)
        if crc != zlib.crc32(data[pos:end]) & 0xFFFF:
            raise ValueError("header")
        end += 2
    if end > len(data):
        raise EOFError
    return end


def check_gzip_header(data: bytes) -> None:
    """What gzip.NewReader checks before the handler goes on: the first header."""
    try:
        _gzip_header_end(data, 0)
    except (ValueError, EOFError) as exc:
        raise GzipHeaderError(str(exc)) from exc


def gunzip(data: bytes) -> bytes:
    """Every member of a gzip stream, with Go's errors: a bad checksum or a bad header
    of a later member is "invalid" (400), anything else "internal error" (500)."""
    out: list[bytes] = []
    pos = 0
    first = True
    while first or pos < len(data):
        try:
            start = _gzip_header_end(data, pos)
        except ValueError as exc:
            raise GzipReadError("invalid", "unable to read data: gzip: invalid header") from exc
        except EOFError as exc:
            raise GzipReadError("internal error", "unable to read data: unexpected EOF") from exc
        first = False
        inflater = zlib.decompressobj(-zlib.MAX_WBITS)
        try:
            chunk = inflater.decompress(data[start:])
        except zlib.error as exc:
            raise GzipReadError(
                "internal error",
                f"unable to read data: flate: corrupt input before offset {len(data) - start}",
            ) from exc
        if not inflater.eof:
            raise GzipReadError("internal error", "unable to read data: unexpected EOF")
        trailer = inflater.unused_data
        if len(trailer) < 8:
            raise GzipReadError("internal error", "unable to read data: unexpected EOF")
        crc, size = struct.unpack_from("<II", trailer)
        if crc != zlib.crc32(chunk) or size != len(chunk) & 0xFFFFFFFF:
            raise GzipReadError("invalid", "unable to read data: gzip: invalid checksum")
        out.append(chunk)
        pos = len(data) - len(trailer) + 8
    return b"".join(out)


# --- points ------------------------------------------------------------------------------

Point = tuple[
    str, tuple[tuple[str, str], ...], int, dict[str, Any]
]  # measurement, tags, ts, fields


@dataclass
class Store:
    """Points by series and timestamp, with InfluxDB's last-write-wins merge: one point
    per series (measurement + tag set) and timestamp; a later write of the same key
    merges its fields. Field types are kept per shard group, as the storage engine
    keeps them (influxdb v2.9.1 tsdb/shard.go: one MeasurementFields per shard)."""

    series: dict[SeriesKey, dict[int, dict[str, Any]]] = field(default_factory=dict)
    # (bucket ID, measurement, field, shard-group start) -> influxql type name
    field_types: dict[tuple[str, str, str, int], str] = field(default_factory=dict)
    write_requests: int = 0
    lines_received: int = 0
    rejected_requests: int = 0

    def point_count(self, bucket_id: str | None = None) -> int:
        return sum(
            len(points) for key, points in self.series.items() if bucket_id in (None, key[0])
        )

    def field_type(self, bucket_id: str, measurement: str, name: str, shard: int) -> str | None:
        return self.field_types.get((bucket_id, measurement, name, shard))

    def apply(self, bucket_id: str, points: Iterable[Point], shard_ns: int) -> None:
        """Store points already validated (types, retention); also used to replay the log."""
        for measurement, tags, ts, fields in points:
            series = self.series.setdefault((bucket_id, measurement, tags), {})
            stored = series.get(ts)
            if stored is None:
                series[ts] = dict(fields)
            else:
                stored.update(fields)
            shard = shard_group_start(ts, shard_ns)
            for name, value in fields.items():
                self.field_types[(bucket_id, measurement, name, shard)] = type_name(value)

    def drop_bucket(self, bucket_id: str) -> None:
        for key in [k for k in self.series if k[0] == bucket_id]:
            del self.series[key]
        for key in [k for k in self.field_types if k[0] == bucket_id]:
            del self.field_types[key]

    def delete(self, bucket_id: str, start: int, stop: int, predicate: Any) -> int:
        """Delete the values of matching series with start <= time <= stop (both
        inclusive, as tsm1's DeleteSeriesRange); a rule on _field deletes field by
        field (the storage series key holds the field). Returns how many values went."""
        removed = 0
        per_field = any(key == "_field" for key, _, _ in _predicate_rules(predicate))
        for key in [k for k in self.series if k[0] == bucket_id]:
            tags = dict(key[2])
            points = self.series[key]
            if not per_field:
                if not predicate_matches(predicate, key[1], tags):
                    continue
                for ts in [t for t in points if start <= t <= stop]:
                    removed += len(points.pop(ts))
            else:
                for ts in [t for t in points if start <= t <= stop]:
                    fields = points[ts]
                    for name in [
                        n for n in fields if predicate_matches(predicate, key[1], tags, n)
                    ]:
                        del fields[name]
                        removed += 1
                    if not fields:
                        del points[ts]
            if not points:
                del self.series[key]
        return removed

    def to_json(self) -> list[dict[str, Any]]:
        return [
            {
                "bucketID": key[0],
                "measurement": key[1],
                "tags": [list(tag) for tag in key[2]],
                "points": [
                    [ts, {k: encode_value(v) for k, v in fields.items()}]
                    for ts, fields in points.items()
                ],
            }
            for key, points in self.series.items()
        ]

    def load_json(self, data: list[dict[str, Any]], shard_of: Callable[[str], int]) -> None:
        for item in data:
            bucket_id = item["bucketID"]
            tags = tuple((str(k), str(v)) for k, v in item["tags"])
            points: list[Point] = [
                (
                    item["measurement"],
                    tags,
                    int(ts),
                    {k: decode_value(v) for k, v in fields.items()},
                )
                for ts, fields in item["points"]
            ]
            self.apply(bucket_id, points, shard_of(bucket_id))


# --- persistence: metadata at once, points as an append-only log, compacted ---------------


class Persistence:
    """What the container keeps on its data volume.

    - STATE_FILE: the metadata (orgs, users, buckets, authorizations, tasks, runs),
      rewritten whenever it changes (it is small), as InfluxDB commits its bolt file.
    - LOG_PREFIX<generation>.log: one JSON line per change of the points (a write
      batch, a delete, a bucket dropped, a reset), appended by the saver thread every
      two seconds and at shutdown; a change costs the size of the change, not of the
      store.
    - POINTS_FILE: the compacted points, with the last log generation they include;
      written when the log has outgrown it (and after a restore), outside the lock
      but for one copy of the store.
    """

    def __init__(self, state_dir: Path) -> None:
        self.dir = state_dir
        self.pending: list[str] = []  # appended under the double's lock
        self.generation = 0
        self._io = (
            threading.Lock()
        )  # the logs and the compacted file (taken before the double's lock)
        self._meta_io = (
            threading.Lock()
        )  # the metadata file (taken with or without the double's lock)

    # paths
    def meta_path(self) -> Path:
        return self.dir / STATE_FILE

    def points_path(self) -> Path:
        return self.dir / POINTS_FILE

    def log_path(self, generation: int) -> Path:
        return self.dir / f"{LOG_PREFIX}{generation}.log"

    def log_generations(self) -> list[int]:
        found = []
        for path in self.dir.glob(f"{LOG_PREFIX}*.log"):
            number = path.name[len(LOG_PREFIX) : -len(".log")]
            if number.isdigit():
                found.append(int(number))
        return sorted(found)

    def exists(self) -> bool:
        return self.meta_path().exists()

    @staticmethod
    def _write_atomic(path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        with tmp.open("wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        tmp.replace(path)

    def save_meta(self, meta: dict[str, Any]) -> None:
        data = json.dumps({"format": "bbdash-testdouble-state/2", "meta": meta}).encode()
        with self._meta_io:
            self._write_atomic(self.meta_path(), data)

    def record(self, entry: dict[str, Any]) -> None:
        """Queue one change of the points (call with the double's lock held, so the
        queue keeps the order in which the changes were applied)."""
        self.pending.append(json.dumps(entry, separators=(",", ":")))

    def flush(self, lock: threading.RLock) -> None:
        """Append the queued changes to the current log (the lock is held only to take them)."""
        with self._io:
            with lock:
                lines, self.pending = self.pending, []
            if lines:
                self.dir.mkdir(parents=True, exist_ok=True)
                with self.log_path(self.generation).open("a", encoding="utf-8") as fh:
                    fh.write("\n".join(lines) + "\n")
                    fh.flush()
                    os.fsync(fh.fileno())

    def log_bytes(self) -> int:
        return sum(
            self.log_path(g).stat().st_size
            for g in self.log_generations()
            if self.log_path(g).exists()
        )

    def needs_compaction(self) -> bool:
        size = self.log_bytes()
        compacted = self.points_path().stat().st_size if self.points_path().exists() else 0
        return size > max(COMPACT_MIN_BYTES, compacted)

    def compact(self, lock: threading.RLock, store: Callable[[], Store]) -> None:
        """Write the whole store to POINTS_FILE and drop the logs it includes."""
        with self._io:
            with lock:
                lines, self.pending = self.pending, []
                data = store().to_json()
                included = self.generation
                self.generation += 1
            if lines:
                self.dir.mkdir(parents=True, exist_ok=True)
                with self.log_path(included).open("a", encoding="utf-8") as fh:
                    fh.write("\n".join(lines) + "\n")
            payload = json.dumps({"log_generation": included, "points": data}).encode()
            self._write_atomic(self.points_path(), payload)
            for generation in self.log_generations():
                if generation <= included:
                    self.log_path(generation).unlink(missing_ok=True)

    def load(self) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]], bool]:
        """(metadata, compacted points, log entries to replay in order, legacy format?)."""
        state = json.loads(self.meta_path().read_text())
        if "points" in state:  # format 1: one file, points keyed by bucket name
            return state["meta"], state["points"], [], True
        points: list[dict[str, Any]] = []
        included = -1
        if self.points_path().exists():
            compacted = json.loads(self.points_path().read_text())
            points = compacted["points"]
            included = int(compacted["log_generation"])
        entries: list[dict[str, Any]] = []
        generations = self.log_generations()
        for generation in generations:
            if generation <= included:
                continue
            with self.log_path(generation).open(encoding="utf-8") as fh:
                for line in fh:
                    line = line.strip()
                    if not line:
                        continue
                    try:
                        entries.append(json.loads(line))
                    except json.JSONDecodeError:
                        break  # a line cut by a crash: everything before it counts
        self.generation = max([included, *generations]) + 1
        return state["meta"], points, entries, False


@dataclass
class Meta:
    """Everything but the points: what InfluxDB keeps in its bolt and sqlite files."""

    setup_done: bool = False
    orgs: dict[str, dict[str, Any]] = field(default_factory=dict)
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    buckets: dict[str, dict[str, Any]] = field(default_factory=dict)
    auths: dict[str, dict[str, Any]] = field(default_factory=dict)
    tasks: dict[str, dict[str, Any]] = field(default_factory=dict)
    runs: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return json.loads(
            json.dumps(
                {
                    "setup_done": self.setup_done,
                    "orgs": self.orgs,
                    "users": self.users,
                    "buckets": self.buckets,
                    "auths": self.auths,
                    "tasks": self.tasks,
                    "runs": self.runs,
                }
            )
        )

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Meta:
        return cls(
            setup_done=bool(data.get("setup_done")),
            orgs=dict(data.get("orgs", {})),
            users=dict(data.get("users", {})),
            buckets=dict(data.get("buckets", {})),
            auths=dict(data.get("auths", {})),
            tasks=dict(data.get("tasks", {})),
            runs={k: list(v) for k, v in data.get("runs", {}).items()},
        )


# --- permissions (influxdb v2.9.1 authz.go, authorizer/authorize.go) ----------------------


def operator_permissions() -> list[dict[str, Any]]:
    """influxdb v2.9.1 authz.go OperPermissions: read and write on every resource type."""
    return [
        {"action": action, "resource": {"type": rtype}}
        for rtype in RESOURCE_TYPES
        for action in ("read", "write")
    ]


def permission_matches(
    perm: dict[str, Any], action: str, rtype: str, rid: str | None, org_id: str | None
) -> bool:
    """influxdb v2.9.1 authz.go Permission.matchesV1: `perm` (held) covers the
    permission (action, rtype, rid, org_id) asked for."""
    if perm.get("action") != action:
        return False
    resource = perm.get("resource") or {}
    if resource.get("type") == "instance":
        return True
    if resource.get("type") != rtype:
        return False
    held_org, held_id = resource.get("orgID"), resource.get("id")
    if not held_org and not held_id:
        return True
    if held_org and not held_id and org_id and held_org == org_id:
        return True
    return bool(held_id and rid and held_id == rid)


def allowed(
    permissions: list[dict[str, Any]],
    action: str,
    rtype: str,
    rid: str | None = None,
    org_id: str | None = None,
) -> bool:
    """PermissionSet.Allowed: any held permission matches."""
    return any(permission_matches(p, action, rtype, rid, org_id) for p in permissions)


def permission_string(action: str, rtype: str, rid: str | None, org_id: str | None) -> str:
    """influxdb v2.9.1 authz.go Permission.String / Resource.String."""
    if org_id and rid:
        return f"{action}:orgs/{org_id}/{rtype}/{rid}"
    if org_id:
        return f"{action}:orgs/{org_id}/{rtype}"
    if rid:
        return f"{action}:{rtype}/{rid}"
    return f"{action}:{rtype}"


def authorize(
    auth: dict[str, Any], action: str, rtype: str, rid: str | None, org_id: str | None
) -> None:
    """authorizer/authorize.go authorize + isAllowedAll: an inactive token's permission
    set is an error (auth.go PermissionSet, "token is inactive"); a missing
    permission is "<perm> is unauthorized"; both 401."""
    if auth["status"] != "active":
        raise ApiError("unauthorized", "token is inactive")
    if not allowed(auth["permissions"], action, rtype, rid, org_id):
        raise ApiError(
            "unauthorized", f"{permission_string(action, rtype, rid, org_id)} is unauthorized"
        )


def can(auth: dict[str, Any], action: str, rtype: str, rid: str | None, org_id: str | None) -> bool:
    """authorize() as a filter (authorizer/authorize_find.go drops what is unauthorized)."""
    return auth["status"] == "active" and allowed(auth["permissions"], action, rtype, rid, org_id)


# --- delete predicates (influxdb v2.9.1 predicate/parser.go, predicate/tag_rule.go) --------

# A predicate is ("rule", key, op, value) or ("and", left, right), op "==" or "!=".
_PRED_TOKEN = re.compile(
    r"""(?P<ws>\s+)
    |(?P<ident>[A-Za-z_][A-Za-z0-9_]*)
    |(?P<qident>"(?:[^"\\]|\\.)*")
    |(?P<string>'(?:[^'\\]|\\.)*')
    |(?P<duration>\d+[A-Za-zµ][A-Za-z0-9µ]*)
    |(?P<number>\d+\.\d+|\.\d+|\d+)
    |(?P<op>=~|!~|!=|<>|<=|>=|=|<|>|\(|\)|-|\+|\*|/|,)""",
    re.VERBOSE,
)
# influxql v1.3.0 token.go: the keywords (and AND, OR, TRUE, FALSE); a keyword is not
# an identifier, so it is no tag key (but NAME) and no tag value.
_PRED_KEYWORDS = {
    "AND",
    "OR",
    "TRUE",
    "FALSE",
    "ALL",
    "ALTER",
    "ANALYZE",
    "ANY",
    "AS",
    "ASC",
    "BEGIN",
    "BY",
    "CARDINALITY",
    "CREATE",
    "CONTINUOUS",
    "DATABASE",
    "DATABASES",
    "DEFAULT",
    "DELETE",
    "DESC",
    "DESTINATIONS",
    "DIAGNOSTICS",
    "DISTINCT",
    "DROP",
    "DURATION",
    "END",
    "EVERY",
    "EXACT",
    "EXPLAIN",
    "FIELD",
    "FOR",
    "FROM",
    "GRANT",
    "GRANTS",
    "GROUP",
    "GROUPS",
    "IN",
    "INF",
    "INSERT",
    "INTO",
    "KEY",
    "KEYS",
    "KILL",
    "LIMIT",
    "MEASUREMENT",
    "MEASUREMENTS",
    "NAME",
    "OFFSET",
    "ON",
    "ORDER",
    "PASSWORD",
    "POLICY",
    "POLICIES",
    "PRIVILEGES",
    "QUERIES",
    "QUERY",
    "READ",
    "REPLICATION",
    "RESAMPLE",
    "RETENTION",
    "REVOKE",
    "SELECT",
    "SERIES",
    "SET",
    "SHOW",
    "SHARD",
    "SHARDS",
    "SLIMIT",
    "SOFFSET",
    "STATS",
    "SUBSCRIPTION",
    "SUBSCRIPTIONS",
    "TAG",
    "TO",
    "USER",
    "USERS",
    "VALUES",
    "VERBOSE",
    "WHERE",
    "WITH",
    "WRITE",
}


def _predicate_tokens(text: str) -> list[tuple[str, int, str]]:
    """(token, position, literal) as influxql's scanner gives them, whitespace dropped."""
    tokens: list[tuple[str, int, str]] = []
    pos = 0
    while pos < len(text):
        match = _PRED_TOKEN.match(text, pos)
        if match is None:
            tokens.append(("ILLEGAL", pos, text[pos]))
            pos += 1
            continue
        kind = match.lastgroup or ""
        lit = match.group()
        if kind == "ident":
            tokens.append((lit.upper() if lit.upper() in _PRED_KEYWORDS else "IDENT", pos, lit))
        elif kind == "qident":
            tokens.append(("IDENT", pos, re.sub(r"\\(.)", r"\1", lit[1:-1])))
        elif kind == "string":
            tokens.append(("STRING", pos, re.sub(r"\\(.)", r"\1", lit[1:-1])))
        elif kind == "duration":
            tokens.append(("DURATIONVAL", pos, lit))
        elif kind == "number":
            tokens.append(("NUMBER" if "." in lit else "INTEGER", pos, lit))
        elif kind == "op":
            names = {
                "=": "EQ",
                "!=": "NEQ",
                "<>": "NEQ",
                "=~": "EQREGEX",
                "!~": "NEQREGEX",
                "(": "LPAREN",
                ")": "RPAREN",
                "-": "SUB",
            }
            tokens.append((names.get(lit, "OP"), pos, lit))
        pos = match.end()
    tokens.append(("EOF", len(text), ""))
    return tokens


class _PredicateParser:
    """predicate/parser.go: tag rules (key = value, key != value) joined by AND, with
    parentheses; OR and regular expressions are refused as upstream refuses them."""

    def __init__(self, text: str) -> None:
        self.tokens = _predicate_tokens(text)
        self.i = 0
        self.open_paren = 0

    def scan(self) -> tuple[str, int, str]:
        token = self.tokens[self.i]
        self.i = min(self.i + 1, len(self.tokens) - 1)
        return token

    def peek(self) -> str:
        return self.tokens[self.i][0]

    def logical(self) -> Any:
        children: list[Any] = [None, None]
        node: Any = None
        while True:
            tok, pos, _lit = self.scan()
            if tok in ("NUMBER", "INTEGER", "IDENT", "NAME"):
                self.i -= 1
                rule = self.tag_rule()
                if children[0] is None:
                    children[0] = rule
                else:
                    children[1] = rule
            elif tok == "AND":
                if children[1] is None:
                    continue
                right = self.logical_paren() if self.peek() == "LPAREN" else self.tag_rule()
                node = ("and", self._node(children), right)
                children = [node, None]
            elif tok == "OR":
                raise ApiError(
                    "invalid", f"the logical operator OR is not supported yet at position {pos}"
                )
            elif tok == "LPAREN":
                self.open_paren += 1
                current = self.open_paren
                inner = self.logical()
                if self.open_paren != current - 1:
                    raise ApiError("invalid", "extra ( seen")
                if children[0] is None:
                    children[0] = inner
                else:
                    children[1] = inner
            elif tok in ("RPAREN", "EOF"):
                if tok == "RPAREN":
                    self.open_paren -= 1
                if self.open_paren < 0:
                    raise ApiError("invalid", "extra ) seen")
                return self._node(children)
            else:
                raise ApiError("invalid", f"bad logical expression, at position {pos}")

    def logical_paren(self) -> Any:
        return self.logical()

    @staticmethod
    def _node(children: list[Any]) -> Any:
        if children[1] is None:
            return children[0]
        return ("and", children[0], children[1])

    def tag_rule(self) -> Any:
        tok, pos, lit = self.scan()
        if tok not in ("IDENT", "NAME"):
            raise ApiError("invalid", f"bad tag key, at position {pos}")
        key = lit if tok == "IDENT" else "name"
        tok, pos, lit = self.scan()
        if tok == "EQ":
            op = "=="
        elif tok == "NEQ":
            op = "!="
        elif tok in ("EQREGEX", "NEQREGEX"):
            raise ApiError("invalid", f'operator: "{lit}" at position: {pos} is not supported yet')
        else:
            raise ApiError("invalid", f'invalid operator "{lit}" at position: {pos}')
        value = ""
        while True:
            tok, pos, lit = self.scan()
            if tok == "SUB":
                value = "-"
                continue
            if tok in ("IDENT", "DURATIONVAL", "NUMBER", "INTEGER"):
                return ("rule", key, op, value + lit)
            if tok in ("TRUE", "FALSE"):
                return ("rule", key, op, tok.lower())
            raise ApiError("invalid", f"bad tag value: {json.dumps(lit)}, at position {pos}")


def parse_predicate(text: str) -> Any:
    if not text:
        return None
    return _PredicateParser(text).logical()


def _predicate_rules(node: Any) -> Iterator[tuple[str, str, str]]:
    if node is None:
        return
    if node[0] == "rule":
        yield node[1], node[2], node[3]
    else:
        yield from _predicate_rules(node[1])
        yield from _predicate_rules(node[2])


def predicate_matches(
    node: Any, measurement: str, tags: dict[str, str], field_name: str | None = None
) -> bool:
    """A series (and field) matches: a missing tag compares as the empty string, as
    the storage engine's tag-predicate evaluation does."""
    if node is None:
        return True
    if node[0] == "and":
        return predicate_matches(node[1], measurement, tags, field_name) and predicate_matches(
            node[2], measurement, tags, field_name
        )
    _, key, op, value = node
    if key == "_measurement":
        actual = measurement
    elif key == "_field":
        if field_name is None:
            return True
        actual = field_name
    else:
        actual = tags.get(key, "")
    return (actual == value) if op == "==" else (actual != value)


# --- the double -----------------------------------------------------------------------------


class InfluxDBDouble:
    """The test double; `start()` it, point a client at `url`, inspect `points()`.

    With a `token`, it starts already set up (org `org`, `token` as operator
    token); a write to an unknown bucket name creates it, unless `buckets` lists
    the buckets. Without one, it waits for `POST /api/v2/setup`, like a fresh InfluxDB.
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
        self.buckets = buckets
        self.hang_s = hang_s
        self.mode = "up"
        self.store = Store()
        self.meta = Meta()
        self.lock = threading.RLock()
        self.state_dir = state_dir
        self.persistence = Persistence(state_dir) if state_dir is not None else None
        self.started_at = time.time()
        self.started_ns = time.time_ns()
        self.accept_any_bucket = token is not None and buckets is None
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._saver: threading.Thread | None = None
        self._stopping = threading.Event()
        if self.persistence is not None and self.persistence.exists():
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
        if self.persistence is not None and self._saver is None:
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
        """Forget every point (test-only)."""
        with self.lock:
            self.store = Store()
            if self.persistence is not None:
                self.persistence.record({"reset": True})

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

    def shard_ns(self, bucket_id: str) -> int:
        bucket = self.meta.buckets.get(bucket_id)
        return int(bucket["shard_s"]) * NS if bucket else 7 * DAY_S * NS

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {
                "format": BACKUP_FORMAT,
                "version": VERSION,
                "meta": self.meta.to_json(),
                "points": self.store.to_json(),
            }

    def _legacy_points(self, meta: Meta, points: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Format 1 keyed the points by bucket name: key them by bucket ID."""
        ids = {b["name"]: b["id"] for b in meta.buckets.values()}
        return [{**item, "bucketID": ids.get(item["bucket"], item["bucket"])} for item in points]

    def load_snapshot(self, data: dict[str, Any]) -> None:
        fmt = data.get("format")
        if fmt not in (BACKUP_FORMAT, "bbdash-testdouble-influxdb/1"):
            raise ApiError("invalid", "not a backup of the InfluxDB test double")
        meta = Meta.from_json(data["meta"])
        points = data["points"]
        if fmt != BACKUP_FORMAT:
            points = self._legacy_points(meta, points)
        with self.lock:
            self.meta = meta
            self.store = Store()
            self.store.load_json(points, self.shard_ns)
        self.save_state(compact=True)

    def save_state(self, *, compact: bool = False) -> None:
        """Metadata now; the queued point changes to the log (or, compacting, the whole store)."""
        if self.persistence is None:
            return
        with self.lock:
            meta = self.meta.to_json()
        self.persistence.save_meta(meta)
        if compact:
            self.persistence.compact(self.lock, lambda: self.store)
        else:
            self.persistence.flush(self.lock)

    def _load_state(self) -> None:
        assert self.persistence is not None
        meta_json, points, entries, legacy = self.persistence.load()
        self.meta = Meta.from_json(meta_json)
        if legacy:
            points = self._legacy_points(self.meta, points)
        self.store = Store()
        self.store.load_json(points, self.shard_ns)
        for entry in entries:
            self._replay(entry)
        if legacy or entries:
            self.save_state(compact=True)

    def _replay(self, entry: dict[str, Any]) -> None:
        if "w" in entry:
            bucket_id = entry["w"]
            points: list[Point] = [
                (
                    m,
                    tuple((str(k), str(v)) for k, v in tags),
                    int(ts),
                    {k: decode_value(v) for k, v in fields.items()},
                )
                for m, tags, ts, fields in entry["p"]
            ]
            self.store.apply(bucket_id, points, self.shard_ns(bucket_id))
        elif "d" in entry:
            self.store.delete(
                entry["d"], int(entry["start"]), int(entry["stop"]), _from_json_tree(entry["pred"])
            )
        elif "drop" in entry:
            self.store.drop_bucket(entry["drop"])
        elif entry.get("reset"):
            self.store = Store()

    def _save_points_loop(self) -> None:
        assert self.persistence is not None
        while not self._stopping.wait(2.0):
            with contextlib.suppress(OSError):
                self.persistence.flush(self.lock)
                if self.persistence.needs_compaction():
                    self.persistence.compact(self.lock, lambda: self.store)

    def _changed(self) -> None:
        """Metadata changed: persist it now (container mode), as InfluxDB commits to its bolt file."""
        if self.persistence is None:
            return
        with self.lock:
            meta = self.meta.to_json()
        self.persistence.save_meta(meta)

    # --- points (test helpers) -----------------------------------------------------------

    def _bucket_ids_named(self, name: str | None) -> set[str] | None:
        if name is None:
            return None
        return {b["id"] for b in self.meta.buckets.values() if b["name"] == name}

    def points(self, bucket: str | None = None, symbol: str | None = None) -> list[dict[str, Any]]:
        """Stored points as dicts (bucket, measurement, tags, fields, time), sorted by time;
        only those tagged `symbol` when one is given."""
        with self.lock:
            ids = self._bucket_ids_named(bucket)
            names = {b["id"]: b["name"] for b in self.meta.buckets.values()}
            out = [
                {
                    "bucket": names.get(key[0], key[0]),
                    "measurement": key[1],
                    "tags": dict(key[2]),
                    "fields": {
                        k: (int(v) if isinstance(v, UInt) else v) for k, v in fields.items()
                    },
                    "time": ts,
                }
                for key, points in self.store.series.items()
                if (ids is None or key[0] in ids)
                and (symbol is None or ("symbol", symbol) in key[2])
                for ts, fields in points.items()
            ]
        out.sort(key=lambda p: (p["time"], p["measurement"], sorted(p["tags"].items())))
        return out

    def point_count(self, bucket: str | None = None) -> int:
        with self.lock:
            ids = self._bucket_ids_named(bucket)
            return sum(
                len(points)
                for key, points in self.store.series.items()
                if ids is None or key[0] in ids
            )

    # --- authentication (influxdb v2.9.1 http/authentication_middleware.go, http/tokens.go) ---

    def authenticate(self, header: str) -> dict[str, Any]:
        """GetToken: "Token " or "Bearer " (any case); an unknown token 401 "unauthorized
        access". An inactive token authenticates: its permission checks fail."""
        token: str | None = None
        if len(header) >= 6 and header[:6].lower() == "token ":
            token = header[6:]
        elif len(header) > 7 and header[:7].lower() == "bearer ":
            token = header[7:]
        if not token:
            raise ApiError("unauthorized", "unauthorized access")
        digest = token_hash(token)
        with self.lock:
            for auth in self.meta.auths.values():
                if auth["token_hash"] == digest:
                    return auth
        raise ApiError("unauthorized", "unauthorized access")

    # --- onboarding (influxdb v2.9.1 tenant/http_server_onboarding.go, service_onboarding.go) ---

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
        now = now_rfc3339()
        user = {
            "id": new_id(),
            "name": username,
            "status": "active",
            "password_sha256": hashlib.sha256(password.encode()).hexdigest(),
        }
        self.meta.users[user["id"]] = user
        org = self._create_org(org_name, now)
        bucket = None
        if bucket_name:
            bucket = self._create_bucket(org["id"], bucket_name, retention_s, 0, "")
        token = token or new_token()
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
        """tenant/http_server_onboarding.go handleInitialOnboardRequest: the body decoded
        into influxdb.OnboardingRequest (onboarding.go; a value of the wrong JSON type is
        a json error, which kithttp.API.Err answers 500 with its text), then
        tenant/service_onboarding.go onboardUser (missing fields 422) and the password
        check (tenant/service_user.go IsPasswordStrong, length 8..72, 400)."""
        types = {
            "username": "string",
            "password": "string",
            "org": "string",
            "bucket": "string",
            "token": "string",
            "retentionPeriodSeconds": "int64",
            "retentionPeriodHrs": "time.Duration",
        }
        for key, gotype in types.items():
            value = body.get(key)
            if value is None:
                continue
            ok = isinstance(value, str) if gotype == "string" else type(value) is int
            if not ok:
                raise ApiError(
                    "internal error",
                    f"json: cannot unmarshal {_json_kind(value)} into Go struct field "
                    f"OnboardingRequest.{key} of type {gotype}",
                )
        with self.lock:
            if self.meta.setup_done:
                raise ApiError("conflict", "onboarding has already been completed")
            username = str(body.get("username") or "")
            password = str(body.get("password") or "")
            org_name = str(body.get("org") or "")
            bucket_name = str(body.get("bucket") or "")
            missing = [
                name
                for name, value in (
                    ("username", username),
                    ("org", org_name),
                    ("bucket", bucket_name),
                )
                if not value
            ]
            if missing:
                raise ApiError(
                    "unprocessable entity",
                    f"onboarding failed: missing required fields [{','.join(missing)}]",
                )
            if password and not 8 <= len(password) <= 72:
                raise ApiError("invalid", "passwords must be between 8 and 72 characters long")
            # onboarding.go RetentionPeriod: the seconds when positive, else the
            # deprecated retentionPeriodHrs, a Go time.Duration (nanoseconds).
            retention_s = int(body.get("retentionPeriodSeconds") or 0)
            if retention_s <= 0:
                retention_s = int(body.get("retentionPeriodHrs") or 0) // NS
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

    # --- organisations (influxdb v2.9.1 tenant/http_server_org.go, service_org.go) ---------

    def _create_org(self, name: str, now: str | None = None) -> dict[str, Any]:
        """tenant/service_org.go CreateOrganization: the org, then its system buckets
        _tasks (3 days) and _monitoring (7 days)."""
        if not name:
            raise ApiError("invalid", "org name is empty")
        for org in self.meta.orgs.values():
            if org["name"] == name:
                raise ApiError("conflict", f"organization with name {name} already exists")
        now = now or now_rfc3339()
        org = {"id": new_id(), "name": name, "description": "", "createdAt": now, "updatedAt": now}
        self.meta.orgs[org["id"]] = org
        self._create_bucket(
            org["id"], "_tasks", 3 * DAY_S, 0, "System bucket for task logs", system=True
        )
        self._create_bucket(
            org["id"], "_monitoring", 7 * DAY_S, 0, "System bucket for monitoring logs", system=True
        )
        return org

    def _org_by_name(self, name: str) -> dict[str, Any]:
        for org in self.meta.orgs.values():
            if org["name"] == name:
                return org
        raise ApiError("not found", f'organization name "{name}" not found')

    def _org_by_id(self, org_id: str) -> dict[str, Any]:
        org = self.meta.orgs.get(org_id.lower())
        if org is None:
            raise ApiError("not found", "organization not found")
        return org

    def _org_view(self, org: dict[str, Any]) -> dict[str, Any]:
        oid, name = org["id"], org["name"]
        view: dict[str, Any] = {
            "links": {
                "self": f"/api/v2/orgs/{oid}",
                "logs": f"/api/v2/orgs/{oid}/logs",
                "members": f"/api/v2/orgs/{oid}/members",
                "owners": f"/api/v2/orgs/{oid}/owners",
                "secrets": f"/api/v2/orgs/{oid}/secrets",
                "labels": f"/api/v2/orgs/{oid}/labels",
                "buckets": f"/api/v2/buckets?org={name}",
                "tasks": f"/api/v2/tasks?org={name}",
                "dashboards": f"/api/v2/dashboards?org={name}",
            },
            "id": oid,
            "name": name,
        }
        if org.get("description"):
            view["description"] = org["description"]
        view["createdAt"] = org["createdAt"]
        view["updatedAt"] = org.get("updatedAt", org["createdAt"])
        return view

    def _user_view(self, user: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": user["id"],
            "name": user["name"],
            "status": user["status"],
            "links": {"self": f"/api/v2/users/{user['id']}"},
        }

    def api_users_list(self, auth: dict[str, Any], query: dict[str, list[str]]) -> dict[str, Any]:
        """tenant/http_server_user.go handleGetUsers (`id`, then `name`), tenant/service_user.go
        FindUsers (an id or a name finds one user or 404 `user not found`,
        kit/platform/errors/error_user.go ErrUserNotFound), then authorizer/user.go
        AuthorizeFindUsers (what the token may not read is left out), newUsersResponse."""
        opts = find_options(query)
        user_id = _first(query, "id")
        name = _first(query, "name")
        with self.lock:
            if user_id:
                found = self.meta.users.get(check_id(user_id))
                users = [found] if found is not None else []
            elif name:
                users = [u for u in self.meta.users.values() if u["name"] == name][:1]
            else:
                users = sorted(self.meta.users.values(), key=lambda u: u["id"])
                users = users[opts.offset :][: opts.limit]
            if (user_id or name) and not users:
                raise ApiError("not found", "user not found")
            views = [self._user_view(u) for u in users if can(auth, "read", "users", u["id"], None)]
        return {"links": {"self": "/api/v2/users"}, "users": views}

    def api_user_create(self, auth: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
        """tenant/http_server_user.go handlePostUser (status "" becomes active; no
        password: a user for tokens only), authorizer/user.go CreateUser (global
        write:users), tenant/storage_user.go CreateUser (a taken name 422 `conflict`
        `user with name x already exists`, kit/platform/errors/error_user.go)."""
        name = str(body.get("name") or "")
        status = str(body.get("status") or "active")
        with self.lock:
            authorize(auth, "write", "users", None, None)
            if any(u["name"] == name for u in self.meta.users.values()):
                raise ApiError("conflict", f"user with name {name} already exists")
            user = {"id": new_id(), "name": name, "status": status, "password_sha256": ""}
            self.meta.users[user["id"]] = user
            view = self._user_view(user)
        self._changed()
        return view

    def query_organization(self, query: dict[str, list[str]]) -> dict[str, Any]:
        """influxdb v2.9.1 http/requests.go queryOrganization: `org` is an ID when it
        parses as one, else a name; `orgID` wins; neither is 400."""
        org_param = _first(query, "org")
        org_id = _first(query, "orgID")
        with self.lock:
            if org_id:
                return self._org_by_id(check_id(org_id))
            if org_param:
                if is_platform_id(org_param):
                    return self._org_by_id(org_param)
                return self._org_by_name(org_param)
        raise ApiError("invalid", "Please provide either orgID or org")

    def api_orgs(self, auth: dict[str, Any], query: dict[str, list[str]]) -> dict[str, Any]:
        opts = find_options(query)
        name = _first(query, "org")
        org_id = _first(query, "orgID")
        with self.lock:
            if name:
                orgs = [self._org_by_name(name)]
            elif org_id and is_platform_id(org_id):
                orgs = [self._org_by_id(org_id)]
            else:
                orgs = sorted(self.meta.orgs.values(), key=lambda o: o["id"])[opts.offset :][
                    : opts.limit
                ]
            views = [self._org_view(o) for o in orgs if can(auth, "read", "orgs", o["id"], None)]
        return {"links": {"self": "/api/v2/orgs"}, "orgs": views}

    def api_org_create(self, auth: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            authorize(auth, "write", "orgs", None, None)
            org = self._create_org(str(body.get("name") or ""))
            if body.get("description"):
                org["description"] = str(body["description"])
            view = self._org_view(org)
        self._changed()
        return view

    # --- buckets (influxdb v2.9.1 tenant/http_server_bucket.go, service_bucket.go) --------

    def _bucket_view(self, bucket: dict[str, Any]) -> dict[str, Any]:
        bid, oid = bucket["id"], bucket["orgID"]
        rules = []
        if bucket["retention_s"] or bucket["shard_s"]:
            rules.append(
                {
                    "type": "expire",
                    "everySeconds": bucket["retention_s"],
                    "shardGroupDurationSeconds": bucket["shard_s"],
                }
            )
        view: dict[str, Any] = {"id": bid, "orgID": oid, "type": bucket["type"]}
        if bucket.get("description"):
            view["description"] = bucket["description"]
        view.update(
            {
                "name": bucket["name"],
                "retentionRules": rules,
                "createdAt": bucket["createdAt"],
                "updatedAt": bucket["updatedAt"],
                "links": {
                    "self": f"/api/v2/buckets/{bid}",
                    "org": f"/api/v2/orgs/{oid}",
                    "members": f"/api/v2/buckets/{bid}/members",
                    "owners": f"/api/v2/buckets/{bid}/owners",
                    "labels": f"/api/v2/buckets/{bid}/labels",
                    "write": f"/api/v2/write?org={oid}&bucket={bid}",
                },
                "labels": [],
            }
        )
        return view

    @staticmethod
    def _check_retention(retention_s: int, shard_s: int, *, creating: bool) -> int:
        """The storage engine's checks (influxdb v2.9.1 v1/services/meta/data.go and
        client.go, reached through storage/engine.go CreateBucket/UpdateBucketRetentionPolicy);
        returns the effective shard-group duration."""
        if 0 < retention_s < HOUR_S:
            # Not mapped to a client error by InfluxDB: it answers 500.
            raise ApiError("internal error", "retention policy duration must be at least 1h0m0s")
        if shard_s == 0:
            shard_s = default_shard_group_seconds(retention_s)
        elif shard_s < HOUR_S:
            shard_s = default_shard_group_seconds(HOUR_S)
        if retention_s and retention_s < shard_s:
            if creating:
                raise ApiError(
                    "internal error",
                    "retention policy duration must be greater than the shard duration",
                )
            raise ApiError(
                "unprocessable entity",
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
        if name.startswith("_") and not system:
            raise ApiError(
                "invalid", f"bucket name {name} is invalid. Buckets may not start with underscore"
            )
        if '"' in name:
            raise ApiError(
                "invalid",
                f"bucket name {name} is invalid. Bucket names may not include quotation marks",
            )
        if org_id not in self.meta.orgs:
            raise ApiError("not found", "organization not found")
        for bucket in self.meta.buckets.values():
            if bucket["orgID"] == org_id and bucket["name"] == name:
                raise ApiError("conflict", f"bucket with name {name} already exists")
        shard_s = self._check_retention(retention_s, shard_s, creating=True)
        now = now_rfc3339()
        bucket = {
            "id": new_id(),
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
    def _rules(body: dict[str, Any], *, creating: bool) -> tuple[int | None, int | None]:
        """postBucketRequest.OK / bucketUpdate.OK."""
        rules = body.get("retentionRules")
        if rules is None:
            return None, None
        if not isinstance(rules, list):
            raise ApiError("invalid", "failed to unmarshal json: retentionRules must be an array")
        if len(rules) > 1:
            raise ApiError(
                "unprocessable entity",
                "buckets cannot have more than one retention rule at this time",
            )
        if not rules:
            return (0, 0) if creating else (None, None)
        rule = rules[0]
        every = rule.get("everySeconds")
        shard = rule.get("shardGroupDurationSeconds")
        every = None if every is None else int(every)
        shard = None if shard is None else int(shard)
        if every is not None and every < 0:
            raise ApiError("unprocessable entity", "expiration seconds cannot be negative")
        if shard is not None and shard < 0:
            raise ApiError(
                "unprocessable entity", "shard-group duration seconds cannot be negative"
            )
        if creating:
            return every or 0, shard or 0
        return every, shard

    def _read_bucket_allowed(self, auth: dict[str, Any], bucket: dict[str, Any]) -> bool:
        """authorizer/authorize.go AuthorizeReadBucket: a system bucket is readable
        with read on its org."""
        if bucket["type"] == "system":
            return can(auth, "read", "orgs", bucket["orgID"], None)
        return can(auth, "read", "buckets", bucket["id"], bucket["orgID"])

    def _authorize_read_bucket(self, auth: dict[str, Any], bucket: dict[str, Any]) -> None:
        if bucket["type"] == "system":
            authorize(auth, "read", "orgs", bucket["orgID"], None)
        else:
            authorize(auth, "read", "buckets", bucket["id"], bucket["orgID"])

    def api_buckets_list(self, auth: dict[str, Any], query: dict[str, list[str]]) -> dict[str, Any]:
        """handleGetBuckets: FindOptions (limit 1..100, default 20; offset; after),
        filters; by org the buckets come in name order (the org/name index), else
        in ID order; an org and a name is a lookup: 404 when there is no such bucket;
        then what the token may not read is left out (authorize_find.go)."""
        opts = find_options(query)
        org_id = _first(query, "orgID")
        org_name = _first(query, "org")
        name = _first(query, "name")
        bucket_id = _first(query, "id")
        with self.lock:
            if org_id:
                org_id = check_id(org_id)
            if bucket_id:
                found = [self._bucket(check_id(bucket_id))]
            else:
                if org_id is None and org_name:
                    org_id = self._org_by_name(org_name)["id"]
                if org_id is not None and name is not None:
                    found = [self._bucket_by_name(org_id, name)]
                elif org_id is not None:
                    candidates = sorted(
                        (b for b in self.meta.buckets.values() if b["orgID"] == org_id),
                        key=lambda b: b["name"].encode(),
                    )
                    found = _page_after(candidates, opts)
                else:
                    candidates = sorted(self.meta.buckets.values(), key=lambda b: b["id"])
                    if opts.after:
                        candidates = [b for b in candidates if b["id"] > opts.after]
                    found = []
                    for index, bucket in enumerate(candidates):
                        if index < opts.offset:
                            continue
                        if name is None or bucket["name"] == name:
                            found.append(bucket)
                        if len(found) >= opts.limit:
                            break
            views = [self._bucket_view(b) for b in found if self._read_bucket_allowed(auth, b)]
        params: dict[str, str] = {}
        if bucket_id:
            params["id"] = bucket_id
        if name:
            params["bucket"] = name
        if org_id:
            params["orgID"] = org_id
        if org_name:
            params["org"] = org_name
        return {
            "links": paging_links("/api/v2/buckets", params, opts, len(views)),
            "buckets": views,
        }

    def _bucket(self, bucket_id: str) -> dict[str, Any]:
        bucket = self.meta.buckets.get(bucket_id.lower())
        if bucket is None:
            raise ApiError("not found", "bucket not found")
        return bucket

    def _bucket_by_name(self, org_id: str, name: str) -> dict[str, Any]:
        for bucket in self.meta.buckets.values():
            if bucket["orgID"] == org_id and bucket["name"] == name:
                return bucket
        raise ApiError("not found", f'bucket "{name}" not found')

    def find_bucket(self, org_id: str, ref: str) -> dict[str, Any]:
        """influxdb v2.9.1 http/write_handler.go findBucket: an ID (in the org) first,
        else a name."""
        with self.lock:
            if is_platform_id(ref):
                bucket = self.meta.buckets.get(ref.lower())
                if bucket is not None and bucket["orgID"] == org_id:
                    return bucket
            return self._bucket_by_name(org_id, ref)

    def api_bucket_create(self, auth: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
        org_id = body.get("orgID")
        if org_id is not None:
            try:
                org_id = check_id(str(org_id))
            except ApiError as exc:
                raise exc.wrap("failed to unmarshal json") from exc
        if not org_id:
            raise ApiError("invalid", "organization id must be provided")
        every, shard = self._rules(body, creating=True)
        name = str(body.get("name") or "")
        with self.lock:
            authorize(auth, "write", "buckets", None, org_id.lower())
            bucket = self._create_bucket(
                org_id.lower(), name, every or 0, shard or 0, str(body.get("description") or "")
            )
            view = self._bucket_view(bucket)
        self._changed()
        return view

    def api_bucket_get(self, auth: dict[str, Any], bucket_id: str) -> dict[str, Any]:
        with self.lock:
            bucket = self._bucket(check_id(bucket_id))
            self._authorize_read_bucket(auth, bucket)
            return self._bucket_view(bucket)

    def api_bucket_patch(
        self, auth: dict[str, Any], bucket_id: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        bucket_id = check_id(bucket_id)
        every, shard = self._rules(body, creating=False)
        with self.lock:
            bucket = self._bucket(bucket_id)
            authorize(auth, "write", "buckets", bucket_id, bucket["orgID"])
            new_name = body.get("name")
            if new_name is not None and new_name != bucket["name"]:
                if bucket["type"] == "system":
                    raise ApiError("invalid", "system buckets cannot be renamed")
                if str(new_name).startswith("_"):
                    raise ApiError(
                        "invalid",
                        f"bucket name {new_name} is invalid. Buckets may not start with underscore",
                    )
                for other in self.meta.buckets.values():
                    if other["orgID"] == bucket["orgID"] and other["name"] == new_name:
                        raise ApiError("conflict", f"bucket with name {new_name} already exists")
            retention = bucket["retention_s"] if every is None else every
            shard_s = bucket["shard_s"] if shard is None else shard
            shard_s = self._check_retention(retention, shard_s, creating=False)
            if new_name is not None:
                bucket["name"] = str(new_name)
            if "description" in body:
                bucket["description"] = str(body["description"] or "")
            bucket["retention_s"] = retention
            bucket["shard_s"] = shard_s
            bucket["updatedAt"] = now_rfc3339()
            view = self._bucket_view(bucket)
        self._changed()
        return view

    def api_bucket_delete(self, auth: dict[str, Any], bucket_id: str) -> None:
        bucket_id = check_id(bucket_id)
        with self.lock:
            bucket = self._bucket(bucket_id)
            authorize(auth, "write", "buckets", bucket_id, bucket["orgID"])
            if bucket["type"] == "system":
                raise ApiError("invalid", "system buckets cannot be deleted")
            del self.meta.buckets[bucket_id]
            self.store.drop_bucket(bucket_id)
            if self.persistence is not None:
                self.persistence.record({"drop": bucket_id})
        self._changed()

    # --- authorizations (influxdb v2.9.1 authorization/http_server.go, authorizer/auth.go) ---

    def _create_auth(
        self,
        org_id: str,
        user_id: str,
        description: str,
        permissions: list[dict[str, Any]],
        token: str,
        status: str = "active",
    ) -> dict[str, Any]:
        now = now_rfc3339()
        auth = {
            "id": new_id(),
            "orgID": org_id,
            "userID": user_id,
            "description": description,
            "status": status,
            "permissions": permissions,
            "token_hash": token_hash(token),
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
        # InfluxDB 2.9 keeps only the hash (use-hashed-tokens, on by default): the
        # token field is empty except in the answer that creates the token.
        return {
            "id": auth["id"],
            "token": "",
            "status": auth["status"],
            "description": auth["description"],
            "orgID": auth["orgID"],
            "org": org.get("name", ""),
            "userID": auth["userID"],
            "user": user.get("name", ""),
            "permissions": permissions,
            "links": {
                "self": f"/api/v2/authorizations/{auth['id']}",
                "user": f"/api/v2/users/{auth['userID']}",
            },
            "createdAt": auth["createdAt"],
            "updatedAt": auth["updatedAt"],
        }

    def _auth_readable(self, auth: dict[str, Any], other: dict[str, Any]) -> bool:
        return can(auth, "read", "authorizations", other["id"], other["orgID"]) and can(
            auth, "read", "users", other["userID"], None
        )

    def api_auths_list(self, auth: dict[str, Any], query: dict[str, list[str]]) -> dict[str, Any]:
        """handleGetAuthorizations, then authorizer's AuthorizeFindAuthorizations
        (read on the authorization and on its user), no paging."""
        user_id = _first(query, "userID")
        org_id = _first(query, "orgID")
        user_name = _first(query, "user")
        org_name = _first(query, "org")
        with self.lock:
            if user_id:
                user_id = check_id(user_id)
            if org_id:
                org_id = check_id(org_id)
            if user_id is None and user_name:
                users = [u for u in self.meta.users.values() if u["name"] == user_name]
                if not users:
                    raise ApiError("not found", "user not found")
                user_id = users[0]["id"]
            if org_id is None and org_name:
                org_id = self._org_by_name(org_name)["id"]
            found = [
                self._auth_view(a)
                for a in sorted(self.meta.auths.values(), key=lambda a: a["id"])
                if (org_id is None or a["orgID"] == org_id)
                and (user_id is None or a["userID"] == user_id)
                and self._auth_readable(auth, a)
            ]
        return {"links": {"self": "/api/v2/authorizations"}, "authorizations": found}

    def api_auth_create(self, auth: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
        """decodePostAuthorizationRequest (JSON decoding of the IDs, then Validate), the
        authorizer (write on authorizations of the org and on the user, then each
        permission held by the caller: VerifyPermissions), then the service."""
        try:
            for key in ("orgID", "userID"):
                if body.get(key) is not None:
                    body[key] = check_id(str(body[key]))
            for perm in body.get("permissions") or []:
                resource = perm.get("resource") or {}
                for key in ("id", "orgID"):
                    if resource.get(key) is not None:
                        resource[key] = check_id(str(resource[key]))
        except ApiError as exc:
            raise exc.wrap("invalid json structure") from exc
        permissions = body.get("permissions") or []
        if not isinstance(permissions, list) or not permissions:
            raise ApiError("invalid", "authorization must include permissions")
        clean: list[dict[str, Any]] = []
        for perm in permissions:
            resource = perm.get("resource") or {}
            if resource.get("type") not in RESOURCE_TYPES:
                raise ApiError(
                    "invalid",
                    "invalid resource type for permission: unknown resource type for permission",
                )
            if perm.get("action") not in ("read", "write"):
                raise ApiError(
                    "invalid", "invalid action type for permission: unknown action for permission"
                )
            entry: dict[str, Any] = {"type": resource["type"]}
            for key in ("id", "orgID"):
                if resource.get(key):
                    entry[key] = resource[key]
            clean.append({"action": perm["action"], "resource": entry})
        org_id = str(body.get("orgID") or "")
        if not org_id:
            raise ApiError("invalid", "org id required: invalid ID")
        status = str(body.get("status") or "active")
        if status not in ("active", "inactive"):
            raise ApiError("invalid", "invalid status: must be active or inactive")
        with self.lock:
            user_id = str(body.get("userID") or auth["userID"]).lower()
            authorize(auth, "write", "authorizations", None, org_id)
            authorize(auth, "write", "users", user_id, None)
            for perm in clean:
                p = perm["resource"]
                if not can(auth, perm["action"], p["type"], p.get("id"), p.get("orgID")):
                    text = permission_string(perm["action"], p["type"], p.get("id"), p.get("orgID"))
                    if auth["status"] != "active":
                        raise ApiError(
                            "forbidden", f"permission {text} is not allowed: token is inactive"
                        )
                    raise ApiError(
                        "forbidden", f"permission {text} is not allowed: {text} is unauthorized"
                    )
            for perm in clean:
                p = perm["resource"]
                if p.get("orgID") and p["orgID"] != org_id:
                    text = permission_string(perm["action"], p["type"], p.get("id"), p.get("orgID"))
                    raise ApiError("invalid", f"permission {text} is not for org id {org_id}")
            if user_id not in self.meta.users or org_id not in self.meta.orgs:
                raise ApiError("invalid", "unable to create token")
            token = new_token()
            created = self._create_auth(
                org_id, user_id, str(body.get("description") or ""), clean, token, status
            )
            view = {**self._auth_view(created), "token": token}
        self._changed()
        return view

    def _auth(self, auth_id: str) -> dict[str, Any]:
        found = self.meta.auths.get(auth_id.lower())
        if found is None:
            raise ApiError("not found", "authorization not found")
        return found

    def api_auth_get(self, auth: dict[str, Any], auth_id: str) -> dict[str, Any]:
        with self.lock:
            found = self._auth(check_id(auth_id))
            authorize(auth, "read", "authorizations", found["id"], found["orgID"])
            authorize(auth, "read", "users", found["userID"], None)
            return self._auth_view(found)

    def api_auth_patch(
        self, auth: dict[str, Any], auth_id: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        auth_id = check_id(auth_id)
        with self.lock:
            found = self._auth(auth_id)
            authorize(auth, "read", "authorizations", found["id"], found["orgID"])
            authorize(auth, "read", "users", found["userID"], None)
            authorize(auth, "write", "authorizations", found["id"], found["orgID"])
            authorize(auth, "write", "users", found["userID"], None)
            if "status" in body and body["status"] is not None:
                if body["status"] not in ("active", "inactive"):
                    raise ApiError("invalid", "invalid status: must be active or inactive")
                found["status"] = body["status"]
            if body.get("description") is not None:
                found["description"] = str(body["description"])
            found["updatedAt"] = now_rfc3339()
            view = self._auth_view(found)
        self._changed()
        return view

    def api_auth_delete(self, auth: dict[str, Any], auth_id: str) -> None:
        auth_id = check_id(auth_id)
        with self.lock:
            found = self._auth(auth_id)
            authorize(auth, "write", "authorizations", found["id"], found["orgID"])
            authorize(auth, "write", "users", found["userID"], None)
            del self.meta.auths[auth_id]
        self._changed()

    # --- tasks (influxdb v2.9.1 http/task_service.go, authorizer/task.go, kv/task.go) -------

    @staticmethod
    def parse_task_options(flux: str) -> dict[str, Any]:
        """task/options/options.go FromScriptAST + Validate, wrapped as
        taskmodel.ErrTaskOptionParse ("invalid options: ...")."""

        def invalid(reason: str) -> ApiError:
            return ApiError("invalid", f"invalid options: {reason}")

        try:
            statements = FluxParser(flux).program()
        except FluxError as exc:
            raise invalid(exc.message) from exc
        records = [s for s in statements if s[0] == "option" and s[1] == "task"]
        if len(records) > 1:
            raise invalid("multiple task options defined")
        if not records:
            raise invalid("no task options defined")
        record = records[0][2]
        if record[0] != "record":
            raise invalid(f'task option expected to be object literal, but found "{record[0]}"')
        props = dict(record[1])
        options: dict[str, Any] = {}
        name = props.get("name")
        if name is None:
            raise invalid("missing required option: name")
        if name[0] != "string":
            raise invalid("failed to parse field 'name' in task options")
        options["name"] = name[1]
        every, cron = props.get("every"), props.get("cron")
        if every is not None and cron is not None:
            raise invalid("cannot use both cron and every in task options")
        if every is None and cron is None:
            raise invalid("missing required option: cron or every")
        if cron is not None:
            if cron[0] != "string":
                raise invalid("failed to parse field 'cron' in task options")
            options["cron"] = cron[1]
        else:
            assert every is not None
            if every[0] != "duration":
                raise invalid("failed to parse field 'every' in task options")
            if every[2] < NS:
                raise invalid("every option must be at least 1 second")
            if every[2] % NS:
                raise invalid("every option must be expressible as whole seconds")
            options["every"] = every[1]
        offset = props.get("offset")
        if offset is not None:
            if offset[0] == "neg" and offset[1][0] == "duration":
                offset_ns = -offset[1][2]
            elif offset[0] == "duration":
                offset_ns = offset[2]
            else:
                raise invalid("failed to parse field 'offset' in task options")
            if offset_ns % NS:
                raise invalid("offset option must be expressible as whole seconds")
            options["offset_ns"] = offset_ns
        return options

    def _task_view(self, task: dict[str, Any]) -> dict[str, Any]:
        """http/task_service.go newTaskResponse / NewFrontEndTask."""
        org = self.meta.orgs.get(task["orgID"], {})
        tid = task["id"]
        view: dict[str, Any] = {
            "links": {
                "self": f"/api/v2/tasks/{tid}",
                "members": f"/api/v2/tasks/{tid}/members",
                "owners": f"/api/v2/tasks/{tid}/owners",
                "labels": f"/api/v2/tasks/{tid}/labels",
                "runs": f"/api/v2/tasks/{tid}/runs",
                "logs": f"/api/v2/tasks/{tid}/logs",
            },
            "labels": [],
            "id": tid,
            "orgID": task["orgID"],
            "org": org.get("name", ""),
            "ownerID": task["ownerID"],
            "name": task["name"],
        }
        if task.get("description"):
            view["description"] = task["description"]
        view["status"] = task["status"]
        view["flux"] = task["flux"]
        if task.get("every"):
            view["every"] = task["every"]
        if task.get("cron"):
            view["cron"] = task["cron"]
        if task.get("offset_ns"):
            view["offset"] = task_duration(int(task["offset_ns"]))
        for key in ("latestCompleted", "lastRunStatus", "lastRunError"):
            if task.get(key):
                view[key] = task[key]
        view["createdAt"] = task["createdAt"]
        view["updatedAt"] = task["updatedAt"]
        return view

    def _task(self, task_id: str) -> dict[str, Any]:
        task = self.meta.tasks.get(task_id)
        if task is None:
            raise ApiError("not found", "task not found")
        return task

    def _task_allowed(
        self, auth: dict[str, Any], action: str, task: dict[str, Any]
    ) -> ApiError | None:
        """authorizer/task.go processPermissionError: a refused permission becomes
        authError(ErrFailedPermission) — message "unauthorized", not an *errors.Error,
        so each handler's wrapping decides the status."""
        if can(auth, action, "tasks", task["id"], task["orgID"]):
            return None
        return ApiError("internal error", "unauthorized")

    def api_tasks_list(self, auth: dict[str, Any], query: dict[str, list[str]]) -> dict[str, Any]:
        """decodeGetTasksRequest (after, org, orgID, user, limit 1..500 default 100,
        status, type, name), tasks in ID order, authorizer's AuthorizeFindTasks."""

        def decode_error(exc: ApiError) -> ApiError:
            return exc.wrap("failed to decode request", "invalid")

        after = _first(query, "after")
        org_name = _first(query, "org")
        org_id = _first(query, "orgID")
        user = _first(query, "user")
        limit_text = _first(query, "limit")
        status = _first(query, "status")
        kind = _first(query, "type") or ""
        name = _first(query, "name")
        try:
            if after:
                after = check_id(after)
            with self.lock:
                if org_name:
                    try:
                        org = self._org_by_name(org_name)
                    except ApiError as exc:
                        raise ApiError(
                            "internal error",
                            f"org {org_name} not found or unauthorized: org not found or unauthorized",
                        ) from exc
                    org_id = org["id"]
            if _first(query, "orgID"):
                org_id = check_id(str(_first(query, "orgID")))
            if user:
                user = check_id(user)
        except ApiError as exc:
            raise decode_error(exc) from exc
        limit = 100
        if limit_text:
            if not re.fullmatch(r"[+-]?\d+", limit_text):
                raise ApiError(
                    "invalid",
                    f'failed to decode request: strconv.Atoi: parsing "{limit_text}": invalid syntax',
                )
            limit = int(limit_text)
            if not 1 <= limit <= 500:
                raise ApiError(
                    "invalid", "failed to decode request: limit must be between 1 and 500"
                )
        if kind not in ("", "basic", "system"):
            raise ApiError(
                "invalid", f'failed to decode request: "{kind}" is not a valid task type'
            )
        with self.lock:
            tasks = [
                t
                for t in sorted(self.meta.tasks.values(), key=lambda t: t["id"])
                if (after is None or t["id"] > after)
                and (org_id is None or t["orgID"] == org_id)
                and (user is None or t["ownerID"] == user)
                and (status not in ("active", "inactive") or t["status"] == status)
                and (name is None or t["name"] == name)
            ][:limit]
            views = [
                self._task_view(t) for t in tasks if can(auth, "read", "tasks", t["id"], t["orgID"])
            ]
        params = {"limit": str(limit)}
        for key, value in (
            ("after", after),
            ("org", org_name),
            ("orgID", org_id if _first(query, "orgID") else None),
            ("user", user),
            ("name", name),
        ):
            if value:
                params[key] = value
        if status in ("active", "inactive"):
            params["status"] = status
        if kind:
            params["type"] = kind
        links = {"self": "/api/v2/tasks?" + urlencode(sorted(params.items()))}
        if len(views) >= limit:
            params["after"] = views[limit - 1]["id"]
            links["next"] = "/api/v2/tasks?" + urlencode(sorted(params.items()))
        return {"links": links, "tasks": views}

    def api_task_create(self, auth: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
        try:
            org_id = body.get("orgID")
            if org_id:
                org_id = check_id(str(org_id))
        except ApiError as exc:
            raise exc.wrap("failed to decode request", "invalid") from exc
        flux = str(body.get("flux") or "")
        status = str(body.get("status") or "active")
        if not flux:
            raise ApiError("invalid", "failed to decode request: flux required")
        if status not in ("active", "inactive"):
            raise ApiError("invalid", "failed to decode request: invalid task status")
        with self.lock:
            if not org_id:
                org_name = body.get("org")
                if not org_name:
                    raise ApiError("invalid", "invalid organization id")
                try:
                    org_id = self._org_by_name(str(org_name))["id"]
                except ApiError as exc:
                    raise exc.wrap("could not identify organization") from exc
            if not can(auth, "write", "tasks", None, org_id):
                raise ApiError("internal error", "failed to create task: unauthorized")
            if org_id not in self.meta.orgs:
                raise ApiError("not found", "organization not found")
            options = self.parse_task_options(flux)
            now = now_rfc3339()
            task = {
                "id": new_id(),
                "orgID": org_id,
                "ownerID": auth["userID"],
                "flux": flux,
                "status": status,
                "description": str(body.get("description") or ""),
                "type": "system",
                "createdAt": now,
                "updatedAt": now,
                **options,
            }
            self.meta.tasks[task["id"]] = task
            view = self._task_view(task)
        self._changed()
        return view

    def _task_id(self, task_id: str) -> str:
        try:
            return check_id(task_id)
        except ApiError as exc:
            raise exc.wrap("failed to decode request", "invalid") from exc

    def api_task_get(self, auth: dict[str, Any], task_id: str) -> dict[str, Any]:
        task_id = self._task_id(task_id)
        with self.lock:
            try:
                task = self._task(task_id)
            except ApiError as exc:
                raise exc.wrap("failed to find task", "not found") from exc
            refused = self._task_allowed(auth, "read", task)
            if refused is not None:
                raise refused.wrap("failed to find task", "not found")
            return self._task_view(task)

    def api_task_patch(
        self, auth: dict[str, Any], task_id: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        task_id = self._task_id(task_id)
        for key in ("name", "every", "cron", "offset"):
            if key in body:
                raise ApiError(
                    "invalid",
                    f"test double: updating a task's {key} is not implemented; send its flux",
                )
        if "status" in body and body["status"] not in ("active", "inactive"):
            raise ApiError("invalid", "failed to decode request: invalid task status")
        with self.lock:
            try:
                task = self._task(task_id)
            except ApiError as exc:
                raise exc.wrap("failed to update task", "not found") from exc
            refused = self._task_allowed(auth, "write", task)
            if refused is not None:
                raise refused.wrap("failed to update task")
            if "flux" in body:
                options = self.parse_task_options(str(body["flux"]))
                for key in ("every", "cron", "offset_ns"):
                    task.pop(key, None)
                task.update(options)
                task["flux"] = str(body["flux"])
            if "status" in body:
                task["status"] = body["status"]
            if body.get("description") is not None:
                task["description"] = str(body["description"])
            task["updatedAt"] = now_rfc3339()
            view = self._task_view(task)
        self._changed()
        return view

    def api_task_delete(self, auth: dict[str, Any], task_id: str) -> None:
        task_id = self._task_id(task_id)
        with self.lock:
            try:
                task = self._task(task_id)
            except ApiError as exc:
                raise exc.wrap("failed to delete task", "not found") from exc
            refused = self._task_allowed(auth, "write", task)
            if refused is not None:
                raise refused.wrap("failed to delete task")
            del self.meta.tasks[task_id]
            self.meta.runs.pop(task_id, None)
        self._changed()

    @staticmethod
    def _run_view(run: dict[str, Any]) -> dict[str, Any]:
        """http/task_service.go newRunResponse."""
        tid, rid = run["taskID"], run["id"]
        view: dict[str, Any] = {
            "links": {
                "self": f"/api/v2/tasks/{tid}/runs/{rid}",
                "task": f"/api/v2/tasks/{tid}",
                "logs": f"/api/v2/tasks/{tid}/runs/{rid}/logs",
                "retry": f"/api/v2/tasks/{tid}/runs/{rid}/retry",
            },
            "id": rid,
            "taskID": tid,
            "status": run["status"],
            "scheduledFor": run["scheduledFor"],
        }
        for key in ("startedAt", "finishedAt", "requestedAt"):
            if run.get(key):
                view[key] = run[key]
        if run.get("log"):
            view["log"] = run["log"]
        return view

    def api_task_runs(
        self, auth: dict[str, Any], task_id: str, query: dict[str, list[str]]
    ) -> dict[str, Any]:
        task_id = self._task_id(task_id)
        limit_text = _first(query, "limit")
        limit = 100
        if limit_text:
            if not re.fullmatch(r"\d+", limit_text) or not 1 <= int(limit_text) <= 500:
                raise ApiError(
                    "unprocessable entity",
                    "failed to decode request: run limit is out of bounds, must be between 1 and 500",
                )
            limit = int(limit_text)
        with self.lock:
            try:
                task = self._task(task_id)
            except ApiError as exc:
                raise exc.wrap("failed to find runs", "not found") from exc
            refused = self._task_allowed(auth, "read", task)
            if refused is not None:
                raise refused.wrap("failed to find runs")
            runs = [self._run_view(r) for r in self.meta.runs.get(task_id, [])][-limit:]
        return {
            "links": {"self": f"/api/v2/tasks/{task_id}/runs", "task": f"/api/v2/tasks/{task_id}"},
            "runs": runs,
        }

    def _find_run(self, task_id: str, run_id: str) -> dict[str, Any]:
        for run in self.meta.runs.get(task_id, []):
            if run["id"] == run_id:
                return run
        raise ApiError("not found", "run not found")

    def api_task_run_get(self, auth: dict[str, Any], task_id: str, run_id: str) -> dict[str, Any]:
        task_id = self._task_id(task_id)
        run_id = self._task_id(run_id)
        with self.lock:
            try:
                task = self._task(task_id)
            except ApiError as exc:
                raise exc.wrap("failed to find run", "not found") from exc
            refused = self._task_allowed(auth, "read", task)
            if refused is not None:
                raise refused.wrap("failed to find run")
            try:
                return self._run_view(self._find_run(task_id, run_id))
            except ApiError as exc:
                raise exc.wrap("failed to find run", "not found") from exc

    def api_task_logs(
        self, auth: dict[str, Any], task_id: str, run_id: str | None
    ) -> dict[str, Any]:
        task_id = self._task_id(task_id)
        if run_id is not None:
            run_id = self._task_id(run_id)
        with self.lock:
            try:
                task = self._task(task_id)
            except ApiError as exc:
                raise exc.wrap("failed to find task logs", "not found") from exc
            refused = self._task_allowed(auth, "read", task)
            if refused is not None:
                raise refused.wrap("failed to find task logs")
            runs = self.meta.runs.get(task_id, [])
            if run_id is not None:
                try:
                    runs = [self._find_run(task_id, run_id)]
                except ApiError as exc:
                    raise exc.wrap("failed to find task logs", "not found") from exc
            events = [entry for run in runs for entry in run.get("log", [])]
        return {"events": events}

    def api_task_force_run(
        self, auth: dict[str, Any], task_id: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        """handleForceRun: a manual run (kv/task.go forceRun: status "scheduled",
        scheduledFor = the given RFC3339 time or now, in whole seconds), queued for the
        executor. The double's executor runs it at once, before answering, with the
        scheduled time as now() (task/backend/executor/executor.go executeQuery)."""
        task_id = self._task_id(task_id)
        scheduled_text = body.get("scheduledFor") or ""
        if scheduled_text:
            try:
                scheduled = parse_rfc3339_ns(str(scheduled_text))
            except ValueError as exc:
                raise ApiError(
                    "invalid",
                    f'failed to decode request: parsing time "{scheduled_text}" as RFC3339: invalid',
                ) from exc
        else:
            scheduled = time.time_ns()
        scheduled = scheduled // NS * NS
        with self.lock:
            try:
                task = self._task(task_id)
            except ApiError as exc:
                raise exc.wrap("failed to force run", "not found") from exc
            if task["status"] != "active":
                raise ApiError("invalid", "failed to force run: inactive task")
            refused = self._task_allowed(auth, "write", task)
            if refused is not None:
                raise refused.wrap("failed to force run")
            run = self._new_run(task, scheduled)
            answer = self._run_view(run)
        self.execute_run(task_id, run["id"])
        return answer

    def _new_run(self, task: dict[str, Any], scheduled_ns: int) -> dict[str, Any]:
        run = {
            "id": new_id(),
            "taskID": task["id"],
            "status": "scheduled",
            "scheduledFor": rfc3339_ns(scheduled_ns),
            "requestedAt": now_rfc3339(),
            "log": [],
        }
        runs = self.meta.runs.setdefault(task["id"], [])
        runs.append(run)
        del runs[:-MAX_RUNS_KEPT]
        return run

    def double_run_task(self, task_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """Test-only: run a task's Flux once now (or at body["now"]), whatever its status."""
        now_text = body.get("now")
        scheduled = parse_rfc3339_ns(str(now_text)) if now_text else time.time_ns()
        with self.lock:
            task = self._task(task_id)
            run = self._new_run(task, scheduled)
        self.execute_run(task_id, run["id"])
        with self.lock:
            return self._run_view(self._find_run(task_id, run["id"]))

    def execute_run(self, task_id: str, run_id: str) -> None:
        """task/backend/executor/executor.go worker.start/executeQuery/finish: log
        "Started task from script", state started, run the Flux with now() = the
        scheduled time and the owner's permissions (the setup user, an operator, is
        every task's owner in the double), then "Completed(success|failed)", the
        error, and kv/task.go finishRun's update of the task."""
        with self.lock:
            task = dict(self._task(task_id))
            run = self._find_run(task_id, run_id)
            run["startedAt"] = now_rfc3339()
            run["status"] = "started"
            self._run_log(run, f"Started task from script: {go_quote(task['flux'])}")
            scheduled = parse_rfc3339_ns(run["scheduledFor"])
            owner_auth = {
                "id": "",
                "userID": task["ownerID"],
                "orgID": task["orgID"],
                "status": "active",
                "permissions": operator_permissions(),
            }
        error: str | None = None
        try:
            program = FluxProgram.parse(task["flux"], scheduled)
            self.execute(owner_auth, task["orgID"], program)
        except FluxError as exc:
            error = f"could not execute task run: {exc.message}"
        except ApiError as exc:
            error = f"could not execute task run: {exc.message}"
        with self.lock:
            status = "failed" if error else "success"
            self._run_log(run, f"Completed({status})")
            if error:
                self._run_log(run, error)
            run["status"] = status
            run["finishedAt"] = now_rfc3339()
            stored = self.meta.tasks.get(task_id)
            if stored is not None:
                latest = stored.get("latestCompleted")
                if not latest or parse_rfc3339_ns(latest) < scheduled:
                    stored["latestCompleted"] = run["scheduledFor"]
                stored["lastRunStatus"] = status
                if error:
                    logs = run["log"]
                    stored["lastRunError"] = (
                        logs[-2]["message"] if len(logs) > 1 else logs[-1]["message"]
                    )
                else:
                    stored.pop("lastRunError", None)
        self._changed()

    @staticmethod
    def _run_log(run: dict[str, Any], message: str) -> None:
        run["log"].append({"runID": run["id"], "time": now_rfc3339(), "message": message})

    # --- writes (influxdb v2.9.1 http/write_handler.go handleWrite) ---------------------------

    def handle_write(
        self, auth: dict[str, Any], query: dict[str, list[str]], encoding: str, body: bytes
    ) -> None:
        """decodeWriteRequest (precision, bucket, gzip header), the org, the bucket,
        the write permission, then the body (BatchReadCloser, ParsePointsWithPrecision)
        and the points writer. Raises ApiError; returns when the answer is 204."""
        precision = _first(query, "precision") or "ns"
        if precision not in _PRECISION_NS:
            raise ApiError(
                "invalid", "invalid precision; valid precision units are ns, us, ms, and s"
            )
        bucket_ref = _first(query, "bucket") or ""
        if not bucket_ref:
            raise ApiError("not found", "bucket not found")
        gzipped = encoding in ("gzip", "x-gzip")
        if gzipped:
            try:
                check_gzip_header(body)
            except GzipHeaderError as exc:
                raise ApiError("internal error", HIDDEN_INTERNAL_MESSAGE) from exc
        org = self.query_organization(query)
        created = False
        with self.lock:
            try:
                bucket = self.find_bucket(org["id"], bucket_ref)
            except ApiError:
                if not (
                    self.accept_any_bucket
                    and not bucket_ref.startswith("_")
                    and '"' not in bucket_ref
                ):
                    raise
                bucket = self._create_bucket(org["id"], bucket_ref, 0, 0, "")
                created = True
            if auth["status"] != "active":
                raise ApiError("forbidden", "insufficient permissions for write: token is inactive")
            if not allowed(auth["permissions"], "write", "buckets", bucket["id"], org["id"]):
                raise ApiError("forbidden", "insufficient permissions for write")
        if created:
            self._changed()
        if gzipped:
            try:
                body = gunzip(body)
            except GzipReadError as exc:
                raise ApiError(exc.code, exc.message) from exc
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            text = body.decode("utf-8", "replace")
        try:
            lines = parse_body(text)
        except LineProtocolError as exc:
            with self.lock:
                self.store.rejected_requests += 1
            raise ApiError("invalid", str(exc)) from exc
        now = time.time_ns()
        scale = _PRECISION_NS[precision]
        points: list[Point] = [
            (
                line.measurement,
                line.tags,
                now if line.timestamp is None else line.timestamp * scale,
                line.fields,
            )
            for line in lines
        ]
        with self.lock:
            self.store.write_requests += 1
            self.store.lines_received += len(points)
        error = self.write_points(bucket["id"], points)
        if error is not None:
            raise ApiError("unprocessable entity", f"failure writing points to database: {error}")

    def write_points(self, bucket_id: str, points: list[Point]) -> str | None:
        """The storage engine's write (influxdb v2.9.1 v1/coordinator/points_writer.go
        WritePointsPrivileged + MapShards, tsdb/shard.go validateSeriesAndFields,
        tsdb/field_validator.go): points older than the retention are dropped; a
        field whose type differs from the type it has in that shard group drops
        its point; the rest is stored. Returns the partial-write message or None."""
        now = time.time_ns()
        with self.lock:
            bucket = self.meta.buckets.get(bucket_id)
            if bucket is None:
                raise FluxError("not found", "bucket not found")
            retention_ns = int(bucket["retention_s"]) * NS
            shard_ns = int(bucket["shard_s"]) * NS
            store = self.store
            kept: list[Point] = []
            retention_dropped: list[Point] = []
            conflict_reason = ""
            conflict_dropped = 0
            pending: dict[tuple[str, str, int], str] = {}
            for point in points:
                measurement, _tags, ts, fields = point
                if retention_ns and ts < now - retention_ns:
                    retention_dropped.append(point)
                    continue
                shard = shard_group_start(ts, shard_ns)
                conflict = ""
                for name, value in fields.items():
                    vtype = type_name(value)
                    known = pending.get((measurement, name, shard)) or store.field_type(
                        bucket_id, measurement, name, shard
                    )
                    if known is not None and known != vtype:
                        conflict = (
                            f'field type conflict: input field "{name}" on measurement "{measurement}" '
                            f"is type {vtype}, already exists as type {known}"
                        )
                        break
                    pending[(measurement, name, shard)] = vtype
                if conflict:
                    conflict_dropped += 1
                    conflict_reason = conflict_reason or conflict
                    continue
                kept.append(point)
            if kept:
                store.apply(bucket_id, kept, shard_ns)
                if self.persistence is not None:
                    self.persistence.record(
                        {
                            "w": bucket_id,
                            "p": [
                                [
                                    m,
                                    [list(t) for t in tags],
                                    ts,
                                    {k: encode_value(v) for k, v in f.items()},
                                ]
                                for m, tags, ts, f in kept
                            ],
                        }
                    )
        if conflict_dropped:
            return f"partial write: {conflict_reason} dropped={conflict_dropped}"
        if retention_dropped:
            oldest = min(retention_dropped, key=lambda p: p[2])
            newest = max(retention_dropped, key=lambda p: p[2])
            bound = rfc3339_ns(now - retention_ns)
            return (
                f"partial write: dropped {len(retention_dropped)} points outside retention policy of "
                f"duration {go_duration(retention_ns)} - oldest {_dropped_point(oldest, bound)}, "
                f"newest {_dropped_point(newest, bound)} dropped={len(retention_dropped)} "
                f"for database: {bucket_id} for retention policy: autogen"
            )
        return None

    # --- delete (influxdb v2.9.1 http/delete_handler.go) --------------------------------------

    def api_delete(self, auth: dict[str, Any], query: dict[str, list[str]], body: bytes) -> None:
        """decodeDeleteRequest (times, predicate, org, bucket), the write permission on
        the bucket, then the storage engine's DeleteBucketRangePredicate."""

        def decoding(message: str) -> ApiError:
            return ApiError("invalid", f"error decoding json body: {message}")

        try:
            data = json.loads(body or b"null")
        except json.JSONDecodeError as exc:
            raise decoding(f"invalid character in JSON at offset {exc.pos}") from exc
        if not isinstance(data, dict):
            data = {}
        start_text = data.get("start") if isinstance(data.get("start"), str) else ""
        stop_text = data.get("stop") if isinstance(data.get("stop"), str) else ""
        try:
            start = parse_rfc3339_ns(start_text)
        except ValueError as exc:
            raise decoding(
                "invalid RFC3339Nano for field start, please format your time with RFC3339Nano format, "
                "example: 2009-01-02T23:00:00Z"
            ) from exc
        if not MIN_NANO_TIME <= start <= MAX_NANO_TIME:
            raise decoding(
                "invalid start time, start time must not be before 1677-09-21T00:12:43.145224194Z"
            )
        try:
            stop = parse_rfc3339_ns(stop_text)
        except ValueError as exc:
            raise decoding(
                "invalid RFC3339Nano for field stop, please format your time with RFC3339Nano format, "
                "example: 2009-01-01T23:00:00Z"
            ) from exc
        if not MIN_NANO_TIME <= stop <= MAX_NANO_TIME:
            raise decoding(
                "invalid stop time, stop time must not be after 2262-04-11T23:47:16.854775806Z"
            )
        predicate_text = data.get("predicate") or ""
        try:
            predicate = parse_predicate(str(predicate_text))
        except ApiError as exc:
            raise exc.wrap("error decoding json body") from exc
        for key, op, _value in _predicate_rules(predicate):
            if key == "_field" and op == "==":
                raise ApiError("not implemented", "delete by field is not supported")
        org = self.query_organization(query)
        bucket_ref = _first(query, "bucket")
        bucket_id = _first(query, "bucketID")
        with self.lock:
            if bucket_id:
                bucket = self._bucket(check_id(bucket_id))
            elif bucket_ref:
                if is_platform_id(bucket_ref):
                    bucket = self._bucket(bucket_ref)
                else:
                    bucket = self._bucket_by_name(org["id"], bucket_ref)
            else:
                raise ApiError("invalid", "Please provide either bucketID or bucket")
            if not can(auth, "write", "buckets", bucket["id"], org["id"]):
                raise ApiError("forbidden", "insufficient permissions to delete")
            self.store.delete(bucket["id"], start, stop, predicate)
            if self.persistence is not None:
                self.persistence.record(
                    {
                        "d": bucket["id"],
                        "start": start,
                        "stop": stop,
                        "pred": _to_json_tree(predicate),
                    }
                )

    # --- queries (influxdb v2.9.1 http/query_handler.go, http/query.go) -----------------------

    def handle_query(
        self,
        auth: dict[str, Any],
        query: dict[str, list[str]],
        content_type: str,
        prefer: str,
        body: bytes,
    ) -> tuple[str | None, FluxResult | None]:
        """decodeProxyQueryRequest then the query: (CSV, None) or (None, None) for
        `Prefer: return-no-content`. Raises ApiError."""

        def decoding(message: str) -> ApiError:
            return ApiError("invalid", f"failed to decode request body: {message}")

        media = (content_type or "application/json").split(";")[0].strip().lower()
        if not media:
            raise decoding("mime: no media type")
        request: dict[str, Any]
        if media == "application/vnd.flux":
            request = {"query": body.decode("utf-8", "replace")}
        else:
            try:
                decoded = json.loads(body or b"")
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise decoding(
                    "failed parsing request body as JSON; if sending a raw Flux script, set "
                    f"'Content-Type: application/vnd.flux' in your request headers: {_go_json_error(body, exc)}"
                ) from exc
            if not isinstance(decoded, dict):
                raise decoding(
                    "failed parsing request body as JSON; if sending a raw Flux script, set "
                    "'Content-Type: application/vnd.flux' in your request headers: json: cannot "
                    "unmarshal non-object into Go value of type http.QueryRequest"
                )
            request = decoded
        dialect = dict(request.get("dialect") or {})
        kind = request.get("type") or "flux"
        delimiter = dialect.get("delimiter") or ","
        date_format = dialect.get("dateTimeFormat") or "RFC3339"
        header = dialect.get("header")
        header = True if header is None else bool(header)
        annotations = list(dialect.get("annotations") or [])
        flux = str(request.get("query") or "")
        if not flux and not request.get("ast"):
            raise decoding("request body requires either query or AST")
        if kind != "flux":
            raise decoding(f"unknown query type: {kind}")
        if len(str(dialect.get("commentPrefix") or "")) > 1:
            raise decoding("invalid dialect comment prefix: must be length 0 or 1")
        if len(delimiter) != 1:
            raise decoding("invalid dialect delimeter: must be length 1")
        for name in annotations:
            if name not in ("group", "datatype", "default"):
                raise decoding(f"unknown dialect annotation type: {name}")
        if date_format not in ("RFC3339", "RFC3339Nano"):
            raise decoding(f"unknown dialect date time format: {date_format}")
        try:
            org = self.query_organization(query)
        except ApiError as exc:
            raise decoding(exc.message) from exc
        if not flux:
            raise ApiError(
                "invalid",
                "test double: a query given as an AST is not supported; send its Flux text",
            )
        extern = request.get("extern")
        if extern and (not isinstance(extern, dict) or extern.get("body") or extern.get("imports")):
            raise ApiError(
                "invalid", "test double: extern (query parameters, profilers) is not supported"
            )
        now = time.time_ns()
        if request.get("now"):
            try:
                now = parse_rfc3339_ns(str(request["now"]))
            except ValueError as exc:
                raise decoding(f'parsing time "{request["now"]}" as RFC3339: invalid') from exc
        try:
            program = FluxProgram.parse(flux, now)
            result = self.execute(auth, org["id"], program)
        except FluxError as exc:
            raise ApiError(exc.code, exc.message) from exc
        if prefer in ("return-no-content", "return-no-content-with-error"):
            return None, None
        return encode_csv(result, annotations, header=header, delimiter=delimiter), result

    def execute(self, auth: dict[str, Any], org_id: str, program: FluxProgram) -> FluxResult:
        """Run a parsed program for `auth` in the org; to() writes through write_points."""
        with self.lock:
            bucket = self._lookup_read_bucket(auth, org_id, program)
            rows = [
                (key[1], key[2], ts, fields)
                for key, points in self.store.series.items()
                if key[0] == bucket["id"]
                for ts, fields in points.items()
                if program.start_ns <= ts < program.stop_ns
            ]
        return program.run(rows, lambda spec, tables: self._to(auth, org_id, spec, tables))

    def _lookup_read_bucket(
        self, auth: dict[str, Any], org_id: str, program: FluxProgram
    ) -> dict[str, Any]:
        """query/stdlib/influxdata/influxdb/provider.go lookupBucketID (through the
        authorized bucket service: a bucket the token may not read is not found)."""
        name = program.bucket
        found = None
        if program.bucket_id:
            found = self.meta.buckets.get(program.bucket_id)
        else:
            for bucket in self.meta.buckets.values():
                if bucket["orgID"] == org_id and bucket["name"] == name:
                    found = bucket
        if found is None or found["orgID"] != org_id or not self._read_bucket_allowed(auth, found):
            what = f'could not find bucket "{name}"' if name else "could not find bucket"
            raise FluxError("not found", f"failed to initialize execute state: {what}")
        return found

    def _to(
        self, auth: dict[str, Any], org_id: str, spec: dict[str, Any], tables: list[Table]
    ) -> None:
        """influxdb v2.9.1 query/stdlib/influxdata/influxdb/provider.go WriterFor (org,
        bucket, write permission) and flux v0.200.0 stdlib/influxdata/influxdb/to.go
        (measurement, time, tags: the string columns but _field/_value/_measurement)."""
        with self.lock:
            org_name = spec.get("org")
            if org_name:
                org = next((o for o in self.meta.orgs.values() if o["name"] == org_name), None)
                if org is None:
                    raise FluxError("not found", f'could not find org "{org_name}"')
                if org["id"] != org_id:
                    raise FluxError(
                        "invalid", "host must be specified when writing points to another org"
                    )
            bucket = None
            if spec.get("bucketID"):
                bucket = self.meta.buckets.get(spec["bucketID"])
            else:
                for candidate in self.meta.buckets.values():
                    if candidate["orgID"] == org_id and candidate["name"] == spec.get("bucket"):
                        bucket = candidate
            if bucket is None:
                raise FluxError("not found", f'could not find bucket "{spec.get("bucket", "")}"')
            if not can(auth, "write", "buckets", bucket["id"], org_id):
                raise FluxError(
                    "unauthorized",
                    f"{permission_string('write', 'buckets', bucket['id'], org_id)} is unauthorized",
                )
        points: list[Point] = []
        for table in tables:
            labels = [c[0] for c in table.cols]
            if "_measurement" not in labels:
                raise FluxError("invalid", "no column with label _measurement exists")
            if "_time" not in labels:
                raise FluxError("invalid", "no time column detected")
            tag_cols = sorted(
                label
                for label, ctype in table.cols
                if ctype == "string" and label not in ("_value", "_field", "_measurement")
            )
            index = {label: i for i, label in enumerate(labels)}
            for row in table.rows:
                ts = row[index["_time"]]
                if ts is None:
                    continue
                value = row[index["_value"]] if "_value" in index else None
                field_name = row[index["_field"]] if "_field" in index else None
                if value is None or field_name is None:
                    continue
                if isinstance(value, float) and not math.isfinite(value):
                    continue
                tags = tuple((t, row[index[t]]) for t in tag_cols if row[index[t]])
                points.append((row[index["_measurement"]], tags, ts, {field_name: value}))
        if points:
            error = self.write_points(bucket["id"], points)
            if error is not None:
                raise FluxError("unprocessable entity", error)

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


def _dropped_point(point: Point, bound: str) -> str:
    """v1/coordinator/points_writer.go DroppedPoint.String."""
    measurement, tags, ts, _fields = point
    key = ",".join(
        [
            _escape_key(measurement, ", "),
            *(f"{_escape_key(k, ',= ')}={_escape_key(v, ',= ')}" for k, v in tags),
        ]
    )
    return f"point {key} at {rfc3339_ns(ts)} dropped because it violates a Retention Policy Lower Bound at {bound}"


def _escape_key(text: str, chars: str) -> str:
    for ch in chars:
        text = text.replace(ch, "\\" + ch)
    return text


def _to_json_tree(node: Any) -> Any:
    if node is None:
        return None
    return [_to_json_tree(x) if isinstance(x, tuple) else x for x in node]


def _from_json_tree(node: Any) -> Any:
    if node is None:
        return None
    return tuple(_from_json_tree(x) if isinstance(x, list) else x for x in node)


def _json_kind(value: Any) -> str:
    """How Go's encoding/json names a JSON value in an UnmarshalTypeError."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (int, float)):
        return f"number {json.dumps(value)}"
    if isinstance(value, list):
        return "array"
    return "object"


def _first(query: dict[str, list[str]], key: str) -> str | None:
    values = query.get(key)
    return values[0] if values else None


def go_quote(text: str) -> str:
    """Go's %q for the run log's script (close enough: JSON string escaping)."""
    return json.dumps(text, ensure_ascii=False)


def _go_json_error(body: bytes, exc: Exception) -> str:
    if not body:
        return "EOF"
    return f"invalid character looking for beginning of value ({exc})"


@dataclass
class FindOptions:
    """influxdb v2.9.1 paging.go FindOptions."""

    limit: int = 20
    offset: int = 0
    after: str | None = None
    descending: bool = False


def find_options(query: dict[str, list[str]]) -> FindOptions:
    """influxdb v2.9.1 paging.go DecodeFindOptions."""
    opts = FindOptions()
    offset = _first(query, "offset")
    if offset:
        if not re.fullmatch(r"[+-]?\d+", offset):
            raise ApiError("invalid", "offset is invalid")
        opts.offset = int(offset)
    after = _first(query, "after")
    if after:
        try:
            opts.after = check_id(after)
        except ApiError as exc:
            raise ApiError("invalid", f"decoding after: {exc.message}") from exc
    limit = _first(query, "limit")
    if limit:
        if not re.fullmatch(r"[+-]?\d+", limit):
            raise ApiError("invalid", "limit is invalid")
        opts.limit = int(limit)
        if not 1 <= opts.limit <= 100:
            raise ApiError("invalid", "limit must be between 1 and 100")
    descending = _first(query, "descending")
    if descending:
        if descending.lower() not in ("1", "t", "true", "0", "f", "false"):
            raise ApiError("invalid", "descending is invalid")
        opts.descending = descending.lower() in ("1", "t", "true")
    return opts


def _page_after(candidates: list[dict[str, Any]], opts: FindOptions) -> list[dict[str, Any]]:
    """tenant/storage_bucket.go listBucketsByOrg: offset, then skip through `after`, then limit."""
    if opts.descending:
        candidates = list(reversed(candidates))
    out: list[dict[str, Any]] = []
    searching = opts.after is not None
    for index, bucket in enumerate(candidates):
        if opts.offset and index < opts.offset:
            continue
        if searching:
            searching = bucket["id"] != opts.after
            continue
        out.append(bucket)
        if len(out) >= opts.limit:
            break
    return out


def paging_links(base: str, params: dict[str, str], opts: FindOptions, num: int) -> dict[str, str]:
    """influxdb v2.9.1 paging.go NewPagingLinks: self, next when a page is full, prev after an offset."""
    values = dict(params)
    values["descending"] = "true" if opts.descending else "false"
    values["offset"] = str(opts.offset)
    values["limit"] = str(opts.limit)
    if opts.after:
        values["after"] = opts.after
    links = {"self": f"{base}?{urlencode(sorted(values.items()), quote_via=quote)}"}
    if num >= opts.limit:
        links["next"] = (
            f"{base}?{urlencode(sorted({**values, 'offset': str(opts.offset + opts.limit)}.items()), quote_via=quote)}"
        )
    if opts.offset > 0:
        prev = max(opts.offset - opts.limit, 0)
        links["prev"] = (
            f"{base}?{urlencode(sorted({**values, 'offset': str(prev)}.items()), quote_via=quote)}"
        )
    return links


# --- Flux: a parser for the language's syntax, and an executor for a subset ------------------

_FLUX_TOKEN = re.compile(
    r"""(?P<ws>\s+|//[^\n]*)
    |(?P<time>\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2}))?)(?![\w])
    |(?P<duration>(?:\d+(?:mo|ms|us|µs|ns|y|w|d|h|m|s))+)(?![\w])
    |(?P<float>\d+\.\d+(?:[eE][+-]?\d+)?|\d+[eE][+-]?\d+)
    |(?P<int>\d+)
    |(?P<string>"(?:[^"\\]|\\.)*")
    |(?P<ident>[^\W\d]\w*)
    |(?P<op>\|>|=>|==|!=|<=|>=|=~|!~|<-|[-+*/%<>=()\[\]{},:.?^])""",
    re.VERBOSE,
)


def _flux_string(raw: str) -> str:
    body = raw[1:-1]
    if "${" in body:
        raise unsupported("string interpolation")
    escapes = {"n": "\n", "r": "\r", "t": "\t", '"': '"', "\\": "\\", "$": "$"}
    return re.sub(r"\\(.)", lambda m: escapes.get(m.group(1), m.group(1)), body)


def _flux_tokens(text: str) -> list[tuple[str, str, int]]:
    tokens: list[tuple[str, str, int]] = []
    pos = 0
    while pos < len(text):
        previous = tokens[-1][1] if tokens else ""
        if text[pos] == "/" and previous in ("=~", "!~"):
            end = pos + 1
            while end < len(text) and text[end] != "/":
                end += 2 if text[end] == "\\" else 1
            if end >= len(text):
                raise FluxError("invalid", f"error @{pos}: unterminated regular expression")
            tokens.append(("regex", text[pos + 1 : end].replace("\\/", "/"), pos))
            pos = end + 1
            continue
        match = _FLUX_TOKEN.match(text, pos)
        if match is None:
            raise FluxError("invalid", f"error @{pos}: invalid expression: {text[pos]!r}")
        kind = match.lastgroup or ""
        if kind != "ws":
            tokens.append((kind, match.group(), pos))
        pos = match.end()
    tokens.append(("eof", "", len(text)))
    return tokens


class FluxParser:
    """Flux syntax (flux v0.200.0 docs/SPEC.md: statements, pipe expressions, function
    literals, logical/comparison operators, literals) into tuples."""

    def __init__(self, text: str) -> None:
        self.tokens = _flux_tokens(text)
        self.i = 0

    def peek(self, ahead: int = 0) -> tuple[str, str, int]:
        return self.tokens[min(self.i + ahead, len(self.tokens) - 1)]

    def take(self) -> tuple[str, str, int]:
        token = self.peek()
        self.i += 1
        return token

    def expect(self, value: str) -> None:
        token = self.take()
        if token[1] != value or token[0] in ("string", "regex"):
            raise FluxError(
                "invalid", f"error @{token[2]}: expected {value}, got {token[1] or 'EOF'}"
            )

    def program(self) -> list[tuple[Any, ...]]:
        statements: list[tuple[Any, ...]] = []
        while self.peek()[0] != "eof":
            kind, value, _ = self.peek()
            if kind == "ident" and value == "package":
                self.take()
                self.take()
            elif kind == "ident" and value == "import":
                self.take()
                if self.peek()[0] == "ident":
                    self.take()
                token = self.take()
                statements.append(
                    ("import", _flux_string(token[1]) if token[0] == "string" else token[1])
                )
            elif kind == "ident" and value == "option":
                self.take()
                name = self.take()[1]
                while self.peek()[1] == ".":
                    self.take()
                    name += "." + self.take()[1]
                self.expect("=")
                statements.append(("option", name, self.expression()))
            elif kind == "ident" and self.peek(1)[1] == "=" and self.peek(1)[0] == "op":
                name = self.take()[1]
                self.take()
                statements.append(("assign", name, self.expression()))
            else:
                statements.append(("expr", self.expression()))
        return statements

    def expression(self) -> Any:
        return self.logical_or()

    def logical_or(self) -> Any:
        left = self.logical_and()
        while self.peek()[:2] == ("ident", "or"):
            self.take()
            left = ("logical", "or", left, self.logical_and())
        return left

    def logical_and(self) -> Any:
        left = self.unary_logical()
        while self.peek()[:2] == ("ident", "and"):
            self.take()
            left = ("logical", "and", left, self.unary_logical())
        return left

    def unary_logical(self) -> Any:
        if self.peek()[:2] == ("ident", "not"):
            self.take()
            return ("not", self.unary_logical())
        if self.peek()[:2] == ("ident", "exists"):
            self.take()
            return ("exists", self.unary_logical())
        return self.comparison()

    def comparison(self) -> Any:
        left = self.additive()
        while self.peek()[0] == "op" and self.peek()[1] in (
            "==",
            "!=",
            "<",
            "<=",
            ">",
            ">=",
            "=~",
            "!~",
        ):
            op = self.take()[1]
            left = ("binary", op, left, self.additive())
        return left

    def additive(self) -> Any:
        left = self.multiplicative()
        while self.peek()[0] == "op" and self.peek()[1] in ("+", "-"):
            op = self.take()[1]
            left = ("binary", op, left, self.multiplicative())
        return left

    def multiplicative(self) -> Any:
        left = self.unary()
        while self.peek()[0] == "op" and self.peek()[1] in ("*", "/", "%", "^"):
            op = self.take()[1]
            left = ("binary", op, left, self.unary())
        return left

    def unary(self) -> Any:
        if self.peek()[:2] in (("op", "-"), ("op", "+")):
            op = self.take()[1]
            operand = self.unary()
            return ("neg", operand) if op == "-" else operand
        return self.pipe()

    def pipe(self) -> Any:
        left = self.postfix()
        while self.peek()[:2] == ("op", "|>"):
            self.take()
            call = self.postfix()
            if call[0] != "call":
                raise FluxError(
                    "invalid", f"error @{self.peek()[2]}: pipe destination must be a function call"
                )
            left = ("pipe", left, call)
        return left

    def postfix(self) -> Any:
        node = self.primary()
        while True:
            kind, value, _ = self.peek()
            if kind == "op" and value == ".":
                self.take()
                node = ("member", node, self.take()[1])
            elif kind == "op" and value == "[":
                self.take()
                index = self.expression()
                self.expect("]")
                node = ("index", node, index)
            elif kind == "op" and value == "(":
                self.take()
                node = ("call", node, self.properties(")"))
            else:
                return node

    def properties(self, closing: str) -> list[tuple[str, Any]]:
        props: list[tuple[str, Any]] = []
        while self.peek()[1] != closing or self.peek()[0] in ("string", "regex"):
            key_token = self.take()
            key = _flux_string(key_token[1]) if key_token[0] == "string" else key_token[1]
            if self.peek()[1] == ":":
                self.take()
                props.append((key, self.expression()))
            else:
                props.append((key, ("ident", key)))
            if self.peek()[1] == ",":
                self.take()
            elif self.peek()[1] != closing:
                raise FluxError("invalid", f"error @{self.peek()[2]}: expected , or {closing}")
        self.take()
        return props

    def primary(self) -> Any:
        kind, value, pos = self.take()
        if kind == "string":
            return ("string", _flux_string(value))
        if kind == "int":
            return ("int", int(value))
        if kind == "float":
            return ("float", float(value))
        if kind == "duration":
            parts = re.findall(r"(\d+)(mo|ms|us|µs|ns|y|w|d|h|m|s)", value)
            if any(unit in ("mo", "y") for _, unit in parts):
                return ("calendar_duration", value)
            return ("duration", value, sum(int(n) * _DURATION_NS[u] for n, u in parts))
        if kind == "time":
            text = value if "T" in value else value + "T00:00:00Z"
            return ("time", parse_rfc3339_ns(text))
        if kind == "regex":
            return ("regex", value)
        if kind == "ident":
            if value in ("true", "false"):
                return ("bool", value == "true")
            return ("ident", value)
        if value == "(":
            if self._is_function():
                params = self.properties(")")
                self.expect("=>")
                return ("fn", [name for name, _ in params], self.expression())
            inner = self.expression()
            self.expect(")")
            return inner
        if value == "[":
            items = []
            while self.peek()[1] != "]":
                items.append(self.expression())
                if self.peek()[1] == ",":
                    self.take()
            self.take()
            return ("array", items)
        if value == "{":
            return ("record", self.properties("}"))
        raise FluxError("invalid", f"error @{pos}: invalid expression: {value or 'EOF'}")

    def _is_function(self) -> bool:
        depth = 1
        j = self.i
        while j < len(self.tokens):
            kind, value, _ = self.tokens[j]
            if kind == "op" and value == "(":
                depth += 1
            elif kind == "op" and value == ")":
                depth -= 1
                if depth == 0:
                    return self.tokens[j + 1][1] == "=>" if j + 1 < len(self.tokens) else False
            elif kind == "eof":
                return False
            j += 1
        return False


@dataclass
class Table:
    """A Flux table: group-key column labels, columns (label, type), rows."""

    key: tuple[str, ...]
    cols: list[tuple[str, str]]
    rows: list[list[Any]]
    key_values: dict[str, Any] = field(default_factory=dict)


@dataclass
class FluxResult:
    name: str
    tables: list[Table]


_VALUE_TYPES = {
    "float": "float",
    "integer": "int",
    "unsigned": "uint",
    "string": "string",
    "boolean": "bool",
}
_AGGREGATES = ("count", "sum", "mean")
_SELECTORS = ("first", "last", "min", "max")


def _const(node: Any, now: int) -> Any:
    """The value of a call argument: literals, durations, times, now(), arrays, idents."""
    kind = node[0]
    if kind in ("string", "int", "float", "bool"):
        return node[1]
    if kind == "duration":
        return ("duration", node[2])
    if kind == "calendar_duration":
        raise unsupported(f"calendar durations ({node[1]})")
    if kind == "time":
        return ("time", node[1])
    if kind == "neg":
        inner = _const(node[1], now)
        if isinstance(inner, tuple) and inner[0] == "duration":
            return ("duration", -inner[1])
        if isinstance(inner, (int, float)) and not isinstance(inner, bool):
            return -inner
    if kind == "call" and node[1] == ("ident", "now") and not node[2]:
        return ("time", now)
    if kind == "call" and node[1] == ("ident", "time") and [k for k, _ in node[2]] == ["v"]:
        # flux v0.200.0 universe time(v:): an int is nanoseconds since the epoch.
        value = _const(node[2][0][1], now)
        if isinstance(value, int) and not isinstance(value, bool):
            return ("time", value)
        if isinstance(value, tuple) and value[0] == "time":
            return value
        raise unsupported("time(v:) of anything but an int or a time")
    if kind == "ident":
        return ("ident", node[1])
    if kind == "array":
        return [_const(item, now) for item in node[1]]
    if kind == "fn":
        return ("fn", node)
    raise unsupported(f"argument {node[0]}")


def _time_arg(value: Any, now: int, name: str) -> int:
    if isinstance(value, tuple) and value[0] == "duration":
        return now + value[1]
    if isinstance(value, tuple) and value[0] == "time":
        return int(value[1])
    if isinstance(value, int) and not isinstance(value, bool):
        return value * NS
    raise FluxError("invalid", f"range: {name} must be a time, a duration or an integer")


def _compile_predicate(fn: Any) -> tuple[str, Any, bool]:
    """A filter fn (r) => <predicate>: (param, body, uses a row column)."""
    if fn[0] != "fn" or len(fn[1]) != 1:
        raise unsupported("filter fn must take one parameter")
    param = fn[1][0]
    uses_row = False

    def check(node: Any) -> None:
        nonlocal uses_row
        kind = node[0]
        if kind == "logical":
            check(node[2])
            check(node[3])
        elif kind in ("not", "exists"):
            check(node[1])
        elif kind == "binary":
            if node[1] not in ("==", "!=", "<", "<=", ">", ">=", "=~", "!~"):
                raise unsupported(f"operator {node[1]} in filter")
            check(node[2])
            check(node[3])
        elif kind in ("member", "index"):
            if node[1] != ("ident", param):
                raise unsupported("filter on anything but the row parameter")
            column = node[2] if kind == "member" else node[2][1] if node[2][0] == "string" else None
            if column is None:
                raise unsupported("computed column names in filter")
            if column in ("_value", "_time", "_start", "_stop"):
                uses_row = True
        elif kind in ("string", "int", "float", "bool", "regex", "neg", "time", "duration"):
            return
        else:
            raise unsupported(f"{kind} in filter")

    check(fn[2])
    return param, fn[2], uses_row


def _eval_predicate(node: Any, record: dict[str, Any]) -> Any:
    kind = node[0]
    if kind == "logical":
        left = _eval_predicate(node[2], record)
        if node[1] == "and":
            return bool(left) and bool(_eval_predicate(node[3], record))
        return bool(left) or bool(_eval_predicate(node[3], record))
    if kind == "not":
        return not _eval_predicate(node[1], record)
    if kind == "exists":
        return _eval_predicate(node[1], record) is not None
    if kind == "member":
        return record.get(node[2])
    if kind == "index":
        return record.get(node[2][1])
    if kind == "binary":
        op = node[1]
        left = _eval_predicate(node[2], record)
        if op in ("=~", "!~"):
            found = re.search(node[3][1], "" if left is None else str(left)) is not None
            return found if op == "=~" else not found
        right = _eval_predicate(node[3], record)
        if left is None:
            left = ""  # a missing tag compares as the empty string, as storage predicates do
        try:
            if op == "==":
                return left == right
            if op == "!=":
                return left != right
            if op == "<":
                return left < right
            if op == "<=":
                return left <= right
            if op == ">":
                return left > right
            return left >= right
        except TypeError:
            return False
    if kind == "neg":
        value = _eval_predicate(node[1], record)
        return -value
    if kind in ("string", "int", "float", "bool"):
        return node[1]
    if kind == "time":
        return node[1]
    if kind == "duration":
        return node[2]
    if kind == "regex":
        return node[1]
    raise unsupported(kind)


@dataclass
class FluxProgram:
    """One pipeline: from |> range |> filter* [|> aggregateWindow | count | sum | mean |
    min | max | first | last] [|> limit] [|> to] [|> yield], with the columns and
    tables the storage engine's pushed-down reads produce (influxdb v2.9.1
    storage/flux/reader.go determineTableColsForSeries /
    determineTableColsForWindowAggregate, query/stdlib/influxdata/influxdb/rules.go
    PushDownAggregateWindowRule / PushDownBareAggregateRule)."""

    bucket: str
    bucket_id: str
    start_ns: int
    stop_ns: int
    predicates: list[tuple[str, Any, bool]]
    steps: list[tuple[str, dict[str, Any]]]
    result_name: str = "_result"

    @classmethod
    def parse(cls, flux: str, now: int) -> FluxProgram:
        statements = FluxParser(flux).program()
        exprs: list[Any] = []
        imports: set[str] = set()
        for statement in statements:
            if statement[0] == "option" and statement[1] == "task":
                continue
            if statement[0] == "expr":
                exprs.append(statement[1])
                continue
            if statement[0] == "import" and statement[1] == "influxdata/influxdb":
                imports.add(statement[1])
                continue
            raise unsupported(f"{statement[0]} statements")
        if len(exprs) != 1:
            raise unsupported("exactly one pipeline expression is supported")
        node = exprs[0]
        if node[0] == "call" and node[1] == ("member", ("ident", "influxdb"), "cardinality"):
            if not imports:
                raise FluxError("invalid", "undefined identifier influxdb")
            return cls._cardinality({k: _const(v, now) for k, v in node[2]}, now)
        if imports:
            raise unsupported('import "influxdata/influxdb" but for influxdb.cardinality()')
        calls: list[tuple[str, dict[str, Any]]] = []
        chain: list[Any] = []
        while node[0] == "pipe":
            chain.append(node[2])
            node = node[1]
        chain.append(node)
        for call in reversed(chain):
            if call[0] != "call" or call[1][0] != "ident":
                raise unsupported("a pipeline of plain function calls")
            calls.append((call[1][1], {k: _const(v, now) for k, v in call[2]}))
        name, args = calls[0]
        if name != "from":
            raise FluxError("invalid", 'test double: a query must start with from(bucket: "...")')
        if set(args) - {"bucket", "bucketID"} or len(args) != 1:
            raise unsupported("from() takes bucket or bucketID (and nothing else here)")
        bucket = str(args.get("bucket") or "")
        bucket_id = str(args.get("bucketID") or "")
        start: int | None = None
        stop = now
        predicates: list[tuple[str, Any, bool]] = []
        steps: list[tuple[str, dict[str, Any]]] = []
        result_name = "_result"
        for name, args in calls[1:]:
            if name == "range":
                if steps:
                    raise unsupported("range() after a transformation")
                if "start" not in args or set(args) - {"start", "stop"}:
                    raise FluxError("invalid", "missing required argument start")
                start = _time_arg(args["start"], now, "start")
                if "stop" in args:
                    stop = _time_arg(args["stop"], now, "stop")
            elif name == "filter":
                if steps:
                    raise unsupported("filter() after a transformation")
                if set(args) - {"fn"} or "fn" not in args or args["fn"][0] != "fn":
                    raise unsupported("filter(fn:) with a function literal only")
                predicates.append(_compile_predicate(args["fn"][1]))
            elif name == "aggregateWindow":
                if steps:
                    raise unsupported("aggregateWindow() after another transformation")
                extra = set(args) - {"every", "fn", "createEmpty", "offset", "period"}
                if extra:
                    raise unsupported(f"aggregateWindow arguments {sorted(extra)}")
                every = args.get("every")
                fn = args.get("fn")
                if not (isinstance(every, tuple) and every[0] == "duration" and every[1] > 0):
                    raise FluxError("invalid", "aggregateWindow: every must be a positive duration")
                if args.get("period") not in (None, every):
                    raise unsupported("aggregateWindow(period:) different from every")
                if not (
                    isinstance(fn, tuple) and fn[0] == "ident" and fn[1] in _AGGREGATES + _SELECTORS
                ):
                    raise unsupported(
                        "aggregateWindow(fn:) other than count, sum, mean, min, max, first, last"
                    )
                offset = args.get("offset", ("duration", 0))
                create_empty = args.get("createEmpty", True)
                if create_empty and fn[1] in _SELECTORS:
                    raise unsupported("aggregateWindow(createEmpty: true) with a selector")
                steps.append(
                    (
                        "aggregateWindow",
                        {
                            "every": every[1],
                            "fn": fn[1],
                            "offset": offset[1],
                            "createEmpty": bool(create_empty),
                        },
                    )
                )
            elif name in _AGGREGATES + _SELECTORS:
                if steps:
                    raise unsupported(f"{name}() after another transformation")
                if (args and set(args) != {"column"}) or args.get("column", "_value") != "_value":
                    raise unsupported(f"{name}() arguments")
                steps.append((name, {}))
            elif name == "limit":
                if "n" not in args or set(args) - {"n", "offset"}:
                    raise FluxError("invalid", "missing required argument n")
                steps.append(("limit", {"n": int(args["n"]), "offset": int(args.get("offset", 0))}))
            elif name == "to":
                extra = set(args) - {"bucket", "org", "bucketID", "orgID"}
                if extra:
                    raise unsupported(f"to() arguments {sorted(extra)}")
                steps.append(("to", {k: str(v) for k, v in args.items()}))
            elif name == "yield":
                result_name = str(args.get("name", "_result"))
            else:
                raise unsupported(f"function {name}()")
            if name != "yield" and result_name != "_result":
                raise unsupported("yield() before the end of the pipeline")
        if start is None:
            raise FluxError(
                "invalid",
                "error in building plan while starting program: cannot submit unbounded read to "
                f"\"{bucket or bucket_id}\"; try bounding 'from' with a call to 'range'",
            )
        return cls(bucket, bucket_id, start, stop, predicates, steps, result_name)

    @classmethod
    def _cardinality(cls, args: dict[str, Any], now: int) -> FluxProgram:
        """influxdb.cardinality(bucket: or bucketID:, start:, stop:) alone: the bucket
        looked up as from() does (query/stdlib/influxdata/influxdb/provider.go
        SeriesCardinalityReaderFor, readFilterSpec); org, host, token and predicate are
        refused (the double's limit)."""
        extra = set(args) - {"bucket", "bucketID", "start", "stop"}
        if extra:
            raise unsupported(f"influxdb.cardinality() arguments {sorted(extra)}")
        if len({"bucket", "bucketID"} & set(args)) != 1:
            raise unsupported("influxdb.cardinality() takes bucket or bucketID")
        if "start" not in args:
            raise FluxError("invalid", "missing required argument start")
        start = _time_arg(args["start"], now, "start")
        stop = _time_arg(args["stop"], now, "stop") if "stop" in args else now
        bucket, bucket_id = str(args.get("bucket") or ""), str(args.get("bucketID") or "")
        return cls(bucket, bucket_id, start, stop, [], [("cardinality", {})])

    def read(
        self, rows: list[tuple[str, tuple[tuple[str, str], ...], int, dict[str, Any]]]
    ) -> list[Table]:
        """storage/flux/reader.go: one table per series and field (and value type),
        columns _start, _stop, _time, _value, then the tags sorted (with _field and
        _measurement), series in key order, points in time order."""
        groups: dict[tuple[str, tuple[tuple[str, str], ...], str, str], list[tuple[int, Any]]] = {}
        decided: dict[tuple[str, tuple[tuple[str, str], ...], str], bool] = {}
        row_predicates = [p for p in self.predicates if p[2]]
        series_predicates = [p for p in self.predicates if not p[2]]
        for measurement, tags, ts, fields in rows:
            for name, value in fields.items():
                series = (measurement, tags, name)
                ok = decided.get(series)
                if ok is None:
                    record = {"_measurement": measurement, "_field": name, **dict(tags)}
                    ok = all(_eval_predicate(body, record) for _, body, _ in series_predicates)
                    decided[series] = ok
                if not ok:
                    continue
                if row_predicates:
                    record = {
                        "_measurement": measurement,
                        "_field": name,
                        **dict(tags),
                        "_value": value,
                        "_time": ts,
                        "_start": self.start_ns,
                        "_stop": self.stop_ns,
                    }
                    if not all(_eval_predicate(body, record) for _, body, _ in row_predicates):
                        continue
                groups.setdefault(
                    (measurement, tags, name, _VALUE_TYPES[type_name(value)]), []
                ).append((ts, value))
        tables = []
        for (measurement, tags, name, vtype), points in sorted(
            groups.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2], kv[0][3])
        ):
            points.sort(key=lambda p: p[0])
            tag_values = {"_measurement": measurement, "_field": name, **dict(tags)}
            tag_cols = sorted(tag_values, key=lambda k: k.encode())
            cols = [("_start", "time"), ("_stop", "time"), ("_time", "time"), ("_value", vtype)] + [
                (t, "string") for t in tag_cols
            ]
            key = ("_start", "_stop", *tag_cols)
            tail = [tag_values[t] for t in tag_cols]
            table_rows = [[self.start_ns, self.stop_ns, ts, value, *tail] for ts, value in points]
            key_values = {"_start": self.start_ns, "_stop": self.stop_ns, **tag_values}
            tables.append(Table(key, cols, table_rows, key_values))
        return tables

    def run(
        self,
        rows: list[tuple[str, tuple[tuple[str, str], ...], int, dict[str, Any]]],
        write: Callable[[dict[str, Any], list[Table]], None],
    ) -> FluxResult:
        if self.steps and self.steps[0][0] == "cardinality":
            # influxdb v2.9.1 storage/flux/reader.go seriesCardinalityIterator: one table,
            # an empty group key, one long column _value; v1/services/storage/store.go
            # ReadSeriesCardinality counts the series with a point in the range, a series
            # being measurement, tag set and field (the field is the \xff tag key,
            # models/points.go FieldKeyTagKey).
            series = {(m, tags, name) for m, tags, _, fields in rows for name in fields}
            return FluxResult(self.result_name, [Table((), [("_value", "int")], [[len(series)]])])
        tables = self.read(rows)
        for name, args in self.steps:
            if name == "aggregateWindow":
                tables = [self._window(t, args) for t in tables]
                tables = [t for t in tables if t.rows]
            elif name in _AGGREGATES + _SELECTORS:
                tables = [self._bare(t, name) for t in tables]
            elif name == "limit":
                for table in tables:
                    table.rows = table.rows[args["offset"] : args["offset"] + args["n"]]
            elif name == "to":
                write(args, tables)
        return FluxResult(self.result_name, tables)

    @staticmethod
    def _aggregate(
        fn: str, vtype: str, values: list[tuple[int, Any]]
    ) -> tuple[str, Any, int | None]:
        """(output type, value, time of the selected row)."""
        if fn == "count":
            return "int", len(values), None
        if fn in ("first", "last"):
            if not values:
                return vtype, None, None
            ts, value = values[0] if fn == "first" else values[-1]
            return vtype, value, ts
        if vtype not in ("float", "int", "uint"):
            raise FluxError(
                "invalid",
                f"unsupported input type for {fn} aggregate: {vtype if vtype != 'bool' else 'boolean'}",
            )
        if fn == "sum":
            return vtype, (sum(v for _, v in values) if values else None), None
        if fn == "mean":
            return (
                "float",
                (sum(float(v) for _, v in values) / len(values) if values else None),
                None,
            )
        if not values:
            return vtype, None, None
        best = values[0]
        for item in values[1:]:
            if (fn == "min" and item[1] < best[1]) or (fn == "max" and item[1] > best[1]):
                best = item
        return vtype, best[1], best[0]

    def _bare(self, table: Table, fn: str) -> Table:
        vtype = table.cols[3][1]
        values = [(row[2], row[3]) for row in table.rows]
        out_type, value, ts = self._aggregate(fn, vtype, values)
        tail = table.rows[0][4:] if table.rows else []
        tag_cols = table.cols[4:]
        if fn in _SELECTORS:
            cols = [
                ("_start", "time"),
                ("_stop", "time"),
                ("_time", "time"),
                ("_value", out_type),
                *tag_cols,
            ]
            row = [self.start_ns, self.stop_ns, ts, value, *tail]
        else:
            cols = [("_start", "time"), ("_stop", "time"), ("_value", out_type), *tag_cols]
            row = [self.start_ns, self.stop_ns, value, *tail]
        return Table(table.key, cols, [row], table.key_values)

    def _window(self, table: Table, args: dict[str, Any]) -> Table:
        """aggregateWindow pushed down: windows of `every` aligned on the epoch plus
        offset, clipped to the range; _time is the window's (clipped) stop."""
        every, offset, fn = args["every"], args["offset"], args["fn"]
        vtype = table.cols[3][1]
        start, stop = self.start_ns, self.stop_ns
        buckets: dict[int, list[tuple[int, Any]]] = {}
        for row in table.rows:
            window_start = (row[2] - offset) // every * every + offset
            buckets.setdefault(window_start, []).append((row[2], row[3]))
        if args["createEmpty"]:
            first = (start - offset) // every * every + offset
            starts = list(range(first, stop, every))
        else:
            starts = sorted(buckets)
        tail = table.rows[0][4:] if table.rows else []
        rows = []
        out_type = "int" if fn == "count" else "float" if fn == "mean" else vtype
        for window_start in starts:
            values = buckets.get(window_start, [])
            out_type, value, _ts = self._aggregate(fn, vtype, values)
            window_stop = min(window_start + every, stop)
            rows.append([start, stop, window_stop, value, *tail])
        cols = [
            ("_start", "time"),
            ("_stop", "time"),
            ("_time", "time"),
            ("_value", out_type),
            *table.cols[4:],
        ]
        return Table(table.key, cols, rows, table.key_values)


# --- the flux CSV encoder (flux v0.200.0 csv/result.go ResultEncoder.Encode) -------------------

_CSV_TYPES = {
    "bool": "boolean",
    "int": "long",
    "uint": "unsignedLong",
    "float": "double",
    "string": "string",
    "time": "dateTime:RFC3339",
}


def _csv_value(value: Any, ctype: str) -> str:
    if value is None:
        return ""
    if ctype == "time":
        return rfc3339_ns(int(value))
    if ctype == "float":
        return go_float(float(value))
    if ctype == "bool":
        return "true" if value else "false"
    return str(value)


def _csv_field(text: str, delimiter: str) -> str:
    """Go's encoding/csv fieldNeedsQuotes and quoting."""
    if text == "":
        return text
    if text == "\\." or delimiter in text or any(c in text for c in '"\r\n') or text[0] in " \t":
        return '"' + text.replace('"', '""') + '"'
    return text


def encode_csv(
    result: FluxResult, annotations: list[str], *, header: bool = True, delimiter: str = ","
) -> str:
    """ResultEncoder.Encode then DelimitedMultiResultEncoder's "\\r\\n" after the result:
    a schema block (the asked annotations in the order asked, then the header) when a
    table's columns or group key differ from the previous table's, a blank line
    between blocks, data rows with the result column empty when #default is asked."""
    out: list[str] = []

    def line(cells: list[str]) -> None:
        out.append(delimiter.join(_csv_field(c, delimiter) for c in cells) + "\r\n")

    last_cols: list[tuple[str, str]] | None = None
    last_key: tuple[str, ...] | None = None
    last_empty = False
    with_default = "default" in annotations
    for table_id, table in enumerate(result.tables):
        empty = not table.rows
        changed = last_key is None or table.key != last_key or table.cols != last_cols
        if last_empty or empty or changed:
            if last_cols is not None:
                out.append("\r\n")
            for annotation in annotations:
                if annotation == "datatype":
                    line(["#datatype", "string", "long", *(_CSV_TYPES[t] for _, t in table.cols)])
                elif annotation == "group":
                    line(
                        [
                            "#group",
                            "false",
                            "false",
                            *("true" if c in table.key else "false" for c, _ in table.cols),
                        ]
                    )
                elif annotation == "default":
                    defaults = [
                        _csv_value(table.key_values.get(label), ctype)
                        if empty and label in table.key
                        else ""
                        for label, ctype in table.cols
                    ]
                    line(["#default", result.name, str(table_id) if empty else "", *defaults])
            if header:
                line(["", "result", "table", *(c for c, _ in table.cols)])
        result_cell = "" if with_default else result.name
        for row in table.rows:
            line(
                [
                    "",
                    result_cell,
                    str(table_id),
                    *(_csv_value(v, t) for v, (_, t) in zip(row, table.cols, strict=True)),
                ]
            )
        last_cols, last_key, last_empty = table.cols, table.key, empty
    out.append("\r\n")
    return "".join(out)


# --- HTTP ---------------------------------------------------------------------------------

# influxdb v2.9.1 http/health.go HealthHandler (its exact bytes, with the double's version).
HEALTH_BODY = (
    '{"name":"influxdb", "message":"ready for queries and writes", "status":"pass", "checks":[], '
    f'"version": "{VERSION}", "commit": "testdouble"}}\n'
)
# NYTimes/gziphandler v1.0.1 gzip.go DefaultMinSize: smaller answers are not compressed.
GZIP_MIN_SIZE = 1400
# The routes under /api/v2 that need a token, and their methods (the path after /api/v2/,
# with {} for an ID segment).
ROUTES: dict[str, tuple[str, ...]] = {
    "orgs": ("GET", "POST"),
    "orgs/{}": ("GET",),
    "buckets": ("GET", "POST"),
    "buckets/{}": ("GET", "PATCH", "DELETE"),
    "users": ("GET", "POST"),
    "authorizations": ("GET", "POST"),
    "authorizations/{}": ("GET", "PATCH", "DELETE"),
    "tasks": ("GET", "POST"),
    "tasks/{}": ("GET", "PATCH", "DELETE"),
    "tasks/{}/runs": ("GET", "POST"),
    "tasks/{}/runs/{}": ("GET",),
    "tasks/{}/logs": ("GET",),
    "tasks/{}/runs/{}/logs": ("GET",),
    "query": ("POST",),
    "write": ("POST",),
    "delete": ("POST",),
}


def accepts_gzip(header: str) -> bool:
    """gziphandler acceptsGzip/parseEncodings: gzip with a q-value above zero."""
    for part in header.split(","):
        pieces = [p.strip() for p in part.split(";")]
        if pieces[0].lower() != "gzip":
            continue
        quality = 1.0
        for piece in pieces[1:]:
            if piece.startswith("q="):
                try:
                    quality = min(max(float(piece[2:]), 0.0), 1.0)
                except ValueError:
                    quality = 0.0
        return quality > 0.0
    return False


def _route_key(parts: list[str]) -> tuple[str, list[str]]:
    """("tasks/{}/runs", [task ID]) for ["tasks", "<id>", "runs"]."""
    shape: list[str] = []
    params: list[str] = []
    for index, part in enumerate(parts):
        if index % 2 == 1:
            shape.append("{}")
            params.append(part)
        else:
            shape.append(part)
    return "/".join(shape), params


def _make_handler(double: InfluxDBDouble) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "InfluxDB-TestDouble"

        def log_message(self, format: str, *args: Any) -> None:
            return

        def _send(self, status: int, payload: bytes, headers: dict[str, str]) -> None:
            self.send_response(status)
            self.send_header("X-Influxdb-Version", VERSION)
            self.send_header("X-Influxdb-Build", "OSS")
            for name, value in headers.items():
                self.send_header(name, value)
            chunked = headers.get("Transfer-Encoding") == "chunked"
            if not chunked:
                self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if self.command == "HEAD":
                return
            if chunked:
                if payload:
                    self.wfile.write(f"{len(payload):x}\r\n".encode() + payload + b"\r\n")
                self.wfile.write(b"0\r\n\r\n")
            elif payload:
                self.wfile.write(payload)

        def _reply_json(self, status: int, body: Any, *, pretty: bool = False) -> None:
            payload = go_json(body, pretty=pretty) + (b"" if pretty else b"\n")
            self._send(status, payload, {"Content-Type": "application/json; charset=utf-8"})

        def _reply_error(self, exc: ApiError, extra: dict[str, str] | None = None) -> None:
            payload = go_json({"code": exc.code, "message": exc.message})
            headers = {
                "X-Platform-Error-Code": exc.code,
                "Content-Type": "application/json; charset=utf-8",
                **(extra or {}),
            }
            self._send(exc.status, payload, headers)

        def _reply_empty(self, status: int, headers: dict[str, str] | None = None) -> None:
            self._send(status, b"", headers or {})

        def _body(self) -> bytes:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                chunks = []
                while True:
                    size_line = self.rfile.readline().strip().split(b";")[0]
                    size = int(size_line or b"0", 16)
                    if size == 0:
                        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                            pass
                        return b"".join(chunks)
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def _json(self, body: bytes, failure: str) -> dict[str, Any]:
            if not body:
                raise ApiError("invalid", f"{failure}: EOF")
            try:
                data = json.loads(body)
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise ApiError("invalid", f"{failure}: {exc}") from exc
            if not isinstance(data, dict):
                raise ApiError("invalid", f"{failure}: json: cannot unmarshal into an object")
            return data

        def _auth(self) -> dict[str, Any]:
            return double.authenticate(self.headers.get("Authorization", ""))

        def _dispatch(self, method: str) -> None:
            url = urlsplit(self.path)
            query = parse_qs(url.query, keep_blank_values=True)
            path = url.path.rstrip("/") or "/"
            body = self._body() if method in ("POST", "PATCH", "PUT", "DELETE") else b""
            try:
                self._route(method, path, query, body)
            except ApiError as exc:
                extra = {"Vary": "Accept-Encoding"} if path == "/api/v2/query" else None
                self._reply_error(exc, extra)
            except (BrokenPipeError, ConnectionResetError):
                return
            except Exception as exc:  # a bug of the double: say so, never pass it off as InfluxDB's
                self._reply_error(ApiError("internal error", f"test double bug: {exc!r}"))

        def _route(self, method: str, path: str, query: dict[str, list[str]], body: bytes) -> None:
            if path == "/health" and method in ("GET", "HEAD"):
                self._send(
                    200, HEALTH_BODY.encode(), {"Content-Type": "application/json; charset=utf-8"}
                )
                return
            if path == "/ping" and method in ("GET", "HEAD"):
                self._reply_empty(204)
                return
            if path == "/ready" and method == "GET":
                status = {
                    "status": "ready",
                    "started": rfc3339_ns(double.started_ns),
                    "up": go_duration((time.time_ns() - double.started_ns) // NS * NS),
                }
                payload = json.dumps(status, indent=4).encode() + b"\n"
                self._send(200, payload, {"Content-Type": "application/json; charset=utf-8"})
                return
            if path == "/metrics" and method == "GET":
                self._send(
                    200, double.metrics().encode(), {"Content-Type": "text/plain; version=0.0.4"}
                )
                return
            if path.startswith("/__double/"):
                self._route_double(method, path, query, body)
                return
            if path == "/api/v2/setup":
                if method == "GET":
                    with double.lock:
                        allowed_now = not double.meta.setup_done
                    self._reply_json(200, {"allowed": allowed_now}, pretty=True)
                elif method == "POST":
                    data = self._json(body, "failed to unmarshal json")
                    self._reply_json(201, double.api_setup(data), pretty=True)
                else:
                    raise ApiError("method not allowed", "allow: GET, POST")
                return
            auth = self._auth()
            if not path.startswith("/api/v2/"):
                raise ApiError("not found", "path not found")
            shape, params = _route_key(path[len("/api/v2/") :].split("/"))
            methods = ROUTES.get(shape)
            if methods is None:
                raise ApiError("not found", "path not found")
            if method not in methods:
                raise ApiError("method not allowed", f"allow: {', '.join(methods)}")
            self._api(method, shape, params, query, body, auth)

        def _api(
            self,
            method: str,
            shape: str,
            params: list[str],
            query: dict[str, list[str]],
            body: bytes,
            auth: dict[str, Any],
        ) -> None:
            if shape == "write":
                self._write(query, body, auth)
                return
            if shape == "query":
                self._query(query, body, auth)
                return
            if shape == "delete":
                double.api_delete(auth, query, body)
                self._reply_empty(204)
                return
            item = params[0] if params else ""
            tenant = "invalid"
            if shape == "orgs" and method == "GET":
                self._reply_json(200, double.api_orgs(auth, query), pretty=True)
            elif shape == "orgs" and method == "POST":
                data = self._json(body, "failed to unmarshal json")
                self._reply_json(201, double.api_org_create(auth, data), pretty=True)
            elif shape == "orgs/{}":
                with double.lock:
                    org = double._org_by_id(check_id(item))
                    authorize(auth, "read", "orgs", org["id"], None)
                    view = double._org_view(org)
                self._reply_json(200, view, pretty=True)
            elif shape == "buckets" and method == "GET":
                self._reply_json(200, double.api_buckets_list(auth, query), pretty=True)
            elif shape == "buckets" and method == "POST":
                data = self._json(body, "failed to unmarshal json")
                self._reply_json(201, double.api_bucket_create(auth, data), pretty=True)
            elif shape == "buckets/{}" and method == "GET":
                self._reply_json(200, double.api_bucket_get(auth, item), pretty=True)
            elif shape == "buckets/{}" and method == "PATCH":
                data = self._json(body, "failed to unmarshal json")
                self._reply_json(200, double.api_bucket_patch(auth, item, data), pretty=True)
            elif shape == "buckets/{}" and method == "DELETE":
                double.api_bucket_delete(auth, item)
                self._reply_empty(204)
            elif shape == "users" and method == "GET":
                self._reply_json(200, double.api_users_list(auth, query), pretty=True)
            elif shape == "users" and method == "POST":
                data = self._json(body, "failed to unmarshal json")
                self._reply_json(201, double.api_user_create(auth, data), pretty=True)
            elif shape == "authorizations" and method == "GET":
                self._reply_json(200, double.api_auths_list(auth, query), pretty=True)
            elif shape == "authorizations" and method == "POST":
                data = self._json(body, "invalid json structure")
                self._reply_json(201, double.api_auth_create(auth, data), pretty=True)
            elif shape == "authorizations/{}" and method == "GET":
                self._reply_json(200, double.api_auth_get(auth, item), pretty=True)
            elif shape == "authorizations/{}" and method == "PATCH":
                data = self._json(body, tenant)
                self._reply_json(200, double.api_auth_patch(auth, item, data), pretty=True)
            elif shape == "authorizations/{}" and method == "DELETE":
                double.api_auth_delete(auth, item)
                self._reply_empty(204)
            elif shape == "tasks" and method == "GET":
                self._reply_json(200, double.api_tasks_list(auth, query))
            elif shape == "tasks" and method == "POST":
                data = self._json(body, "failed to decode request")
                self._reply_json(201, double.api_task_create(auth, data))
            elif shape == "tasks/{}" and method == "GET":
                self._reply_json(200, double.api_task_get(auth, item))
            elif shape == "tasks/{}" and method == "PATCH":
                data = self._json(body, "failed to decode request")
                self._reply_json(200, double.api_task_patch(auth, item, data))
            elif shape == "tasks/{}" and method == "DELETE":
                double.api_task_delete(auth, item)
                self._reply_empty(204)
            elif shape == "tasks/{}/runs" and method == "GET":
                self._reply_json(200, double.api_task_runs(auth, item, query))
            elif shape == "tasks/{}/runs" and method == "POST":
                data = self._json(body, "failed to decode request") if body.strip() else {}
                self._reply_json(
                    201,
                    double.api_task_force_run(auth, item, data if isinstance(data, dict) else {}),
                )
            elif shape == "tasks/{}/runs/{}":
                self._reply_json(200, double.api_task_run_get(auth, item, params[1]))
            elif shape == "tasks/{}/logs":
                self._reply_json(200, double.api_task_logs(auth, item, None))
            elif shape == "tasks/{}/runs/{}/logs":
                self._reply_json(200, double.api_task_logs(auth, item, params[1]))
            else:
                raise ApiError("not found", "path not found")

        def _route_double(
            self, method: str, path: str, query: dict[str, list[str]], body: bytes
        ) -> None:
            parts = path.split("/")[2:]
            if method == "GET" and path == "/__double/points":
                bucket = _first(query, "bucket")
                self._reply_json(200, double.points(bucket, _first(query, "symbol")))
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
                self._reply_json(200, stats)
            elif method == "POST" and path == "/__double/mode":
                try:
                    double.set_mode(body.decode().strip())
                except ValueError:
                    self._reply_json(400, {"message": "mode must be up, fail or hang"})
                    return
                self._reply_empty(204)
            elif method == "POST" and path == "/__double/reset":
                double.reset()
                self._reply_empty(204)
            elif method == "POST" and len(parts) == 3 and parts[0] == "tasks" and parts[2] == "run":
                data = self._json(body, "failed to decode request") if body.strip() else {}
                self._reply_json(201, double.double_run_task(parts[1], data))
            elif path in ("/__double/backup", "/__double/restore"):
                auth = self._auth()
                if not (
                    can(auth, "write", "authorizations", None, None)
                    and can(auth, "read", "buckets", None, None)
                ):
                    raise ApiError("unauthorized", "backup and restore need an operator token")
                if method == "GET" and path == "/__double/backup":
                    self._reply_json(200, double.snapshot())
                elif method == "POST" and path == "/__double/restore":
                    double.load_snapshot(self._json(body, "invalid backup"))
                    self._reply_empty(204)
                else:
                    raise ApiError(
                        "method not allowed",
                        "allow: GET" if path.endswith("backup") else "allow: POST",
                    )
            else:
                raise ApiError("not found", "path not found")

        def _write(self, query: dict[str, list[str]], body: bytes, auth: dict[str, Any]) -> None:
            if double.mode == "hang":
                time.sleep(double.hang_s)
            if double.mode in ("fail", "hang"):
                self._reply_error(
                    ApiError("unavailable", "test double: simulated outage"), {"Retry-After": "1"}
                )
                return
            double.handle_write(auth, query, self.headers.get("Content-Encoding", ""), body)
            self._reply_empty(204)

        def _query(self, query: dict[str, list[str]], body: bytes, auth: dict[str, Any]) -> None:
            csv_text, _result = double.handle_query(
                auth,
                query,
                self.headers.get("Content-Type", ""),
                self.headers.get("Prefer", ""),
                body,
            )
            if csv_text is None:
                self._reply_empty(204, {"Vary": "Accept-Encoding"})
                return
            payload = csv_text.encode()
            headers = {
                "Vary": "Accept-Encoding",
                "Content-Type": "text/csv; charset=utf-8",
                "Transfer-Encoding": "chunked",
            }
            if (
                accepts_gzip(self.headers.get("Accept-Encoding", ""))
                and len(payload) >= GZIP_MIN_SIZE
            ):
                payload = gzip.compress(payload)
                headers["Content-Encoding"] = "gzip"
            self._send(200, payload, headers)

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

        def do_PUT(self) -> None:
            self._dispatch("PUT")

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
