"""/v1/symbols/check: what a symbol becomes and who collects it, before it is saved.

The desk page asks it as the person types. Nothing here calls the network: the
normalisation is symbols.py's, the sources are the setting ``symbol_sources``
(default: market_feeder/routing.py's split) and the exchange is a label read off
the symbol's own spelling.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from bbdash.watchlist_api.auth import CurrentCaller
from bbdash.watchlist_api.problems import ProblemError
from bbdash.watchlist_api.responses import json_response
from bbdash.watchlist_api.schemas.symbols import SymbolCheckOut
from bbdash.watchlist_api.symbols import AssetType, SymbolError, normalise_symbol

router = APIRouter(prefix="/v1/symbols", tags=["symbols"])

# Labels, not a lookup: they are read off the symbol's spelling (Yahoo's suffixes) and
# say where a ticker is listed, not whether it exists there. Unknown suffix: null.
_YAHOO_SUFFIXES = {
    "PA": "Euronext Paris",
    "AS": "Euronext Amsterdam",
    "BR": "Euronext Brussels",
    "LS": "Euronext Lisbon",
    "MI": "Borsa Italiana",
    "L": "London",
    "DE": "XETRA",
    "F": "Frankfurt",
    "SW": "SIX Swiss",
    "MC": "Madrid",
    "ST": "Stockholm",
    "T": "Tokyo",
    "HK": "Hong Kong",
    "SS": "Shanghai",
    "SZ": "Shenzhen",
    "TO": "Toronto",
    "AX": "ASX",
}

SymbolQuery = Annotated[
    str,
    Query(min_length=1, max_length=256, description="As typed: btc-usdt, aapl, eur/usd, gspc."),
]


def exchange_label(asset_type: str, symbol: str) -> str | None:
    """A short label for a normalised symbol; None when its suffix is not in the table."""
    if asset_type == "crypto":
        _, _, quote = symbol.partition("/")
        return quote or None
    if asset_type == "forex":
        return "FX"
    base, dot, suffix = symbol.rpartition(".")
    if asset_type == "index":
        if symbol.startswith("^") or not dot:
            return "Index"
        return _YAHOO_SUFFIXES.get(suffix, "Index")
    if not dot or not base:
        return "US"  # a plain ticker (AAPL, BRK-B): Yahoo's US listings
    return _YAHOO_SUFFIXES.get(suffix)


def sources_for(mapping: dict[str, list[str]], asset_type: str, symbol: str) -> list[str]:
    """The sources of routing.py's split (or the deployment's setting) for one symbol."""
    key = asset_type
    if asset_type == "crypto" and "/" in symbol:
        key = "crypto_pair"
    return list(mapping.get(key, []))


@router.get("/check", response_model=SymbolCheckOut)
async def check_symbol(
    caller: CurrentCaller, asset_type: AssetType, symbol: SymbolQuery
) -> Response:
    """Normalise a symbol and say which sources would collect it (422 naming `symbol`
    when it cannot be one)."""
    try:
        normalised = normalise_symbol(asset_type, symbol)
    except SymbolError as exc:
        raise ProblemError(
            422,
            f"symbol: {exc}",
            kind="validation-error",
            errors=[{"in": "query", "field": "symbol", "detail": str(exc)}],
        ) from None
    sources = sources_for(caller.settings.symbol_sources, asset_type, normalised)
    return json_response(
        {
            "symbol": normalised,
            "asset_type": asset_type,
            "exchange": exchange_label(asset_type, normalised),
            "sources": sources,
            "collectable": bool(sources),
        }
    )
