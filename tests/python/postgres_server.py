"""A real, throwaway PostgreSQL server for the Python tests.

Uses the machine's PostgreSQL binaries (Debian's `postgresql` package, which
`make test` installs). The cluster lives in a temporary directory, listens on
127.0.0.1 on a free port, and is removed at the end of the session. Set
BBDASH_TEST_PG_DSN to an admin DSN to use an existing server instead.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg


def _pg_bin_dir() -> Path:
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), reverse=True)
    if not candidates:
        msg = "PostgreSQL server binaries not found: apt-get install postgresql (make test does)"
        raise RuntimeError(msg)
    return candidates[0].parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _run_as_postgres(cmd: list[str]) -> None:
    # initdb refuses to run as root; drop to the packaged `postgres` user.
    if os.geteuid() == 0:
        cmd = ["runuser", "-u", "postgres", "--", *cmd]
    subprocess.run(cmd, check=True, capture_output=True, text=True)


@contextlib.contextmanager
def running_server() -> Iterator[str]:
    """Yield an admin DSN for a fresh server; stop and remove it afterwards."""
    external = os.environ.get("BBDASH_TEST_PG_DSN")
    if external:
        yield external
        return
    bindir = _pg_bin_dir()
    root = Path(tempfile.mkdtemp(prefix="bbdash-pg-"))
    datadir = root / "data"
    port = _free_port()
    if os.geteuid() == 0:
        pg = pwd.getpwnam("postgres")
        os.chown(root, pg.pw_uid, pg.pw_gid)
    try:
        _run_as_postgres(
            [
                str(bindir / "initdb"),
                "-D",
                str(datadir),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-locale",
            ]
        )
        _run_as_postgres(
            [
                str(bindir / "pg_ctl"),
                "-D",
                str(datadir),
                "-w",
                "-l",
                str(root / "server.log"),
                "-o",
                f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off "
                "-c max_connections=200",
                "start",
            ]
        )
        dsn = f"postgresql://postgres@127.0.0.1:{port}/postgres"
        deadline = time.monotonic() + 30
        while True:
            try:
                psycopg.connect(dsn, connect_timeout=2).close()
                break
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        yield dsn
    finally:
        if (datadir / "postmaster.pid").exists():
            with contextlib.suppress(subprocess.CalledProcessError):
                _run_as_postgres(
                    [str(bindir / "pg_ctl"), "-D", str(datadir), "-m", "immediate", "stop"]
                )
        shutil.rmtree(root, ignore_errors=True)


def create_database(admin_dsn: str, name: str) -> str:
    """Create an empty database and return its DSN."""
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(
            psycopg.sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                psycopg.sql.Identifier(name)
            )
        )
        conn.execute(psycopg.sql.SQL("CREATE DATABASE {}").format(psycopg.sql.Identifier(name)))
    return admin_dsn.rsplit("/", 1)[0] + "/" + name


def drop_database(admin_dsn: str, name: str) -> None:
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(
            psycopg.sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                psycopg.sql.Identifier(name)
            )
        )
