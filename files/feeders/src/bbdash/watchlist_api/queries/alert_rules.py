"""Price alert rules (read by the market feeder through the ``active_alert_rules`` view)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from psycopg import errors

from bbdash.watchlist_api.concurrency import Expected
from bbdash.watchlist_api.db import Conn
from bbdash.watchlist_api.notify import Op, notify
from bbdash.watchlist_api.problems import field_error, not_found
from bbdash.watchlist_api.queries.common import (
    duplicate,
    fetch_int,
    limit_reached,
    missing_or_stale,
    page,
)

ALERT_RULE = "alert rule"
_COLUMNS = (
    "id",
    "name",
    "symbol",
    "asset_type",
    "condition",
    "threshold",
    "window_seconds",
    "channels",
    "cooldown_seconds",
    "enabled",
    "version",
    "created_at",
    "updated_at",
)
# The fields a client sets (everything but identity, version and timestamps).
RULE_FIELDS = _COLUMNS[1:10]

_GET = """
SELECT id, name, symbol, asset_type, condition, threshold, window_seconds, channels,
       cooldown_seconds, enabled, version, created_at, updated_at
FROM alert_rules WHERE id = %s AND user_id = %s
"""
_LIST = """
SELECT id, name, symbol, asset_type, condition, threshold, window_seconds, channels,
       cooldown_seconds, enabled, version, created_at, updated_at
FROM alert_rules
WHERE user_id = %(user_id)s AND id > %(after)s
  AND (%(symbol)s::text IS NULL OR symbol = %(symbol)s::text)
  AND (%(enabled)s::boolean IS NULL OR enabled = %(enabled)s::boolean)
  AND (%(condition)s::text IS NULL OR condition = %(condition)s::text)
ORDER BY id
LIMIT %(limit)s
"""
_VERSION = "SELECT version FROM alert_rules WHERE id = %s AND user_id = %s"
_LOCK_USER = "SELECT id FROM users WHERE id = %s FOR UPDATE"
_COUNT = "SELECT count(*) FROM alert_rules WHERE user_id = %s"
_INSERT = """
INSERT INTO alert_rules (user_id, name, symbol, asset_type, condition, threshold,
                         window_seconds, channels, cooldown_seconds, enabled)
VALUES (%(user_id)s, %(name)s, %(symbol)s, %(asset_type)s, %(condition)s, %(threshold)s,
        %(window_seconds)s, %(channels)s, %(cooldown_seconds)s, %(enabled)s)
ON CONFLICT (user_id, name) DO NOTHING
RETURNING id
"""
_FOR_UPDATE = """
SELECT id, name, symbol, asset_type, condition, threshold, window_seconds, channels,
       cooldown_seconds, enabled, version
FROM alert_rules WHERE id = %s AND user_id = %s FOR UPDATE
"""
_SET = """
UPDATE alert_rules
SET name = %(name)s, symbol = %(symbol)s, asset_type = %(asset_type)s,
    condition = %(condition)s, threshold = %(threshold)s, window_seconds = %(window_seconds)s,
    channels = %(channels)s, cooldown_seconds = %(cooldown_seconds)s, enabled = %(enabled)s,
    version = version + 1, updated_at = now()
WHERE id = %(id)s
"""
_SYNC_LOCK = """
SELECT id, name, symbol, asset_type, condition, threshold, window_seconds, channels,
       cooldown_seconds, enabled
FROM alert_rules WHERE user_id = %s AND name = %s FOR UPDATE
"""
_SYNC_SET = """
UPDATE alert_rules
SET symbol = %(symbol)s, asset_type = %(asset_type)s, condition = %(condition)s,
    threshold = %(threshold)s, window_seconds = %(window_seconds)s, channels = %(channels)s,
    cooldown_seconds = %(cooldown_seconds)s, enabled = %(enabled)s,
    version = version + 1, updated_at = now()
