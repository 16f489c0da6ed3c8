"""Bounded, durable, ordered on-disk spool of line-protocol batches (SQLite in WAL mode).

Why SQLite: each append is one transaction, fsynced (`synchronous=FULL`) before
`append()` returns, so a batch the sink has spooled survives a crash or a
container restart; a torn write at power loss is rolled back by SQLite instead
of leaving a half-record to parse. Rows are replayed in insertion order (rowid)
and deleted only after InfluxDB acknowledged them, so a crash between the write
and the delete resends a batch: harmless, because InfluxDB keeps one value per
series and timestamp (the feeders stamp points with the upstream event time).

Bounded: `max_bytes` caps the line-protocol bytes held. When an append would
exceed it the batch is refused (`append()` returns False) and the caller counts
and logs the loss. Refusing the newest batch keeps the spool append-only and
preserves the start of the outage; the gap shows at its end, where the feeders
catch up as soon as InfluxDB is back.
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS batches (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    points  INTEGER NOT NULL,
    bytes   INTEGER NOT NULL,
    body    TEXT    NOT NULL
)
"""


@dataclass(frozen=True, slots=True)
class SpooledBatch:
    """One spooled batch: its row id and its lines, oldest first."""

    id: int
    lines: list[str]


class Spool:
    """Ordered queue of line batches on disk; safe to share between threads."""

    def __init__(self, path: Path, max_bytes: int) -> None:
        self.path = path
        self.max_bytes = max_bytes
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        # isolation_level=None: we issue explicit transactions; autocommit otherwise.
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute(_SCHEMA)
        row = self._db.execute(
            "SELECT COALESCE(SUM(points),0), COALESCE(SUM(bytes),0) FROM batches"
        )
        self._points, self._bytes = row.fetchone()

    @property
    def depth_points(self) -> int:
        """Points waiting in the spool."""
        return int(self._points)

    @property
    def depth_bytes(self) -> int:
        """Line-protocol bytes waiting in the spool."""
        return int(self._bytes)

    def __len__(self) -> int:
        return self.depth_points

    def append(self, lines: list[str]) -> bool:
        """Durably append one batch; False (nothing written) if it would exceed `max_bytes`."""
        if not lines:
            return True
        body = "\n".join(lines)
        size = len(body.encode())
        with self._lock:
            if self._bytes + size > self.max_bytes:
                return False
            self._db.execute(
                "INSERT INTO batches (points, bytes, body) VALUES (?, ?, ?)",
                (len(lines), size, body),
            )
            self._points += len(lines)
            self._bytes += size
        return True

    def peek(self, max_points: int) -> list[SpooledBatch]:
        """Oldest batches totalling at most `max_points` lines (always at least one batch)."""
        out: list[SpooledBatch] = []
        total = 0
        with self._lock:
            cursor = self._db.execute("SELECT id, points, body FROM batches ORDER BY id LIMIT 1000")
            for row_id, points, body in cursor:
                if out and total + points > max_points:
                    break
                out.append(SpooledBatch(int(row_id), body.split("\n")))
                total += int(points)
            cursor.close()
            if not out:
                # Another process emptied the file (or the counters drifted):
                # trust the table, so callers never loop on a phantom depth.
                self._points = self._bytes = 0
        return out

    def remove(self, ids: list[int]) -> None:
        """Delete acknowledged batches (one transaction)."""
        if not ids:
            return
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                marks = ",".join("?" * len(ids))
                row = self._db.execute(
                    f"SELECT COALESCE(SUM(points),0), COALESCE(SUM(bytes),0) FROM batches "  # noqa: S608
                    f"WHERE id IN ({marks})",
                    ids,
                ).fetchone()
                self._db.execute(f"DELETE FROM batches WHERE id IN ({marks})", ids)  # noqa: S608
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._points -= int(row[0])
            self._bytes -= int(row[1])

    def close(self) -> None:
        """Close the database (the spool content stays on disk)."""
        with self._lock:
            self._db.close()
