"""The ranges left to re-downsample, on disk, so a restart resumes where it stopped.

One SQLite file next to the spool. Ranges are [start, stop) epoch seconds per
task; adding merges with what overlaps or touches, finishing subtracts. Every
change is one transaction (fsynced): the sink records a delivered batch's late
windows here *before* it deletes the batch from the spool, so a crash in between
replays the batch and records them again, and nothing is lost.
"""

from __future__ import annotations

import threading
from pathlib import Path

from bbdash.common.durable import open_durable, transaction


class RangeJournal:
    """Pending [start, stop) ranges per task name. Thread-safe."""

    def __init__(self, path: Path) -> None:
        self._lock = threading.Lock()
        self._db = open_durable(
            path,
            "CREATE TABLE IF NOT EXISTS pending ("
            " task TEXT NOT NULL, start INTEGER NOT NULL, stop INTEGER NOT NULL,"
            " PRIMARY KEY (task, start))",
        )

    def add(self, task: str, ranges: list[tuple[int, int]]) -> None:
        """Record `ranges` of `task`, merged with the pending ones they overlap or touch."""
        if not ranges:
            return
        with transaction(self._db, self._lock) as db:
            for start, stop in ranges:
                rows = db.execute(
                    "SELECT start, stop FROM pending WHERE task = ? AND start <= ? AND stop >= ?",
                    (task, stop, start),
                ).fetchall()
                lo = min([start, *(r[0] for r in rows)])
                hi = max([stop, *(r[1] for r in rows)])
                db.executemany(
                    "DELETE FROM pending WHERE task = ? AND start = ?",
                    [(task, r[0]) for r in rows],
                )
                db.execute("INSERT INTO pending VALUES (?, ?, ?)", (task, lo, hi))

    def done(self, task: str, start: int, stop: int) -> None:
        """Take [start, stop) of `task` out of the pending ranges."""
        with transaction(self._db, self._lock) as db:
            rows = db.execute(
                "SELECT start, stop FROM pending WHERE task = ? AND start < ? AND stop > ?",
                (task, stop, start),
            ).fetchall()
            for lo, hi in rows:
                db.execute("DELETE FROM pending WHERE task = ? AND start = ?", (task, lo))
                if lo < start:
                    db.execute("INSERT INTO pending VALUES (?, ?, ?)", (task, lo, start))
                if stop < hi:
                    db.execute("INSERT INTO pending VALUES (?, ?, ?)", (task, stop, hi))

    def pending(self, task: str) -> list[tuple[int, int]]:
        """The pending ranges of `task`, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT start, stop FROM pending WHERE task = ? ORDER BY start", (task,)
            ).fetchall()
        return [(int(a), int(b)) for a, b in rows]

    def close(self) -> None:
        with self._lock:
            self._db.close()
