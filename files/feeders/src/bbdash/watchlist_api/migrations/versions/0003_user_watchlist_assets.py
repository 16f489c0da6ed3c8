"""user_watchlist_assets: each user's enabled watchlists and their assets, for Grafana.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04

The dashboards' symbol variables offer the logged-in user's watchlists first
(Grafana fills `${__user.login}` into the PostgreSQL query) and every collected
symbol as the fallback. `login` is the user's name in lower case: Grafana
compares logins case-insensitively, and so do the API's names
(users_name_key). The view selects, it does not protect: Grafana's read-only
role may read every user's rows (docs/contracts.md).
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_VIEW = """
CREATE VIEW user_watchlist_assets AS
    SELECT lower(u.name) AS login, w.name AS watchlist, i.symbol, i.asset_type
    FROM users AS u
    JOIN watchlists AS w ON w.user_id = u.id
    JOIN watchlist_items AS i ON i.watchlist_id = w.id
    WHERE w.enabled
"""


def upgrade() -> None:
    op.execute(_VIEW)


def downgrade() -> None:
    op.execute("DROP VIEW IF EXISTS user_watchlist_assets")
