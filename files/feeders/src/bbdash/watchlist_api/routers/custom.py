"""/v1/custom: a person's own InfluxDB bucket for their series, and its write tokens.

Each person declared with a custom bucket (``custom_buckets``, from the admin's
``bloomberg_users``) sees that bucket, its series count against the quota, and the
write tokens made for it; they create tokens (shown once) and revoke them. Nobody,
an admin included, sees or touches another person's tokens here. The tokens live in
InfluxDB only (its authorizations, owned by the user bbdash-custom): nothing is
stored in PostgreSQL, so nothing can disagree with InfluxDB.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Path, Request, Response

from bbdash.watchlist_api.auth import Caller, CurrentCaller
from bbdash.watchlist_api.custom_series.influx import (
    Bucket,
    CustomInfluxError,
    TokenMissingError,
    WriteToken,
    description_for,
    owned_tokens,
)
from bbdash.watchlist_api.custom_series.quota import CustomQuota
from bbdash.watchlist_api.metrics import CUSTOM_TOKEN_CHANGES
from bbdash.watchlist_api.problems import ProblemError, conflict, not_found
from bbdash.watchlist_api.responses import json_response, no_content
from bbdash.watchlist_api.schemas.custom import CustomSeries, CustomTokenCreate, CustomTokenCreated
from bbdash.watchlist_api.settings import CustomBucket, Settings

router = APIRouter(prefix="/v1/custom", tags=["custom series"])

TokenId = Annotated[
    str, Path(pattern=r"^[0-9a-f]{16}$", description="The token's InfluxDB authorization ID.")
]
_LOGIN = "SELECT name FROM users WHERE id = %s"
_NOT_CONFIGURED = "custom series are not configured on this dashboard (no InfluxDB URL, org or "
_NOT_CONFIGURED += "token file for them): ask the admin"
_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"description": "No custom bucket for you, or unknown token (or another person's)"},
    409: {"description": "Custom series not configured, or the token limit reached"},
    503: {"description": "InfluxDB unreachable, or its token not there yet"},
}


def _quota(request: Request) -> CustomQuota | None:
    quota: CustomQuota | None = request.app.state.custom_quota
    return quota


async def _login(caller: Caller) -> str:
    async with caller.db.read() as conn:
        row = await (await conn.execute(_LOGIN, (caller.user_id,))).fetchone()
    if row is None:
        raise ProblemError(401, "this user was deleted", kind="unauthorized")
    return str(row[0])


def _declared(settings: Settings, login: str) -> CustomBucket:
    declared = settings.custom_buckets.get(login)
    if declared is None:
        raise ProblemError(
            404,
            f"you ({login}) have no custom bucket: ask the admin to set custom_bucket on your "
            "entry of bloomberg_users",
            kind="no-custom-bucket",
        )
    return declared


@asynccontextmanager
async def _influx(quota: CustomQuota) -> AsyncIterator[None]:
    """InfluxDB's failures as problems: the person can do nothing about them but wait."""
    try:
        yield
    except TokenMissingError as exc:
        raise ProblemError(
            503,
            f"custom series wait for their InfluxDB token ({exc}); the influxdb role writes "
            "it: retry later",
            kind="influxdb-token-missing",
            headers={"Retry-After": "30"},
        ) from None
    except CustomInfluxError as exc:
        if exc.status == 404:
            quota.influx.forget_buckets()
        raise ProblemError(
            503,
            f"InfluxDB cannot serve custom series now: {exc}",
            kind="influxdb-unavailable",
            headers={"Retry-After": "5"},
        ) from None


async def _bucket_and_tokens(
    quota: CustomQuota, login: str, declared: CustomBucket
) -> tuple[Bucket, list[WriteToken]]:
    async with _influx(quota):
        bucket = await quota.influx.bucket(declared.bucket)
        tokens = owned_tokens(await quota.influx.authorizations(bucket.org_id), login, bucket)
    return bucket, tokens


def _write_url(settings: Settings) -> str:
    base = settings.custom_write_url or settings.influxdb_url or ""
    return base.rstrip("/") + "/api/v2/write"


def _shell(text: str) -> str:
    return "'" + text.replace("'", "'\"'\"'") + "'"


