"""/v1/layouts: each user's choice of panels and symbols, each one a Grafana dashboard.

The database commit is the answer; the dashboard follows within a second through
the sync loop (layout_dashboards/sync.py), woken after each write. Until Grafana
holds the layout's version, ``dashboard.synced`` is false.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from bbdash.watchlist_api.auth import CurrentCaller
from bbdash.watchlist_api.concurrency import expected_version
from bbdash.watchlist_api.layout_dashboards import catalog
from bbdash.watchlist_api.layout_dashboards.build import dashboard_uid, dashboard_url
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
from bbdash.watchlist_api.schemas.layouts import (
    LayoutCreate,
    LayoutOut,
    LayoutPage,
    LayoutUpdate,
    PanelKindPage,
)
from bbdash.watchlist_api.settings import Settings

router = APIRouter(prefix="/v1/layouts", tags=["layouts"])
# Not under /v1/layouts: /v1/layouts/{layout_id} would take every other method on it.
kinds_router = APIRouter(prefix="/v1/panel-kinds", tags=["layouts"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"description": "Unknown id, or another user's"},
    409: {"description": "Duplicate name, stale version or limit reached"},
    412: {"description": "If-Match does not match the current version"},
    428: {"description": "Neither If-Match nor version was sent"},
}


def _out(row: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """The stored row as LayoutOut: where its dashboard is, and whether Grafana has it."""
    held, built_with = row.pop("dashboard_version"), row.pop("dashboard_catalog")
    row["dashboard"] = {
        "uid": dashboard_uid(row["id"]),
        "url": dashboard_url(settings.grafana_public_path, row["id"]),
        "synced": held == row["version"] and built_with == catalog.load().version,
    }
    return row


def _layout(row: dict[str, Any], settings: Settings, status: int = 200, **headers: str) -> Response:
    data = _out(row, settings)
    return json_response(data, status, version=data["version"], headers=headers)


def _wake_sync(request: Request) -> None:
    sync = request.app.state.layout_sync
    if sync is not None:
        sync.wake()


@kinds_router.get("", response_model=PanelKindPage)
async def list_panel_kinds(caller: CurrentCaller) -> Response:
    """The panel kinds a layout may hold (the desk page's choices)."""
    del caller  # signed in or keyed, like every route
    kinds = catalog.load().kinds
    return json_response(
        {"data": [{"kind": name, "label": kind.label} for name, kind in kinds.items()]}
    )


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
    result["data"] = [_out(row, caller.settings) for row in result["data"]]
    return json_response(result)


@router.post("", status_code=201, response_model=LayoutOut, responses={409: _ERRORS[409]})
async def create_layout(request: Request, caller: CurrentCaller, body: LayoutCreate) -> Response:
    async with caller.db.write() as conn:
        created = await q.create(
            conn,
            caller.user_id,
            name=body.name,
            layout=body.layout.model_dump(),
            max_per_user=caller.settings.max_layouts_per_user,
        )
    _wake_sync(request)
    return _layout(created, caller.settings, 201, Location=f"/v1/layouts/{created['id']}")


@router.get("/{layout_id}", response_model=LayoutOut, responses={404: _ERRORS[404]})
async def get_layout(caller: CurrentCaller, layout_id: LayoutId) -> Response:
    async with caller.db.read() as conn:
        found = await q.get(conn, caller.user_id, layout_id)
    if found is None:
        raise not_found(q.LAYOUT)
    return _layout(found, caller.settings)


@router.patch(
    "/{layout_id}",
    response_model=LayoutOut,
    responses={k: _ERRORS[k] for k in (404, 409, 412, 428)},
)
async def update_layout(
    request: Request,
    caller: CurrentCaller,
    layout_id: LayoutId,
    body: LayoutUpdate,
    if_match: IfMatch = None,
) -> Response:
    expected = expected_version(if_match, body.version, required=True)
    fields = body.model_dump(exclude_unset=True, exclude={"version"})
    async with caller.db.write() as conn:
        updated = await q.update(conn, caller.user_id, layout_id, fields=fields, expected=expected)
    _wake_sync(request)
    return _layout(updated, caller.settings)


@router.delete("/{layout_id}", status_code=204, responses={k: _ERRORS[k] for k in (404, 409, 412)})
async def delete_layout(
    request: Request, caller: CurrentCaller, layout_id: LayoutId, if_match: IfMatch = None
) -> Response:
    expected = expected_version(if_match, None, required=False)
    async with caller.db.write() as conn:
        await q.delete(conn, caller.user_id, layout_id, expected)
    _wake_sync(request)
    return no_content()
