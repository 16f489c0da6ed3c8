"""/v1/layouts: each user's dashboard preferences, as bounded JSON objects."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from bbdash.watchlist_api.auth import CurrentCaller
from bbdash.watchlist_api.concurrency import expected_version
from bbdash.watchlist_api.problems import not_found
from bbdash.watchlist_api.queries import layouts as q
from bbdash.watchlist_api.responses import json_response, no_content
from bbdash.watchlist_api.routers.params import (
    After,
    IfMatch,
    LayoutId,
    Limit,
    NamePrefix,
)
from bbdash.watchlist_api.schemas.layouts import LayoutCreate, LayoutOut, LayoutPage, LayoutUpdate

router = APIRouter(prefix="/v1/layouts", tags=["layouts"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"description": "Unknown id, or another user's"},
    409: {"description": "Duplicate name, stale version or limit reached"},
    412: {"description": "If-Match does not match the current version"},
    428: {"description": "Neither If-Match nor version was sent"},
}


def _layout(data: dict[str, Any], status: int = 200, **headers: str) -> Response:
    return json_response(data, status, version=data["version"], headers=headers)


@router.get("", response_model=LayoutPage)
async def list_layouts(
    caller: CurrentCaller,
    limit: Limit = 50,
    after: After = 0,
    name_prefix: NamePrefix = None,
) -> Response:
    async with caller.db.read() as conn:
        result = await q.list_layouts(
            conn, caller.user_id, after=after, limit=limit, name_prefix=name_prefix
        )
    return json_response(result)


@router.post("", status_code=201, response_model=LayoutOut, responses={409: _ERRORS[409]})
async def create_layout(caller: CurrentCaller, body: LayoutCreate) -> Response:
    async with caller.db.write() as conn:
        created = await q.create(
            conn,
            caller.user_id,
            name=body.name,
            layout=body.layout,
            max_per_user=caller.settings.max_layouts_per_user,
        )
    return _layout(created, 201, Location=f"/v1/layouts/{created['id']}")


@router.get("/{layout_id}", response_model=LayoutOut, responses={404: _ERRORS[404]})
async def get_layout(caller: CurrentCaller, layout_id: LayoutId) -> Response:
    async with caller.db.read() as conn:
        found = await q.get(conn, caller.user_id, layout_id)
    if found is None:
        raise not_found(q.LAYOUT)
    return _layout(found)


@router.patch(
    "/{layout_id}",
    response_model=LayoutOut,
    responses={k: _ERRORS[k] for k in (404, 409, 412, 428)},
)
async def update_layout(
    caller: CurrentCaller,
    layout_id: LayoutId,
    body: LayoutUpdate,
    if_match: IfMatch = None,
) -> Response:
    expected = expected_version(if_match, body.version, required=True)
    fields = body.model_dump(exclude_unset=True, exclude={"version"})
    async with caller.db.write() as conn:
        updated = await q.update(conn, caller.user_id, layout_id, fields=fields, expected=expected)
    return _layout(updated)


@router.delete("/{layout_id}", status_code=204, responses={k: _ERRORS[k] for k in (404, 409, 412)})
async def delete_layout(
    caller: CurrentCaller, layout_id: LayoutId, if_match: IfMatch = None
) -> Response:
    expected = expected_version(if_match, None, required=False)
    async with caller.db.write() as conn:
        await q.delete(conn, caller.user_id, layout_id, expected)
    return no_content()
