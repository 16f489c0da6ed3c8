"""The backfill's chunks and their state, on disk, so a restart resumes where it stopped.

One SQLite file (WAL, fsynced), one row per chunk id: `pending` (a failed
write or a transient fault only sets `not_before`), `deferred` (no budget, or
the upstream asked us to wait: retried after `not_before`),
`done`, `failed` (the upstream answered with something unusable: kept, with
the reason, for the report). A chunk is marked done only after its lines were
written; a crash between the write and the mark rewrites the same points at
the same timestamps on restart, which InfluxDB takes as an overwrite.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Collection, Iterable
from dataclasses import asdict
from pathlib import Path

from bbdash.backfill.plan import Chunk
from bbdash.common.durable import open_durable, transaction

PENDING, DEFERRED, DONE, FAILED = "pending", "deferred", "done", "failed"
STATES = (PENDING, DEFERRED, DONE, FAILED)


class ChunkJournal:
    """Chunk states by id. Thread-safe."""

    def __init__(self, path: Path) -> None:
        self._lock = threading.Lock()
        self._db = open_durable(
            path,
            "CREATE TABLE IF NOT EXISTS chunks ("
            " id TEXT PRIMARY KEY, source TEXT NOT NULL, rank INTEGER NOT NULL,"
            " stop INTEGER NOT NULL, chunk TEXT NOT NULL, state TEXT NOT NULL,"
            " not_before REAL NOT NULL DEFAULT 0, attempts INTEGER NOT NULL DEFAULT 0,"
            " reason TEXT NOT NULL DEFAULT '', batch INTEGER NOT NULL DEFAULT 0)",
        )

    def _tx(self, statements: list[tuple[str, tuple[object, ...]]]) -> None:
        with transaction(self._db, self._lock) as db:
            for sql, args in statements:
                db.execute(sql, args)

    def sync(self, chunks: Iterable[Chunk], refresh_gap_s: int = 3600) -> int:
        """Record a plan: new chunks pending; a done chunk whose end moved on by at least
        `refresh_gap_s` (the newest cell, after a restart) pending again. Returns how many
        chunks became pending.

        New chunks join a new batch, and later batches go first (`due`): a symbol
        added to a watchlist is backfilled whole before the rest of a first
        deployment's queue, so its charts fill within a minute."""
        with self._lock:
            known = {
                row[0]: (row[1], int(row[2]))
                for row in self._db.execute("SELECT id, state, stop FROM chunks")
            }
            batch = int(
                self._db.execute("SELECT coalesce(max(batch), 0) + 1 FROM chunks").fetchone()[0]
            )
        statements: list[tuple[str, tuple[object, ...]]] = []
        updates: list[tuple[str, tuple[object, ...]]] = []
        for chunk in chunks:
            text = json.dumps(asdict(chunk), sort_keys=True)
            seen = known.get(chunk.id)
            if seen is None:
                statements.append(
                    (
                        "INSERT INTO chunks (id, source, rank, stop, chunk, state, batch)"
                        " VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (chunk.id, chunk.source, chunk.rank, chunk.end, text, PENDING, batch),
                    )
                )
            elif seen[0] == DONE and chunk.end - seen[1] >= refresh_gap_s:
                statements.append(
                    (
                        "UPDATE chunks SET stop = ?, chunk = ?, state = ?, reason = ''"
                        " WHERE id = ?",
                        (chunk.end, text, PENDING, chunk.id),
                    )
                )
            elif seen[0] != DONE:
                # Not fetched yet: fetch the range of today's plan (its state is kept).
                updates.append(
                    (
                        "UPDATE chunks SET stop = ?, chunk = ? WHERE id = ?",
                        (chunk.end, text, chunk.id),
                    )
                )
        self._tx(statements + updates)
        return len(statements)

    def due(self, now: float, limit: int, sources: Collection[str]) -> list[Chunk]:
        """Up to `limit` chunks of `sources` to fetch now: pending or deferred, whose wait
        is over; the latest batch first, then by rank (what the dashboards read
        first), then plan order."""
        with self._lock:
            rows = self._db.execute(
                "SELECT chunk FROM chunks WHERE state IN (?, ?) AND not_before <= ?"
                " AND source IN (SELECT value FROM json_each(?))"
                " ORDER BY batch DESC, rank, rowid LIMIT ?",
                (PENDING, DEFERRED, now, json.dumps(sorted(sources)), limit),
            ).fetchall()
        return [Chunk(**json.loads(row[0])) for row in rows]

    def _set(self, chunk_id: str, state: str, not_before: float = 0.0, reason: str = "") -> None:
        self._tx(
            [
                (
                    "UPDATE chunks SET state = ?, not_before = ?, reason = ?,"
                    " attempts = attempts + 1 WHERE id = ?",
                    (state, not_before, reason[:500], chunk_id),
                )
            ]
        )

    def mark_done(self, chunk_id: str) -> None:
        """Its lines were written."""
        self._set(chunk_id, DONE)

    def defer(self, chunk_id: str, until: float, reason: str) -> None:
        """Not now (budget, 429, a failed write, a transient fault): retried after `until`."""
        self._set(chunk_id, DEFERRED, until, reason)

    def postpone(self, chunk_id: str, until: float, reason: str) -> None:
        """Still pending (a failed write, a transient fault), not before `until`."""
        self._set(chunk_id, PENDING, until, reason)

    def fail(self, chunk_id: str, reason: str) -> None:
        """The upstream's answer was unusable; kept for the report, not retried."""
        self._set(chunk_id, FAILED, 0.0, reason)

    def retry_failed(self) -> int:
        """Make every failed chunk pending again (after a fix); returns how many."""
        with self._lock:
            cursor = self._db.execute(
                "UPDATE chunks SET state = ?, reason = '' WHERE state = ?", (PENDING, FAILED)
            )
            return cursor.rowcount

    def state(self, chunk_id: str) -> tuple[str, str] | None:
        """(state, reason) of one chunk, or None when unknown."""
        with self._lock:
            row = self._db.execute(
                "SELECT state, reason FROM chunks WHERE id = ?", (chunk_id,)
            ).fetchone()
        return None if row is None else (str(row[0]), str(row[1]))

    def counts(self) -> dict[str, dict[str, int]]:
        """Chunks per source and state (every state present, zeros included)."""
        out: dict[str, dict[str, int]] = {}
        with self._lock:
            rows = self._db.execute(
                "SELECT source, state, COUNT(*) FROM chunks GROUP BY source, state"
            ).fetchall()
        for source, state, count in rows:
            out.setdefault(str(source), dict.fromkeys(STATES, 0))[str(state)] = int(count)
        return out

    def close(self) -> None:
        with self._lock:
            self._db.close()
