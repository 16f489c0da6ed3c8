"""A person's custom series: their bucket, its quota, and their write tokens."""

from __future__ import annotations

from functools import partial
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, StringConstraints

from bbdash.watchlist_api.schemas.common import InputModel, OutputModel
from bbdash.watchlist_api.text import clean_name

TOKEN_DESCRIPTION_MAX = 64
TokenDescription = Annotated[
    str,
    StringConstraints(min_length=1, max_length=TOKEN_DESCRIPTION_MAX),
    AfterValidator(partial(clean_name, max_length=TOKEN_DESCRIPTION_MAX)),
]


class CustomTokenCreate(InputModel):
    description: TokenDescription = Field(
        description="What the token is for (e.g. the script's name); 1..64 characters."
    )


class CustomToken(OutputModel):
    id: str = Field(description="InfluxDB's authorization ID.")
    description: str
    status: Literal["active", "inactive"] = Field(
        description="inactive while the bucket is over its series quota."
    )
    created_at: str


class CustomSeries(OutputModel):
    configured: bool = Field(description="False when this dashboard has no InfluxDB for it.")
    bucket: str
    max_series: int
    series: int | None = Field(description="Series in the bucket, last measured; null: not yet.")
    over_quota: bool
    write_url: str | None = Field(description="POST line protocol here with a token.")
    org: str | None
    tokens: list[CustomToken]


class CustomTokenCreated(OutputModel):
    id: str
    description: str
    status: Literal["active", "inactive"]
    token: str = Field(description="Shown once: InfluxDB keeps only its hash.")
    example: str = Field(description="A curl command writing one point with this token.")
