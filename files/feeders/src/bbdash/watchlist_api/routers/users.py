"""/v1/me and /v1/users: accounts and their API keys.

Creating and listing users needs the admin key. A user may read and edit only
their own account and keys: any other user id answers 404, as if it did not
exist.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from bbdash.watchlist_api.auth import AdminCaller, Caller, CurrentCaller
from bbdash.watchlist_api.concurrency import expected_version
from bbdash.watchlist_api.problems import not_found
from bbdash.watchlist_api.queries import users as q
from bbdash.watchlist_api.responses import json_response, no_content
from bbdash.watchlist_api.routers.params import (
    After,
    Auth,
    IfMatch,
    KeyId,
    Limit,
    NamePrefix,
    UserId,
)
from bbdash.watchlist_api.schemas.users import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyPage,
    UserCreate,
    UserOut,
    UserPage,
    UserUpdate,
)

router = APIRouter(tags=["users"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    403: {"description": "Needs the admin key"},
    404: {"description": "Unknown id, or another user's"},
    409: {"description": "Duplicate, stale version, limit reached or protected user"},
    412: {"description": "If-Match does not match the current version"},
    428: {"description": "Neither If-Match nor version was sent"},
}


def _visible(caller: Caller, user_id: int) -> None:
    if not caller.is_admin and caller.user_id != user_id:
        raise not_found(q.USER)


def _user(data: dict[str, Any], status: int = 200, **headers: str) -> Response:
    return json_response(data, status, version=data["version"], headers=headers)


@router.get("/v1/me", response_model=UserOut)
async def who_am_i(caller: CurrentCaller) -> Response:
    async with caller.db.read() as conn:
        user = await q.get(conn, caller.user_id)
    if user is None:  # deleted while its key was cached
        raise not_found(q.USER)
    return _user(user)


@router.get("/v1/users", response_model=UserPage, responses={403: _ERRORS[403]})
async def list_users(
    caller: AdminCaller,
    limit: Limit = 50,
    after: After = 0,
    name_prefix: NamePrefix = None,
) -> Response:
    async with caller.db.read() as conn:
        result = await q.list_users(conn, after=after, limit=limit, name_prefix=name_prefix)
    return json_response(result)


@router.post(
    "/v1/users",
    status_code=201,
    response_model=UserOut,
    responses={k: _ERRORS[k] for k in (403, 409)},
)
async def create_user(caller: AdminCaller, body: UserCreate) -> Response:
    async with caller.db.write() as conn:
        user = await q.create(conn, name=body.name, display_name=body.display_name)
    return _user(user, 201, Location=f"/v1/users/{user['id']}")


@router.get("/v1/users/{user_id}", response_model=UserOut, responses={404: _ERRORS[404]})
async def get_user(caller: CurrentCaller, user_id: UserId) -> Response:
    _visible(caller, user_id)
    async with caller.db.read() as conn:
        user = await q.get(conn, user_id)
    if user is None:
        raise not_found(q.USER)
    return _user(user)


@router.patch(
    "/v1/users/{user_id}",
    response_model=UserOut,
    responses={k: _ERRORS[k] for k in (404, 409, 412, 428)},
)
async def update_user(
    caller: CurrentCaller,
    user_id: UserId,
    body: UserUpdate,
    if_match: IfMatch = None,
) -> Response:
    _visible(caller, user_id)
    expected = expected_version(if_match, body.version, required=True)
    async with caller.db.write() as conn:
        user = await q.update(conn, user_id, display_name=body.display_name, expected=expected)
    return _user(user)


@router.delete(
    "/v1/users/{user_id}",
    status_code=204,
    responses={k: _ERRORS[k] for k in (403, 404, 409, 412)},
)
async def delete_user(
    caller: AdminCaller, auth: Auth, user_id: UserId, if_match: IfMatch = None
) -> Response:
    """Delete a user and everything they own (watchlists, rules, layouts, keys)."""
    expected = expected_version(if_match, None, required=False)
    async with caller.db.write() as conn:
        await q.delete(conn, user_id, expected)
    auth.forget_all()
    return no_content()


@router.get(
    "/v1/users/{user_id}/api-keys", response_model=ApiKeyPage, responses={404: _ERRORS[404]}
)
async def list_api_keys(
    caller: CurrentCaller, user_id: UserId, limit: Limit = 50, after: After = 0
) -> Response:
    _visible(caller, user_id)
    async with caller.db.read() as conn:
        if await q.get(conn, user_id) is None:
            raise not_found(q.USER)
        result = await q.list_keys(conn, user_id, after=after, limit=limit)
    return json_response(result)


@router.post(
    "/v1/users/{user_id}/api-keys",
    status_code=201,
    response_model=ApiKeyCreated,
    responses={k: _ERRORS[k] for k in (404, 409)},
)
async def create_api_key(
    caller: CurrentCaller,
    user_id: UserId,
    body: ApiKeyCreate,
) -> Response:
    """Create a key; the response is the only time its secret is shown."""
    _visible(caller, user_id)
    async with caller.db.write() as conn:
        key = await q.create_key(
            conn,
            user_id,
            name=body.name,
            expires_at=body.expires_at,
            max_per_user=caller.settings.max_api_keys_per_user,
        )
    location = f"/v1/users/{user_id}/api-keys/{key['id']}"
    return json_response(key, 201, headers={"Location": location, "Cache-Control": "no-store"})


@router.delete(
    "/v1/users/{user_id}/api-keys/{key_id}", status_code=204, responses={404: _ERRORS[404]}
)
async def delete_api_key(
    caller: CurrentCaller, auth: Auth, user_id: UserId, key_id: KeyId
) -> Response:
    """Revoke a key (at once on this instance; within auth_cache_seconds on others)."""
    _visible(caller, user_id)
    async with caller.db.write() as conn:
        await q.delete_key(conn, user_id, key_id)
    auth.forget_all()
    return no_content()
