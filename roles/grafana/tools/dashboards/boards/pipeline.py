"""Pipeline health: is data flowing from the sources to the dashboards, and if not, where it stops.

Feeders' heartbeats and data freshness, per-source successes, errors, rate
budgets and circuit breakers, the InfluxDB sink and its spool, the watchlist
sync, Binance streams and price alerts, the news feeder and watchlist API, and
the backups. Metric names are the ones the feeders declare (files/feeders/src/bbdash,
which a test reads) and the ones the backup role writes.
"""

from __future__ import annotations

from typing import Any

from ..catalog import PROM
from ..chrome import header, section
from ..fields import field_defaults, override, palette_defaults, thresholds, two_states
from ..frame import dashboard
from ..layout import Board
from ..panels import stat, timeseries
from ..style import AMBER, DOWN, UP
from ..targets import influx_target, prom_target
from ..variables import var_prom
from ..widgets import status_stat

JOB = 'job=~"$job"'
SRC = 'source=~"$source"'


def build() -> dict[str, Any]:
    """The pipeline health dashboard."""
    b = Board()
    b.add(
        header(
            "pipeline", "feeders, sources, rate budgets, sink and spool, watchlist sync, backups"
        ),
        24,
        3,
    )
    b.add(section("Feeders"), 24, 1)
    add_feeders(b)
    b.add(section("Sources"), 24, 1)
    add_sources(b)
    b.add(section("InfluxDB sink and spool"), 24, 1)
    add_sink(b)
    b.add(section("Watchlist sync"), 24, 1)
    add_watchlist(b)
    b.add(section("Market feeder: Binance and price alerts"), 24, 1)
    add_market_feeder(b)
    b.add(section("News feeder and watchlist API"), 24, 1)
    add_news_and_api(b)
    b.add(section("Backups", "metrics written by the backup role (textfile collector)"), 24, 1)
    add_backups(b)
    variables = [
        var_prom("job", "Job", "label_values(bbdash_heartbeat_timestamp_seconds, job)"),
        var_prom("source", "Source", "label_values(bbdash_source_messages_total, source)"),
    ]
    return dashboard(
        "pipeline",
        ["pipeline", "operations"],
        b,
        variables,
        time_from="now-6h",
        description="Feeders, sources, rate budgets, InfluxDB sink and spool, watchlist sync, backups.",
    )


def age_thresholds(amber: float, red: float) -> dict[str, Any]:
    """Green while fresh, amber from ``amber`` seconds, red from ``red``."""
    return thresholds((None, UP), (amber, AMBER), (red, DOWN))


def age_stat(
    title: str,
    target: dict[str, Any],
    amber: float,
    red: float,
    *,
    description: str = "",
    no_value: str | None = None,
) -> dict[str, Any]:
    """Named tiles of an age in seconds (one per series), coloured by ``age_thresholds``."""
    extra: dict[str, Any] = {"noValue": no_value} if no_value else {}
    return stat(
        title,
        [target],
        field_defaults(unit="s", decimals=0, th=age_thresholds(amber, red), **extra),
        text_mode="value_and_name",
        color_mode="background",
        orientation="horizontal",
        description=description,
    )


def freshness_stat(
    title: str,
    point: tuple[str, str, str],
    start: str,
    amber: float,
    red: float,
    no_value: str,
    description: str = "",
) -> dict[str, Any]:
    """Age of the newest (bucket, measurement, field) point since ``start``: what the dashboards see."""
    bucket, measurement, field = point
    query = "\n".join(
        [
            f'from(bucket: "{bucket}")',
            f"  |> range(start: {start})",
            f'  |> filter(fn: (r) => r._measurement == "{measurement}" and r._field == "{field}")',
            "  |> last()",
            "  |> group()",
            '  |> max(column: "_time")',
            "  |> map(fn: (r) => ({_value: float(v: int(v: now()) - int(v: r._time)) / 1000000000.0}))",
        ]
    )
    defaults = field_defaults(
        unit="s",
        decimals=0,
        th=age_thresholds(amber, red),
        noValue=no_value,
    )
    return stat(
        title, [influx_target(query)], defaults, color_mode="background", description=description
    )


def counts_chart(title: str, targets: list[dict[str, Any]], **kw: Any) -> dict[str, Any]:
    """A chart of counts or rates, one colour per series; ``kw`` as for timeseries."""
    return timeseries(title, targets, palette_defaults("short"), **kw)


