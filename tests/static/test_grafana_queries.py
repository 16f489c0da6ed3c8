"""Every query the dashboards and alert rules send reads only what exists.

- Flux: buckets from the seed, measurements/tags/fields from docs/contracts.md,
  and columns the query itself makes (map/reduce records, join suffixes).
- PromQL: metric names from node-exporter, cAdvisor, Prometheus, and the
  bbdash_* collectors declared in files/feeders/src/bbdash (+ a short pending list).
- SQL: only the contract's views and their columns.
- Flux again, by Flux's own parser and type checker (WebAssembly build of the
  Flux language server, run by node; skipped with a reason when absent).
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable
from typing import Any

import grafana_flux_wasm
import pytest
import yaml
from grafana_helpers import (
    BUCKETS,
    CADVISOR_METRICS,
    CUSTOM_BUCKET,
    NODE_EXPORTER_METRICS,
    backup_metrics,
    bbdash_metrics,
    dashboards,
    flux_contract_errors,
    flux_queries,
    influx_contract,
    known_metrics,
    pg_contract,
    promql_metric_names,
    promql_queries,
    rendered_yaml,
    sql_queries,
)
from role_runner import REPO

BOARDS = dashboards()


def board_queries(
    queries: Callable[[dict[str, Any]], list[tuple[str, str]]],
) -> list[tuple[str, str]]:
    """(where, query) over every dashboard, `where` naming the dashboard too."""
    return [
        (f"{name}: {where}", query)
        for name, board in sorted(BOARDS.items())
        for where, query in queries(board)
    ]


def all_flux() -> list[tuple[str, str]]:
    found = board_queries(flux_queries)
    for group in rendered_yaml("default", "alert-rules.yml")["groups"]:
        for rule in group["rules"]:
            for item in rule["data"]:
                if "query" in item["model"]:
                    found.append((f"alert rule {rule['uid']}", item["model"]["query"]))
    return found


FLUX = all_flux()
PROMQL = board_queries(promql_queries)
SQL = board_queries(sql_queries)


def test_contracts_parse() -> None:
    """The contract parser reads what docs/contracts.md says (guards the parser itself)."""
    contract = influx_contract()
    assert contract["market_data"]["tags"] >= {"exchange", "symbol", "asset_type", "demo"}
    assert contract["market_data"]["fields"] == {
        "price",
        "volume_24h",
        "change_pct_1h",
        "change_pct_24h",
        "market_cap",
        # The candles of the downsampled buckets.
        "open",
        "high",
        "low",
        "close",
    }
    assert contract["news_articles"]["tags"] >= {"source", "category", "related_asset", "demo"}
    assert contract["news_articles"]["fields"] == {
        "title",
        "url",
        "sentiment_score",
        "published_at",
    }
    assert pg_contract()["collected_assets"] == {"symbol", "asset_type", "source"}
    assert pg_contract()["user_watchlist_assets"] == {
        "login",
        "watchlist",
        "symbol",
        "asset_type",
        "position",
    }
    assert {"markets", "markets_5min", "markets_1h", "news"} == BUCKETS


def test_there_are_queries_of_every_kind() -> None:
    assert len(FLUX) > 50 and len(PROMQL) > 40 and len(SQL) >= 6


@pytest.mark.parametrize(("where", "flux"), FLUX, ids=[w for w, _ in FLUX])
def test_flux_reads_existing_buckets_measurements_fields_tags(where: str, flux: str) -> None:
    if "schema.measurements" in flux:
        # The custom dashboard's measurement picker: the person's own bucket only.
        assert re.findall(r'bucket: "([^"]+)"', flux) == [CUSTOM_BUCKET], where
        return
    if "schema.tagValues" in flux:
        # Variable queries: bucket, measurement and tag of the predicate.
        contract = influx_contract()
        bucket = re.search(r'bucket: "([^"]+)"', flux)[1]
        tag = re.search(r'tag: "([^"]+)"', flux)[1]
        measurement = re.search(r'_measurement == "([^"]+)"', flux)[1]
        assert bucket in contract[measurement]["buckets"]
        assert tag in contract[measurement]["tags"]
        for column in re.findall(r"\br\.(\w+)", flux):
            assert column in contract[measurement]["tags"] | {"_measurement"}, column
        return
    assert flux_contract_errors(flux) == [], where


def test_flux_checker_catches_mistakes() -> None:
    """The checker must fail on the errors it is meant to find."""
    good = (
        'from(bucket: "markets")\n  |> range(start: -1h)\n'
        '  |> filter(fn: (r) => r._measurement == "market_data" and r._field == "price")\n'
        '  |> filter(fn: (r) => r.symbol == "${symbol}")'
    )
    assert flux_contract_errors(good) == []
    assert any("bucket" in e for e in flux_contract_errors(good.replace('"markets"', '"market"')))
    assert any(
        "measurement" in e for e in flux_contract_errors(good.replace("market_data", "prices"))
    )
    assert any("field" in e for e in flux_contract_errors(good.replace('"price"', '"closing"')))
    assert any("r.ticker" in e for e in flux_contract_errors(good.replace("r.symbol", "r.ticker")))
    assert any(
        "not in the buckets" in e for e in flux_contract_errors(good.replace('"markets"', '"news"'))
    )
    assert any(
        "unclosed" in e for e in flux_contract_errors(good + '\n  |> keep(columns: ["_time"]')
    )
    # The person's own bucket: any measurement of theirs, but filtered by one, and only
    # that bucket (a custom_<other login> bucket is unknown).
    custom = good.replace('"markets"', f'"{CUSTOM_BUCKET}"').replace("market_data", "my_series")
    assert flux_contract_errors(custom) == []
    assert "no _measurement filter" in flux_contract_errors(
        custom.replace('r._measurement == "my_series" and ', "")
    )
    assert any(
        "bucket" in e for e in flux_contract_errors(good.replace('"markets"', '"custom_bob"'))
    )


def test_alert_rules_skip_demo_points() -> None:
    for group in rendered_yaml("default", "alert-rules.yml")["groups"]:
        for rule in group["rules"]:
            query = rule["data"][0]["model"]["query"]
            if ("price" in query and "count()" not in query) or (
                "sentiment_score" in query and "join" in query
            ):
                assert 'not exists r.demo or r.demo != "true"' in query, rule["uid"]


SHIPPED_WEIGHTS = REPO / "files/feeders/src/bbdash/sentiment/model_weights.json"


def sentiment_scorer_errors(query: str) -> list[str]:
    """Why a query reading sentiment scores may average two scorers' scales together."""
    if "sentiment_score" not in query or "count()" in query:
        return []  # counting points (the news stall) reads no score's value
    version = json.loads(SHIPPED_WEIGHTS.read_text(encoding="utf-8"))["version"]
    wanted = f'filter(fn: (r) => r.sentiment_scorer == "{version}")'
    return [] if wanted in query else [f"sentiment_score read without {wanted}"]


