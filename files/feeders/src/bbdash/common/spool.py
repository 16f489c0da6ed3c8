"""Bounded, durable, ordered on-disk spool of line-protocol batches (SQLite in WAL mode).

Why SQLite: each append is one transaction, fsynced (`synchronous=FULL`) before
`append()` returns, so a batch the sink has spooled survives a crash or a
container restart; a torn write at power loss is rolled back by SQLite instead
of leaving a half-record to parse. Rows are replayed in insertion order (rowid)
and deleted only after InfluxDB acknowledged them, so a crash between the write
and the delete resends a batch: harmless, because InfluxDB keeps one value per
series and timestamp (the feeders stamp points with the upstream event time).

Bounded: `max_bytes` caps the line-protocol bytes held. When an append would
exceed it the batch is refused (`append()` returns None) and the caller counts
and logs the loss. Refusing the newest batch keeps the spool append-only and
preserves the start of the outage; the gap shows at its end, where the feeders
catch up as soon as InfluxDB is back.

SQLite keeps a file at its peak size after rows are deleted: once the spool is
empty again and the database holds more than `SHRINK_BYTES`, it is compacted
(VACUUM, WAL truncated), and the WAL itself is cut back to `SHRINK_BYTES` at
each checkpoint, so an outage does not keep its disk.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from bbdash.common.durable import open_durable

# Files (database + WAL) larger than this are compacted once the spool is empty.
SHRINK_BYTES = 1 << 20

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
        self._lock = threading.Lock()
        self._closed = False
        self._db = open_durable(path, _SCHEMA)
        # The WAL is cut back to this size at each checkpoint instead of keeping
        # its largest size (every batch passes through the spool).
        self._db.execute(f"PRAGMA journal_size_limit={SHRINK_BYTES}")
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

    def append(self, lines: list[str]) -> int | None:
        """Durably append one batch; its row id, or None (nothing written) when it
        would exceed `max_bytes` or the spool is closed."""
        if not lines:
            raise ValueError("an empty batch")
        body = "\n".join(lines)
        size = len(body.encode())
        with self._lock:
            if self._closed or self._bytes + size > self.max_bytes:
                return None
            cursor = self._db.execute(
                "INSERT INTO batches (points, bytes, body) VALUES (?, ?, ?)",
                (len(lines), size, body),
            )
            self._points += len(lines)
            self._bytes += size
            return int(cursor.lastrowid or 0)

    def peek(self, max_points: int) -> list[SpooledBatch]:
        """Oldest batches totalling at most `max_points` lines (always at least one batch)."""
        out: list[SpooledBatch] = []
        total = 0
        with self._lock:
            if self._closed:
                return out
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
        self.replace(ids, [])

    def replace(self, ids: list[int], lines: list[str]) -> None:
        """Put `lines` in place of the batches `ids` (one transaction), keeping the first
        batch's place in the order; no lines: just delete them. What a partly
        delivered batch still owes stays where it was, and nothing else."""
        if not ids:
            return
        with self._lock:
            if self._closed:
                return
            self._db.execute("BEGIN IMMEDIATE")
            try:
                marks = ",".join("?" * len(ids))
                row = self._db.execute(
                    f"SELECT COALESCE(SUM(points),0), COALESCE(SUM(bytes),0) FROM batches "  # noqa: S608
                    f"WHERE id IN ({marks})",
                    ids,
                ).fetchone()
                gone = ids
                if lines:
                    body = "\n".join(lines)
                    self._db.execute(
                        "UPDATE batches SET points = ?, bytes = ?, body = ? WHERE id = ?",
                        (len(lines), len(body.encode()), body, min(ids)),
                    )
                    gone = [i for i in ids if i != min(ids)]
                if gone:
                    marks = ",".join("?" * len(gone))
                    self._db.execute(f"DELETE FROM batches WHERE id IN ({marks})", gone)  # noqa: S608
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            kept = (len(lines), len("\n".join(lines).encode())) if lines else (0, 0)
            self._points += kept[0] - int(row[0])
            self._bytes += kept[1] - int(row[1])
            if self._points == 0:
                self._shrink()

    def file_bytes(self) -> int:
        """Bytes the spool's files take on disk (database and write-ahead log)."""
        wal = self.path.with_name(self.path.name + "-wal")
        return sum(p.stat().st_size for p in (self.path, wal) if p.exists())

    def _shrink(self) -> None:
        """Give the disk back once empty (called with the lock held): deleted rows
        leave free pages that SQLite reuses but never returns to the file system."""
        if self.path.stat().st_size <= SHRINK_BYTES:
            return
        self._db.execute("VACUUM")
        self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    @property
    def closed(self) -> bool:
        """True once `close()` ran: every operation is then a no-op."""
        return self._closed

    def close(self) -> None:
        """Close the database (the spool content stays on disk)."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self._db.close()
