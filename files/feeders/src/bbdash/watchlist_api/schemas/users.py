"""Users and their API keys."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, Field, StringConstraints

from bbdash.watchlist_api.schemas.common import (
    InputModel,
    Name,
    OutputModel,
    Version,
    Versioned,
)
from bbdash.watchlist_api.text import clean_label

_USER_NAME = re.compile(r"[a-z0-9][a-z0-9._-]*")


def _user_name(value: str) -> str:
    if not _USER_NAME.fullmatch(value):
        msg = "must be lowercase ASCII letters, digits, '.', '_' or '-', starting alphanumeric"
        raise ValueError(msg)
    return value


UserName = Annotated[
    str,
    StringConstraints(min_length=1, max_length=64, strip_whitespace=True, to_lower=True),
    AfterValidator(_user_name),
]
DisplayName = Annotated[str, StringConstraints(max_length=128), AfterValidator(clean_label)]


class UserCreate(InputModel):
    name: UserName
    display_name: DisplayName = ""


class UserUpdate(InputModel):
    display_name: DisplayName | None = None
    version: Version | None = None


class UserOut(Versioned):
    name: str
    display_name: str
    is_admin: bool


class UserPage(OutputModel):
    data: list[UserOut]
    next_after: int | None


class ApiKeyCreate(InputModel):
    name: Name
    expires_at: datetime | None = Field(
        default=None, strict=False, description="RFC 3339 time; the key is refused after it."
    )


class ApiKeyOut(OutputModel):
    id: int
    user_id: int
    name: str
    prefix: str = Field(description="First characters of the key, to recognise it.")
    created_at: datetime
    expires_at: datetime | None


class ApiKeyCreated(ApiKeyOut):
    key: str = Field(description="The secret key. Shown once; only its hash is stored.")


class ApiKeyPage(OutputModel):
    data: list[ApiKeyOut]
    next_after: int | None
