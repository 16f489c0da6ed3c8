"""Users and their API keys."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from functools import partial
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, BeforeValidator, Field, StringConstraints

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
    StringConstraints(min_length=1, max_length=64, to_lower=True),
    AfterValidator(_user_name),
    Field(json_schema_extra={"pattern": r"^[A-Za-z0-9][A-Za-z0-9._-]*$"}),
]


def _rfc3339_text(value: object) -> object:
    # Strict: pydantic would otherwise read 0 or 1.7e9 as a Unix time, which the OpenAPI
    # document (format date-time) does not promise.
    if not isinstance(value, str):
        msg = "must be an RFC 3339 date-time string with a UTC offset"
        raise ValueError(msg)  # pydantic reports a ValueError (not a TypeError) as a 422
    return value


def _in_the_future(value: datetime) -> datetime:
    # A key born expired could never be used: almost certainly a typo in the year.
    if value <= datetime.now(UTC):
        raise ValueError("is not in the future: the key would be expired already")
    return value


ExpiresAt = Annotated[
    AwareDatetime,
    BeforeValidator(_rfc3339_text),
    AfterValidator(_in_the_future),
    Field(
        strict=False,
        description="RFC 3339 time with offset, in the future; the key is refused after it.",
    ),
]
DisplayName = Annotated[
    str, StringConstraints(max_length=128), AfterValidator(partial(clean_label, max_length=128))
]


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
    expires_at: ExpiresAt | None = None


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
