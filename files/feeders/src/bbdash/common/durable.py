"""SQLite files that survive a crash: the spool and the feeders' journals.

One way to open them (WAL, every commit fsynced, explicit transactions, shared
between threads behind the owner's lock) and one way to write to them (a
`BEGIN IMMEDIATE` transaction rolled back on any error), so a power cut
between two statements never leaves half a change on disk.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def open_durable(path: Path, schema: str) -> sqlite3.Connection:
    """The database at `path` (its folder created), WAL and synchronous=FULL, `schema` run."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # isolation_level=None: transactions are explicit (`transaction`), autocommit otherwise.
    db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute(schema)
    return db


@contextmanager
def transaction(db: sqlite3.Connection, lock: threading.Lock) -> Iterator[sqlite3.Connection]:
    """One all-or-nothing write: under `lock`, committed on success, rolled back otherwise."""
    with lock:
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