def add_feeders(b: Board) -> None:
    """Main-loop heartbeats, and the age of the newest price and article in InfluxDB."""
    b.add(
        age_stat(
            "Main loop heartbeat age",
            prom_target(
                f"time() - max by (job, loop) (bbdash_heartbeat_timestamp_seconds{{{JOB}}})",
                "{{job}} {{loop}}",
                instant=True,
            ),
            60,
            300,
            description="Seconds since each main loop last made progress (the /healthz heartbeat).",
        ),
        12,
        5,
    )
    b.add(
        freshness_stat(
            "Freshest market point",
            ("markets", "market_data", "price"),
            "-1h",
            60,
            600,
            "none in 1 h",
            "Age of the newest price point in InfluxDB (what the dashboards actually see).",
        ),
        6,
        5,
    )
    b.add(
        freshness_stat(
            "Freshest article",
            ("news", "news_articles", "sentiment_score"),
            "-24h",
            1800,
            3600,
            "none in 24 h",
        ),
        6,
        5,
    )


def add_sources(b: Board) -> None:
    """Per source: last success, messages, errors, invalid records, budget, breaker."""
    b.add(
        age_stat(
            "Last success age",
            prom_target(
                f"time() - max by (source) (bbdash_source_last_success_timestamp_seconds{{{SRC}}})",
                "{{source}}",
                instant=True,
            ),
            120,
            600,
        ),
        24,
        4,
    )
    messages = f"sum by (source) (rate(bbdash_source_messages_total{{{SRC}}}[$__rate_interval]))"
    errors = f"sum by (source, kind) (rate(bbdash_source_errors_total{{{SRC}}}[$__rate_interval]))"
    invalid = (
        f"sum by (source, reason) (rate(bbdash_records_invalid_total{{{SRC}}}[$__rate_interval]))"
    )
    b.add(counts_chart("Messages / s", [prom_target(messages, "{{source}}")]), 8, 8)
    b.add(
        counts_chart("Errors / s", [prom_target(errors, "{{source}} {{kind}}")], stack=True), 8, 8
    )
    b.add(
        counts_chart(
            "Invalid records / s", [prom_target(invalid, "{{source}} {{reason}}")], stack=True
        ),
        8,
        8,
    )
    b.add(
        counts_chart(
            "Rate budget remaining",
            [
                prom_target(
                    f"min by (source) (bbdash_source_budget_remaining{{{SRC}}})", "{{source}}"
                )
            ],
            description="Calls left in each source's token bucket: near 0 means the feeder is throttling itself.",
        ),
        12,
        8,
    )
    b.add(circuit_breakers(), 12, 8)


def circuit_breakers() -> dict[str, Any]:
    """Each source's breaker state over time: closed, half-open, open."""
    return {
        "type": "state-timeline",
        "title": "Circuit breakers",
        "description": "0 closed (normal), 1 half-open (probing), 2 open (source skipped).",
        "datasource": PROM,
        "targets": [
            prom_target(f"max by (source) (bbdash_source_circuit_state{{{SRC}}})", "{{source}}")
        ],
        "fieldConfig": {
            "defaults": field_defaults(
                th=thresholds((None, UP), (1, AMBER), (2, DOWN)),
                mappings=[
                    {
                        "type": "value",
                        "options": {
                            "0": {"text": "closed", "color": UP, "index": 0},
                            "1": {"text": "half-open", "color": AMBER, "index": 1},
                            "2": {"text": "open", "color": DOWN, "index": 2},
                        },
                    }
                ],
                custom={
                    "fillOpacity": 80,
                    "lineWidth": 0,
                    "hideFrom": {"legend": False, "tooltip": False, "viz": False},
                },
            ),
            "overrides": [],
        },
        "options": {
            "showValue": "auto",
            "mergeValues": True,
            "alignValue": "left",
            "rowHeight": 0.9,
            "legend": {"showLegend": False, "displayMode": "list", "placement": "bottom"},
            "tooltip": {"mode": "single", "sort": "none"},
        },
    }


def add_sink(b: Board) -> None:
    """The InfluxDB sink: points in and out, write latency and errors, spool and queue."""
    b.add(points_chart(), 12, 8)
    b.add(write_latency_chart(), 12, 8)
    b.add(
        status_stat(
            "InfluxDB writes",
            [prom_target("min by (bucket) (bbdash_influx_up)", "{{bucket}}", instant=True)],
            "FAILING",
            "OK",
        ),
        6,
        7,
    )
    write_errors = (
        "sum by (bucket, kind) (rate(bbdash_influx_write_errors_total[$__rate_interval]))"
    )
    b.add(
        counts_chart(
            "Write errors / s", [prom_target(write_errors, "{{bucket}} {{kind}}")], stack=True
        ),
        6,
        7,
    )
    b.add(
        counts_chart(
            "Spool and queue",
            [
                prom_target(
                    "sum by (bucket) (bbdash_spool_depth_points)", "{{bucket}} spool points", "A"
                ),
                prom_target(
                    "sum by (bucket) (bbdash_sink_queue_points)", "{{bucket}} queue points", "B"
                ),
                prom_target("sum by (bucket) (bbdash_spool_bytes)", "{{bucket}} spool bytes", "C"),
            ],
            overrides=[
                override("byRegexp", "/bytes/", {"unit": "bytes", "custom.axisPlacement": "left"})
            ],
            description="Points waiting on disk (InfluxDB unreachable) and in memory (next batch).",
        ),
        12,
        7,
    )


