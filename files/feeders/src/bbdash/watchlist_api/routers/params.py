"""Path, query and header parameters shared by the routers, with their bounds.

Ids are bounded to PostgreSQL's bigint so an absurd id is a 422, never an
overflow inside the database driver; every query string has a length limit.
"""

from __future__ import annotations

from functools import partial
from typing import Annotated

from fastapi import Depends, Header, Path, Query
from pydantic import AfterValidator

from bbdash.watchlist_api.auth import Authenticator, get_authenticator
from bbdash.watchlist_api.db import Database, get_database
from bbdash.watchlist_api.schemas.common import MAX_ID
from bbdash.watchlist_api.symbols import MAX_SYMBOL_LENGTH
from bbdash.watchlist_api.text import clean_label, clean_name

Limit = Annotated[int, Query(ge=1, le=200, description="Page size.")]
After = Annotated[
    int, Query(ge=0, le=MAX_ID, description="Cursor: return ids greater than this (next_after).")
]


def _clean_prefix(value: str | None) -> str | None:
    # An absent parameter arrives as None; only text goes through the cleaning rules.
    return None if value is None else clean_label(value, max_length=100)


NamePrefix = Annotated[
    str | None,
    Query(min_length=1, max_length=100, description="Names starting with this."),
    AfterValidator(_clean_prefix),
]
SymbolFilter = Annotated[
    str | None,
    Query(
        min_length=1,
        max_length=MAX_SYMBOL_LENGTH,
        pattern=r"^[A-Za-z0-9./=^_-]+$",
        description="Exact normalised symbol, e.g. BTC/USDT.",
    ),
]
SymbolPrefix = Annotated[
    str | None,
    Query(
        min_length=1,
        max_length=MAX_SYMBOL_LENGTH,
        pattern=r"^[A-Za-z0-9./=^_-]+$",
        description="Symbols starting with this.",
    ),
]
SourceFilter = Annotated[
    str | None, Query(min_length=1, max_length=32, pattern=r"^[a-z0-9][a-z0-9_-]*$")
]
IfMatch = Annotated[
    str | None,
    Header(
        max_length=64,
        pattern=r'^(W/)?"v[0-9]{1,10}"$',
        description='ETag from a previous read, e.g. "v3": the write fails with 412 if stale.',
    ),
]
DryRun = Annotated[
    bool, Query(description="Report what would change, change nothing (Ansible check mode).")
]


def _id(description: str) -> object:
    return Path(ge=1, le=MAX_ID, description=description)


WatchlistId = Annotated[int, _id("Watchlist id.")]
ItemId = Annotated[int, _id("Item id.")]
LayoutId = Annotated[int, _id("Layout id.")]
RuleId = Annotated[int, _id("Alert rule id.")]
UserId = Annotated[int, _id("User id.")]
KeyId = Annotated[int, _id("API key id.")]
ResourceName = Annotated[
    str,
    Path(min_length=1, max_length=100, description="The resource's name (unique per user)."),
    AfterValidator(partial(clean_name, max_length=100)),
]


Db = Annotated[Database, Depends(get_database)]
Auth = Annotated[Authenticator, Depends(get_authenticator)]
