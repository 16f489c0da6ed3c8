"""Backups where the databases are: the data host's daily job and
playbooks/restore.yml, run with the three-host inventory and limited to the
data host (the presentation host backs up and restores Grafana apart), bring
PostgreSQL's rows and InfluxDB's points back after both databases (containers
and volumes) are lost; the collection host's services, which reach them
through the link, recover on their own with the token copies they hold. The
round trip of tests/infra/test_backup.py::test_backup_wipe_restore on
bbdash-data.

Last in verify (file order): the restore keeps the databases away for a while.
InfluxDB is the TEST DOUBLE here too (its backup format is the double's own;
docs/data-layer.md)."""

from __future__ import annotations

import time
from typing import Any

import pytest
from conftest import DATA, on_host
from test_backup import BACKUP_DIR
from test_data import (
    inspect,
    playbook,
    probe_prices,
    psql,
    token,
    vault,
    wait_healthy,
    wait_services_healthy,
    write_probe_points,
)

# The InfluxDB token each collection service holds, copied from the data host
# (name on the data host -> file on the collection host).
TOKEN_COPIES = {
    "market-feeder": "/opt/bloomberg/secrets/market-feeder/influx.token",
    "news-feeder": "/opt/bloomberg/secrets/news-feeder/influx.token",
}


def _latest_set(data: Any) -> str:
    return data.check_output("/usr/local/sbin/bbdash-backup list").split()[0]


# Its last check polls the InfluxDB double's /__double/points.
@pytest.mark.doubles
def test_backup_wipe_restore_on_the_data_host(data: Any, collection: Any) -> None:
    """Proves that the data host's backup and the restore playbook still work
    when the stack spans hosts: the same rows and points come back, the tokens
    on the data host are the restored server's own, the collection host's
    copies still match them, and the market feeder on the collection host
    writes into the restored InfluxDB again without a rerun."""
    owner_pw = vault()["vault_postgres_watchlist_api_password"]
    marker = f"m{time.time_ns()}"
    # Data a user would lose: rows in PostgreSQL, points in InfluxDB.
    created = psql(
        data,
        "CREATE TABLE IF NOT EXISTS restore_probe (id int PRIMARY KEY, note text); "
        f"DELETE FROM restore_probe; INSERT INTO restore_probe VALUES (1, '{marker}'), (2, 'second row');",
        "watchlist_api",
        owner_pw,
    )
    assert created.rc == 0, created.stderr
    write_probe_points(data, marker, 100)
    tokens_before = {n: token(data, n) for n in ("market-feeder", "news-feeder", "grafana")}
    for name, path in TOKEN_COPIES.items():
        assert collection.file(path).content_string.strip() == tokens_before[name].strip(), name

    # The job as the timer runs it, on the data host.
    run = data.run("systemctl start bbdash-backup.service")
    assert run.rc == 0, data.run("journalctl -u bbdash-backup.service --no-pager -n 20").stdout
    set_id = _latest_set(data)
    assert data.run(f"cd {BACKUP_DIR}/sets/{set_id} && sha256sum -c --quiet SHA256SUMS").rc == 0

    # Both databases lost: containers and volumes.
    data.run("docker rm -f bloomberg-postgres bloomberg-influxdb")
    assert data.run("docker volume rm bloomberg-postgres-data bloomberg-influxdb-data").rc == 0

    # The data host's set: the presentation host keeps sets of its own (Grafana).
    result = playbook("restore.yml", "--limit", DATA, "-e", f"backup_restore_id={set_id}")
    out = result.stdout + result.stderr
    assert result.returncode == 0, out[-4000:]
    assert f"from {set_id}" in out
    restored_at = time.time()

    for name in ("bloomberg-postgres", "bloomberg-influxdb"):
        assert wait_healthy(data, name)["State"]["Health"]["Status"] == "healthy"
    # The services that use the databases, on the other host, come back on their own.
    wait_services_healthy(collection)
    rows = psql(data, "SELECT id, note FROM restore_probe ORDER BY id", "watchlist_api", owner_pw)
    assert rows.stdout.split("\n")[:2] == [f"1|{marker}", "2|second row"], rows.stderr
    # The tokens on the data host are the restored server's own, and the
    # collection host's copies are still the same tokens.
    assert {n: token(data, n) for n in tokens_before} == tokens_before
    for name, path in TOKEN_COPIES.items():
        assert collection.file(path).content_string.strip() == tokens_before[name].strip(), name
    assert probe_prices(data, marker) == [100.0, 101.0, 102.0, 103.0, 104.0]
    assert inspect(data, "bloomberg-postgres")["State"]["Running"]
    # The market feeder's token still writes: its spool drains into the restored server.
    fresh = on_host(
        data,
        f"""
        deadline = time.monotonic() + 60
        while True:
            fresh = [p for p in points("markets", "BTC/USDT") if p["time"] > {restored_at} * 1e9]
            if fresh or time.monotonic() > deadline:
                break
            time.sleep(2)
        print(json.dumps(len(fresh)))
        """,
        timeout=90,
    )
    assert fresh > 0, "no market point from the collection host after the restore"
    psql(data, "DROP TABLE restore_probe", "watchlist_api", owner_pw)