def test_sentiment_alert_rules_read_only_the_shipped_scorer() -> None:
    found = 0
    for group in rendered_yaml("default", "alert-rules.yml")["groups"]:
        for rule in group["rules"]:
            query = rule["data"][0]["model"]["query"]
            assert not sentiment_scorer_errors(query), rule["uid"]
            # A rule without the filter, or filtering on another version, fails.
            if "sentiment_score" in query and "count()" not in query:
                found += 1
                unfiltered = "\n".join(
                    line for line in query.splitlines() if "sentiment_scorer" not in line
                )
                assert sentiment_scorer_errors(unfiltered)
                assert sentiment_scorer_errors(query.replace("lexlr-", "lexlr-old-"))
    assert found, "no alert rule reads sentiment_score"


@pytest.mark.parametrize(("where", "expr"), PROMQL, ids=[w for w, _ in PROMQL])
def test_promql_names_known_metrics(where: str, expr: str) -> None:
    names = promql_metric_names(expr)
    assert names, f"{where}: no metric in {expr!r}"
    unknown = names - known_metrics()
    assert not unknown, f"{where}: unknown metrics {sorted(unknown)}"


def test_promql_parser() -> None:
    assert promql_metric_names(
        'sum by (mode) (rate(node_cpu_seconds_total{mode!="idle", instance=~"$instance"}[$__rate_interval]))'
    ) == {"node_cpu_seconds_total"}
    assert promql_metric_names(
        "time() - max by (job, loop) (bbdash_heartbeat_timestamp_seconds)"
    ) == {"bbdash_heartbeat_timestamp_seconds"}
    assert promql_metric_names("label_values(node_uname_info, instance)") == {"node_uname_info"}
    assert promql_metric_names("histogram_quantile(0.95, sum by (le) (rate(x_bucket[5m])))") == {
        "x_bucket"
    }


def test_bbdash_metrics_come_from_the_code() -> None:
    """Dashboards read the metric names the feeders and the backup script really write."""
    written = set(bbdash_metrics()) | backup_metrics()
    assert {
        "bbdash_backup_last_success_timestamp_seconds",
        "bbdash_backup_size_bytes",
    } <= backup_metrics(), "the parser must find the backup script's metrics"
    used = set()
    for _, expr in PROMQL:
        used |= {n for n in promql_metric_names(expr) if n.startswith("bbdash_")}
    assert used, "the pipeline dashboard reads bbdash_* metrics"
    assert used <= written, sorted(used - written)


