"""Alembic environment: always runs on the connection that migrate.py locked.

There is no URL-based mode on purpose: running migrations without the
advisory lock would break the "two instances start at once" guarantee.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

connection = context.config.attributes.get("connection")
if not isinstance(connection, Connection):
    msg = "run migrations through bbdash.watchlist_api.migrate (it holds the advisory lock)"
    raise RuntimeError(msg)

context.configure(connection=connection, target_metadata=None, transaction_per_migration=True)
with context.begin_transaction():
    context.run_migrations()
