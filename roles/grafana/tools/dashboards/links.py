"""Data links between the dashboards: the drill-down from a symbol to its detail and news.

Links carry the time range along (``${__url_time_range}``), so a click keeps
the period the user was looking at; building them in one place keeps that so.
"""

from __future__ import annotations

from typing import Any

from .catalog import url

# Where a clicked symbol comes from: a table's symbol column (the default), the
# series label of a stat grid, or the asset a news article is tagged with.
ROW_SYMBOL = "${__data.fields.symbol:percentencode}"
LABEL_SYMBOL = "${__field.labels.symbol:percentencode}"
RELATED_ASSET = "${__data.fields.related_asset:percentencode}"


def link(title: str, target: str, query: str = "", blank: bool = False) -> dict[str, Any]:
    """A panel or field link to ``target``, with an optional query string."""
    full = target + ("?" + query if query else "")
    return {"title": title, "url": full, "targetBlank": blank}


def asset_link(field: str = ROW_SYMBOL) -> dict[str, Any]:
    """Link to the asset detail dashboard for the symbol ``field`` refers to."""
    return link("Asset detail", url("asset"), f"var-symbol={field}&${{__url_time_range}}")


def news_link(field: str = ROW_SYMBOL) -> dict[str, Any]:
    """Link to the news dashboard filtered on the symbol ``field`` refers to."""
    return link("News for this asset", url("news"), f"var-symbol={field}&${{__url_time_range}}")


def selected_symbol_news_link(title: str) -> dict[str, Any]:
    """Link to the news on the dashboard's own ``$symbol`` (asset detail)."""
    return link(title, url("news"), "var-symbol=${symbol:percentencode}&${__url_time_range}")


SYMBOL_LINKS = [asset_link(), news_link()]
