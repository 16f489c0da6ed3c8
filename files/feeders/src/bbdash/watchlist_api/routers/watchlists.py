"""/v1/watchlists: watchlists, their items, and the declarative by-name sync."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from bbdash.watchlist_api.auth import CurrentCaller
from bbdash.watchlist_api.concurrency import expected_version
from bbdash.watchlist_api.problems import not_found
from bbdash.watchlist_api.queries import watchlist_sync
from bbdash.watchlist_api.queries import watchlists as q
from bbdash.watchlist_api.queries.common import check_if_match
from bbdash.watchlist_api.responses import json_response, no_content
from bbdash.watchlist_api.routers.params import (
    After,
    DryRun,
    IfMatch,
    ItemId,
    Limit,
    NamePrefix,
    ResourceName,
    SourceFilter,
    SymbolFilter,
    SymbolPrefix,
    WatchlistId,
)
from bbdash.watchlist_api.schemas.watchlists import (
    ItemIn,
    ItemOut,
    ItemPage,
    WatchlistCreate,
    WatchlistOut,
    WatchlistPage,
    WatchlistSync,
    WatchlistSyncOut,
    WatchlistUpdate,
)
from bbdash.watchlist_api.settings import Settings
from bbdash.watchlist_api.symbols import AssetType

router = APIRouter(prefix="/v1/watchlists", tags=["watchlists"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"description": "Unknown id, or another user's"},
    409: {"description": "Duplicate, stale version or limit reached"},
    412: {"description": "If-Match does not match the current version"},
    428: {"description": "Neither If-Match nor version was sent"},
}


def _limits(settings: Settings) -> q.Limits:
    return q.Limits(
        watchlists_per_user=settings.max_watchlists_per_user,
        items_per_watchlist=settings.max_items_per_watchlist,
    )


def watchlist_response(found: q.WatchlistJson, status: int = 200, **headers: str) -> Response:
    return json_response(found.json, status, version=found.version, headers=headers)


# Declared first on purpose: routes are tried in order and this is the hot path (the
# dashboard polls it). "/{watchlist_id}" cannot capture "/by-name/..." (no slash in ids).
@router.get("/{watchlist_id}", response_model=WatchlistOut, responses={404: _ERRORS[404]})
async def get_watchlist(caller: CurrentCaller, watchlist_id: WatchlistId) -> Response:
    async with caller.db.read() as conn:
        found = await q.get(conn, caller.user_id, watchlist_id)
    if found is None:
        raise not_found(q.WATCHLIST)
    return watchlist_response(found)


@router.get("", response_model=WatchlistPage)
async def list_watchlists(
    caller: CurrentCaller,
    limit: Limit = 50,
    after: After = 0,
    name_prefix: NamePrefix = None,
    enabled: bool | None = None,
    symbol: SymbolFilter = None,
) -> Response:
    """The caller's watchlists (without items), filtered, by ascending id."""
    async with caller.db.read() as conn:
        result = await q.list_watchlists(
            conn,
            caller.user_id,
            after=after,
            limit=limit,
            name_prefix=name_prefix,
            enabled=enabled,
            symbol=symbol,
        )
    return json_response(result)


@router.post("", status_code=201, response_model=WatchlistOut, responses={409: _ERRORS[409]})
async def create_watchlist(caller: CurrentCaller, body: WatchlistCreate) -> Response:
    async with caller.db.write() as conn:
        watchlist_id = await q.create(
            conn,
            caller.user_id,
            name=body.name,
            description=body.description,
            enabled=body.enabled,
            items=body.items,
            limits=_limits(caller.settings),
        )
        created = await q.get(conn, caller.user_id, watchlist_id)
    assert created is not None
    return watchlist_response(created, 201, Location=f"/v1/watchlists/{watchlist_id}")


@router.get("/by-name/{name}", response_model=WatchlistOut, responses={404: _ERRORS[404]})
async def get_watchlist_by_name(caller: CurrentCaller, name: ResourceName) -> Response:
    async with caller.db.read() as conn:
        found = await q.get_by_name(conn, caller.user_id, name)
    if found is None:
        raise not_found(q.WATCHLIST)
    return watchlist_response(found)


