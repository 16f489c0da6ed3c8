"""The dashboards' watchlist and symbol variables (issue 11, item 3), run on a real
PostgreSQL with the API's schema, interpolated the way Grafana does it.

Grafana replaces `${__user.login:sqlstring}` and `${watchlist:sqlstring}` by the
value in single quotes, quotes doubled (public/app/features/templating/formatRegistry:
"sqlstring"), then sends the text. The variables select, they do not protect: the
read-only role reads every user's rows (docs/contracts.md).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import psycopg
import pytest
from api_support import ApiUser
from fastapi.testclient import TestClient

BOARDS = Path(__file__).resolve().parents[3] / "roles/grafana/files/dashboards"


def _sqlstring(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _interpolate(sql: str, **values: str) -> str:
    return re.sub(
        r"\$\{(__user\.login|watchlist|asset_type):sqlstring\}",
        lambda m: values[m[1].replace("__user.", "")],
        sql,
    )


def _variables(board: str) -> dict[str, str]:
    listed = json.loads((BOARDS / board).read_text())["templating"]["list"]
    return {v["name"]: v["query"] for v in listed if isinstance(v["query"], str)}


def _rows(dsn: str, sql: str) -> list[tuple[str, ...]]:
    with psycopg.connect(dsn) as conn:
        return [tuple(r) for r in conn.execute(sql).fetchall()]  # type: ignore[arg-type]


@pytest.fixture
def desks(client: TestClient, alice: ApiUser, bob: ApiUser) -> None:
    for user, name, items in (
        (alice, "Tech", [("AAPL", "stock"), ("NVDA", "stock"), ("BTC/USDT", "crypto")]),
        (alice, "Crypto", [("ETH/USDT", "crypto")]),
        (bob, "Bob's FX", [("EURUSD=X", "forex"), ("TSLA", "stock")]),
    ):
        created = client.post(
            "/v1/watchlists",
            json={"name": name, "items": [{"symbol": s, "asset_type": t} for s, t in items]},
            headers=user.headers,
        )
        assert created.status_code == 201, created.text


@pytest.mark.usefixtures("desks")
def test_the_logged_in_users_watchlists_come_first(
    api_dsn: str, client: TestClient, alice: ApiUser
) -> None:
    watchlist = _variables("crypto.json")["watchlist"]
    # Grafana logins compare case-insensitively, like the API's user names. Their own
    # order: creation order until they reorder.
    rows = _rows(api_dsn, _interpolate(watchlist, login=_sqlstring("Alice")))
    assert rows == [("Tech", "Tech"), ("Crypto", "Crypto"), ("Every watched symbol", "__collected")]
    listed = client.get("/v1/watchlists", headers=alice.headers).json()["data"]
    tech, crypto = listed
    for moved, to in ((tech, crypto["position"]), (crypto, tech["position"])):
        swapped = client.patch(
            f"/v1/watchlists/{moved['id']}",
            json={"position": to, "version": moved["version"]},
            headers=alice.headers,
        )
        assert swapped.status_code == 200, swapped.text
    rows = _rows(api_dsn, _interpolate(watchlist, login=_sqlstring("alice")))
    assert rows == [("Crypto", "Crypto"), ("Tech", "Tech"), ("Every watched symbol", "__collected")]
    bob = _rows(api_dsn, _interpolate(watchlist, login=_sqlstring("bob")))
    assert bob == [("Bob's FX", "Bob's FX"), ("Every watched symbol", "__collected")]
    # A Grafana user with no API user (or no watchlist) gets the fallback only, and a
    # login with a quote is a value, not SQL.
    for login in ("viewer", "o'brien"):
        rows = _rows(api_dsn, _interpolate(watchlist, login=_sqlstring(login)))
        assert rows == [("Every watched symbol", "__collected")]


@pytest.mark.usefixtures("desks")
@pytest.mark.parametrize(
    ("board", "variable", "login", "watchlist", "expected"),
    [
        ("crypto.json", "symbol", "alice", "Tech", ["BTC/USDT"]),
        ("crypto.json", "symbol", "alice", "__collected", ["BTC/USDT", "ETH/USDT"]),
        ("stocks-and-forex.json", "symbol", "alice", "Tech", ["AAPL", "NVDA"]),
        ("stocks-and-forex.json", "pair", "bob", "Bob's FX", ["EURUSD=X"]),
        ("asset-detail.json", "symbol", "alice", "Tech", ["AAPL", "BTC/USDT", "NVDA"]),
        # Another user's watchlist named in the URL: it is not the logged-in user's.
        ("asset-detail.json", "symbol", "alice", "Bob's FX", []),
        (
            "news-and-sentiment.json",
            "symbol",
            "bob",
            "__collected",
            ["AAPL", "BTC/USDT", "ETH/USDT", "EURUSD=X", "NVDA", "TSLA"],
        ),
    ],
)
def test_symbols_follow_the_selected_watchlist(
    api_dsn: str, board: str, variable: str, login: str, watchlist: str, expected: list[str]
) -> None:
    sql = _interpolate(
        _variables(board)[variable], login=_sqlstring(login), watchlist=_sqlstring(watchlist)
    )
    assert [r[0] for r in _rows(api_dsn, sql)] == expected


@pytest.mark.usefixtures("desks")
def test_the_overview_narrows_by_asset_type(api_dsn: str) -> None:
    sql = _interpolate(
        _variables("market-overview.json")["symbol"],
        login=_sqlstring("alice"),
        watchlist=_sqlstring("Tech"),
        asset_type="'stock','index'",
    )
    assert [r[0] for r in _rows(api_dsn, sql)] == ["AAPL", "NVDA"]


def test_a_disabled_watchlist_is_not_offered(
    client: TestClient, alice: ApiUser, api_dsn: str
) -> None:
    created = client.post(
        "/v1/watchlists",
        json={"name": "Old", "enabled": False, "items": [{"symbol": "IBM", "asset_type": "stock"}]},
        headers=alice.headers,
    )
    assert created.status_code == 201, created.text
    watchlist = _variables("crypto.json")["watchlist"]
    assert _rows(api_dsn, _interpolate(watchlist, login=_sqlstring("alice"))) == [
        ("Every watched symbol", "__collected")
    ]