def write_latency_chart() -> dict[str, Any]:
    """Median and 95th percentile of the time from submission to acknowledgement."""
    return timeseries(
        "Write latency",
        [
            prom_target(
                "histogram_quantile(0.5, sum by (le, bucket) (rate(bbdash_write_latency_seconds_bucket[$__rate_interval])))",
                "{{bucket}} p50",
                "A",
            ),
            prom_target(
                "histogram_quantile(0.95, sum by (le, bucket) (rate(bbdash_write_latency_seconds_bucket[$__rate_interval])))",
                "{{bucket}} p95",
                "B",
            ),
        ],
        palette_defaults("s"),
        description="From a point's submission to InfluxDB's acknowledgement.",
    )


def points_chart() -> dict[str, Any]:
    """Points submitted, written, rejected and dropped per bucket."""
    return counts_chart(
        "Points / s",
        [
            prom_target(
                "sum by (bucket) (rate(bbdash_points_submitted_total[$__rate_interval]))",
                "{{bucket}} submitted",
                "A",
            ),
            prom_target(
                "sum by (bucket) (rate(bbdash_points_written_total[$__rate_interval]))",
                "{{bucket}} written",
                "B",
            ),
            prom_target(
                "sum by (bucket) (rate(bbdash_points_rejected_total[$__rate_interval]))",
                "{{bucket}} rejected",
                "C",
            ),
            prom_target(
                "sum by (bucket, reason) (rate(bbdash_points_dropped_total[$__rate_interval]))",
                "{{bucket}} dropped ({{reason}})",
                "D",
            ),
        ],
        overrides=[
            override(
                "byRegexp", "/rejected|dropped/", {"color": {"mode": "fixed", "fixedColor": DOWN}}
            )
        ],
    )


def add_watchlist(b: Board) -> None:
    """Assets collected per type, last sync age, fallback list in use, syncs and errors."""
    b.add(
        stat(
            "Assets collected",
            [
                prom_target(
                    "sum by (asset_type) (bbdash_watchlist_assets)", "{{asset_type}}", instant=True
                )
            ],
            field_defaults(decimals=0),
            text_mode="value_and_name",
            orientation="horizontal",
        ),
        8,
        5,
    )
    b.add(
        stat(
            "Last sync age",
            [
                prom_target(
                    "time() - max(bbdash_watchlist_last_sync_timestamp_seconds)", instant=True
                )
            ],
            field_defaults(unit="s", decimals=0, th=age_thresholds(600, 1800)),
            color_mode="background",
        ),
        4,
        5,
    )
    b.add(
        stat(
            "Fallback list",
            [prom_target("max(bbdash_watchlist_using_fallback)", instant=True)],
            # Unlike the health tiles, 1 is the bad state here.
            field_defaults(
                th=thresholds((None, UP), (1, DOWN)), mappings=two_states("no", "IN USE")
            ),
            color_mode="background",
            description="IN USE: the feeder never reached PostgreSQL and collects its configured fallback symbols.",
        ),
        4,
        5,
    )
    syncs = "sum by (trigger) (increase(bbdash_watchlist_syncs_total[$__rate_interval]))"
    errors = "sum by (kind) (increase(bbdash_watchlist_errors_total[$__rate_interval]))"
    targets = [
        prom_target(syncs, "sync ({{trigger}})", "A"),
        prom_target(errors, "error ({{kind}})", "B"),
    ]
    b.add(counts_chart("Syncs and errors", targets, draw="bars"), 8, 5)


