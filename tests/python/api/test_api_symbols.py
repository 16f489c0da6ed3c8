"""Symbol normalisation: every accepted spelling maps to the one the feeders look up."""

from __future__ import annotations

import pytest
from bbdash.watchlist_api.symbols import SymbolError, normalise_symbol


@pytest.mark.parametrize(
    ("asset_type", "raw", "expected"),
    [
        ("crypto", "BTC/USDT", "BTC/USDT"),
        ("crypto", "btc-usdt", "BTC/USDT"),
        ("crypto", "btc_usdt", "BTC/USDT"),
        ("crypto", " BTCUSDT ", "BTC/USDT"),
        ("crypto", "ETHBTC", "ETH/BTC"),
        ("crypto", "SOLFDUSD", "SOL/FDUSD"),
        ("stock", "aapl", "AAPL"),
        ("stock", "BRK-B", "BRK-B"),
        ("stock", "mc.pa", "MC.PA"),
        ("stock", "7203.T", "7203.T"),
        ("forex", "EURUSD=X", "EURUSD=X"),
        ("forex", "eur/usd", "EURUSD=X"),
        ("forex", "EURUSD", "EURUSD=X"),
        ("forex", "gbp-jpy", "GBPJPY=X"),
        ("index", "^GSPC", "^GSPC"),
        ("index", "gspc", "^GSPC"),
        ("index", "^fchi", "^FCHI"),
        ("index", "000001.SS", "000001.SS"),
    ],
)
def test_normalises(asset_type: str, raw: str, expected: str) -> None:
    assert normalise_symbol(asset_type, raw) == expected


@pytest.mark.parametrize(
    ("asset_type", "raw", "reason"),
    [
        ("crypto", "BTC", "pair"),
        ("crypto", "BTC/BTC", "different"),
        ("crypto", "BTC/USDT/EUR", "pair"),
        ("stock", "AAPL MSFT", "ticker"),
        ("stock", "\u0410APL", "look-alike"),  # Cyrillic A
        ("stock", "AAPL\u200b", "look-alike"),  # zero-width space
        ("stock", "\uff21\uff21\uff30\uff2c", "look-alike"),  # full-width
        ("forex", "EURUS", "currency pair"),
        ("forex", "EUREUR", "different"),
        ("index", "^", "index"),
        ("stock", "", "empty"),
        ("stock", "A" * 33, "longer"),
        ("bond", "AAPL", "unknown asset type"),
    ],
)
def test_refuses(asset_type: str, raw: str, reason: str) -> None:
    with pytest.raises(SymbolError, match=reason):
        normalise_symbol(asset_type, raw)
