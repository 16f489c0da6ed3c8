"""Filters of the postgres role: does a role's stored password verifier match the vault's password?

PostgreSQL keeps a verifier, never the password (pg_authid.rolpassword):
"SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>" (RFC 5802 and
7677; PostgreSQL 16's src/common/scram-common.c, scram_build_secret) or, from
older settings, "md5" + md5(password || role name). Computing the same
verifier from the vault's password, with the stored salt and iteration count,
tells whether the password works without logging in.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import unicodedata
from typing import Any

_SCRAM = "SCRAM-SHA-256$"


def _saslprep(password: str) -> str:
    """The password as PostgreSQL hashes it (src/common/saslprep.c, pg_saslprep): an
    ASCII password as it is; otherwise non-ASCII spaces mapped to a space, characters
    "commonly mapped to nothing" removed, then NFKC."""
    if password.isascii():
        return password
    mapped = "".join(
        " " if unicodedata.category(c) == "Zs" else c
        for c in password
        if c not in "\u00ad\u034f\u1806\u180b\u180c\u180d\u200b\u200c\u200d\u2060\ufeff"
        and not "\ufe00" <= c <= "\ufe0f"
    )
    return unicodedata.normalize("NFKC", mapped)


def _scram_matches(verifier: str, password: str) -> bool:
    try:
        head, keys = verifier[len(_SCRAM) :].split("$", 1)
        iterations, salt = head.split(":", 1)
        stored_key, server_key = keys.split(":", 1)
        salted = hashlib.pbkdf2_hmac(
            "sha256", _saslprep(password).encode("utf-8"), base64.b64decode(salt), int(iterations)
        )
    except (ValueError, TypeError):
        return False
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored = base64.b64encode(hashlib.sha256(client_key).digest()).decode("ascii")
    server = base64.b64encode(hmac.new(salted, b"Server Key", hashlib.sha256).digest()).decode()
    return hmac.compare_digest(stored, stored_key) and hmac.compare_digest(server, server_key)


def password_matches(verifier: Any, password: str, role: str) -> bool:
    """True when `verifier` (pg_authid.rolpassword of `role`) was made from `password`.
    No verifier (no password set, or the role is missing) or an unknown format: False,
    and the role sets the password again."""
    verifier = str(verifier or "")
    if verifier.startswith(_SCRAM):
        return _scram_matches(verifier, password)
    if verifier.startswith("md5") and len(verifier) == 35:
        expected = "md5" + hashlib.md5((password + role).encode("utf-8")).hexdigest()  # noqa: S324 - PostgreSQL's format
        return hmac.compare_digest(expected, verifier)
    return False


def roles_with_other_passwords(
    roles: list[dict[str, Any]], verifier_lines: list[str]
) -> list[dict[str, Any]]:
    """The login roles ({name, password}) whose stored verifier does not match their
    password, from psql's unaligned lines "<name>|<verifier>" (a role without a line has
    none; a verifier never holds "|")."""
    stored = {}
    for line in verifier_lines or []:
        name, _, verifier = str(line).rpartition("|")
        stored[name] = verifier.strip()
    return [
        r for r in roles if not password_matches(stored.get(r["name"]), r["password"], r["name"])
    ]


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "postgres_password_matches": password_matches,
            "postgres_roles_with_other_passwords": roles_with_other_passwords,
        }
