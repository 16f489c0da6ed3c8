"""Template variables: the symbol, exchange, category, host and job pickers.

Symbols come from the watchlists in PostgreSQL, exchanges and categories from
InfluxDB tags, hosts and jobs from Prometheus labels, so that no dashboard
names a symbol or a host. All start at "All" where they allow it, so that a
dashboard opened without a URL shows data at once.
"""

from __future__ import annotations

from typing import Any

from .catalog import INFLUX, PG, PROM


def var_asset_type(multi: bool = True) -> dict[str, Any]:
    """Asset type picker (crypto, stock, forex, index) that narrows the overview's symbols."""
    opts = ["crypto", "stock", "forex", "index"]
    return {
        "type": "custom",
        "name": "asset_type",
        "label": "Type",
        "query": ",".join(opts),
        "multi": multi,
        "includeAll": True,
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        "options": [],
        "hide": 0,
        "skipUrlSync": False,
    }


def var_pg(
    name: str, label: str, sql: str, *, multi: bool, include_all: bool, all_value: str | None = None
) -> dict[str, Any]:
    """A variable filled by SQL on PostgreSQL (the watchlists); refreshed on dashboard load."""
    v: dict[str, Any] = {
        "type": "query",
        "name": name,
        "label": label,
        "datasource": PG,
        "query": sql,
        "definition": sql,
        "refresh": 1,
        "sort": 1,
        "multi": multi,
        "includeAll": include_all,
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]}
        if include_all and multi
        else {},
        "options": [],
        "hide": 0,
        "regex": "",
        "skipUrlSync": False,
    }
    if all_value is not None:
        v["allValue"] = all_value
        v["current"] = {"selected": True, "text": "All", "value": "$__all"}
    return v


def var_influx(
    name: str, label: str, flux: str, *, multi: bool, include_all: bool
) -> dict[str, Any]:
    """A variable filled by Flux on InfluxDB; refreshed when the time range changes."""
    return {
        "type": "query",
        "name": name,
        "label": label,
        "datasource": INFLUX,
        "query": flux,
        "definition": flux,
        "refresh": 2,
        "sort": 1,
        "multi": multi,
        "includeAll": include_all,
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]} if include_all else {},
        "options": [],
        "hide": 0,
        "regex": "",
        "skipUrlSync": False,
    }


def var_prom(
    name: str, label: str, query: str, *, regex: str = "", multi: bool = True
) -> dict[str, Any]:
    """A variable filled from Prometheus label values; ``regex`` narrows them."""
    return {
        "type": "query",
        "name": name,
        "label": label,
        "datasource": PROM,
        "query": {
            "query": query,
            "refId": "PrometheusVariableQueryEditor-VariableQuery",
            "qryType": 1,
        },
        "definition": query,
        "refresh": 2,
        "sort": 1,
        "multi": multi,
        "includeAll": True,
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        "options": [],
        "hide": 0,
        "regex": regex,
        "skipUrlSync": False,
    }


# $watchlist's value for "every watched symbol" (every user's enabled watchlists).
ALL_WATCHED = "__collected"
# The logged-in user, as user_watchlist_assets.login holds it (Grafana fills it in).
_LOGIN = "lower(${__user.login:sqlstring})"


def var_watchlist() -> dict[str, Any]:
    """The logged-in user's watchlists first, then every watched symbol: it selects,
    it does not protect (docs/contracts.md, user_watchlist_assets)."""
    # Constants only; Grafana quotes the login itself (:sqlstring).
    sql = (
        "SELECT __text, __value FROM ("  # noqa: S608
        " SELECT DISTINCT 0 AS rank, position, watchlist AS __text, watchlist AS __value"
        f" FROM user_watchlist_assets WHERE login = {_LOGIN}"
        f" UNION ALL SELECT 1, 0, 'Every watched symbol', '{ALL_WATCHED}'"
        ") AS choices ORDER BY rank, position, __text"
    )
    v = var_pg("watchlist", "Watchlist", sql, multi=False, include_all=False)
    v["sort"] = 0  # the query's order: the user's own lists first, in their order
    return v


def watchlist_symbols(asset_types: str | None = None) -> str:
    """SQL of a symbol variable: the symbols of $watchlist, or every collected symbol
    when it is "every watched symbol"; `asset_types` narrows them (a SQL list)."""
    narrow = f" AND asset_type IN ({asset_types})" if asset_types else ""
    # Constants only; Grafana quotes the variables itself (:sqlstring).
    return (
        f"SELECT symbol FROM user_watchlist_assets WHERE login = {_LOGIN}"  # noqa: S608
        f" AND watchlist = ${{watchlist:sqlstring}}{narrow}"
        f" UNION SELECT symbol FROM collected_assets WHERE ${{watchlist:sqlstring}} = '{ALL_WATCHED}'"
        f"{narrow} ORDER BY symbol"
    )


# The overview's symbols: the watchlist's assets of the types picked in $asset_type.
WATCHLIST_SQL = watchlist_symbols("${asset_type:sqlstring}")
