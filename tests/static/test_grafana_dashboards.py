"""Static checks of the provisioned dashboards (roles/grafana/files/dashboards).

No Grafana is needed: the JSON models are checked against the provisioned
datasources (rendered from the role's templates), against each other (links),
against the generator that writes them, and against the role's plugin list.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from typing import Any

import pytest
import yaml
from grafana_helpers import (
    CORE_PANELS,
    DASHBOARD_DIR,
    ROLE,
    dashboard_files,
    dashboards,
    flux_queries,
    iter_panels,
    iter_strings,
    rendered_yaml,
    role_defaults,
    variable_refs,
)
from role_runner import REPO

# Stable uids: renaming one breaks every bookmark and link; change only on purpose.
EXPECTED_UIDS = {
    "market-overview.json": "bbdash-market-overview",
    "asset-detail.json": "bbdash-asset-detail",
    "crypto.json": "bbdash-crypto",
    "stocks-and-forex.json": "bbdash-stocks-forex",
    "news-and-sentiment.json": "bbdash-news",
    "infrastructure.json": "bbdash-infrastructure",
    "pipeline-health.json": "bbdash-pipeline-health",
    "custom-series.json": "bbdash-custom",
}
# Built-in variables Grafana defines itself.
BUILTIN_VARS = {
    "__all",
    "__interval",
    "__interval_ms",
    "__rate_interval",
    "__range",
    "__from",
    "__to",
}

BOARDS = dashboards()
NAMES = sorted(BOARDS)


def provisioned_datasources() -> dict[str, str]:
    doc = rendered_yaml("default", "datasources.yml")
    return {ds["uid"]: ds["type"] for ds in doc["datasources"]}


def test_the_eight_dashboards_exist_with_stable_uids() -> None:
    assert {p.name for p in dashboard_files()} == set(EXPECTED_UIDS)
    assert {name: BOARDS[name]["uid"] for name in NAMES} == EXPECTED_UIDS


def test_uids_and_titles_are_unique() -> None:
    uids = [b["uid"] for b in BOARDS.values()]
    titles = [b["title"] for b in BOARDS.values()]
    assert len(set(uids)) == len(uids)
    assert len(set(titles)) == len(titles)
    for uid in uids:
        assert re.fullmatch(r"[a-zA-Z0-9_-]{1,40}", uid), uid


@pytest.mark.parametrize("name", NAMES)
def test_valid_json_model(name: str) -> None:
    text = (DASHBOARD_DIR / name).read_text(encoding="utf-8")
    board = json.loads(text)
    assert isinstance(board["schemaVersion"], int) and board["schemaVersion"] >= 39
    assert board["id"] is None, "a provisioned file must not pin a database id"
    assert "version" not in board, "Grafana numbers versions itself; a fixed one causes churn"
    assert board["title"] and board["uid"]
    assert "bbdash" in board["tags"]
    assert board["style"] == "dark"
    assert isinstance(board["panels"], list) and board["panels"]
    assert isinstance(board["templating"]["list"], list)
    ids = [p["id"] for p in iter_panels(board["panels"])]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    for panel in iter_panels(board["panels"]):
        pos = panel["gridPos"]
        assert pos["x"] >= 0 and pos["x"] + pos["w"] <= 24, (panel["id"], pos)
        assert pos["h"] >= 1 and pos["y"] >= 0


@pytest.mark.parametrize("name", NAMES)
def test_panels_do_not_overlap(name: str) -> None:
    cells: dict[tuple[int, int], int] = {}
    for panel in BOARDS[name]["panels"]:
        pos = panel["gridPos"]
        for x in range(pos["x"], pos["x"] + pos["w"]):
            for y in range(pos["y"], pos["y"] + pos["h"]):
                assert (x, y) not in cells, f"panel {panel['id']} overlaps panel {cells[(x, y)]}"
                cells[(x, y)] = panel["id"]


@pytest.mark.parametrize("name", NAMES)
def test_overrides_can_match_a_field(name: str) -> None:
    """Grafana's field matchers (packages/grafana-data, fieldMatchers): byName
    compares the display name verbatim, byRegexp takes a /pattern/, byFrameRefID
    a query's refId. An override whose matcher does not fit its option matches
    nothing, silently (the generator once wrote byName for every matcher)."""
    for panel in iter_panels(BOARDS[name]["panels"]):
        refs = {t.get("refId") for t in panel.get("targets", [])}
        for item in panel.get("fieldConfig", {}).get("overrides", []):
            matcher, option = item["matcher"]["id"], item["matcher"]["options"]
            where = f"{name} panel {panel.get('title')!r}: {matcher} {option!r}"
            if matcher == "byName":
                assert not re.fullmatch(r"/.+/[a-z]*", option), where
            elif matcher == "byRegexp":
                re.compile(option.strip("/"))
            elif matcher == "byFrameRefID":
                assert option in refs, where


def test_json_files_are_what_the_generator_writes() -> None:
    tool = ROLE / "tools" / "build_dashboards.py"
    proc = subprocess.run(
        [sys.executable, str(tool), "--check"], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr or proc.stdout


@pytest.mark.parametrize("name", NAMES)
def test_every_datasource_is_provisioned(name: str) -> None:
    provisioned = provisioned_datasources()
    board = BOARDS[name]
    seen = []
    for panel in iter_panels(board["panels"]):
        targets = panel.get("targets", [])
        if panel["type"] in ("text", "row") and not targets:
            continue
        assert targets, f"panel {panel['id']} {panel.get('title')!r} has no query"
        for ds in [panel.get("datasource")] + [t.get("datasource") for t in targets]:
            assert ds, f"panel {panel['id']} has a target without a datasource"
            seen.append((f"panel {panel['id']}", ds))
    for var in board["templating"]["list"]:
        if var["type"] == "query":
            seen.append((f"variable {var['name']}", var["datasource"]))
    for where, ds in seen:
        assert ds["uid"] in provisioned, f"{where}: datasource uid {ds['uid']!r} is not provisioned"
        assert ds["type"] == provisioned[ds["uid"]], (
            f"{where}: type {ds['type']} != {provisioned[ds['uid']]}"
        )
    for annotation in board["annotations"]["list"]:
        assert annotation["datasource"]["uid"] == "-- Grafana --"


@pytest.mark.parametrize("name", NAMES)
def test_every_variable_used_is_defined(name: str) -> None:
    board = BOARDS[name]
    defined = {v["name"] for v in board["templating"]["list"]}
    used: set[str] = set()
    for text in iter_strings(
        {"panels": board["panels"], "templating": board["templating"], "links": board["links"]}
    ):
        used |= variable_refs(text)
    undefined = {v for v in used - defined if not v.startswith("__")} - BUILTIN_VARS
    assert not undefined, f"undefined variables: {sorted(undefined)}"
    unused = defined - used
    assert not unused, f"variables defined but never used: {sorted(unused)}"


@pytest.mark.parametrize("name", NAMES)
def test_variables_reference_only_earlier_variables(name: str) -> None:
    """Grafana resolves chained variables in order: a query may only use variables above it."""
    seen: set[str] = set()
    for var in BOARDS[name]["templating"]["list"]:
        refs = {
            r for r in variable_refs(json.dumps(var.get("query", ""))) if not r.startswith("__")
        }
        assert refs <= seen, f"variable {var['name']} uses {sorted(refs - seen)} defined after it"
        seen.add(var["name"])


def all_link_urls(board: dict[str, Any]) -> list[str]:
    urls = []
    for text in iter_strings(board["panels"]):
        urls += re.findall(r"(/d/[^\s\"'<>]+)", text)
    for dash_link in board["links"]:
        if dash_link.get("url", "").startswith("/d/"):
            urls.append(dash_link["url"])
    return urls


@pytest.mark.parametrize("name", NAMES)
def test_every_dashboard_links_to_the_desk_page_under_the_api_prefix(name: str) -> None:
    nginx = yaml.safe_load((REPO / "roles" / "nginx" / "defaults" / "main.yml").read_text())
    desk = [link for link in BOARDS[name]["links"] if link["title"] == "My desk"]
    assert len(desk) == 1, name
    assert desk[0]["type"] == "link"
    assert desk[0]["url"] == nginx["nginx_watchlist_api_prefix"] + "desk"
    assert not desk[0]["targetBlank"]  # the page links back: same tab


@pytest.mark.parametrize("name", NAMES)
def test_data_links_target_existing_dashboards_and_variables(name: str) -> None:
    by_uid = {b["uid"]: b for b in BOARDS.values()}
    for url in all_link_urls(BOARDS[name]):
        match = re.match(r"/d/([^/?]+)(?:/[^?]*)?(?:\?(.*))?", url)
        assert match, url
        uid, query = match[1], match[2] or ""
        assert uid in by_uid, f"link to unknown dashboard uid {uid!r}: {url}"
        target_vars = {v["name"] for v in by_uid[uid]["templating"]["list"]}
        for param in re.findall(r"var-([A-Za-z0-9_]+)=", query):
            assert param in target_vars, f"{url}: {uid} has no variable {param!r}"


def test_drill_down_overview_to_asset_to_news() -> None:
    overview = json.dumps(BOARDS["market-overview.json"])
    asset = json.dumps(BOARDS["asset-detail.json"])
    assert (
        "/d/bbdash-asset-detail/asset-detail?var-symbol=${__data.fields.symbol:percentencode}"
        in overview
    )
    assert "/d/bbdash-news/news-and-sentiment?var-symbol=${symbol:percentencode}" in asset
    news = BOARDS["news-and-sentiment.json"]
    symbol = next(v for v in news["templating"]["list"] if v["name"] == "symbol")
    assert symbol["includeAll"] and symbol["allValue"] == "__all"
    for _, flux in flux_queries(news):
        if 'from(bucket: "news")' in flux and "related_asset" in flux and "group()" in flux:
            assert 'symbol == "__all" or r.related_asset == symbol' in flux


def plugin_ids() -> set[str]:
    return {p["id"] for p in role_defaults()["grafana_plugins"]}


def fields_read(query: str) -> set[str]:
    """The fields a Flux query selects: `r._field == "x"` tests and `r._field, set: [...]`."""
    found = set(re.findall(r'r\._field == "(\w+)"', query))
    for listed in re.findall(r"r\._field, set: \[([^\]]*)\]", query):
        found |= set(re.findall(r'"(\w+)"', listed))
    return found


@pytest.mark.parametrize("name", NAMES)
def test_plugin_panels_are_pinned_and_have_a_core_fallback(name: str) -> None:
    board = BOARDS[name]
    panels = list(iter_panels(board["panels"]))
    core = [p for p in panels if p["type"] in CORE_PANELS]
    for panel in panels:
        if panel["type"] in CORE_PANELS:
            continue
        assert panel["type"] in plugin_ids(), (
            f"panel type {panel['type']!r} is neither core nor a pinned plugin"
        )
        fields = fields_read(panel["targets"][0]["query"])
        assert fields, f"plugin panel {panel['title']!r} reads no field"
        fallback = [
            c
            for c in core
            if any(fields <= fields_read(t.get("query", "")) for t in c.get("targets", []))
        ]
        assert fallback, (
            f"plugin panel {panel['title']!r} has no core panel reading {sorted(fields)}"
        )


def test_plugin_versions_are_pinned() -> None:
    for plugin in role_defaults()["grafana_plugins"]:
        assert re.fullmatch(r"\d+\.\d+\.\d+", str(plugin["version"])), plugin


MARKET_OR_NEWS = [n for n in NAMES if {"markets", "news"} & set(BOARDS[n]["tags"])]


@pytest.mark.parametrize("name", MARKET_OR_NEWS)
def test_demo_banner_when_demo_points_are_present(name: str) -> None:
    board = BOARDS[name]
    banners = [
        p
        for p in iter_panels(board["panels"])
        if any('r.demo == "true"' in t.get("query", "") for t in p.get("targets", []))
    ]
    assert banners, "no panel detects demo points"
    texts = json.dumps(banners[0]["fieldConfig"]["defaults"]["mappings"])
    assert "DEMO DATA" in texts
    assert banners[0]["gridPos"]["w"] == 24 and banners[0]["gridPos"]["y"] <= 3, (
        "the banner sits at the top"
    )


@pytest.mark.parametrize("name", NAMES)
def test_no_symbol_is_hard_coded(name: str) -> None:
    for where, flux in flux_queries(BOARDS[name]):
        for column in ("symbol", "related_asset"):
            for literal in re.findall(rf"r\.{column}\s*==\s*\"([^\"]*)\"", flux):
                assert literal.startswith("$"), f"{where}: {column} hard-coded to {literal!r}"
            assert not re.search(rf"r\.{column},\s*set:\s*\[", flux), (
                f"{where}: literal {column} list"
            )
    text = json.dumps(BOARDS[name])
    for symbol in ("BTC/USDT", "ETH/USDT", "AAPL", "EURUSD", "^GSPC"):
        assert symbol not in text, f"{symbol} appears in {name}"


def test_symbol_variables_come_from_the_watchlists() -> None:
    for name in (
        "market-overview.json",
        "asset-detail.json",
        "crypto.json",
        "stocks-and-forex.json",
        "news-and-sentiment.json",
    ):
        variables = {v["name"]: v for v in BOARDS[name]["templating"]["list"]}
        assert "collected_assets" in variables["symbol"]["query"], name
        assert variables["symbol"]["datasource"]["uid"] == "bbdash-postgres"
        # The logged-in user's watchlists first (issue 11, item 3): a selector, then its
        # symbols, with every collected symbol as the fallback.
        watchlist = variables["watchlist"]
        assert list(variables).index("watchlist") < list(variables).index("symbol"), name
        assert "${__user.login:sqlstring}" in watchlist["query"], name
        assert watchlist["sort"] == 0 and not watchlist["multi"], name  # the user's lists first
        assert "${watchlist:sqlstring}" in variables["symbol"]["query"], name
        assert "user_watchlist_assets" in variables["symbol"]["query"], name


def test_asset_detail_picks_the_bucket_from_the_time_range() -> None:
    board = BOARDS["asset-detail.json"]
    conditional = [flux for _, flux in flux_queries(board) if "from(bucket: bucket)" in flux]
    assert len(conditional) >= 3, "price, OHLC and volume read the bucket chosen by the range"
    for flux in conditional:
        assert "int(v: v.timeRangeStop) - int(v: v.timeRangeStart)" in flux
        assign = re.search(r"^bucket = (.+)$", flux, re.MULTILINE)[1]
        assert re.findall(r'"([^"]+)"', assign) == ["markets", "markets_5min", "markets_1h"]
        assert "int(v: 7d5m)" in assign and "int(v: 30d5m)" in assign
    titles = {
        p.get("title")
        for p in iter_panels(board["panels"])
        if any("from(bucket: bucket)" in t.get("query", "") for t in p.get("targets", []))
    }
    assert "${symbol} price" in titles


def test_the_ohlc_panel_reads_candles_at_every_range() -> None:
    """Raw prices make the candles up to 7 days; beyond, the downsampled buckets'
    own open/high/low/close are rolled up (first, max, min, last): true candles."""
    (panel,) = [
        p
        for p in iter_panels(BOARDS["asset-detail.json"]["panels"])
        if p.get("type") == "candlestick"
    ]
    query = panel["targets"][0]["query"]
    assert 'source = (name) => if bucket == "markets" then "price" else name' in query
    assert "r._field == source(name: name)" in query
    for fn, name in (("first", "open"), ("max", "high"), ("min", "low"), ("last", "close")):
        assert f'candle(fn: {fn}, name: "{name}")' in query


def test_last_value_panels_read_back_whatever_the_range() -> None:
    """A panel showing a symbol's last value reads the raw bucket's 7 days, not the
    dashboard's range: on a Saturday, "Last 24 hours" still shows Friday's close;
    and it reads one point per series (last() pushed down), not 7 days of ticks."""
    found = []
    for name, board in BOARDS.items():
        for where, flux in flux_queries(board):
            if "market_data" in flux and "last()" in flux:
                found.append(where)
                assert "v.timeRangeStart" not in flux, f"{name}: {where}"
                if "pipeline" not in name:  # its freshness tile looks back 1 h on purpose
                    assert "range(start: -7d)" in flux, f"{name}: {where}"
                # InfluxDB pushes only literal comparisons down to storage (influxdb
                # query/stdlib/influxdata/influxdb/rules.go, isPushableExpr): a contains()
                # before last() would make it read 7 days of ticks instead of a point per series.
                for read in re.split(r"\bfrom\(", flux)[1:]:
                    if "|> last()" in read:
                        assert "contains(" not in read.split("|> last()")[0], f"{name}: {where}"
    assert len(found) >= 10, found


def _seconds(interval: str) -> int:
    """Grafana's refresh strings as the dashboards use them: 5s, 30s, 1m, 1h."""
    found = re.fullmatch(r"(\d+)([smh])", interval)
    assert found, interval
    return int(found[1]) * {"s": 1, "m": 60, "h": 3600}[found[2]]


