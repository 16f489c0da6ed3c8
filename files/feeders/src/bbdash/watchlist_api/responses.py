"""JSON responses rendered with orjson, bypassing FastAPI's response_model pass.

Handlers return dicts already shaped like the documented models (the schemathesis
suite checks them against the OpenAPI document), so validating them again on
every response would only cost time on the hot path.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from fastapi.responses import Response

from bbdash.watchlist_api.concurrency import etag


def json_response(
    content: Any,
    status: int = 200,
    *,
    version: int | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    all_headers = dict(headers) if headers else {}
    if version is not None:
        all_headers["ETag"] = etag(version)
    return Response(
        orjson.dumps(content),
        status_code=status,
        media_type="application/json",
        headers=all_headers,
    )


def no_content() -> Response:
    return Response(status_code=204)
