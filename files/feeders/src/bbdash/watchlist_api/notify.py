"""PostgreSQL NOTIFY on channel ``watchlist_changes`` (payload: docs/contracts.md).

``pg_notify`` is called on the connection of the open transaction: PostgreSQL
queues the notification and delivers it only at commit, so a rolled-back
change never announces itself.
"""

from __future__ import annotations

from typing import Literal

import orjson

from bbdash.watchlist_api.db import Conn
from bbdash.watchlist_api.metrics import NOTIFICATIONS

CHANNEL = "watchlist_changes"
Entity = Literal["watchlist", "watchlist_item", "alert_rule", "user"]
Op = Literal["insert", "update", "delete"]
_MAX_PAYLOAD = 7900  # PostgreSQL's limit is 8000 bytes; ours are far below it.
_NOTIFY = "SELECT pg_notify(%s, %s)"


async def notify(
    conn: Conn,
    entity: Entity,
    op: Op,
    entity_id: int,
    *,
    watchlist_id: int | None = None,
    symbol: str | None = None,
    asset_type: str | None = None,
) -> None:
    """Queue one change notification inside the caller's transaction."""
    payload: dict[str, object] = {"entity": entity, "op": op, "id": entity_id}
    if watchlist_id is not None:
        payload["watchlist_id"] = watchlist_id
    if symbol is not None:
        payload["symbol"] = symbol
        payload["asset_type"] = asset_type
    text = orjson.dumps(payload).decode()
    if len(text) > _MAX_PAYLOAD:  # cannot happen with bounded fields; never fail a write on it
        text = orjson.dumps({"entity": entity, "op": op, "id": entity_id}).decode()
    await conn.execute(_NOTIFY, (CHANNEL, text))
    NOTIFICATIONS.labels(entity=entity, op=op).inc()
