"""Layout dashboards: which layouts Grafana holds, and what Grafana must forget.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05

Each layout is a dashboard in its owner's Grafana folder, written by the API's
sync loop (bbdash.watchlist_api.layout_dashboards.sync) after the layout's commit.
``dashboard_version`` and ``dashboard_catalog`` say which layout version, built
with which panel catalogue, Grafana last accepted; a layout whose pair differs
from (version, current catalogue) is pending. Removals go through
``grafana_removals``, filled by triggers in the deleting transaction itself, so a
layout deleted while Grafana is down, or by a user's cascade, is still removed
from Grafana once it answers.
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_UPGRADE = """
ALTER TABLE layouts
    ADD COLUMN dashboard_version integer,
    ADD COLUMN dashboard_catalog integer;

CREATE TABLE grafana_removals (
    uid        text PRIMARY KEY CHECK (uid ~ '^[a-z0-9-]{1,40}$'),
    kind       text NOT NULL CHECK (kind IN ('dashboard', 'folder')),
    queued_at  timestamptz NOT NULL DEFAULT now()
);

CREATE FUNCTION queue_layout_dashboard_removal() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO grafana_removals (uid, kind)
    VALUES ('bbdash-layout-' || OLD.id, 'dashboard') ON CONFLICT (uid) DO NOTHING;
    RETURN OLD;
END $$;

CREATE FUNCTION queue_desk_folder_removal() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO grafana_removals (uid, kind)
    VALUES ('bbdash-desk-' || OLD.id, 'folder') ON CONFLICT (uid) DO NOTHING;
    RETURN OLD;
END $$;

CREATE TRIGGER layouts_queue_dashboard_removal AFTER DELETE ON layouts
    FOR EACH ROW EXECUTE FUNCTION queue_layout_dashboard_removal();
CREATE TRIGGER users_queue_desk_folder_removal AFTER DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION queue_desk_folder_removal();
"""

_DOWNGRADE = """
DROP TRIGGER IF EXISTS users_queue_desk_folder_removal ON users;
DROP TRIGGER IF EXISTS layouts_queue_dashboard_removal ON layouts;
DROP FUNCTION IF EXISTS queue_desk_folder_removal();
DROP FUNCTION IF EXISTS queue_layout_dashboard_removal();
DROP TABLE IF EXISTS grafana_removals;
ALTER TABLE layouts
    DROP COLUMN IF EXISTS dashboard_catalog,
    DROP COLUMN IF EXISTS dashboard_version;
"""


def upgrade() -> None:
    op.execute(_UPGRADE)


def downgrade() -> None:
    op.execute(_DOWNGRADE)
