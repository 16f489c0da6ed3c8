"""GET /v1/symbols/check: what a symbol becomes, where it is listed and which feeder
sources collect it, before anything is saved (the desk page asks it as one types)."""

from __future__ import annotations

from pathlib import Path

import pytest
from api_support import ApiUser, assert_problem, make_settings
from bbdash.watchlist_api.app import create_app
from bbdash.watchlist_api.routers.symbols import exchange_label
from bbdash.watchlist_api.settings import DEFAULT_SYMBOL_SOURCES, Settings
from fastapi.testclient import TestClient

PATH = "/v1/symbols/check"


def check(client: TestClient, user: ApiUser, asset_type: str, symbol: str) -> dict[str, object]:
    response = client.get(
        PATH, params={"asset_type": asset_type, "symbol": symbol}, headers=user.headers
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    body: dict[str, object] = response.json()
    return body


@pytest.mark.parametrize(
    ("asset_type", "raw", "symbol", "exchange", "sources"),
    [
        ("crypto", "btc-usdt", "BTC/USDT", "USDT", ["binance", "coingecko"]),
        ("crypto", "ETHBTC", "ETH/BTC", "BTC", ["binance", "coingecko"]),
        ("stock", " aapl ", "AAPL", "US", ["yahoo", "alphavantage"]),
        ("stock", "brk-b", "BRK-B", "US", ["yahoo", "alphavantage"]),
        ("stock", "mc.pa", "MC.PA", "Euronext Paris", ["yahoo", "alphavantage"]),
        ("stock", "VOD.L", "VOD.L", "London", ["yahoo", "alphavantage"]),
        ("stock", "sap.de", "SAP.DE", "XETRA", ["yahoo", "alphavantage"]),
        ("stock", "ABC.ZZ", "ABC.ZZ", None, ["yahoo", "alphavantage"]),
        ("forex", "eur/usd", "EURUSD=X", "FX", ["yahoo", "exchangerate", "alphavantage"]),
        ("forex", "GBPJPY", "GBPJPY=X", "FX", ["yahoo", "exchangerate", "alphavantage"]),
        ("index", "gspc", "^GSPC", "Index", ["yahoo"]),
        ("index", "000001.SS", "000001.SS", "Shanghai", ["yahoo"]),
    ],
)
def test_a_symbol_is_normalised_labelled_and_routed(
    client: TestClient,
    alice: ApiUser,
    asset_type: str,
    raw: str,
    symbol: str,
    exchange: str | None,
    sources: list[str],
) -> None:
    assert check(client, alice, asset_type, raw) == {
        "symbol": symbol,
        "asset_type": asset_type,
        "exchange": exchange,
        "sources": sources,
        "collectable": True,
    }


@pytest.mark.parametrize(
    ("asset_type", "raw", "words"),
    [
        ("crypto", "BTC", "BASE/QUOTE"),
        ("crypto", "btc/btc", "two different"),
        ("forex", "EUR", "currency pair"),
        ("stock", "A\u0410PL", "look-alike"),  # a Cyrillic A
        ("stock", "A" * 40, "longer than 32"),
        ("index", "^^", "index"),
    ],
)
def test_a_symbol_that_cannot_be_one_is_a_422_naming_the_field(
    client: TestClient, alice: ApiUser, asset_type: str, raw: str, words: str
) -> None:
    response = client.get(
        PATH, params={"asset_type": asset_type, "symbol": raw}, headers=alice.headers
    )
    problem = assert_problem(response, 422)
    assert problem["type"] == "urn:bbdash:problem:validation-error"
    assert problem["errors"] == [
        {"in": "query", "field": "symbol", "detail": problem["errors"][0]["detail"]}
    ]
    assert words in problem["errors"][0]["detail"]
    assert problem["detail"].startswith("symbol: ")


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"asset_type": "bond", "symbol": "AAPL"}, "asset_type"),
        ({"symbol": "AAPL"}, "asset_type"),
        ({"asset_type": "stock"}, "symbol"),
        ({"asset_type": "stock", "symbol": ""}, "symbol"),
        ({"asset_type": "stock", "symbol": "A" * 300}, "symbol"),
    ],
)
def test_a_missing_or_unknown_parameter_is_a_422_naming_it(
    client: TestClient, alice: ApiUser, params: dict[str, str], field: str
) -> None:
    problem = assert_problem(client.get(PATH, params=params, headers=alice.headers), 422)
    assert [e["field"] for e in problem["errors"]] == [field]
    assert problem["errors"][0]["in"] == "query"