@router.put(
    "/by-name/{name}",
    response_model=WatchlistSyncOut,
    responses={k: _ERRORS[k] for k in (409, 412)},
)
async def sync_watchlist(
    caller: CurrentCaller,
    name: ResourceName,
    body: WatchlistSync,
    dry_run: DryRun = False,
    if_match: IfMatch = None,
) -> Response:
    """Declarative sync: make the watchlist exactly this (created if absent; items not
    listed are removed). Answers 200 with ``changed`` so a caller such as Ansible can
    report truthfully; a repeat of the same call answers ``changed: false`` and writes
    nothing. With ``dry_run=true`` the change is computed and rolled back. With
    ``If-Match`` the watchlist must exist at that version (412 otherwise)."""
    expected = expected_version(if_match, None, required=False)
    async with caller.db.write(rollback=dry_run) as conn:
        await check_if_match(conn, "watchlists", caller.user_id, name, expected, q.WATCHLIST)
        outcome = await watchlist_sync.sync(
            conn,
            caller.user_id,
            name,
            description=body.description,
            enabled=body.enabled,
            items=body.items,
            limits=_limits(caller.settings),
        )
        watchlist = await q.get(conn, caller.user_id, outcome.watchlist_id)
    assert watchlist is not None
    result = {
        "changed": outcome.changed,
        "created": outcome.created,
        "dry_run": dry_run,
        "watchlist": watchlist.json,
    }
    headers = {"X-Bbdash-Changed": "true" if outcome.changed else "false"}
    return json_response(result, version=watchlist.version, headers=headers)


@router.patch(
    "/{watchlist_id}",
    response_model=WatchlistOut,
    responses={k: _ERRORS[k] for k in (404, 409, 412, 428)},
)
async def update_watchlist(
    caller: CurrentCaller,
    watchlist_id: WatchlistId,
    body: WatchlistUpdate,
    if_match: IfMatch = None,
) -> Response:
    expected = expected_version(if_match, body.version, required=True)
    fields = body.model_dump(exclude_unset=True, exclude={"version"})
    async with caller.db.write() as conn:
        await q.update(conn, caller.user_id, watchlist_id, fields=fields, expected=expected)
        updated = await q.get(conn, caller.user_id, watchlist_id)
    assert updated is not None
    return watchlist_response(updated)


@router.delete(
    "/{watchlist_id}", status_code=204, responses={k: _ERRORS[k] for k in (404, 409, 412)}
)
async def delete_watchlist(
    caller: CurrentCaller, watchlist_id: WatchlistId, if_match: IfMatch = None
) -> Response:
    expected = expected_version(if_match, None, required=False)
    async with caller.db.write() as conn:
        await q.delete(conn, caller.user_id, watchlist_id, expected)
    return no_content()


@router.get("/{watchlist_id}/items", response_model=ItemPage, responses={404: _ERRORS[404]})
async def list_items(
    caller: CurrentCaller,
    watchlist_id: WatchlistId,
    limit: Limit = 50,
    after: After = 0,
    asset_type: AssetType | None = None,
    source: SourceFilter = None,
    symbol_prefix: SymbolPrefix = None,
) -> Response:
    async with caller.db.read() as conn:
        result = await q.list_items(
            conn,
            caller.user_id,
            watchlist_id,
            after=after,
            limit=limit,
            asset_type=asset_type,
            source=source,
            symbol_prefix=symbol_prefix.upper() if symbol_prefix else None,
        )
    if result is None:
        raise not_found(q.WATCHLIST)
    return json_response(result)


@router.post(
    "/{watchlist_id}/items",
    status_code=201,
    response_model=ItemOut,
    responses={k: _ERRORS[k] for k in (404, 409, 412)},
)
async def add_item(
    caller: CurrentCaller,
    watchlist_id: WatchlistId,
    body: ItemIn,
    if_match: IfMatch = None,
) -> Response:
    """Add one item (409 if the watchlist already has it). If-Match is optional here:
    adding cannot overwrite anyone's edit."""
    expected = expected_version(if_match, None, required=False)
    async with caller.db.write() as conn:
        item = await q.add_item(
            conn,
            caller.user_id,
            watchlist_id,
            body,
            expected=expected,
            limits=_limits(caller.settings),
        )
    location = f"/v1/watchlists/{watchlist_id}/items/{item['id']}"
    return json_response(item, 201, headers={"Location": location})


@router.delete(
    "/{watchlist_id}/items/{item_id}",
    status_code=204,
    responses={k: _ERRORS[k] for k in (404, 409, 412)},
)
async def delete_item(
    caller: CurrentCaller,
    watchlist_id: WatchlistId,
    item_id: ItemId,
    if_match: IfMatch = None,
) -> Response:
    expected = expected_version(if_match, None, required=False)
    async with caller.db.write() as conn:
        await q.delete_item(conn, caller.user_id, watchlist_id, item_id, expected)
    return no_content()
