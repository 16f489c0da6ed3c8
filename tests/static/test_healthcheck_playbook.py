"""The health report's verdict on Docker's container list (playbooks/healthcheck.yml).

The report asks Docker once for every container and reads its status line
(the `Status` field of `GET /containers/json`, as community.docker's
docker_host_info returns it). Ansible itself evaluates the playbook's
expression here on recorded status lines: a container is healthy when it is
up and Docker does not call it unhealthy or still starting; one without a
healthcheck counts when it is up.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import yaml
from role_runner import REPO, localhost_play, run_playbook

# The health report's play (the playbook first imports playbooks/layers.yml).
PLAYBOOK = [
    play
    for play in yaml.safe_load((REPO / "playbooks" / "healthcheck.yml").read_text(encoding="utf-8"))
    if "ansible.builtin.import_playbook" not in play
]
# docker ps statuses (moby daemon/list.go and container/state.go, State.String).
CONTAINERS = [
    {"Names": ["/bloomberg-grafana"], "Status": "Up 3 minutes (healthy)"},
    {"Names": ["/bloomberg-nginx"], "Status": "Up 2 hours (unhealthy)"},
    {"Names": ["/bloomberg-postgres"], "Status": "Up 4 seconds (health: starting)"},
    {"Names": ["/bloomberg-cadvisor"], "Status": "Up 10 minutes"},
    {"Names": ["/bloomberg-influxdb"], "Status": "Exited (137) 5 minutes ago"},
    {"Names": ["/bloomberg-prometheus"], "Status": "Restarting (1) 3 seconds ago"},
    {"Names": ["/bloomberg-alertmanager"], "Status": "Created"},
]


def evaluate(tmp_path: Path, expression: str, given: dict[str, Any]) -> Any:
    """The value Ansible gives one of the playbook's variables, with `given` set."""
    play = localhost_play(
        f"evaluate the health report's {expression}",
        vars={expression: PLAYBOOK[0]["vars"][expression], **given},
        tasks=[{"ansible.builtin.debug": {"msg": f"VALUE={{{{ {expression} | to_json }}}}"}}],
    )
    proc = run_playbook(tmp_path, [play])
    assert proc.returncode == 0, proc.stdout[-3000:]
    line = next(x for x in proc.stdout.splitlines() if "VALUE=" in x)
    return json.loads(line.split("VALUE=", 1)[1].rstrip('"').replace('\\"', '"'))


def healthy(tmp_path: Path, containers: list[dict[str, Any]]) -> list[str]:
    result: list[str] = evaluate(
        tmp_path, "_hc_healthy", {"_hc_docker": {"containers": containers}}
    )
    return result


def test_only_up_and_not_unhealthy_containers_count(tmp_path: Path) -> None:
    assert healthy(tmp_path, CONTAINERS) == ["bloomberg-grafana", "bloomberg-cadvisor"]


def test_no_container_listed_means_none_healthy(tmp_path: Path) -> None:
    assert healthy(tmp_path, []) == []


# Alertmanager's GET /api/v2/status: config.original is the loaded YAML
# (api/v2/api.go getStatusHandler, v0.25.0 and v0.34.0), with secrets masked.
AM_STATUS = json.dumps(
    {
        "cluster": {"status": "disabled"},
        "config": {
            "original": yaml.safe_dump(
                {
                    "route": {"receiver": "telegram"},
                    "receivers": [
                        {"name": "null"},
                        {"name": "telegram", "telegram_configs": [{"bot_token": "<secret>"}]},
                        {"name": "email", "email_configs": [{"to": "ops@example.org"}]},
                        {"name": "webhook", "webhook_configs": [{"url": "<secret>"}]},
                        {"name": "price-telegram"},
                        {"name": "deadman", "webhook_configs": [{"url": "<secret>"}]},
                    ],
                }
            )
        },
    }
)
# notify/notify.go: counters per integration; v0.27+ adds receiver_name.
AM_METRICS = [
    "# HELP alertmanager_notifications_total The total number of attempted notifications.",
    'alertmanager_notifications_total{integration="telegram"} 5',
    'alertmanager_notifications_failed_total{integration="telegram"} 2',
    'alertmanager_notifications_total{integration="email",receiver_name="email"} 3',
    'alertmanager_notifications_failed_total{integration="email",receiver_name="email"} 3',
    'alertmanager_notifications_total{integration="webhook"} 0',
    'alertmanager_notifications_failed_total{integration="webhook"} 0',
    'alertmanager_notifications_total{integration="slack"} 0',
]


def delivery_rows(tmp_path: Path, watchdog: list[dict[str, Any]]) -> list[dict[str, Any]]:
    given = {
        name: PLAYBOOK[0]["vars"][name]
        for name in ("_hc_alert_channels", "_hc_receivers", "_hc_am_answers")
    } | {
        # bbdash.stack.http_batch's results, in the order the playbook asks.
        "_hc_am": {
            "results": [
                {"status": 200, "failed": False, "content": AM_STATUS},
                {"status": 200, "failed": False, "content": "\n".join(AM_METRICS)},
                {"status": 200, "failed": False, "content": json.dumps(watchdog)},
            ]
        },
    }
    rows: list[dict[str, Any]] = evaluate(tmp_path, "_hc_delivery_rows", given)
    return rows


