"""Hostile input: every request here must get a clear 4xx problem document, never a
5xx, and must leave every table exactly as it was."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from api_support import (
    LAYOUT,
    ApiUser,
    admin_user,
    assert_problem,
    clone_database,
    dump_tables,
    make_settings,
    make_user,
    make_watchlist,
)
from bbdash.watchlist_api.app import create_app
from fastapi.testclient import TestClient
from postgres_server import drop_database

LIMIT = 256 * 1024  # the default BBDASH_API_MAX_BODY_BYTES


def _item(symbol: Any, asset_type: Any = "stock", **extra: Any) -> dict[str, Any]:
    return {"symbol": symbol, "asset_type": asset_type, **extra}


def _rule(**changes: Any) -> dict[str, Any]:
    base = {
        "name": "r",
        "symbol": "AAPL",
        "asset_type": "stock",
        "condition": "above",
        "threshold": 100,
        "channels": ["email"],
    }
    return {**base, **changes}


# (id, method, path, request kwargs, expected status). "{wid}" is Alice's watchlist.
CASES: list[tuple[str, str, str, dict[str, Any], int]] = [
    # --- body size and syntax
    (
        "oversized-declared",
        "POST",
        "/v1/watchlists",
        {"content": b"{" + b" " * (LIMIT + 10) + b"}"},
        413,
    ),
    (
        "oversized-chunked",
        "POST",
        "/v1/watchlists",
        {"content": iter([b" " * 65536] * 6)},
        413,
    ),
    (
        "oversized-layout-body",
        "POST",
        "/v1/layouts",
        {"json": {"name": "l", "layout": {"x": "y" * LIMIT}}},
        413,
    ),
    (
        "malformed-json",
        "POST",
        "/v1/watchlists",
        {"content": b'{"name": "x",', "headers": {"Content-Type": "application/json"}},
        400,
    ),
    (
        "invalid-utf8",
        "POST",
        "/v1/watchlists",
        {
            "content": b'{"name": "\xff\xfe"}',
            "headers": {"Content-Type": "application/json"},
        },
        400,
    ),
    (
        "deep-nesting",
        "POST",
        "/v1/layouts",
        {
            "content": b'{"name":"l","layout":' + b"[" * 100_000 + b"]" * 100_000 + b"}",
            "headers": {"Content-Type": "application/json"},
        },
        400,
    ),
    ("json-array", "POST", "/v1/watchlists", {"json": [1, 2, 3]}, 422),
    ("json-null", "POST", "/v1/watchlists", {"json": None}, 422),
    (
        "not-json-content-type",
        "POST",
        "/v1/watchlists",
        {
            "content": b"name=x",
            "headers": {"Content-Type": "application/x-www-form-urlencoded"},
        },
        422,
    ),
    (
        "empty-body",
        "POST",
        "/v1/watchlists",
        {"content": b"", "headers": {"Content-Type": "application/json"}},
        422,
    ),
    # --- wrong types (strict: no silent coercion)
    ("name-number", "POST", "/v1/watchlists", {"json": {"name": 123}}, 422),
    (
        "enabled-string",
        "POST",
        "/v1/watchlists",
        {"json": {"name": "x", "enabled": "yes"}},
        422,
    ),
    (
        "items-string",
        "POST",
        "/v1/watchlists",
        {"json": {"name": "x", "items": "AAPL"}},
        422,
    ),
    (
        "item-symbol-list",
        "POST",
        "/v1/watchlists/{wid}/items",
        {"json": _item(["AAPL"])},
        422,
    ),
    (
        "threshold-string",
        "POST",
        "/v1/alert-rules",
        {"json": _rule(threshold="100")},
        422,
    ),
    (
        "threshold-nan",
        "POST",
        "/v1/alert-rules",
        {
            "content": b'{"name":"r","symbol":"AAPL","asset_type":"stock","condition":"above","threshold":NaN,"channels":["email"]}',
            "headers": {"Content-Type": "application/json"},
        },
        422,
    ),
    (
        "threshold-infinity",
        "POST",
        "/v1/alert-rules",
        {
            "content": b'{"name":"r","symbol":"AAPL","asset_type":"stock","condition":"above","threshold":1e999,"channels":["email"]}',
            "headers": {"Content-Type": "application/json"},
        },
        422,
    ),
    (
        "channels-string",
        "POST",
        "/v1/alert-rules",
        {"json": _rule(channels="email")},
        422,
    ),
    (
        "version-huge",
        "PATCH",
        "/v1/watchlists/{wid}",
        {"json": {"name": "x", "version": 2**70}},
        422,
    ),
    (
        "unknown-field",
        "POST",
        "/v1/watchlists",
        {"json": {"name": "x", "owner_id": 1}},
        422,
    ),
    (
        "layout-nul-key",
        "POST",
        "/v1/layouts",
        {"json": {"name": "l", "layout": {"a\u0000": 1}}},
        422,
    ),
    (
        "layout-surrogate",
        "POST",
        "/v1/layouts",
        {
            "content": b'{"name":"l","layout":{"a":"\\ud800"}}',
            "headers": {"Content-Type": "application/json"},
        },
        422,
    ),
    (
        "expires-garbage",
        "POST",
        "/v1/users/{uid}/api-keys",
        {"json": {"name": "k", "expires_at": "tomorrow"}},
        422,
    ),
    # --- unicode tricks
    ("name-nul", "POST", "/v1/watchlists", {"json": {"name": "evil\u0000name"}}, 422),
    (
        "name-rtl-override",
        "POST",
        "/v1/watchlists",
        {"json": {"name": "invoice\u202egpj.exe"}},
        422,
    ),
    (
        "name-zero-width",
        "POST",
        "/v1/watchlists",
        {"json": {"name": "ad\u200bmin"}},
        422,
    ),
    (
        "name-lone-surrogate",
        "POST",
        "/v1/watchlists",
        {
            "content": b'{"name":"a\\udc80"}',
            "headers": {"Content-Type": "application/json"},
        },
        422,
    ),
    ("name-only-spaces", "POST", "/v1/watchlists", {"json": {"name": "   "}}, 422),
    ("name-too-long", "POST", "/v1/watchlists", {"json": {"name": "n" * 101}}, 422),
    ("name-slash", "POST", "/v1/watchlists", {"json": {"name": "a/b"}}, 422),
    (
        "description-nul",
        "POST",
        "/v1/watchlists",
        {"json": {"name": "x", "description": "a\u0000b"}},
        422,
    ),
    (
        "symbol-cyrillic-homoglyph",
        "POST",
        "/v1/watchlists/{wid}/items",
        {"json": _item("\u0410APL")},
        422,
    ),
    (
        "symbol-fullwidth",
        "POST",
        "/v1/watchlists/{wid}/items",
        {"json": _item("\uff21\uff21\uff30\uff2c")},
        422,
    ),
    (
        "symbol-greek-crypto",
        "POST",
        "/v1/watchlists/{wid}/items",
        {"json": _item("\u0392TC/USDT", "crypto")},
        422,
    ),
    (
        "symbol-nul",
        "POST",
        "/v1/watchlists/{wid}/items",
        {"json": _item("AAPL\u0000")},
        422,
    ),
    (
        "symbol-rtl",
        "POST",
        "/v1/watchlists/{wid}/items",
        {"json": _item("\u202eLPAA")},
        422,
    ),
    ("symbol-empty", "POST", "/v1/watchlists/{wid}/items", {"json": _item("")}, 422),
    (
        "symbol-too-long",
        "POST",
        "/v1/watchlists/{wid}/items",
        {"json": _item("A" * 40)},
        422,
    ),
    (
        "asset-type-unknown",
        "POST",
        "/v1/watchlists/{wid}/items",
        {"json": _item("AAPL", "bond")},
        422,
    ),
    (
        "forex-same-currency",
        "POST",
        "/v1/watchlists/{wid}/items",
        {"json": _item("USDUSD", "forex")},
        422,
    ),
    (
        "source-unicode",
        "POST",
        "/v1/watchlists/{wid}/items",
        {"json": _item("AAPL", source="y\u0430hoo")},
        422,
    ),
    (
        "user-name-homoglyph",
        "POST",
        "/v1/users",
        {"json": {"name": "\u0430dmin"}, "as_admin": True},
        422,
    ),
    # --- injection strings where they are not valid values
    (
        "symbol-sql",
        "POST",
        "/v1/watchlists/{wid}/items",
        {"json": _item("AAPL'; DROP TABLE users;--")},
        422,
    ),
    (
        "symbol-sql-filter",
        "GET",
        "/v1/watchlists",
        {"params": {"symbol": "' OR 1=1 --"}},
        422,
    ),
    ("path-sql", "GET", "/v1/watchlists/1 OR 1=1", {}, 422),
    (
        "source-sql-filter",
        "GET",
        "/v1/watchlists/{wid}/items",
        {"params": {"source": "x' OR '1'='1"}},
        422,
    ),
    # --- ids, paging and headers out of range
    ("id-zero", "GET", "/v1/watchlists/0", {}, 422),
    ("id-negative", "DELETE", "/v1/watchlists/-1", {}, 422),
    ("id-overflow", "GET", "/v1/watchlists/99999999999999999999", {}, 422),
    ("id-float", "GET", "/v1/watchlists/1.5", {}, 422),
    ("id-unknown", "DELETE", "/v1/watchlists/9223372036854775807", {}, 404),
    ("item-id-unknown", "DELETE", "/v1/watchlists/{wid}/items/424242", {}, 404),
    ("limit-huge", "GET", "/v1/watchlists", {"params": {"limit": 1_000_000}}, 422),
    ("limit-text", "GET", "/v1/watchlists", {"params": {"limit": "ten"}}, 422),
    ("after-negative", "GET", "/v1/watchlists", {"params": {"after": -5}}, 422),
    (
        "prefix-nul",
        "GET",
        "/v1/watchlists",
        {"params": {"name_prefix": "a\u0000"}},
        422,
    ),
    (
        "prefix-too-long",
        "GET",
        "/v1/layouts",
        {"params": {"name_prefix": "p" * 500}},
        422,
    ),
    (
        "if-match-garbage",
        "PATCH",
        "/v1/watchlists/{wid}",
        {"json": {"name": "x"}, "headers": {"If-Match": "garbage"}},
        422,
    ),
    (
        "if-match-star",
        "DELETE",
        "/v1/watchlists/{wid}",
        {"headers": {"If-Match": "*"}},
        422,
    ),
    (
        "if-match-stale",
        "DELETE",
        "/v1/watchlists/{wid}",
        {"headers": {"If-Match": '"v99"'}},
        412,
    ),
    (
        "if-match-body-disagree",
        "PATCH",
        "/v1/watchlists/{wid}",
        {"json": {"name": "x", "version": 2}, "headers": {"If-Match": '"v1"'}},
        400,
    ),
    ("no-precondition", "PATCH", "/v1/watchlists/{wid}", {"json": {"name": "x"}}, 428),
    (
        "by-name-nul",
        "PUT",
        "/v1/watchlists/by-name/a%00b",
        {"json": {"items": []}},
        422,
    ),
    (
        "by-name-rtl",
        "PUT",
        "/v1/watchlists/by-name/a%E2%80%AEb",
        {"json": {"items": []}},
        422,
    ),
    ("unknown-route", "GET", "/v1/nothing-here", {}, 404),
    ("wrong-method", "PUT", "/v1/watchlists", {"json": {}}, 405),
]


@pytest.fixture(scope="module")
def hostile(
    pg_admin_dsn: str,
    api_template: str,
    secrets_dir: Path,
    admin_key: str,
    metrics_token: str,
) -> Iterator[dict[str, Any]]:
    """One database, app and set of users for the whole module: every case must leave
    the tables exactly as they were (asserted), so sharing them is safe and saves a
    database per case."""
    del metrics_token
    name = "api_hostile"
    dsn = clone_database(pg_admin_dsn, api_template, name)
    with TestClient(create_app(make_settings(dsn, secrets_dir))) as client:
        admin = admin_user(client, admin_key)
        alice = make_user(client, admin, "alice")
        bob = make_user(client, admin, "bob")
        wl = make_watchlist(client, alice)
        make_watchlist(client, bob, "bob's")
        yield {
            "client": client,
            "dsn": dsn,
            "admin": admin,
            "alice": alice,
            "ids": {"wid": wl["id"], "uid": alice.id},
        }
    drop_database(pg_admin_dsn, name)


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_hostile_request_is_refused_cleanly(
    hostile: dict[str, Any], method: str, path: str, kwargs: dict[str, Any], status: int
) -> None:
    client: TestClient = hostile["client"]
    before = dump_tables(hostile["dsn"])
    kwargs = dict(kwargs)
    caller: ApiUser = hostile["admin"] if kwargs.pop("as_admin", False) else hostile["alice"]
    headers = {**caller.headers, **kwargs.pop("headers", {})}
    response = client.request(method, path.format(**hostile["ids"]), headers=headers, **kwargs)
    body = assert_problem(response, status)
    if status == 422:
        # Validation errors name what was wrong.
        assert body["errors"], body
        assert all(e["field"] for e in body["errors"])
    assert dump_tables(hostile["dsn"]) == before


def test_injection_text_in_a_valid_name_is_stored_verbatim(
    client: TestClient, alice: ApiUser, api_dsn: str
) -> None:
    # Names are free text: a SQL-looking one is just a name (parameters, never string SQL).
    name = "x'); DROP TABLE watchlists; --"
    created = client.post("/v1/watchlists", json={"name": name}, headers=alice.headers)
    assert created.status_code == 201
    assert created.json()["name"] == name
    assert client.get(
        "/v1/watchlists", params={"name_prefix": "x');"}, headers=alice.headers
    ).json()["data"]
    assert len(dump_tables(api_dsn)["watchlists"]) == 1


def test_non_latin_names_are_welcome(client: TestClient, alice: ApiUser) -> None:
    # Refusing invisible characters must not refuse other alphabets in names.
    for name in ("Actions françaises", "日本株", "Крипто", "مؤشرات"):
        response = client.post("/v1/watchlists", json={"name": name}, headers=alice.headers)
        assert response.status_code == 201, (name, response.text)
        assert response.json()["name"] == name


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/v1/watchlists", {"name": "\u0958" * 60}, "name"),
        ("/v1/watchlists", {"name": "w", "description": "\u0958" * 600}, "description"),
        ("/v1/layouts", {"name": "\u0958" * 60, "layout": LAYOUT}, "name"),
    ],
)
def test_a_name_that_nfc_makes_too_long_is_a_422_naming_its_field(
    client: TestClient, alice: ApiUser, path: str, body: dict[str, object], field: str
) -> None:
    """U+0958 is one code point in, two after NFC: 60 of them pass the schema's length
    test (100) and become 120. The hostile-input review found the database's limit
    answering a generic 422 with no field; the cleaning now checks the length again."""
    response = client.post(path, json=body, headers=alice.headers)
    problem = assert_problem(response, 422)
    assert problem["errors"][0]["field"] == field
    assert "once normalised (NFC)" in problem["errors"][0]["detail"]
