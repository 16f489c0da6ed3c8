"""Backups off the box, on the converged host: every backup is copied by rsync
over SSH to bbdash-backup-peer, a TEST HELPER sshd container in the test
host's own Docker engine (molecule/default/prepare_backup_peer.yml,
tests/images/backup-peer/), with the peer's host key pinned and the job's key
confined to rsync in one folder; the copy matches the local set checksum for
checksum; after the host loses its databases (containers and volumes),
Grafana's volume and every local backup set, playbooks/restore.yml with
backup_restore_source=offsite brings the same PostgreSQL rows, InfluxDB points
and Grafana state (a user, the admin's preferences, a dashboard saved through
the API) back from the peer; and a copy that fails (the peer down) turns
bbdash_backup_offsite_last_run_success to 0, which Prometheus scrapes and
BackupOffsiteCopyFailed fires on; the next run copies what was missed.

PostgreSQL is the real server. InfluxDB and Grafana are TEST DOUBLES: for
InfluxDB this proves the job's plumbing (docs/data-layer.md); for Grafana, the
double keeps its users, preferences and saved dashboards in an SQLite
grafana.db in its volume as Grafana does, so the copy (SQLite's online backup
API) and the restore (file replaced while stopped) are the real thing.
Every test leaves the stack as it found it: the peer running, the last run
successful, the databases healthy."""

from __future__ import annotations

import json
import shlex
import time
from typing import Any
from urllib.parse import quote

import pytest
from test_data import (
    playbook,
    probe_prices,
    psql,
    vault,
    wait_healthy,
    wait_services_healthy,
    write_probe_points,
)

pytestmark = pytest.mark.doubles

BACKUP_DIR = "/var/backups/bloomberg"
PROM = "/opt/bloomberg/node-exporter/textfile/bbdash_backup.prom"
PEER = "bbdash-backup-peer"
PEER_UNIT = "bbdash-test-backup-peer.service"
PEER_DIR = "/srv/backup/bloomberg"
PROGRAM = "/usr/local/sbin/bbdash-backup"

GRAFANA_CALL = r"""
import base64, json, sys, urllib.error, urllib.request
method, path, body, password = sys.argv[1:5]
req = urllib.request.Request("http://127.0.0.1:3000" + path, method=method,
                             data=body.encode() if body else None)
req.add_header("Content-Type", "application/json")
req.add_header("Authorization", "Basic " + base64.b64encode(("admin:" + password).encode()).decode())
try:
    with urllib.request.urlopen(req, timeout=10) as resp:
        print(json.dumps([resp.status, json.load(resp)]))
except urllib.error.HTTPError as exc:
    print(json.dumps([exc.code, exc.read().decode()]))
"""


# The desk's service-account token (written by the grafana role, read by the
# watchlist API): Grafana's answer to it on the desks folder.
DESK_TOKEN_CHECK = r"""
import urllib.error, urllib.request
token = open("/opt/bloomberg/secrets/watchlist-api/grafana-token").read().strip()
req = urllib.request.Request("http://127.0.0.1:3000/api/folders/bbdash-desks")
req.add_header("Authorization", "Bearer " + token)
try:
    with urllib.request.urlopen(req, timeout=10) as resp:
        print(resp.status)
except urllib.error.HTTPError as exc:
    print(exc.code)
"""


