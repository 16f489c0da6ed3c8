"""Bring a database to the API's schema: ``upgrade(dsn)``, ``downgrade(dsn, rev)``.

Contract (docs/contracts.md): ``upgrade`` is safe to call twice and from two
processes at once. Two containers starting together both run it; a
session-level ``pg_advisory_lock`` makes the second wait for the first, then
find nothing to do. Alembic is driven programmatically, so no alembic.ini ships.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path

import psycopg
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, create_engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
# Arbitrary but fixed: every API instance must use the same key (ASCII "bbdashmg").
ADVISORY_LOCK_KEY = 0x626264_6173686D67
# A stuck migration elsewhere must not hang a container start forever.
LOCK_TIMEOUT = "120s"


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


@cache
def head_revision() -> str:
    """The revision the code expects (healthz compares the database against it)."""
    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    if len(heads) != 1:
        msg = f"migrations must have exactly one head, found {heads}"
        raise RuntimeError(msg)
    return heads[0]


@contextmanager
def _locked_connection(dsn: str) -> Iterator[Connection]:
    # `creator` hands libpq the DSN untouched, so URLs and "key=value" strings both work.
    engine = create_engine(
        "postgresql+psycopg://", creator=lambda: psycopg.connect(dsn), poolclass=NullPool
    )
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT set_config('lock_timeout', :v, false)"), {"v": LOCK_TIMEOUT})
            conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": ADVISORY_LOCK_KEY})
            conn.commit()
            try:
                yield conn
            finally:
                conn.rollback()
                conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": ADVISORY_LOCK_KEY})
                conn.commit()
    finally:
        engine.dispose()


def _run(dsn: str, action: str, revision: str) -> None:
    cfg = alembic_config()
    try:
        with _locked_connection(dsn) as conn:
            cfg.attributes["connection"] = conn
            if action == "upgrade":
                command.upgrade(cfg, revision)
            else:
                command.downgrade(cfg, revision)
            conn.commit()
    except DBAPIError as exc:
        # SQLAlchemy is an implementation detail here: callers (the entry point's retry
        # loop, other components' tests) handle psycopg's own errors.
        if isinstance(exc.orig, psycopg.Error):
            raise exc.orig from exc
        raise


def upgrade(dsn: str, revision: str = "head") -> None:
    """Migrate the database at ``dsn`` up to ``revision`` (default: latest)."""
    _run(dsn, "upgrade", revision)


def downgrade(dsn: str, revision: str = "base") -> None:
    """Migrate down to ``revision`` ("base" drops everything the API created)."""
    _run(dsn, "downgrade", revision)


def current_revision(dsn: str) -> str | None:
    """The revision recorded in the database, or None before the first migration."""
    with psycopg.connect(dsn) as conn:
        exists = conn.execute("SELECT to_regclass('alembic_version') IS NOT NULL").fetchone()
        if not exists or not exists[0]:
            return None
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        return str(row[0]) if row else None


def main(argv: list[str] | None = None) -> None:
    """``python -m bbdash.watchlist_api.migrate upgrade|downgrade DSN [REV]`` for operators."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("action", choices=["upgrade", "downgrade", "current"])
    parser.add_argument("dsn")
    parser.add_argument("revision", nargs="?")
    args = parser.parse_args(argv)
    if args.action == "current":
        print(current_revision(args.dsn))
    elif args.action == "upgrade":
        upgrade(args.dsn, args.revision or "head")
    else:
        downgrade(args.dsn, args.revision or "base")


if __name__ == "__main__":
    main()