def test_infrastructure_reads_node_exporter_and_cadvisor() -> None:
    used = set()
    for where, expr in PROMQL:
        if where.startswith("infrastructure.json"):
            used |= promql_metric_names(expr)
    assert used & NODE_EXPORTER_METRICS and used & CADVISOR_METRICS


@pytest.mark.parametrize(("where", "sql"), SQL, ids=[w for w, _ in SQL])
def test_sql_reads_only_contract_views(where: str, sql: str) -> None:
    views = pg_contract()
    tables = re.findall(r"\b(?:FROM|JOIN)\s+(\w+)", sql, re.IGNORECASE)
    assert tables, where
    for table in tables:
        assert table in views, f"{where}: {table} is not a contract view"
    columns = set().union(*(views[t] for t in tables))
    # String literals and Grafana's variables are values, not columns; a name given
    # with AS (Grafana's __text / __value, a sort rank) may be used after it.
    text = re.sub(r"\$\{[^}]*\}", "''", re.sub(r"'[^']*'", "''", sql))
    aliases = set(re.findall(r"\bAS\s+([a-z_]+)", text, re.IGNORECASE))
    selects = re.findall(r"SELECT\s+(.*?)\s+FROM", text, re.IGNORECASE | re.DOTALL)
    assert selects, where
    for select in selects:
        for column in re.findall(r"\b([a-z_]+)\b", re.sub(r"\bAS\s+\w+", "", select)):
            assert column in columns | aliases, f"{where}: unknown column {column}"
    where_clause = re.search(r"\bWHERE\b(.*?)(?:\bORDER BY\b|$)", text, re.IGNORECASE | re.DOTALL)
    for column in re.findall(r"\b([a-z_]+)\s+(?:IN|=)", where_clause[1] if where_clause else ""):
        assert column in columns, f"{where}: unknown column {column}"
    for column in re.findall(r"ORDER BY\s+([a-z_]+)", text, re.IGNORECASE):
        assert column in columns | aliases, f"{where}: unknown column {column}"


def test_grafana_may_read_every_view_the_dashboards_read() -> None:
    """grafana_ro gets SELECT on postgres_contract_views only (roles/postgres): a view
    a variable reads and the list lacks would leave that variable empty in production."""
    granted = set(
        yaml.safe_load((REPO / "roles/postgres/defaults/main.yml").read_text())[
            "postgres_contract_views"
        ]
    )
    read = {t for _, sql in SQL for t in re.findall(r"\b(?:FROM|JOIN)\s+(\w+)", sql, re.I)}
    assert read and read <= granted, read - granted


# --------------------------------------------------------------------------- Flux, by Flux itself

FLUX_UNAVAILABLE = grafana_flux_wasm.unavailable_reason()


@functools.lru_cache(maxsize=1)
def flux_verdicts() -> dict[str, dict[str, object]]:
    queries = [grafana_flux_wasm.grafana_interpolate(flux) for _, flux in FLUX]
    return dict(zip([w for w, _ in FLUX], grafana_flux_wasm.check(queries), strict=True))


@pytest.mark.skipif(FLUX_UNAVAILABLE is not None, reason=f"Flux type checker: {FLUX_UNAVAILABLE}")
@pytest.mark.parametrize(("where", "flux"), FLUX, ids=[w for w, _ in FLUX])
def test_flux_parses_and_type_checks(where: str, flux: str) -> None:
    """Flux's own parser and semantic analysis accept the query, as Grafana sends it."""
    verdict = flux_verdicts()[where]
    assert verdict["valid"], (
        f"{where}: {verdict['errors']}\n{grafana_flux_wasm.grafana_interpolate(flux)}"
    )


@pytest.mark.skipif(FLUX_UNAVAILABLE is not None, reason=f"Flux type checker: {FLUX_UNAVAILABLE}")
def test_flux_type_checker_rejects_bad_flux() -> None:
    base = (
        'from(bucket: "markets") |> range(start: -1h) |> filter(fn: (r) => r._measurement == "m")'
    )
    verdicts = grafana_flux_wasm.check(
        [
            base,
            base + ' |> pivot(rowKey: "x", columnKey: ["_field"], valueColumn: "_value")',
            base + " |> aggregateWindow(every: 1m, fn: mean, createEmpty: 1)",
            'x = strings.split(v: "a/b", t: "/")[0]',
            base + " |> filter(fn: (r) => ",
        ]
    )
    assert [v["valid"] for v in verdicts] == [True, False, False, False, False]


def test_grafana_interpolation_model() -> None:
    text = grafana_flux_wasm.grafana_interpolate(
        'range(start: v.timeRangeStart) |> filter(fn: (r) => contains(value: r.symbol, set: ${symbol:json}) and r.x == "${symbol}")'
    )
    assert "v." not in text and "$" not in text
    assert '["BTC/USDT", "AAPL"]' in text and '"BTC/USDT"' in text
