"""Backups on the converged host: the daily timer, the job's hardening and
configuration, the metric node-exporter exports and Prometheus scrapes, and
the round trip: backup -> wipe both databases (containers and volumes) ->
playbooks/restore.yml -> the same PostgreSQL rows and InfluxDB points back,
with the token files on the host still valid and the services that use the
databases healthy again without a rerun.

PostgreSQL is the real server (pg_dump / pg_restore for real). InfluxDB is the
TEST DOUBLE: `influx backup` / `influx restore --full` are the double's
stand-in commands (its own JSON format), so for InfluxDB this proves the
job's plumbing (docker exec, docker cp, checksums, restore order, token
files), not InfluxDB's backup format (docs/data-layer.md)."""

from __future__ import annotations

import json
import time

from test_data import (
    inspect,
    playbook,
    probe_prices,
    psql,
    recap_changed,
    token,
    vault,
    wait_healthy,
    wait_services_healthy,
    write_probe_points,
)

BACKUP_DIR = "/var/backups/bloomberg"
PROM = "/opt/bloomberg/node-exporter/textfile/bbdash_backup.prom"


def test_timer_runs_daily(host) -> None:
    timer = host.service("bbdash-backup.timer")
    assert timer.is_enabled and timer.is_running
    unit = host.file("/etc/systemd/system/bbdash-backup.timer").content_string
    assert "OnCalendar=*-*-* 03:15:00" in unit and "Persistent=true" in unit
    service = host.file("/etc/systemd/system/bbdash-backup.service").content_string
    for line in ("Type=oneshot", "NoNewPrivileges=yes", "ProtectSystem=full", "UMask=0077"):
        assert line in service


def test_secrets_and_sets_are_root_only(host) -> None:
    config = host.file("/etc/bbdash-backup/config.json")
    assert (config.user, config.mode) == ("root", 0o600)
    assert host.file(BACKUP_DIR).mode == 0o700
    assert host.file("/usr/local/sbin/bbdash-backup").mode == 0o750


def test_metric_for_the_alert(host) -> None:
    prom = host.file(PROM)
    assert prom.mode == 0o644
    text = prom.content_string
    assert "bbdash_backup_last_success_timestamp_seconds " in text
    assert 'bbdash_backup_size_bytes{kind="postgres"}' in text
    assert 'bbdash_backup_size_bytes{kind="influxdb"}' in text
    scraped = host.check_output(
        "docker exec bloomberg-node-exporter wget -qO- http://127.0.0.1:9100/metrics"
    )
    assert "bbdash_backup_last_success_timestamp_seconds" in scraped
    assert "node_textfile_scrape_error 0" in scraped
    deadline = time.monotonic() + 90
    while True:
        out = host.check_output(
            "docker exec bloomberg-prometheus wget -qO- "
            "'http://127.0.0.1:9090/api/v1/query?query=bbdash_backup_last_success_timestamp_seconds'"
        )
        result = json.loads(out)["data"]["result"]
        if result or time.monotonic() > deadline:
            break
        time.sleep(5)
    assert result and result[0]["metric"]["job"] == "node-exporter"


def _latest_set(host) -> str:
    return host.check_output("/usr/local/sbin/bbdash-backup list").split()[0]


def test_backup_wipe_restore(host) -> None:
    secrets = vault()
    owner_pw = secrets["vault_postgres_watchlist_api_password"]
    marker = f"m{time.time_ns()}"
    # Data a user would lose: rows in PostgreSQL, points in InfluxDB.
    created = psql(
        host,
        "CREATE TABLE IF NOT EXISTS restore_probe (id int PRIMARY KEY, note text); "
        f"DELETE FROM restore_probe; INSERT INTO restore_probe VALUES (1, '{marker}'), (2, 'second row');",
        "watchlist_api",
        owner_pw,
    )
    assert created.rc == 0, created.stderr
    write_probe_points(host, marker, 100)
    tokens_before = {n: token(host, n) for n in ("market-feeder", "news-feeder", "grafana")}

    # The job as the timer runs it.
    run = host.run("systemctl start bbdash-backup.service")
    assert run.rc == 0, host.run("journalctl -u bbdash-backup.service --no-pager -n 20").stdout
    set_id = _latest_set(host)
    assert host.run(f"cd {BACKUP_DIR}/sets/{set_id} && sha256sum -c --quiet SHA256SUMS").rc == 0

    # Both databases lost: containers and volumes.
    host.run("docker rm -f bloomberg-postgres bloomberg-influxdb")
    assert host.run("docker volume rm bloomberg-postgres-data bloomberg-influxdb-data").rc == 0

    result = playbook("restore.yml", "-e", f"backup_restore_id={set_id}")
    out = result.stdout + result.stderr
    assert result.returncode == 0, out[-4000:]
    assert f"from {set_id}" in out

    for name in ("bloomberg-postgres", "bloomberg-influxdb"):
        assert wait_healthy(host, name)["State"]["Health"]["Status"] == "healthy"
    # The services that use the databases come back on their own, with no rerun.
    wait_services_healthy(host)
    rows = psql(host, "SELECT id, note FROM restore_probe ORDER BY id", "watchlist_api", owner_pw)
    assert rows.stdout.split("\n")[:2] == [f"1|{marker}", "2|second row"], rows.stderr
    # The tokens on the host are the restored server's own: kept, still working.
    assert {n: token(host, n) for n in tokens_before} == tokens_before
    assert probe_prices(host, marker) == [100.0, 101.0, 102.0, 103.0, 104.0]
    assert inspect(host, "bloomberg-postgres")["State"]["Running"]
    psql(host, "DROP TABLE restore_probe", "watchlist_api", owner_pw)


def test_restore_refuses_an_unknown_backup(host) -> None:
    result = playbook("restore.yml", "-e", "backup_restore_id=19990101T000000Z")
    out = result.stdout + result.stderr
    assert result.returncode != 0
    assert (
        "backup_restore_id=19990101T000000Z: bbdash-backup: backup '19990101T000000Z' not found"
        in " ".join(out.split())
    )
    assert all(n == 0 for n in recap_changed(out))