def example(settings: Settings, bucket: str, token: str) -> str:
    """A copy-paste curl writing one point (line protocol; InfluxDB stamps it now)."""
    query = f"org={quote(settings.influxdb_org or '', safe='')}&bucket={quote(bucket, safe='')}"
    line = "my_series,source=script value=42.5"
    return (
        f"curl -sS -X POST {_shell(_write_url(settings) + '?' + query)} \\\n"
        f"  -H {_shell('Authorization: Token ' + token)} \\\n"
        "  -H 'Content-Type: text/plain; charset=utf-8' \\\n"
        f"  --data-binary {_shell(line)}\n"
        "# line protocol: <measurement>[,<tag>=<value>...] <field>=<value>[,...] [<time in ns>]"
    )


@router.get("", response_model=CustomSeries, responses={404: _ERRORS[404], 503: _ERRORS[503]})
async def get_custom(request: Request, caller: CurrentCaller) -> Response:
    """Your custom bucket, its series against the quota, and your write tokens."""
    settings = caller.settings
    login = await _login(caller)
    quota = _quota(request)
    if quota is None:
        if login not in settings.custom_buckets:
            raise not_configured(404)
        declared = settings.custom_buckets[login]
        return json_response(
            {
                "configured": False,
                "bucket": declared.bucket,
                "max_series": declared.max_series,
                "series": None,
                "over_quota": False,
                "write_url": None,
                "org": None,
                "tokens": [],
            }
        )
    declared = _declared(settings, login)
    _, tokens = await _bucket_and_tokens(quota, login, declared)
    measure = quota.measures.get(login)
    return json_response(
        {
            "configured": True,
            "bucket": declared.bucket,
            "max_series": declared.max_series,
            "series": None if measure is None else measure.series,
            "over_quota": quota.over_quota(login),
            "write_url": _write_url(settings),
            "org": settings.influxdb_org,
            "tokens": [
                {
                    "id": t.id,
                    "description": t.description,
                    "status": t.status,
                    "created_at": t.created_at,
                }
                for t in tokens
            ],
        }
    )


def not_configured(status: int) -> ProblemError:
    return ProblemError(status, _NOT_CONFIGURED, kind="custom-series-not-configured")


async def _changing(request: Request, caller: Caller) -> tuple[CustomQuota, str, CustomBucket]:
    """What a token change needs: the quota loop (409 when custom series are off), the
    caller's login and their declared bucket (404 without one)."""
    quota = _quota(request)
    if quota is None:
        raise not_configured(409)
    login = await _login(caller)
    return quota, login, _declared(caller.settings, login)


@router.post(
    "/tokens",
    status_code=201,
    response_model=CustomTokenCreated,
    responses={k: _ERRORS[k] for k in (404, 409, 503)},
)
async def create_custom_token(
    request: Request, caller: CurrentCaller, body: CustomTokenCreate
) -> Response:
    """A token that may write to your bucket only, shown once. Over the quota, it is
    created inactive (it becomes active once the bucket is under the quota again)."""
    quota, login, declared = await _changing(request, caller)
    bucket, tokens = await _bucket_and_tokens(quota, login, declared)
    limit = caller.settings.max_custom_tokens_per_user
    if len(tokens) >= limit:
        raise conflict(f"limit reached: at most {limit} write tokens", kind="limit-reached")
    active = not quota.over_quota(login)
    async with _influx(quota):
        token, doc = await quota.influx.create_token(
            bucket, description_for(login, body.description), active=active
        )
    CUSTOM_TOKEN_CHANGES.labels("create").inc()
    created = {
        "id": str(doc["id"]),
        "description": body.description,
        "status": "active" if active else "inactive",
        "token": token,
        "example": example(caller.settings, declared.bucket, token),
    }
    return json_response(created, 201, headers={"Cache-Control": "no-store"})


@router.delete(
    "/tokens/{token_id}", status_code=204, responses={k: _ERRORS[k] for k in (404, 409, 503)}
)
async def delete_custom_token(
    request: Request, caller: CurrentCaller, token_id: TokenId
) -> Response:
    """Revoke one of your write tokens; at once, for good."""
    quota, login, declared = await _changing(request, caller)
    _, tokens = await _bucket_and_tokens(quota, login, declared)
    if not any(t.id == token_id for t in tokens):
        raise not_found("write token")
    async with _influx(quota):
        await quota.influx.delete_token(token_id)
    CUSTOM_TOKEN_CHANGES.labels("delete").inc()
    return no_content()