def test_price_dashboards_refresh_fast_enough_for_the_live_target() -> None:
    """Issue 10, item 5: a last-value panel at most 5 s behind the tick on average,
    7 s at worst. The store takes 1.2 s at p99 (docs/benchmarks.md), so a dashboard
    with a panel reading the latest market_data refreshes every 5 s, which Grafana
    allows (min_refresh_interval) and offers in the picker; the others keep slower
    refreshes, so an idle infrastructure tab does not query every 5 s."""
    ini = (ROLE / "templates" / "grafana.ini.j2").read_text(encoding="utf-8")
    floor = re.search(r"^min_refresh_interval = (\S+)$", ini, re.MULTILINE)
    assert floor, "grafana.ini sets no min_refresh_interval"
    live = set()
    for name, board in BOARDS.items():
        reads_last_price = any(
            "market_data" in flux and "last()" in flux and "range(start: -7d)" in flux
            for _, flux in flux_queries(board)
        )
        refresh = _seconds(board["refresh"])
        assert refresh >= _seconds(floor[1]), name
        assert board["refresh"] in board["timepicker"]["refresh_intervals"], name
        if reads_last_price:
            live.add(name)
            assert refresh + 1.2 <= 7 and refresh / 2 + 1.2 <= 5, (name, board["refresh"])
        else:
            assert refresh >= 30, (name, board["refresh"])
    assert live == {
        "market-overview.json",
        "asset-detail.json",
        "crypto.json",
        "stocks-and-forex.json",
    }


