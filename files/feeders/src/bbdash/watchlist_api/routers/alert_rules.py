"""/v1/alert-rules: price alert rules, evaluated by the market feeder."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from bbdash.watchlist_api.auth import CurrentCaller
from bbdash.watchlist_api.concurrency import expected_version
from bbdash.watchlist_api.problems import not_found
from bbdash.watchlist_api.queries import alert_rules as q
from bbdash.watchlist_api.queries.common import check_if_match
from bbdash.watchlist_api.responses import json_response, no_content
from bbdash.watchlist_api.routers.params import (
    After,
    DryRun,
    IfMatch,
    Limit,
    ResourceName,
    RuleId,
    SymbolFilter,
)
from bbdash.watchlist_api.schemas.alert_rules import (
    AlertRuleCreate,
    AlertRuleOut,
    AlertRulePage,
    AlertRuleSync,
    AlertRuleSyncOut,
    AlertRuleUpdate,
    Condition,
)

router = APIRouter(prefix="/v1/alert-rules", tags=["alert rules"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"description": "Unknown id, or another user's"},
    409: {"description": "Duplicate name, stale version or limit reached"},
    412: {"description": "If-Match does not match the current version"},
    428: {"description": "Neither If-Match nor version was sent"},
}


def _rule(data: dict[str, Any], status: int = 200, **headers: str) -> Response:
    return json_response(data, status, version=data["version"], headers=headers)


@router.get("", response_model=AlertRulePage)
async def list_alert_rules(
    caller: CurrentCaller,
    limit: Limit = 50,
    after: After = 0,
    symbol: SymbolFilter = None,
    enabled: bool | None = None,
    condition: Condition | None = None,
) -> Response:
    async with caller.db.read() as conn:
        result = await q.list_rules(
            conn,
            caller.user_id,
            after=after,
            limit=limit,
            symbol=symbol,
            enabled=enabled,
            condition=condition,
        )
    return json_response(result)


@router.post("", status_code=201, response_model=AlertRuleOut, responses={409: _ERRORS[409]})
async def create_alert_rule(caller: CurrentCaller, body: AlertRuleCreate) -> Response:
    async with caller.db.write() as conn:
        rule_id = await q.create(
            conn, caller.user_id, body.model_dump(), caller.settings.max_alert_rules_per_user
        )
        created = await q.get(conn, caller.user_id, rule_id)
    assert created is not None
    return _rule(created, 201, Location=f"/v1/alert-rules/{rule_id}")


@router.put(
    "/by-name/{name}",
    response_model=AlertRuleSyncOut,
    responses={k: _ERRORS[k] for k in (409, 412)},
)
async def sync_alert_rule(
    caller: CurrentCaller,
    name: ResourceName,
    body: AlertRuleSync,
    dry_run: DryRun = False,
    if_match: IfMatch = None,
) -> Response:
    """Declarative sync of one named rule; answers ``changed`` like the watchlist sync,
    and honours ``If-Match`` like it."""
    rule = {"name": name, **body.model_dump()}
    expected = expected_version(if_match, None, required=False)
    async with caller.db.write(rollback=dry_run) as conn:
        await check_if_match(conn, "alert_rules", caller.user_id, name, expected, q.ALERT_RULE)
        outcome = await q.sync(conn, caller.user_id, rule, caller.settings.max_alert_rules_per_user)
        stored = await q.get(conn, caller.user_id, outcome.rule_id)
    assert stored is not None
    result = {
        "changed": outcome.changed,
        "created": outcome.created,
        "dry_run": dry_run,
        "alert_rule": stored,
    }
    headers = {"X-Bbdash-Changed": "true" if outcome.changed else "false"}
    return json_response(result, version=stored["version"], headers=headers)


@router.get("/{rule_id}", response_model=AlertRuleOut, responses={404: _ERRORS[404]})
async def get_alert_rule(caller: CurrentCaller, rule_id: RuleId) -> Response:
    async with caller.db.read() as conn:
        found = await q.get(conn, caller.user_id, rule_id)
    if found is None:
        raise not_found(q.ALERT_RULE)
    return _rule(found)


@router.patch(
    "/{rule_id}",
    response_model=AlertRuleOut,
    responses={k: _ERRORS[k] for k in (404, 409, 412, 428)},
)
async def update_alert_rule(
    caller: CurrentCaller,
    rule_id: RuleId,
    body: AlertRuleUpdate,
    if_match: IfMatch = None,
) -> Response:
    expected = expected_version(if_match, body.version, required=True)
    # null means "unchanged", except for window_seconds where it clears the window.
    fields = {
        key: value
        for key, value in body.model_dump(exclude_unset=True, exclude={"version"}).items()
        if value is not None or key == "window_seconds"
    }
    async with caller.db.write() as conn:
        await q.update(conn, caller.user_id, rule_id, fields=fields, expected=expected)
        updated = await q.get(conn, caller.user_id, rule_id)
    assert updated is not None
    return _rule(updated)


@router.delete("/{rule_id}", status_code=204, responses={k: _ERRORS[k] for k in (404, 409, 412)})
async def delete_alert_rule(
    caller: CurrentCaller, rule_id: RuleId, if_match: IfMatch = None
) -> Response:
    expected = expected_version(if_match, None, required=False)
    async with caller.db.write() as conn:
        await q.delete(conn, caller.user_id, rule_id, expected)
    return no_content()
