"""The container's command: `python -m bbdash.watchlist_api` migrates an empty database,
then serves; it logs JSON and stops cleanly on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from bbdash.watchlist_api import migrate


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_entry_point_migrates_then_serves(
    pg_dsn: str, tmp_path: Path, secrets_dir: Path, admin_key: str
) -> None:
    assert migrate.current_revision(pg_dsn) is None
    (tmp_path / "dsn").write_text(pg_dsn)
    port = _free_port()
    env = {
        **os.environ,
        "BBDASH_API_DATABASE_URL_FILE": str(tmp_path / "dsn"),
        "BBDASH_API_ADMIN_KEY_FILE": str(secrets_dir / "admin_key"),
        "BBDASH_API_HOST": "127.0.0.1",
        "BBDASH_API_PORT": str(port),
    }
    log_path = tmp_path / "api.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "bbdash.watchlist_api"],
            env=env,
            stdout=log,
            stderr=log,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 30
            health = None
            while time.monotonic() < deadline and process.poll() is None:
                try:
                    health = httpx.get(f"{base}/healthz", timeout=2)
                    break
                except httpx.TransportError:
                    time.sleep(0.1)
            assert health is not None and health.status_code == 200, log_path.read_text()
            me = httpx.get(f"{base}/v1/me", headers={"X-API-Key": admin_key})
            assert me.json()["name"] == "admin"
        finally:
            process.send_signal(signal.SIGTERM)
            code = process.wait(timeout=20)
    # uvicorn shuts down gracefully, then re-raises SIGTERM so the exit status tells why.
    assert code in (0, -signal.SIGTERM)
    assert migrate.current_revision(pg_dsn) == migrate.head_revision()
    lines = [json.loads(line) for line in log_path.read_text().splitlines() if line.strip()]
    messages = [line["msg"] for line in lines]
    assert "schema up to date" in messages
    assert "Application shutdown complete." in messages
    assert all(line["service"] == "watchlist-api" for line in lines)


def test_entry_point_exits_non_zero_when_the_database_never_comes(
    tmp_path: Path,
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"postgresql://postgres@127.0.0.1:{sock.getsockname()[1]}/x"
    env = {
        **os.environ,
        "BBDASH_API_DATABASE_URL": dead,
        "BBDASH_API_MIGRATE_WAIT_SECONDS": "1",
        "BBDASH_API_PORT": str(_free_port()),
    }
    done = subprocess.run(
        [sys.executable, "-m", "bbdash.watchlist_api"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert "migrations failed" in done.stdout
