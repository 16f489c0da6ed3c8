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


# The overview's symbols: the watchlists' assets of the types picked in $asset_type.
WATCHLIST_SQL = (
    "SELECT symbol FROM collected_assets"
    " WHERE asset_type IN (${asset_type:sqlstring}) ORDER BY symbol"
)
