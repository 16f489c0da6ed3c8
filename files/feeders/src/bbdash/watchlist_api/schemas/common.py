"""Field types and envelopes shared by every resource."""

from __future__ import annotations

from datetime import datetime
from functools import partial
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from bbdash.watchlist_api.text import clean_name, clean_text

MAX_ID = 2**63 - 1

# Lengths are checked before the cleaning validators run, so a 10 MB string is refused
# by a cheap length test, not walked character by character; the cleaning checks the
# length again after NFC, which can make a string longer.
NAME_MAX = 100
DESCRIPTION_MAX = 1000
Name = Annotated[
    str,
    StringConstraints(min_length=1, max_length=NAME_MAX),
    AfterValidator(partial(clean_name, max_length=NAME_MAX)),
]
Description = Annotated[
    str,
    StringConstraints(max_length=DESCRIPTION_MAX),
    AfterValidator(partial(clean_text, max_length=DESCRIPTION_MAX)),
]
Version = Annotated[int, Field(ge=1, le=2**31 - 1, description="Version the client last read.")]
Id = Annotated[int, Field(ge=1, le=MAX_ID)]


class InputModel(BaseModel):
    """Request bodies: unknown fields are refused (a typo must not be silently ignored) and
    types are strict (the string "true" is not a boolean, "12" is not a number)."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


class OutputModel(BaseModel):
    """Response bodies, documented in the OpenAPI document; handlers build them as dicts."""

    model_config = ConfigDict(extra="forbid")


class Versioned(OutputModel):
    id: int
    version: int = Field(description="Increments on every change; send it back as If-Match.")
    created_at: datetime
    updated_at: datetime


class Page(OutputModel):
    """Keyset pagination: pass ``next_after`` as ``after`` to get the following page."""

    data: list[Any]
    next_after: int | None = Field(description="Cursor for the next page, null on the last one.")


class SyncResult(OutputModel):
    """Answer of the declarative ``PUT .../by-name/{name}`` endpoints."""

    changed: bool = Field(description="True when the stored state differs from before the call.")
    created: bool = Field(description="True when the resource did not exist before.")
    dry_run: bool
