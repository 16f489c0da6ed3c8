"""Filters of the watchlist_api role."""

from __future__ import annotations

from typing import Any


def custom_buckets(users: list[dict[str, Any]], prefix: str, max_series: int) -> dict[str, Any]:
    """{login: {"bucket": <prefix><login>, "max_series": N}} of the people with a
    custom bucket, as BBDASH_API_CUSTOM_BUCKETS gives them to the API: N is the
    person's custom_max_series, else `max_series`."""
    return {
        str(user["login"]): {
            "bucket": f"{prefix}{user['login']}",
            "max_series": int(user.get("custom_max_series") or max_series),
        }
        for user in users or []
        if isinstance(user, dict) and user.get("login")
    }


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"watchlist_api_custom_buckets": custom_buckets}
