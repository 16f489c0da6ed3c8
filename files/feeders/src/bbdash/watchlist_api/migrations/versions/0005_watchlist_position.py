"""Watchlist position: the order a person gives their watchlists.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05

A new watchlist takes the next value of a sequence, so it comes after every
watchlist that exists; reordering (PATCH ``position``, the desk page's up/down
buttons) swaps values. Existing watchlists keep their creation order. The view
for Grafana gains the column (at its end, as CREATE OR REPLACE VIEW requires),
so the dashboards' watchlist selector lists a person's watchlists in their order.
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_UPGRADE = """
CREATE SEQUENCE watchlists_position_seq AS bigint;
ALTER TABLE watchlists ADD COLUMN position bigint;
UPDATE watchlists SET position = id;
SELECT setval('watchlists_position_seq', COALESCE((SELECT max(id) FROM watchlists), 0) + 1, false);
ALTER TABLE watchlists
    ALTER COLUMN position SET DEFAULT nextval('watchlists_position_seq'),
    ALTER COLUMN position SET NOT NULL;
ALTER SEQUENCE watchlists_position_seq OWNED BY watchlists.position;

CREATE OR REPLACE VIEW user_watchlist_assets AS
    SELECT lower(u.name) AS login, w.name AS watchlist, i.symbol, i.asset_type, w.position
    FROM users AS u
    JOIN watchlists AS w ON w.user_id = u.id
    JOIN watchlist_items AS i ON i.watchlist_id = w.id
    WHERE w.enabled
"""

_DOWNGRADE = """
DROP VIEW user_watchlist_assets;
CREATE VIEW user_watchlist_assets AS
    SELECT lower(u.name) AS login, w.name AS watchlist, i.symbol, i.asset_type
    FROM users AS u
    JOIN watchlists AS w ON w.user_id = u.id
    JOIN watchlist_items AS i ON i.watchlist_id = w.id
    WHERE w.enabled;
ALTER TABLE watchlists DROP COLUMN position;
"""


def upgrade() -> None:
    op.execute(_UPGRADE)


def downgrade() -> None:
    op.execute(_DOWNGRADE)
