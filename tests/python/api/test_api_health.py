"""/livez, /healthz, /metrics, the OpenAPI document, and behaviour when the database is gone."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import psycopg
import pytest
from api_support import (
    ApiUser,
    assert_problem,
    closed_port_dsn,
    make_settings,
    make_watchlist,
)
from bbdash.watchlist_api import migrate
from bbdash.watchlist_api.app import create_app
from bbdash.watchlist_api.db import check_if_the_server_spoke
from bbdash.watchlist_api.routers import meta
from bbdash.watchlist_api.settings import Settings
from fastapi.testclient import TestClient
from psycopg_pool import AsyncConnectionPool


def test_healthz_ok(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "database": "up",
        "schema": migrate.head_revision(),
    }


def test_healthz_fails_when_migrations_are_not_applied(client: TestClient, api_dsn: str) -> None:
    migrate.downgrade(api_dsn, "base")
    body = assert_problem(client.get("/healthz"), 503)
    assert "migrations not applied" in body["detail"]


def test_livez_answers_without_a_key_or_the_database(client: TestClient) -> None:
    response = client.get("/livez")
    assert (response.status_code, response.json()) == (200, {"status": "alive"})


def test_unreachable_database_is_503_not_a_crash(
    secrets_dir: Path, admin_key: str, metrics_token: str
) -> None:
    settings = make_settings(closed_port_dsn(), secrets_dir, db_timeout_seconds=1.0)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        # Docker's healthcheck asks /livez: the process is fine, so the healer
        # leaves it alone; readiness and the metric say what is wrong.
        assert client.get("/livez").status_code == 200
        assert_problem(client.get("/healthz"), 503)
        scraped = client.get("/metrics", headers={"Authorization": f"Bearer {metrics_token}"})
        assert scraped.status_code == 200
        assert "\nbbdash_api_db_up 0.0\n" in scraped.text
        started = time.monotonic()
        response = client.get("/v1/watchlists", headers={"Authorization": f"Bearer {admin_key}"})
        body = assert_problem(response, 503)
        assert body["type"].endswith("database-unavailable")
        assert response.headers["retry-after"]
        assert time.monotonic() - started < 10
        # Requests without a key still get their 401 first: no key, no database call.
        assert_problem(client.get("/v1/watchlists"), 401)


def test_with_the_database_down_a_request_gets_its_503_at_once(
    secrets_dir: Path, admin_key: str, metrics_token: str
) -> None:
    """The hostile-input review measured 5-12 s per request during an outage (the
    pool's full timeout): with no connection in the pool the wait is FAST_FAIL_SECONDS."""
    settings = make_settings(closed_port_dsn(), secrets_dir, db_timeout_seconds=5.0)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        key = {"Authorization": f"Bearer {admin_key}"}
        for method, path, body in (
            ("GET", "/v1/watchlists", None),
            ("POST", "/v1/watchlists", {"name": "w"}),
        ):
            started = time.monotonic()
            response = client.request(method, path, headers=key, json=body)
            elapsed = time.monotonic() - started
            assert_problem(response, 503)
            assert elapsed < 2.0, f"{method} {path} took {elapsed:.1f} s"


def test_connections_killed_by_a_database_restart_recover(
    client: TestClient, alice: ApiUser, api_dsn: str, pg_admin_dsn: str
) -> None:
    wl = make_watchlist(client, alice)
    with psycopg.connect(pg_admin_dsn, autocommit=True) as admin:
        # As a restart or a restore does: the sessions are over (the call waits
        # until each backend has exited) before the next request comes.
        terminated = admin.execute(
            "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            (api_dsn.rsplit("/", 1)[1],),
        ).fetchall()
    assert terminated and all(row[0] for row in terminated)
    # The pool sees the dead connections before handing them out and replaces
    # them: not one request sees the restart.
    for _ in range(5):
        response = client.get(f"/v1/watchlists/{wl['id']}", headers=alice.headers)
        assert response.status_code == 200, response.text


def test_metrics_need_the_scrape_token_or_admin_key(
    client: TestClient, alice: ApiUser, admin: ApiUser, metrics_token: str
) -> None:
    make_watchlist(client, alice)
    client.get("/v1/watchlists/424242", headers=alice.headers)
    assert_problem(client.get("/metrics"), 401)
    assert_problem(client.get("/metrics", headers=alice.headers), 401)
    assert client.get("/metrics", headers=admin.headers).status_code == 200
    scraped = client.get("/metrics", headers={"Authorization": f"Bearer {metrics_token}"})
    assert scraped.status_code == 200
    text = scraped.text
    assert 'bbdash_api_requests_total{method="POST",route="/v1/watchlists",status="201"}' in text
    # Routes are labelled by template, never by the raw id a client sent.
    assert 'route="/v1/watchlists/{watchlist_id}",status="404"' in text
    assert "424242" not in text
    assert "bbdash_api_request_duration_seconds_bucket" in text
    assert 'bbdash_api_notifications_total{entity="watchlist_item",op="insert"}' in text
    assert "bbdash_api_db_pool_connections" in text
    # Each scrape checks the database itself: nothing else calls /healthz.
    assert "\nbbdash_api_db_up 1.0\n" in text
    assert "\nbbdash_api_schema_current 1.0\n" in text


def test_metrics_say_when_the_schema_is_behind(
    client: TestClient, api_dsn: str, metrics_token: str
) -> None:
    migrate.downgrade(api_dsn, "base")
    scraped = client.get("/metrics", headers={"Authorization": f"Bearer {metrics_token}"})
    assert "\nbbdash_api_db_up 1.0\n" in scraped.text
    assert "\nbbdash_api_schema_current 0.0\n" in scraped.text


def test_a_database_error_is_a_failed_check_not_a_500(
    client: TestClient, metrics_token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not only a lost connection: any error of the server (here a query it
    refuses) fails readiness with a 503, and the scrape still answers, saying so."""
    monkeypatch.setattr(meta, "_VERSION_NUM", "SELECT no_such_column FROM alembic_version")
    body = assert_problem(client.get("/healthz"), 503)
    assert body["type"].endswith("database-unavailable")
    scraped = client.get("/metrics", headers={"Authorization": f"Bearer {metrics_token}"})
    assert scraped.status_code == 200
    assert "\nbbdash_api_db_up 0.0\n" in scraped.text
    assert client.get("/livez").status_code == 200


def test_openapi_document(client: TestClient, alice: ApiUser) -> None:
    assert_problem(client.get("/v1/openapi.json"), 401)
    document = client.get("/v1/openapi.json", headers=alice.headers).json()
    assert document["openapi"].startswith("3.")
    schemes = document["components"]["securitySchemes"]
    assert set(schemes) == {"bearer", "apiKey", "grafanaSession"}
    assert (schemes["grafanaSession"]["in"], schemes["grafanaSession"]["name"]) == (
        "cookie",
        "grafana_session",
    )
    paths = document["paths"]
    assert paths["/healthz"]["get"]["security"] == []
    assert paths["/livez"]["get"]["security"] == []
    assert paths["/v1/watchlists"]["get"]["security"] == [
        {"bearer": []},
        {"apiKey": []},
        {"grafanaSession": []},
    ]
    sync = paths["/v1/watchlists/by-name/{name}"]["put"]
    assert "application/problem+json" in sync["responses"]["422"]["content"]
    assert "/v1/alert-rules/by-name/{name}" in paths


def test_settings_read_secrets_from_files(tmp_path: Path) -> None:
    (tmp_path / "dsn").write_text("postgresql://api@db/bbdash\n")
    (tmp_path / "admin").write_text("k" * 40 + "\n")
    settings = Settings(database_url_file=tmp_path / "dsn", admin_key_file=tmp_path / "admin")
    assert settings.dsn == "postgresql://api@db/bbdash"
    assert settings.admin_key == "k" * 40
    assert settings.metrics_token is None
    (tmp_path / "short").write_text("tooshort")
    with pytest.raises(ValueError, match="shorter than 32"):
        _ = Settings(database_url="x", admin_key_file=tmp_path / "short").admin_key
    with pytest.raises(ValueError, match="BBDASH_API_DATABASE_URL_FILE"):
        _ = Settings().dsn


def test_the_pool_check_costs_a_round_trip_only_when_the_server_spoke(
    api_dsn: str, pg_admin_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_checks: list[object] = []
    real_check = AsyncConnectionPool.check_connection

    async def counted(conn: psycopg.AsyncConnection[object]) -> None:
        real_checks.append(conn)
        await real_check(conn)

    async def scenario() -> None:
        healthy = await psycopg.AsyncConnection.connect(api_dsn, autocommit=True)
        killed = await psycopg.AsyncConnection.connect(api_dsn, autocommit=True)
        try:
            with psycopg.connect(pg_admin_dsn, autocommit=True) as admin:
                admin.execute("SELECT pg_terminate_backend(%s, 5000)", (killed.info.backend_pid,))
            await check_if_the_server_spoke(healthy)  # a silent socket: no query at all
            assert real_checks == []
            with pytest.raises(psycopg.OperationalError):
                await check_if_the_server_spoke(killed)
            assert real_checks == [killed]
            await check_if_the_server_spoke(healthy)
            assert real_checks == [killed]
        finally:
            await healthy.close()
            await killed.close()

    monkeypatch.setattr(AsyncConnectionPool, "check_connection", counted)
    asyncio.run(scenario())