def test_each_channel_and_the_dead_mans_switch_is_listed_live_or_not(tmp_path: Path) -> None:
    rows = delivery_rows(tmp_path, watchdog=[{"labels": {"alertname": "Watchdog"}}])
    states = {row["name"].split(":")[0]: (row["state"], row["ok"]) for row in rows}
    assert states == {
        "alert channel telegram": ("live", True),  # 3 of 5 went through
        "alert channel email": ("FAILING", False),  # every attempt failed
        "alert channel discord": ("off", True),
        "alert channel slack": ("off", True),  # a counter, but no receiver
        "alert channel webhook": ("ready", True),
        "dead man's switch": ("live", True),
    }
    assert any("3 sent, 2 failed" in row["name"] for row in rows)


def test_a_dead_mans_switch_without_a_watchdog_is_failing(tmp_path: Path) -> None:
    rows = delivery_rows(tmp_path, watchdog=[])
    (deadman,) = [row for row in rows if row["name"].startswith("dead man")]
    assert (deadman["state"], deadman["ok"]) == ("FAILING", False)


def offsite_row(tmp_path: Path, method: str, age_s: float) -> dict[str, Any]:
    now = 1_800_000_000.0
    prom = (
        "# written by bbdash-backup\n"
        "bbdash_backup_last_success_timestamp_seconds 1799990000\n"
        f"bbdash_backup_offsite_last_success_timestamp_seconds {now - age_s}\n"
    )
    given = {
        name: PLAYBOOK[0]["vars"][name] for name in ("_hc_offsite_last", "_hc_offsite_age")
    } | {
        "backup_offsite_method": method,
        "_hc_backup_prom": {"content": base64.b64encode(prom.encode()).decode()},
        "_hc_now": now,
    }
    row: dict[str, Any] = evaluate(tmp_path, "_hc_offsite_row", given)
    return row


def test_the_off_box_backup_is_live_stale_or_off(tmp_path: Path) -> None:
    assert offsite_row(tmp_path, "rsync", 3600)["state"] == "live"
    stale = offsite_row(tmp_path, "rsync", 27 * 3600)
    assert (stale["state"], stale["ok"]) == ("STALE", False)
    off = offsite_row(tmp_path, "none", 3600)
    assert (off["state"], off["ok"]) == ("off", True)


# The market feeder's /metrics (prometheus_client text format), as the report reads it.
FEEDER_METRICS = [
    "# HELP bbdash_source_update_interval_seconds Seconds between two quotes of one symbol.",
    "# TYPE bbdash_source_update_interval_seconds gauge",
    'bbdash_source_update_interval_seconds{source="binance"} 1.0',
    'bbdash_source_update_interval_seconds{source="yahoo"} 30.0',
    'bbdash_source_update_interval_seconds{source="coingecko"} 0.0',
    'bbdash_source_symbols{source="binance"} 12.0',
    'bbdash_source_symbols{source="yahoo"} 150.0',
    'bbdash_source_symbols{source="coingecko"} 0.0',
]


def test_the_report_shows_how_often_each_source_refreshes_a_quote(tmp_path: Path) -> None:
    """Issue 15: past ~100 tickers Yahoo's hourly budget stretches every quote; the
    report says so (never as a failure), and leaves out sources serving nothing."""
    rows = evaluate(
        tmp_path, "_hc_cadence_rows", {"_hc_feeder_metrics": {"stdout_lines": FEEDER_METRICS}}
    )
    assert rows == [
        {"name": "quotes from binance: every 1 s for 12 symbol(s)", "ok": True, "state": "live"},
        {
            "name": "quotes from yahoo: every 30 s for 150 symbol(s) (its hourly request budget)",
            "ok": True,
            "state": "slowed",
        },
    ]
    # Demo mode, or the feeder not running: nothing to say.
    assert evaluate(tmp_path, "_hc_cadence_rows", {}) == []


def test_the_report_shows_the_history_backfill_progress(tmp_path: Path) -> None:
    """Issue 10, item 4: a first deployment with many symbols takes a while to
    backfill; the report shows how far each upstream got, and what it refused."""

    def chunks(source: str, **states: int) -> list[str]:
        return [
            f'bbdash_backfill_chunks{{source="{source}",state="{state}"}} {float(n)}'
            for state, n in states.items()
        ]

    lines = [
        "# TYPE bbdash_backfill_chunks gauge",
        *chunks("binance", total=87, done=87, pending=0, deferred=0, failed=0),
        *chunks("yahoo", total=300, done=120, pending=150, deferred=28, failed=2),
        *chunks("coingecko", total=0, done=0, pending=0, deferred=0, failed=0),
    ]
    rows = evaluate(tmp_path, "_hc_backfill_rows", {"_hc_feeder_metrics": {"stdout_lines": lines}})
    assert rows == [
        {"name": "history from binance: 87 of 87 chunks", "ok": True, "state": "done"},
        {
            "name": "history from yahoo: 120 of 300 chunks, 2 refused by the upstream "
            "(see the feeder log)",
            "ok": True,
            "state": "filling",
        },
    ]
    assert evaluate(tmp_path, "_hc_backfill_rows", {}) == []


def test_the_report_names_the_sizing_profile(tmp_path: Path) -> None:
    """Issue 15: the report says which profile the host was held to, and what it sums to."""
    found = {"profile": "test", "containers": [{"role": "grafana"}] * 11,
             "memory_mb": 7168.0, "memtotal_mb": 24105, "vcpus": 2}  # fmt: skip
    rows = evaluate(tmp_path, "_hc_sizing_rows", {"_sizing_report": found})
    assert rows == [
        {
            "name": "test profile: 11 containers limited to 7168 MB of 24105 MB, on 2 vCPUs",
            "ok": True,
            "state": "sized",
        }
    ]
    # A run whose preflight was skipped (sizing_enabled: false): nothing to say.
    assert evaluate(tmp_path, "_hc_sizing_rows", {}) == []