def grafana(host: Any, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    argv = [
        "python3",
        "-c",
        GRAFANA_CALL,
        method,
        path,
        json.dumps(body) if body is not None else "",
        vault()["vault_grafana_admin_password"],
    ]
    out = host.check_output(" ".join(shlex.quote(a) for a in argv))
    status, doc = json.loads(out)
    return status, doc


def prometheus_query(host: Any, query: str) -> list[dict[str, Any]]:
    url = f"http://127.0.0.1:9090/api/v1/query?query={quote(query, safe='')}"
    out = host.check_output("docker exec bloomberg-prometheus wget -qO- %s", url)
    return json.loads(out)["data"]["result"]


def wait_query(host: Any, query: str, timeout: float = 150) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        result = prometheus_query(host, query)
        if result or time.monotonic() > deadline:
            return result
        time.sleep(5)


def metrics(host: Any) -> dict[str, float]:
    values = {}
    for line in host.file(PROM).content_string.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            values[name] = float(value)
    return values


def run_backup(host: Any) -> Any:
    return host.run("systemctl start bbdash-backup.service")


def journal(host: Any) -> str:
    return host.run("journalctl -u bbdash-backup.service --no-pager -n 30").stdout


def peer_sets(host: Any) -> list[str]:
    out = host.check_output("docker exec %s ls %s", PEER, PEER_DIR)
    return sorted(out.split(), reverse=True)


def wait_peer(host: Any, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while host.run(f"{PROGRAM} list --offsite").rc != 0:
        assert time.monotonic() < deadline, host.run(f"journalctl -u {PEER_UNIT} -n 20").stdout
        time.sleep(3)


@pytest.fixture
def peer_up(host: Any) -> Any:
    """The peer running before and after the test, whatever the test did to it."""
    host.run(f"systemctl start {PEER_UNIT}")
    wait_peer(host)
    yield
    host.run(f"systemctl start {PEER_UNIT}")
    wait_peer(host)


def test_the_copy_is_configured_and_pinned(host: Any, peer_up: Any) -> None:
    config = json.loads(host.file("/etc/bbdash-backup/config.json").content_string)
    assert config["offsite"]["method"] == "rsync"
    assert config["offsite"]["target"] == "bbbackup@127.0.0.1:/"
    for name in ("offsite_ssh_key", "known_hosts"):
        f = host.file(f"/etc/bbdash-backup/{name}")
        assert (f.user, f.mode) == ("root", 0o600)
    pinned = host.file("/etc/bbdash-backup/known_hosts").content_string.split()
    assert pinned[:2] == ["[127.0.0.1]:2222", "ssh-ed25519"]
    # The pinned key is the one the peer presents (no accept-new, no TOFU).
    offered = host.check_output("ssh-keyscan -t ed25519 -p 2222 127.0.0.1 2>/dev/null").split()
    assert offered[1:3] == pinned[1:3]


def test_the_key_runs_nothing_but_rsync_in_its_folder(host: Any, peer_up: Any) -> None:
    ssh = (
        "ssh -i /etc/bbdash-backup/offsite_ssh_key -p 2222 -o BatchMode=yes "
        "-o StrictHostKeyChecking=yes -o UserKnownHostsFile=/etc/bbdash-backup/known_hosts "
        "bbbackup@127.0.0.1"
    )
    shell = host.run(f"{ssh} id")
    assert shell.rc != 0 and "rsync" in shell.stderr, shell.stderr
    escape = host.run(
        f"rsync --list-only -e {shlex.quote(ssh.rsplit(' ', 1)[0])} bbbackup@127.0.0.1:/../"
    )
    assert escape.rc != 0


def test_restore_from_the_peer_after_the_host_lost_everything(host: Any, peer_up: Any) -> None:
    secrets = vault()
    owner_pw = secrets["vault_postgres_watchlist_api_password"]
    marker = f"off{time.time_ns()}"
    # PostgreSQL rows, InfluxDB points, Grafana state: what a user would lose.
    created = psql(
        host,
        "CREATE TABLE IF NOT EXISTS offsite_probe (id int PRIMARY KEY, note text); "
        f"DELETE FROM offsite_probe; INSERT INTO offsite_probe VALUES (1, '{marker}'), (2, 'kept');",
        "watchlist_api",
        owner_pw,
    )
    assert created.rc == 0, created.stderr
    write_probe_points(host, marker, 200)
    status, user = grafana(
        host,
        "POST",
        "/api/admin/users",
        {
            "name": "Off Site",
            "login": marker,
            "email": f"{marker}@example.test",
            "password": "x" * 12,
        },
    )
    assert status == 200, user
    assert (
        grafana(host, "PUT", "/api/user/preferences", {"theme": "light", "timezone": "utc"})[0]
        == 200
    )
    status, saved = grafana(
        host,
        "POST",
        "/api/dashboards/db",
        {"dashboard": {"uid": marker[:40], "title": f"Personal {marker}", "panels": []}},
    )
    assert status == 200, saved

    # A backup, as the timer runs it, copied to the peer.
    run = run_backup(host)
    assert run.rc == 0, journal(host)
    set_id = host.check_output(f"{PROGRAM} list").split()[0]
    assert set_id in peer_sets(host)
    local_sums = host.file(f"{BACKUP_DIR}/sets/{set_id}/SHA256SUMS").content_string
    assert "grafana.db" in local_sums and "postgres.dump" in local_sums
    peer_sums = host.check_output("docker exec %s cat %s", PEER, f"{PEER_DIR}/{set_id}/SHA256SUMS")
    assert peer_sums.strip() == local_sums.strip()
    check = host.run(
        f"docker exec {PEER} sh -c 'cd {PEER_DIR}/{set_id} && sha256sum -c --quiet SHA256SUMS'"
    )
    assert check.rc == 0, check.stdout + check.stderr
    values = metrics(host)
    assert values["bbdash_backup_offsite_last_run_success"] == 1
    assert values["bbdash_backup_offsite_last_success_timestamp_seconds"] > time.time() - 600
    older = peer_sets(host)

    # The host loses its databases, Grafana's volume and every local set.
    host.run("docker rm -f bloomberg-postgres bloomberg-influxdb bloomberg-grafana")
    wiped = host.run(
        "docker volume rm bloomberg-postgres-data bloomberg-influxdb-data bloomberg-grafana-data"
    )
    assert wiped.rc == 0, wiped.stderr
    host.run(f"rm -rf {BACKUP_DIR}/sets/*")
    assert host.check_output(f"{PROGRAM} list") == ""

    result = playbook("restore.yml", "-e", "backup_restore_source=offsite")
    out = result.stdout + result.stderr
    assert result.returncode == 0, out[-4000:]
    assert f"from {set_id}" in out

    for name in ("bloomberg-postgres", "bloomberg-influxdb", "bloomberg-grafana"):
        assert wait_healthy(host, name)["State"]["Health"]["Status"] == "healthy", name
    wait_services_healthy(host)
    rows = psql(host, "SELECT id, note FROM offsite_probe ORDER BY id", "watchlist_api", owner_pw)
    assert rows.stdout.split("\n")[:2] == [f"1|{marker}", "2|kept"], rows.stderr
    assert probe_prices(host, marker) == [200.0, 201.0, 202.0, 203.0, 204.0]
    status, found = grafana(host, "GET", f"/api/users/lookup?loginOrEmail={marker}")
    assert (status, found["login"], found["name"]) == (200, marker, "Off Site")
    status, prefs = grafana(host, "GET", "/api/user/preferences")
    assert (status, prefs["theme"], prefs["timezone"]) == (200, "light", "utc")
    status, dash = grafana(host, "GET", f"/api/dashboards/uid/{marker[:40]}")
    assert (status, dash["dashboard"]["title"]) == (200, f"Personal {marker}")
    # The token file the rebuild wrote is not in the restored database: the restore
    # replaced it, so the watchlist API still writes layout dashboards.
    desk_token = host.check_output(f"python3 -c {shlex.quote(DESK_TOKEN_CHECK)}")
    assert desk_token.strip() == "200", desk_token

    # The next backup adds to the peer and deletes nothing there, though the
    # host had lost the older sets.
    assert run_backup(host).rc == 0, journal(host)
    assert set(older) <= set(peer_sets(host))
    psql(host, "DROP TABLE offsite_probe", "watchlist_api", owner_pw)
    grafana(host, "PUT", "/api/user/preferences", {"theme": "", "timezone": ""})


def test_a_failed_copy_raises_the_alert_and_the_next_run_catches_up(
    host: Any, peer_up: Any
) -> None:
    host.run(f"systemctl stop {PEER_UNIT}")
    run = run_backup(host)
    assert run.rc != 0
    log = journal(host)
    assert "off-site copy failed after 3 attempts" in log, log
    values = metrics(host)
    assert values["bbdash_backup_offsite_last_run_success"] == 0
    assert values["bbdash_backup_last_run_success"] == 0
    # The local set of that run is kept, and counted as a backup.
    missed = host.check_output(f"{PROGRAM} list").split()[0]
    assert values["bbdash_backup_last_success_timestamp_seconds"] > time.time() - 600

    # Prometheus scrapes it, and the rule's expression holds: the alert fires.
    assert wait_query(host, "bbdash_backup_offsite_last_run_success == 0")
    assert wait_query(host, "bbdash_backup_last_run_success == 0")
    firing = wait_query(host, 'ALERTS{alertname="BackupOffsiteCopyFailed", alertstate="firing"}')
    assert firing, "BackupOffsiteCopyFailed did not fire"

    # The peer back: the next run copies the set it missed, and the alert clears.
    host.run(f"systemctl start {PEER_UNIT}")
    wait_peer(host)
    assert run_backup(host).rc == 0, journal(host)
    assert missed in peer_sets(host)
    assert metrics(host)["bbdash_backup_offsite_last_run_success"] == 1
    assert wait_query(host, "bbdash_backup_offsite_last_run_success == 1")
