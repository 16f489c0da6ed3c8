"""The postgres role's password check (roles/postgres/filter_plugins/postgres.py)
against verifiers a real PostgreSQL server wrote (tests/python/postgres_server.py).

The role reads pg_authid's verifiers and sets again only the passwords whose
verifier was not made from the vault's password: SCRAM-SHA-256 (the default
since PostgreSQL 14), md5 (older settings), ASCII and non-ASCII passwords
(SASLprep), a role without a password, and a role that does not exist yet.
"""

from __future__ import annotations

import importlib.util
import itertools
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

ROLE = Path(__file__).resolve().parents[2] / "roles" / "postgres"
_spec = importlib.util.spec_from_file_location(
    "postgres_filters", ROLE / "filter_plugins" / "postgres.py"
)
assert _spec and _spec.loader
F = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(F)

_names = itertools.count()
PASSWORDS = [
    "s3cret-Vault_value",
    "with 'quotes' and \\ backslash",
    "pässwörd ünïcode",
    "ﬁle\u00a0name",  # a ligature (NFKC: "fi") and a no-break space (mapped to a space)
]


@pytest.fixture
def admin(pg_admin_dsn: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(pg_admin_dsn, autocommit=True) as conn:
        yield conn


def make_role(conn: psycopg.Connection, password: str | None, method: str) -> str:
    name = f"bbdash_verifier_{next(_names)}"
    conn.execute(sql.SQL("SET password_encryption = {}").format(sql.Literal(method)))
    conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(name)))
    if password is not None:
        conn.execute(
            sql.SQL("ALTER ROLE {} PASSWORD {}").format(sql.Identifier(name), sql.Literal(password))
        )
    return name


def verifier(conn: psycopg.Connection, name: str) -> str | None:
    row = conn.execute("SELECT rolpassword FROM pg_authid WHERE rolname = %s", (name,)).fetchone()
    return row[0] if row else None


@pytest.mark.parametrize("method", ["scram-sha-256", "md5"])
@pytest.mark.parametrize("password", PASSWORDS)
def test_the_vaults_password_matches_what_postgresql_stored(
    admin: psycopg.Connection, method: str, password: str
) -> None:
    name = make_role(admin, password, method)
    stored = verifier(admin, name)
    assert stored is not None and stored.startswith("SCRAM-SHA-256$" if method != "md5" else "md5")
    assert F.password_matches(stored, password, name) is True
    assert F.password_matches(stored, password + "x", name) is False
    # md5 salts with the role name: another role's verifier never matches.
    if method == "md5":
        assert F.password_matches(stored, password, name + "_other") is False


def test_only_the_roles_whose_password_differs_are_set_again(admin: psycopg.Connection) -> None:
    kept = make_role(admin, "right", "scram-sha-256")
    changed = make_role(admin, "changed by hand", "scram-sha-256")
    no_password = make_role(admin, None, "scram-sha-256")
    rows = admin.execute("SELECT rolname, rolpassword FROM pg_authid WHERE rolcanlogin").fetchall()
    # psql -Atq's unaligned lines, as the role reads them.
    lines = [f"{name}|{stored or ''}" for name, stored in rows]
    roles = [
        {"name": kept, "password": "right"},
        {"name": changed, "password": "the vault's"},
        {"name": no_password, "password": "set me"},
        {"name": "bbdash_not_created_yet", "password": "later"},
    ]
    to_set = F.roles_with_other_passwords(roles, lines)
    assert [r["name"] for r in to_set] == [changed, no_password, "bbdash_not_created_yet"]


@pytest.mark.parametrize(
    "stored", ["", None, "SCRAM-SHA-256$broken", "md5short", "plain-text-from-an-old-server"]
)
def test_a_missing_or_unknown_verifier_never_matches(stored: str | None) -> None:
    assert F.password_matches(stored, "anything", "role") is False
