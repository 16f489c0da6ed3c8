"""api_timestamp(timestamptz): a timestamp as the API writes it in JSON.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24

PostgreSQL renders the JSON of one watchlist (queries/watchlists.py: the read,
create, update, sync) while the lists and other resources serialise rows with
orjson. PostgreSQL's own JSON form of a timestamp drops the fraction's trailing
zeros ("…38.61939+00:00"); orjson writes six digits, or none on a whole second.
This function writes orjson's form, so a client sees one format whichever route
answered. A single-statement SQL function: the planner inlines it, a call costs
no more than its expression.
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_FUNCTION = """
CREATE OR REPLACE FUNCTION api_timestamp(ts timestamptz) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
RETURN to_char(
    ts AT TIME ZONE 'UTC',
    CASE WHEN date_trunc('second', ts) = ts
         THEN 'YYYY-MM-DD"T"HH24:MI:SS"+00:00"'
         ELSE 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"' END)
"""


def upgrade() -> None:
    op.execute(_FUNCTION)


def downgrade() -> None:
    op.execute("DROP FUNCTION IF EXISTS api_timestamp(timestamptz)")
