"""Minimal InfluxDB v2 write client: POST /api/v2/write, token auth, precision ns.

Plain httpx rather than influxdb-client: the sink needs to see every status
code to decide between "retry later" (outage) and "this batch holds a bad line"
(split and drop the line), and influxdb-client's own batching and retry layer
would hide exactly that. Synchronous on purpose: it runs on the sink's writer
thread, never on an event loop.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import httpx


class WriteOutcome(enum.Enum):
    """What the sink should do with a batch after one write attempt."""

    OK = "ok"  # stored (2xx)
    REJECTED = "rejected"  # the data itself is refused (400, 413, 422): split, drop bad lines
    RETRY = "retry"  # InfluxDB unavailable or misconfigured: keep the batch, try later


@dataclass(frozen=True, slots=True)
class WriteResult:
    """Outcome of one write request, with a short error kind for metrics."""

    outcome: WriteOutcome
    status: int | None = None
    kind: str = ""
    detail: str = ""
    retry_after: float | None = None


# Statuses meaning "this payload is wrong", as opposed to "the server is not ready".
# 401/403/404 (bad token, missing bucket) are configuration problems: retrying
# later keeps the data safe in the spool until an operator fixes them.
_REJECT_STATUSES = frozenset({400, 413, 422})


class InfluxWriter:
    """Writes encoded lines to one bucket."""

    def __init__(
        self,
        url: str,
        org: str,
        bucket: str,
        token: str,
        *,
        timeout_s: float = 10.0,
        client: httpx.Client | None = None,
    ) -> None:
        self.bucket = bucket
        self._url = url.rstrip("/") + "/api/v2/write"
        self._params = {"org": org, "bucket": bucket, "precision": "ns"}
        self._headers = {
            "Authorization": f"Token {token}",
            "Content-Type": "text/plain; charset=utf-8",
            "Accept": "application/json",
        }
        self._client = client if client is not None else httpx.Client(timeout=timeout_s)

    def write(self, lines: list[str]) -> WriteResult:
        """Send `lines` in one request and classify the answer; never raises for I/O."""
        body = "\n".join(lines).encode()
        try:
            response = self._client.post(
                self._url, params=self._params, headers=self._headers, content=body
            )
        except httpx.TimeoutException as exc:
            return WriteResult(WriteOutcome.RETRY, kind="timeout", detail=str(exc))
        except httpx.HTTPError as exc:
            return WriteResult(WriteOutcome.RETRY, kind="connection", detail=str(exc))
        status = response.status_code
        if 200 <= status < 300:
            return WriteResult(WriteOutcome.OK, status=status)
        detail = response.text[:500]
        if status in _REJECT_STATUSES:
            return WriteResult(WriteOutcome.REJECTED, status, f"http_{status}", detail)
        retry_after = _parse_retry_after(response.headers.get("Retry-After"))
        kind = "http_5xx" if status >= 500 else f"http_{status}"
        return WriteResult(WriteOutcome.RETRY, status, kind, detail, retry_after)

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._client.close()


def _parse_retry_after(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None
