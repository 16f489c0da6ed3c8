"""Dashboard layouts: a user's preferences as a bounded JSON object."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from pydantic import AfterValidator, Field

from bbdash.watchlist_api.schemas.common import InputModel, Name, OutputModel, Version, Versioned
from bbdash.watchlist_api.text import check_json_document

MAX_LAYOUT_BYTES = 64 * 1024


def _bounded_document(value: dict[str, Any]) -> dict[str, Any]:
    check_json_document(value)
    size = len(orjson.dumps(value))
    if size > MAX_LAYOUT_BYTES:
        msg = f"is {size} bytes serialised; the limit is {MAX_LAYOUT_BYTES}"
        raise ValueError(msg)
    return value


LayoutDocument = Annotated[
    dict[str, Any],
    AfterValidator(_bounded_document),
    Field(description=f"Any JSON object up to {MAX_LAYOUT_BYTES} bytes, 16 levels deep."),
]


class LayoutCreate(InputModel):
    name: Name
    layout: LayoutDocument


class LayoutUpdate(InputModel):
    name: Name | None = None
    layout: LayoutDocument | None = None
    version: Version | None = None


class LayoutOut(Versioned):
    name: str
    layout: dict[str, Any]


class LayoutPage(OutputModel):
    data: list[LayoutOut]
    next_after: int | None