def add_market_feeder(b: Board) -> None:
    """Binance WebSocket streams and fallbacks, and the price alerts sent to Alertmanager."""
    b.add(
        stat(
            "Binance streams",
            [
                prom_target("sum(bbdash_binance_connections)", "connections", "A", instant=True),
                prom_target("sum(bbdash_binance_streams)", "streams", "B", instant=True),
            ],
            field_defaults(decimals=0),
            text_mode="value_and_name",
            orientation="horizontal",
            description="Open WebSocket connections and the streams they carry.",
        ),
        6,
        7,
    )
    b.add(
        counts_chart(
            "Reconnects and REST fallbacks",
            [
                prom_target(
                    "sum by (reason) (increase(bbdash_binance_reconnects_total[$__rate_interval]))",
                    "reconnect ({{reason}})",
                    "A",
                ),
                prom_target(
                    "sum by (source) (increase(bbdash_fallback_fetches_total[$__rate_interval]))",
                    "fallback ({{source}})",
                    "B",
                ),
            ],
            draw="bars",
        ),
        6,
        7,
    )
    b.add(price_alerts_chart(), 8, 7)
    b.add(
        stat(
            "Alert rules / queue",
            [
                prom_target("sum(bbdash_alert_rules)", "rules", "A", instant=True),
                prom_target("sum(bbdash_alerts_queued)", "queued", "B", instant=True),
            ],
            field_defaults(decimals=0),
            text_mode="value_and_name",
            orientation="horizontal",
        ),
        4,
        7,
    )


def price_alerts_chart() -> dict[str, Any]:
    """Alerts fired, sent, failed and dropped per window."""
    return counts_chart(
        "Price alerts",
        [
            prom_target(
                "sum by (condition) (increase(bbdash_alerts_fired_total[$__rate_interval]))",
                "fired ({{condition}})",
                "A",
            ),
            prom_target("sum(increase(bbdash_alerts_sent_total[$__rate_interval]))", "sent", "B"),
            prom_target(
                "sum by (kind) (increase(bbdash_alerts_send_errors_total[$__rate_interval]))",
                "send error ({{kind}})",
                "C",
            ),
            prom_target(
                "sum by (reason) (increase(bbdash_alerts_dropped_total[$__rate_interval]))",
                "dropped ({{reason}})",
                "D",
            ),
        ],
        overrides=[
            override(
                "byRegexp", "/error|dropped/", {"color": {"mode": "fixed", "fixedColor": DOWN}}
            )
        ],
        draw="bars",
        description="Watchlist price alerts evaluated by the market feeder and posted to Alertmanager.",
    )


def add_news_and_api(b: Board) -> None:
    """News articles handled per source; the watchlist API's requests, latency and database."""
    articles = "sum by (source, outcome) (increase(bbdash_news_articles_total[$__rate_interval]))"
    b.add(
        counts_chart(
            "Articles",
            [prom_target(articles, "{{source}} {{outcome}}")],
            draw="bars",
            stack=True,
            description="Articles handled per source: submitted, duplicate, unencodable.",
        ),
        8,
        7,
    )
    b.add(api_requests_chart(), 8, 7)
    b.add(
        timeseries(
            "API latency p95",
            [
                prom_target(
                    "histogram_quantile(0.95, sum by (le, route) "
                    "(rate(bbdash_api_request_duration_seconds_bucket[$__rate_interval])))",
                    "{{route}}",
                )
            ],
            palette_defaults("s"),
        ),
        5,
        7,
    )
    b.add(
        status_stat(
            "API database",
            [
                prom_target("min(bbdash_api_db_up)", "db", "A", instant=True),
                prom_target("min(bbdash_api_schema_current)", "schema", "B", instant=True),
            ],
            "NO",
            "OK",
            "db: the last health check reached PostgreSQL; schema: migrations at the code's head.",
        ),
        3,
        7,
    )


def api_requests_chart() -> dict[str, Any]:
    """API requests per status, and authentication failures."""
    return timeseries(
        "API requests / s",
        [
            prom_target(
                "sum by (status) (rate(bbdash_api_requests_total[$__rate_interval]))",
                "{{status}}",
                "A",
            ),
            prom_target(
                "sum(rate(bbdash_api_auth_failures_total[$__rate_interval]))",
                "auth failures",
                "B",
            ),
        ],
        palette_defaults("reqps"),
        overrides=[
            override("byRegexp", "/^5|auth/", {"color": {"mode": "fixed", "fixedColor": DOWN}})
        ],
    )


def add_backups(b: Board) -> None:
    """Age of the last complete backup (the metric BackupTooOld reads) and its size."""
    b.add(
        age_stat(
            "Last successful backup",
            prom_target(
                "time() - max without (instance, job) (bbdash_backup_last_success_timestamp_seconds)",
                "last complete backup",
                instant=True,
            ),
            93600,
            180000,
            no_value="no backup metric",
            description="Age of the last complete backup (node-exporter textfile collector, as the prometheus role's BackupTooOld reads it): amber after 26 h, red after 50 h.",
        ),
        12,
        5,
    )
    b.add(
        stat(
            "Backup size",
            [
                prom_target(
                    "max without (instance, job) (bbdash_backup_size_bytes)",
                    "{{kind}}",
                    instant=True,
                )
            ],
            field_defaults(unit="bytes", decimals=1, noValue="no backup metric"),
            text_mode="value_and_name",
            orientation="horizontal",
        ),
        12,
        5,
    )