@pytest.mark.parametrize(
    ("name", "title"),
    [
        ("crypto.json", "Quotes"),
        ("stocks-and-forex.json", "Quotes"),
        ("stocks-and-forex.json", "Currency pairs"),
    ],
)
def test_quote_tables_show_each_quotes_age_and_market(name: str, title: str) -> None:
    """AGE from the last price's time; MARKET from the feeder's market_state, 24/7 for
    crypto, and "stale since ..." (red) when the last price is old while open."""
    (panel,) = [p for p in iter_panels(BOARDS[name]["panels"]) if p.get("title") == title]
    query = panel["targets"][0]["query"]
    assert 'r._measurement == "market_state"' in query and "join.left(" in query
    assert '"24/7"' in query and '"stale since "' in query
    # Only an open (or unknown) market goes stale: pre/post keep the session's close.
    assert '(state == "open" or state == "24/7" or state == "")' in query
    overrides = {o["matcher"]["options"]: o for o in panel["fieldConfig"]["overrides"]}
    age = {p["id"]: p["value"] for p in overrides["age_s"]["properties"]}
    assert age["unit"] == "dtdurations"
    market = {p["id"]: p["value"] for p in overrides["market"]["properties"]}
    regex = [m for m in market["mappings"] if m["type"] == "regex"]
    assert regex[0]["options"]["pattern"] == "^stale.*"
    assert set(market["mappings"][0]["options"]) == {"open", "24/7", "pre", "post", "closed"}


def test_terminal_style() -> None:
    for name in NAMES:
        board = BOARDS[name]
        first = board["panels"][0]
        assert first["type"] == "text" and first["gridPos"]["y"] == 0
        content = first["options"]["content"]
        assert "#FFA028" in content and "background:#000" in content and "monospace" in content
        for uid in {b["uid"] for b in BOARDS.values()}:
            assert f"/d/{uid}/" in content, f"{name}: the function-key bar misses {uid}"
