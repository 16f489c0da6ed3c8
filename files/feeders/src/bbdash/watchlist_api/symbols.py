"""Symbol normalisation per asset type: one spelling per instrument.

The feeders look symbols up by exact string in ``collected_assets``, so
"btc-usdt", "BTC/USDT" and "BTCUSDT" must all become one row, in the
spelling the upstream APIs use: ``BTC/USDT`` (ccxt style), ``AAPL``,
``EURUSD=X`` and ``^GSPC`` (Yahoo style).

Only ASCII is accepted: a Cyrillic A (U+0410) or a full-width B (U+FF22) looks like a
Latin letter to a person but would silently collect nothing (or the wrong
thing), so such input is rejected rather than "repaired".
"""

from __future__ import annotations

import re
from typing import Literal, get_args

AssetType = Literal["crypto", "stock", "forex", "index"]
ASSET_TYPES: tuple[str, ...] = get_args(AssetType)
MAX_SYMBOL_LENGTH = 32

# Quote currencies tried, longest first, when a crypto pair comes without a separator.
_CRYPTO_QUOTES = ("FDUSD", "USDT", "USDC", "BUSD", "TUSD", "USD", "EUR", "GBP", "BTC", "ETH", "BNB")
_ALLOWED = re.compile(r"[A-Za-z0-9./=^_ -]+")
_CRYPTO_PART = re.compile(r"[A-Z0-9]{1,15}")
_STOCK = re.compile(r"[A-Z0-9]{1,10}(?:[.-][A-Z0-9]{1,6})?")
_FOREX = re.compile(r"([A-Z]{3})[/_ -]?([A-Z]{3})(?:=X)?")
_INDEX = re.compile(r"\^?[A-Z0-9][A-Z0-9.-]{0,14}")


class SymbolError(ValueError):
    """A symbol that cannot be normalised; the message says what was expected."""


def normalise_symbol(asset_type: str, raw: str) -> str:
    """Return the canonical spelling of ``raw`` for ``asset_type`` or raise SymbolError."""
    value = raw.strip()
    if not value:
        raise SymbolError("symbol is empty")
    if len(value) > MAX_SYMBOL_LENGTH:
        raise SymbolError(f"symbol is longer than {MAX_SYMBOL_LENGTH} characters")
    if not value.isascii() or not _ALLOWED.fullmatch(value):
        raise SymbolError(
            "symbol may contain only ASCII letters, digits and . / = ^ - _ "
            "(look-alike letters from other alphabets are refused)"
        )
    value = value.upper()
    if asset_type == "crypto":
        return _crypto(value)
    if asset_type == "stock":
        return _match(_STOCK, value, "a stock ticker such as AAPL, BRK-B or MC.PA")
    if asset_type == "forex":
        return _forex(value)
    if asset_type == "index":
        return _index(value)
    raise SymbolError(f"unknown asset type {asset_type!r}")


def _crypto(value: str) -> str:
    parts = re.split(r"[/_ -]", value)
    if len(parts) == 1:
        parts = _split_on_quote(value)
    if len(parts) != 2 or not all(_CRYPTO_PART.fullmatch(p) for p in parts):
        raise SymbolError("expected a crypto pair BASE/QUOTE such as BTC/USDT")
    base, quote = parts
    if base == quote:
        raise SymbolError("a crypto pair needs two different assets")
    return f"{base}/{quote}"


def _split_on_quote(value: str) -> list[str]:
    for quote in _CRYPTO_QUOTES:
        if value.endswith(quote) and len(value) > len(quote):
            return [value[: -len(quote)], quote]
    return [value]


def _forex(value: str) -> str:
    match = _FOREX.fullmatch(value)
    if not match:
        raise SymbolError("expected a currency pair such as EURUSD=X, EUR/USD or EURUSD")
    base, quote = match.groups()
    if base == quote:
        raise SymbolError("a currency pair needs two different currencies")
    return f"{base}{quote}=X"


def _index(value: str) -> str:
    value = _match(_INDEX, value, "an index such as ^GSPC, ^FCHI or 000001.SS")
    # Yahoo spells letter-only indices with a caret (^GSPC); numeric codes keep their own form.
    if not value.startswith("^") and value.isalpha():
        value = "^" + value
    return value


def _match(pattern: re.Pattern[str], value: str, expected: str) -> str:
    if not pattern.fullmatch(value):
        raise SymbolError(f"expected {expected}")
    return value
