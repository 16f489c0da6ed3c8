"""Grant SELECT on the contract views to the roles that read them (docs/contracts.md).

Run by the watchlist_api role inside the API container (`python - ROLE...`, this
file on stdin), after the API applied its migrations: the views exist only then,
and the container has psycopg and the DSN of the role that owns them. Prints one
JSON object: {"granted": ["view:role", ...], "missing_roles": [...]}. Grants
only what is missing, so a second run grants nothing; `--dry-run` only reports.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import psycopg
from psycopg import sql

DSN_FILE = Path("/run/secrets/bbdash/database-url")
VIEWS = ("collected_assets", "active_alert_rules")


def main(argv: list[str]) -> int:
    dry_run = "--dry-run" in argv
    roles = [arg for arg in argv if arg != "--dry-run"]
    granted: list[str] = []
    missing: list[str] = []
    dsn = DSN_FILE.read_text(encoding="utf-8").strip()
    with psycopg.connect(dsn, autocommit=True, connect_timeout=10) as conn:
        for role in roles:
            if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone() is None:
                missing.append(role)
                continue
            for view in VIEWS:
                row = conn.execute(
                    "SELECT has_table_privilege(%s, %s::regclass, 'SELECT')", (role, view)
                ).fetchone()
                if row is not None and row[0]:
                    continue
                if not dry_run:
                    conn.execute(
                        sql.SQL("GRANT SELECT ON {} TO {}").format(
                            sql.Identifier(view), sql.Identifier(role)
                        )
                    )
                granted.append(f"{view}:{role}")
    print(json.dumps({"granted": granted, "missing_roles": missing, "dry_run": dry_run}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
