"""Fixtures shared by every Python test: a real PostgreSQL server."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest
from postgres_server import create_database, drop_database, running_server

_counter = itertools.count()


@pytest.fixture(scope="session")
def pg_admin_dsn() -> Iterator[str]:
    """Admin DSN of a real PostgreSQL server started for this test session."""
    with running_server() as dsn:
        yield dsn


@pytest.fixture
def pg_dsn(pg_admin_dsn: str) -> Iterator[str]:
    """DSN of an empty database private to one test."""
    name = f"t_{next(_counter)}"
    dsn = create_database(pg_admin_dsn, name)
    yield dsn
    drop_database(pg_admin_dsn, name)