def test_the_check_needs_a_caller(client: TestClient) -> None:
    response = client.get(PATH, params={"asset_type": "stock", "symbol": "AAPL"})
    assert assert_problem(response, 401)["type"].endswith("unauthorized")


def test_the_setting_overrides_which_sources_collect_what(
    api_dsn: str, secrets_dir: Path, admin_key: str, metrics_token: str
) -> None:
    del metrics_token
    settings = make_settings(
        api_dsn,
        secrets_dir,
        symbol_sources={"crypto_pair": ["kraken", "coingecko"], "stock": [], "index": ["stooq"]},
    )
    admin = ApiUser(1, "admin", admin_key)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        crypto = check(client, admin, "crypto", "sol-usdc")
        assert crypto["sources"] == ["kraken", "coingecko"]
        assert crypto["collectable"] is True
        stock = check(client, admin, "stock", "aapl")
        assert (stock["sources"], stock["collectable"]) == ([], False)
        forex = check(client, admin, "forex", "eurusd")  # absent from the mapping: none
        assert (forex["sources"], forex["collectable"]) == ([], False)
        assert check(client, admin, "index", "gspc")["sources"] == ["stooq"]


def test_the_setting_is_read_from_the_environment_as_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BBDASH_API_SYMBOL_SOURCES", '{"crypto_pair": ["kraken"], "stock": []}')
    assert Settings().symbol_sources == {"crypto_pair": ["kraken"], "stock": []}
    monkeypatch.delenv("BBDASH_API_SYMBOL_SOURCES")
    default = Settings().symbol_sources
    assert default == {key: list(names) for key, names in DEFAULT_SYMBOL_SOURCES.items()}


@pytest.mark.parametrize(
    "mapping",
    [{"bond": ["yahoo"]}, {"stock": ["Yahoo Finance"]}, {"stock": [""]}],
    ids=["unknown-key", "not-a-source-name", "empty-name"],
)
def test_the_setting_refuses_what_is_not_a_mapping_of_sources(mapping: object) -> None:
    with pytest.raises(ValueError, match="symbol_sources"):
        Settings.model_validate({"symbol_sources": mapping})


def test_the_default_mapping_follows_the_feeders_routing() -> None:
    # market_feeder/routing.py: crypto pairs → Binance + CoinGecko, other crypto →
    # CoinGecko; stock/forex/index → Yahoo, with the fallbacks its docstring names.
    assert DEFAULT_SYMBOL_SOURCES["crypto_pair"] == ("binance", "coingecko")
    assert DEFAULT_SYMBOL_SOURCES["crypto"] == ("coingecko",)
    assert DEFAULT_SYMBOL_SOURCES["stock"][0] == "yahoo"
    assert DEFAULT_SYMBOL_SOURCES["forex"] == ("yahoo", "exchangerate", "alphavantage")
    assert DEFAULT_SYMBOL_SOURCES["index"] == ("yahoo",)


@pytest.mark.parametrize(
    ("asset_type", "symbol", "label"),
    [
        ("crypto", "BTC/USDT", "USDT"),
        ("crypto", "BTC", None),
        ("stock", "AAPL", "US"),
        ("stock", "7203.T", "Tokyo"),
        ("stock", "RY.TO", "Toronto"),
        ("forex", "EURUSD=X", "FX"),
        ("index", "^FCHI", "Index"),
        ("index", "399001.SZ", "Shenzhen"),
    ],
)
def test_exchange_labels_are_read_off_the_spelling(
    asset_type: str, symbol: str, label: str | None
) -> None:
    assert exchange_label(asset_type, symbol) == label