WHERE id = %(id)s
"""
_DELETE = """
DELETE FROM alert_rules
WHERE id = %s AND user_id = %s AND (%s::integer IS NULL OR version = %s::integer)
RETURNING id, symbol, asset_type
"""


def _row(row: tuple[Any, ...]) -> dict[str, Any]:
    return dict(zip(_COLUMNS, row, strict=True))


async def get(conn: Conn, user_id: int, rule_id: int) -> dict[str, Any] | None:
    row = await (await conn.execute(_GET, (rule_id, user_id))).fetchone()
    return None if row is None else _row(row)


async def list_rules(
    conn: Conn,
    user_id: int,
    *,
    after: int,
    limit: int,
    symbol: str | None,
    enabled: bool | None,
    condition: str | None,
) -> dict[str, Any]:
    params = {
        "user_id": user_id,
        "after": after,
        "limit": limit + 1,
        "symbol": symbol,
        "enabled": enabled,
        "condition": condition,
    }
    rows = await (await conn.execute(_LIST, params)).fetchall()
    return page([_row(r) for r in rows], limit)


async def _notify_rule(conn: Conn, op: Op, rule_id: int, symbol: str, asset_type: str) -> None:
    await notify(conn, "alert_rule", op, rule_id, symbol=symbol, asset_type=asset_type)


async def _insert(conn: Conn, user_id: int, rule: dict[str, Any], max_per_user: int) -> int | None:
    await conn.execute(_LOCK_USER, (user_id,))
    count = await fetch_int(conn, _COUNT, (user_id,))
    if count is not None and count >= max_per_user:
        raise limit_reached("alert rules per user", max_per_user)
    row = await (await conn.execute(_INSERT, {"user_id": user_id, **rule})).fetchone()
    if row is None:
        return None
    rule_id = int(row[0])
    await _notify_rule(conn, "insert", rule_id, rule["symbol"], rule["asset_type"])
    return rule_id


async def create(conn: Conn, user_id: int, rule: dict[str, Any], max_per_user: int) -> int:
    rule_id = await _insert(conn, user_id, rule, max_per_user)
    if rule_id is None:
        raise duplicate(errors.UniqueViolation(), f"an alert rule named {rule['name']!r}")
    return rule_id


async def update(
    conn: Conn,
    user_id: int,
    rule_id: int,
    *,
    fields: dict[str, Any],
    expected: Expected | None,
) -> None:
    """Apply a partial update: read the rule locked, merge, re-check the cross-field rule."""
    row = await (await conn.execute(_FOR_UPDATE, (rule_id, user_id))).fetchone()
    if row is None:
        raise not_found(ALERT_RULE)
    if expected is not None and expected.version != row[10]:
        raise expected.mismatch(int(row[10]))
    merged = dict(zip(RULE_FIELDS, row[1:10], strict=True))
    merged.update(fields)
    if merged["condition"] != "pct_move" and "window_seconds" not in fields:
        # Switching a pct_move rule to above/below drops its now meaningless window.
        merged["window_seconds"] = None
    if merged["condition"] == "pct_move" and merged["window_seconds"] is None:
        raise field_error("window_seconds", "required for a pct_move rule")
    if merged["condition"] != "pct_move" and merged["window_seconds"] is not None:
        raise field_error("window_seconds", "only meaningful for a pct_move rule")
    try:
        await conn.execute(_SET, {"id": rule_id, **merged})
    except errors.UniqueViolation as exc:
        raise duplicate(exc, f"an alert rule named {merged['name']!r}") from None
    await _notify_rule(conn, "update", rule_id, merged["symbol"], merged["asset_type"])


async def delete(conn: Conn, user_id: int, rule_id: int, expected: Expected | None) -> None:
    version = expected.version if expected else None
    row = await (await conn.execute(_DELETE, (rule_id, user_id, version, version))).fetchone()
    if row is None:
        current = await fetch_int(conn, _VERSION, (rule_id, user_id))
        raise missing_or_stale(current, expected, ALERT_RULE)
    await _notify_rule(conn, "delete", rule_id, row[1], row[2])


@dataclass(frozen=True, slots=True)
class SyncOutcome:
    rule_id: int
    changed: bool
    created: bool


async def sync(conn: Conn, user_id: int, rule: dict[str, Any], max_per_user: int) -> SyncOutcome:
    """Make the rule named ``rule['name']`` exactly ``rule``; a repeat call changes nothing."""
    row = await (await conn.execute(_SYNC_LOCK, (user_id, rule["name"]))).fetchone()
    if row is None:
        rule_id = await _insert(conn, user_id, rule, max_per_user)
        if rule_id is not None:
            return SyncOutcome(rule_id, changed=True, created=True)
        # Created concurrently by another sync: compare against that one.
        row = await (await conn.execute(_SYNC_LOCK, (user_id, rule["name"]))).fetchone()
        if row is None:
            raise duplicate(errors.UniqueViolation(), f"an alert rule named {rule['name']!r}")
    stored = dict(zip(RULE_FIELDS, row[1:], strict=True))
    rule_id = int(row[0])
    if all(stored[name] == rule[name] for name in RULE_FIELDS):
        return SyncOutcome(rule_id, changed=False, created=False)
    await conn.execute(_SYNC_SET, {"id": rule_id, **rule})
    await _notify_rule(conn, "update", rule_id, rule["symbol"], rule["asset_type"])
    return SyncOutcome(rule_id, changed=True, created=False)
