"""Fixtures for the watchlist API tests: a migrated database per test (cloned from a
template migrated once per session), an app wired to it, and users with keys."""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from api_support import ApiUser, ApiWith, admin_user, clone_database, make_settings, make_user
from bbdash.watchlist_api import migrate
from bbdash.watchlist_api.app import create_app
from bbdash.watchlist_api.settings import Settings
from fastapi.testclient import TestClient
from grafana_double import GrafanaDouble, start
from postgres_server import create_database, drop_database

_TEMPLATE = "api_template"
_counter = itertools.count()


@pytest.fixture(scope="session")
def api_template(pg_admin_dsn: str) -> str:
    dsn = create_database(pg_admin_dsn, _TEMPLATE)
    migrate.upgrade(dsn)
    return _TEMPLATE


@pytest.fixture
def api_dsn(pg_admin_dsn: str, api_template: str) -> Iterator[str]:
    """A database already at the latest schema, private to one test."""
    name = f"api_{next(_counter)}"
    yield clone_database(pg_admin_dsn, api_template, name)
    drop_database(pg_admin_dsn, name)


@pytest.fixture(scope="session")
def secrets_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("secrets")


@pytest.fixture(scope="session")
def admin_key(secrets_dir: Path) -> str:
    key = "adm_" + secrets.token_urlsafe(32)
    (secrets_dir / "admin_key").write_text(key + "\n")
    return key


@pytest.fixture(scope="session")
def metrics_token(secrets_dir: Path) -> str:
    token = "met_" + secrets.token_urlsafe(32)
    (secrets_dir / "metrics_token").write_text(token)
    return token


@pytest.fixture
def settings(api_dsn: str, secrets_dir: Path, admin_key: str, metrics_token: str) -> Settings:
    del admin_key, metrics_token  # they write the files the settings read
    return make_settings(api_dsn, secrets_dir)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings), raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def admin(client: TestClient, admin_key: str) -> ApiUser:
    return admin_user(client, admin_key)


@pytest.fixture
def alice(client: TestClient, admin: ApiUser) -> ApiUser:
    return make_user(client, admin, "alice")


@pytest.fixture
def bob(client: TestClient, admin: ApiUser) -> ApiUser:
    return make_user(client, admin, "bob")


@pytest.fixture
def api_with(api_dsn: str, secrets_dir: Path, admin_key: str, metrics_token: str) -> ApiWith:
    """A factory: the app on this test's database with some settings overridden (for
    instance wired to a Grafana), as a context manager giving its client."""
    del admin_key, metrics_token  # they write the files the settings read

    @contextmanager
    def started(**overrides: object) -> Iterator[TestClient]:
        settings = make_settings(api_dsn, secrets_dir, **overrides)
        with TestClient(create_app(settings), raise_server_exceptions=False) as client:
            yield client

    return started


@pytest.fixture(scope="module")
def grafana(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GrafanaDouble]:
    """The Grafana TEST DOUBLE (grafana_double.py), one per test module."""
    double = start(tmp_path_factory.mktemp("grafana"))
    try:
        yield double
    finally:
        double.stop()
