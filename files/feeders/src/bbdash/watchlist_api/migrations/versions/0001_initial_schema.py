"""Initial schema: users, API keys, watchlists and items, layouts, alert rules, views.

Revision ID: 0001
Revises:
Create Date: 2026-11-01

Constraints repeat the API's validation on purpose: the database is the last
line of defence if a bug (or a human with psql) bypasses the API. The two views
are the feeders' contract (docs/contracts.md): change their columns only
together with the feeders.
"""

from __future__ import annotations

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_TABLES = """
CREATE TABLE users (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name          text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 64),
    display_name  text NOT NULL DEFAULT '' CHECK (char_length(display_name) <= 128),
    is_admin      boolean NOT NULL DEFAULT false,
    version       integer NOT NULL DEFAULT 1 CHECK (version >= 1),
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
-- Names are compared case-insensitively so "Alice" and "alice" cannot both exist.
CREATE UNIQUE INDEX users_name_key ON users (lower(name));
-- Exactly one bootstrap admin: the principal behind BBDASH_API_ADMIN_KEY_FILE.
CREATE UNIQUE INDEX users_single_admin ON users (is_admin) WHERE is_admin;
INSERT INTO users (name, display_name, is_admin) VALUES ('admin', 'Bootstrap administrator', true);

CREATE TABLE api_keys (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id     bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name        text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
    prefix      text NOT NULL CHECK (char_length(prefix) <= 16),
    -- SHA-256 of the whole key; keys are 256-bit random, so a slow KDF adds nothing.
    key_hash    bytea NOT NULL UNIQUE CHECK (octet_length(key_hash) = 32),
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz
);
CREATE INDEX api_keys_user_id ON api_keys (user_id);

CREATE TABLE watchlists (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id      bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
    description  text NOT NULL DEFAULT '' CHECK (char_length(description) <= 1000),
    enabled      boolean NOT NULL DEFAULT true,
    version      integer NOT NULL DEFAULT 1 CHECK (version >= 1),
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (user_id, name)
);

CREATE TABLE watchlist_items (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    watchlist_id  bigint NOT NULL REFERENCES watchlists (id) ON DELETE CASCADE,
    symbol        text NOT NULL CHECK (symbol ~ '^[A-Z0-9^][A-Z0-9./=^-]{0,31}$'),
    asset_type    text NOT NULL CHECK (asset_type IN ('crypto', 'stock', 'forex', 'index')),
    source        text CHECK (source ~ '^[a-z0-9][a-z0-9_-]{0,31}$'),
    created_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (watchlist_id, asset_type, symbol)
);

CREATE TABLE layouts (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id     bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name        text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
    layout      jsonb NOT NULL CHECK (jsonb_typeof(layout) = 'object'),
    version     integer NOT NULL DEFAULT 1 CHECK (version >= 1),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (user_id, name)
);

CREATE TABLE alert_rules (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id           bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name              text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
    symbol            text NOT NULL CHECK (symbol ~ '^[A-Z0-9^][A-Z0-9./=^-]{0,31}$'),
    asset_type        text NOT NULL CHECK (asset_type IN ('crypto', 'stock', 'forex', 'index')),
    condition         text NOT NULL CHECK (condition IN ('above', 'below', 'pct_move')),
    -- PostgreSQL sorts NaN above Infinity, so this range check also rejects NaN.
    threshold         double precision NOT NULL
                      CHECK (threshold > 0 AND threshold < 'Infinity'::double precision),
    window_seconds    integer CHECK (window_seconds BETWEEN 60 AND 604800),
    channels          text[] NOT NULL
                      CHECK (cardinality(channels) BETWEEN 1 AND 3
                             AND channels <@ ARRAY['telegram', 'email', 'webhook']),
    cooldown_seconds  integer NOT NULL DEFAULT 3600 CHECK (cooldown_seconds BETWEEN 0 AND 604800),
    enabled           boolean NOT NULL DEFAULT true,
    version           integer NOT NULL DEFAULT 1 CHECK (version >= 1),
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (user_id, name),
    -- A window means something only for a percent move, and a percent move needs one.
    CHECK ((condition = 'pct_move') = (window_seconds IS NOT NULL))
);
CREATE INDEX alert_rules_user_symbol ON alert_rules (user_id, symbol);
"""

_VIEWS = """
CREATE VIEW collected_assets AS
    SELECT DISTINCT i.symbol, i.asset_type, i.source
    FROM watchlist_items AS i
    JOIN watchlists AS w ON w.id = i.watchlist_id
    WHERE w.enabled;

CREATE VIEW active_alert_rules AS
    SELECT id, user_id, symbol, condition, threshold, window_seconds, channels,
           cooldown_seconds, updated_at
    FROM alert_rules
    WHERE enabled;
"""


def upgrade() -> None:
    op.execute(_TABLES)
    op.execute(_VIEWS)


def downgrade() -> None:
    op.execute("DROP VIEW IF EXISTS active_alert_rules")
    op.execute("DROP VIEW IF EXISTS collected_assets")
    for table in ("alert_rules", "layouts", "watchlist_items", "watchlists", "api_keys", "users"):
        op.execute(f"DROP TABLE IF EXISTS {table}")
