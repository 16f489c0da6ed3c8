"""The data layer on the converged host: every data container healthy, with the
seed's limits, no published port, named volumes and rotated logs; InfluxDB's
buckets, retention, downsampling tasks and least-privilege tokens (a read-only
token cannot write); PostgreSQL's roles and privileges; Prometheus scraping the
components present, and promtool's rule tests on the deployed rules; bad input
stopping the run in preflight with a message naming the variable.

InfluxDB here is the TEST DOUBLE (tests/doubles/influxdb): what is checked of
it is the API the roles use, not InfluxDB itself (docs/data-layer.md).
PostgreSQL, Prometheus and node-exporter are the real software.

The helpers at the top are shared with test_backup.py."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import time
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import REPO, local_inventory

SECRETS = "/opt/bloomberg/secrets/influxdb"


@cache
def vault() -> dict[str, str]:
    """The local deployment's vault, decrypted on the controller."""
    password_file = os.environ.get("ANSIBLE_VAULT_PASSWORD_FILE") or str(
        REPO / ".cache" / "local" / "vault-pass"
    )
    out = subprocess.run(
        [
            str(REPO / ".venv" / "bin" / "ansible-vault"),
            "view",
            "--vault-password-file",
            password_file,
            str(REPO / "inventories" / "local" / "group_vars" / "all" / "vault.yml"),
        ],
        env={k: v for k, v in os.environ.items() if k != "ANSIBLE_VAULT_PASSWORD_FILE"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return yaml.safe_load(out)


def container_ip(host: Any, name: str) -> str:
    return host.check_output(
        "docker inspect -f '{{(index .NetworkSettings.Networks \"bloomberg-net\").IPAddress}}' %s",
        name,
    ).strip()


def inspect(host: Any, name: str) -> dict[str, Any]:
    return json.loads(host.check_output("docker inspect %s", name))[0]


def wait_healthy(host: Any, name: str, timeout: float = 180) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        info = inspect(host, name)
        status = info["State"].get("Health", {}).get("Status")
        if status == "healthy" or time.monotonic() > deadline:
            return info
        time.sleep(3)


def token(host: Any, name: str) -> str:
    return host.check_output("cat %s", f"{SECRETS}/{name}.token")


def influx(
    host: Any, method: str, path: str, tok: str, body: str | None = None, json_body: Any = None
) -> tuple[int, str]:
    """An InfluxDB API call from the test host to bloomberg-influxdb on bloomberg-net."""
    url = f"http://{container_ip(host, 'bloomberg-influxdb')}:8086{path}"
    args = [
        "curl",
        "-sS",
        "-X",
        method,
        "-o",
        "/dev/stdout",
        "-w",
        "\n%{http_code}",
        url,
        "-H",
        f"Authorization: Token {tok}",
    ]
    if json_body is not None:
        args += ["-H", "Content-Type: application/json", "--data-binary", json.dumps(json_body)]
    elif body is not None:
        args += ["--data-binary", body]
    out = host.check_output(" ".join(shlex.quote(a) for a in args))
    text, _, status = out.rpartition("\n")
    return int(status), text


def write_probe_points(host: Any, symbol: str, first_price: int) -> None:
    """Five points of a probe symbol in `markets`, one a second back from now,
    priced first_price .. first_price + 4 (the market feeder's token)."""
    now = time.time_ns()
    lines = "\n".join(
        f"market_data,exchange=test,symbol={symbol},asset_type=crypto price={first_price + i} "
        f"{now - i * 10**9}"
        for i in range(5)
    )
    path = "/api/v2/write?org=bloomberg&bucket=markets"
    assert influx(host, "POST", path, token(host, "market-feeder"), lines)[0] == 204


def probe_prices(host: Any, symbol: str) -> list[float]:
    """The prices of a probe symbol in `markets` over the last hour, sorted."""
    query = {
        "query": f'from(bucket: "markets") |> range(start: -1h) '
        f'|> filter(fn: (r) => r.symbol == "{symbol}")'
    }
    status, body = influx(
        host, "POST", "/api/v2/query?org=bloomberg", token(host, "grafana"), json_body=query
    )
    assert status == 200, body
    return sorted(float(row.split(",")[6]) for row in body.splitlines()[1:] if row)


def wait_services_healthy(host: Any) -> None:
    """The services that use the databases, healthy again on their own."""
    for name in ("bloomberg-watchlist-api", "bloomberg-market-feeder", "bloomberg-news-feeder"):
        health = wait_healthy(host, name)["State"]["Health"]
        assert health["Status"] == "healthy", (name, health["Log"][-2:])


def psql(
    host: Any, sql: str, user: str = "postgres", password: str | None = None, db: str = "bbdash"
) -> Any:
    """psql in bloomberg-postgres: as the superuser on the socket, or as a role over TCP."""
    if password is None:
        cmd = [
            "docker",
            "exec",
            "bloomberg-postgres",
            "psql",
            "-X",
            "-Atq",
            "-U",
            user,
            "-d",
            db,
            "-c",
            sql,
        ]
    else:
        cmd = [
            "docker",
            "exec",
            "-e",
            f"PGPASSWORD={password}",
            "bloomberg-postgres",
            "psql",
            "-X",
            "-Atq",
            "-w",
            f"host=bloomberg-postgres dbname={db} user={user}",
            "-c",
            sql,
        ]
    return host.run(" ".join(shlex.quote(a) for a in cmd))


def playbook(
    playbook_name: str, *extra: str, inventory: str | None = None, timeout: int = 900
) -> subprocess.CompletedProcess[str]:
    env = dict(
        os.environ,
        ANSIBLE_FORCE_COLOR="0",
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_ROLES_PATH=str(REPO / "roles"),
        ANSIBLE_COLLECTIONS_PATH=str(REPO / "collections"),
        ANSIBLE_PYTHON_INTERPRETER="/usr/bin/python3",
    )
    return subprocess.run(
        [
            "ansible-playbook",
            "-i",
            inventory or os.environ["MOLECULE_INVENTORY_FILE"],
            str(REPO / "playbooks" / playbook_name),
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
        env=env,
        check=False,
    )


def recap_changed(output: str) -> list[int]:
    return [int(n) for n in re.findall(r"changed=(\d+)", output)]


# --------------------------------------------------------------------------- containers

GIB = 1024**3
MIB = 1024**2
# The seed's "Ressources par container" table: CPUs, memory.
SEED_LIMITS = {
    "bloomberg-influxdb": (2.0, 3 * GIB),
    "bloomberg-postgres": (0.5, 512 * MIB),
    "bloomberg-prometheus": (1.0, 1 * GIB),
    "bloomberg-node-exporter": (0.1, 64 * MIB),
    "bloomberg-cadvisor": (0.25, 256 * MIB),
}
DATA_VOLUMES = {
    "bloomberg-influxdb": "bloomberg-influxdb-data",
    "bloomberg-postgres": "bloomberg-postgres-data",
    "bloomberg-prometheus": "bloomberg-prometheus-data",
}


@pytest.mark.parametrize("name", sorted(SEED_LIMITS))
def test_data_container(host, name: str) -> None:
    info = wait_healthy(host, name)
    assert info["State"]["Running"]
    assert info["State"]["Health"]["Status"] == "healthy", info["State"]["Health"]["Log"][-1:]
    hc = info["HostConfig"]
    cpus, memory = SEED_LIMITS[name]
    assert (hc["NanoCpus"] / 1e9, hc["Memory"]) == (cpus, memory)
    assert hc["RestartPolicy"]["Name"] == "unless-stopped"
    assert list(info["NetworkSettings"]["Networks"]) == ["bloomberg-net"]
    # Nothing published: no binding asked, none made.
    assert not hc.get("PortBindings")
    assert all(not bound for bound in (info["NetworkSettings"].get("Ports") or {}).values())
    assert hc["LogConfig"]["Type"] == "json-file"
    assert hc["LogConfig"]["Config"].get("max-size") and hc["LogConfig"]["Config"].get("max-file")
    image = info["Config"]["Image"]
    assert ":" in image and not image.endswith(":latest"), image
    if name in DATA_VOLUMES:
        volumes = [m["Name"] for m in info["Mounts"] if m["Type"] == "volume"]
        assert DATA_VOLUMES[name] in volumes


# --------------------------------------------------------------------------- InfluxDB

# The seed's table, with one custom bucket per person who asks instead of the
# shared `custom` (the local inventory's trader has custom_bucket: true).
SEED_RETENTION = {
    "markets": 7 * 86400,
    "markets_5min": 30 * 86400,
    "markets_1h": 365 * 86400,
    "news": 90 * 86400,
    "custom_trader": 0,
}


def test_buckets_and_retention(host) -> None:
    status, body = influx(
        host,
        "GET",
        "/api/v2/buckets?org=bloomberg&limit=100",
        vault()["vault_influxdb_admin_token"],
    )
    assert status == 200, body
    buckets = {b["name"]: b for b in json.loads(body)["buckets"] if b["type"] == "user"}
    got = {
        name: (b["retentionRules"][0]["everySeconds"] if b["retentionRules"] else 0)
        for name, b in buckets.items()
    }
    assert got == SEED_RETENTION


def test_downsampling_tasks(host) -> None:
    status, body = influx(
        host, "GET", "/api/v2/tasks?org=bloomberg", vault()["vault_influxdb_admin_token"]
    )
    assert status == 200, body
    tasks = {t["name"]: t for t in json.loads(body)["tasks"]}
    assert set(tasks) >= {"downsample_5min", "downsample_1h"}
    five, hour = tasks["downsample_5min"], tasks["downsample_1h"]
    assert (five["status"], five["every"], hour["status"], hour["every"]) == (
        "active",
        "5m",
        "active",
        "1h",
    )
    assert 'from(bucket: "markets")' in five["flux"] and 'to(bucket: "markets_5min"' in five["flux"]
    assert (
        'from(bucket: "markets_5min")' in hour["flux"] and 'to(bucket: "markets_1h"' in hour["flux"]
    )


def test_token_files(host) -> None:
    for name in ("market-feeder", "news-feeder", "grafana"):
        path = host.file(f"{SECRETS}/{name}.token")
        assert path.exists and path.user == "root" and path.mode == 0o600
        assert len(path.content_string) >= 16 and not path.content_string.endswith("\n")
    assert host.file(SECRETS).mode == 0o700


def test_read_only_token_cannot_write(host) -> None:
    marker = f"ro{time.time_ns()}"
    line = f"market_data,exchange=test,symbol={marker},asset_type=crypto price=1"
    grafana = token(host, "grafana")
    status, body = influx(host, "POST", "/api/v2/write?org=bloomberg&bucket=markets", grafana, line)
    assert status == 403, body
    query = {
        "query": f'from(bucket: "markets") |> range(start: -1h) |> filter(fn: (r) => r.symbol == "{marker}")'
    }
    status, body = influx(host, "POST", "/api/v2/query?org=bloomberg", grafana, json_body=query)
    assert status == 200 and marker not in body  # readable, and nothing was written
    # Nor can it manage tokens: it lists none but its own, and creates none.
    status, body = influx(host, "GET", "/api/v2/authorizations", grafana)
    assert status == 401 or all(
        a["description"] == "bbdash:grafana" for a in json.loads(body)["authorizations"]
    )
    # A real org ID: InfluxDB v2.9.1 decodes the body (IDs of 16 hex digits) before
    # it checks permissions, so a malformed one would answer 400 whoever asks.
    status, body = influx(host, "GET", "/api/v2/buckets?org=bloomberg", grafana)
    org_id = json.loads(body)["buckets"][0]["orgID"]
    grant = {"orgID": org_id, "permissions": [{"action": "write", "resource": {"type": "buckets"}}]}
    assert influx(host, "POST", "/api/v2/authorizations", grafana, json_body=grant)[0] in (
        401,
        403,
        404,
    )


def test_feeder_tokens_write_only_their_bucket(host) -> None:
    """Each feeder writes its bucket; the market feeder also reads the downsampling
    sources and writes the candle buckets (re-downsampling of late windows), no more."""
    market, news = token(host, "market-feeder"), token(host, "news-feeder")
    line = f"market_data,exchange=test,symbol=W{time.time_ns()},asset_type=crypto price=1"
    assert (
        influx(host, "POST", "/api/v2/write?org=bloomberg&bucket=markets", market, line)[0] == 204
    )
    assert influx(host, "POST", "/api/v2/write?org=bloomberg&bucket=news", market, line)[0] == 403
    assert influx(host, "POST", "/api/v2/write?org=bloomberg&bucket=markets", news, line)[0] == 403
    for bucket, status in (("markets", 200), ("markets_5min", 200), ("news", 404)):
        query = {"query": f'from(bucket: "{bucket}") |> range(start: -1m)'}
        got = influx(host, "POST", "/api/v2/query?org=bloomberg", market, json_body=query)
        assert got[0] == status, (bucket, got)
    query = {"query": 'from(bucket: "markets") |> range(start: -1h)'}
    assert influx(host, "POST", "/api/v2/query?org=bloomberg", news, json_body=query)[0] == 404


# --------------------------------------------------------------------------- PostgreSQL


def test_postgres_roles(host) -> None:
    rows = psql(
        host,
        "SELECT rolname, rolsuper, rolcreatedb, rolcreaterole, rolcanlogin FROM pg_roles "
        "WHERE rolname IN ('watchlist_api', 'bbdash_feeder', 'grafana_ro') ORDER BY 1",
    )
    assert rows.stdout.split() == [
        "bbdash_feeder|f|f|f|t",
        "grafana_ro|f|f|f|t",
        "watchlist_api|f|f|f|t",
    ]
    owner = psql(host, "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'bbdash'")
    assert owner.stdout.strip() == "watchlist_api"


def test_postgres_passwords_come_from_the_vault(host) -> None:
    secrets = vault()
    for user, key in (
        ("watchlist_api", "vault_postgres_watchlist_api_password"),
        ("bbdash_feeder", "vault_postgres_feeder_password"),
        ("grafana_ro", "vault_grafana_postgres_password"),
    ):
        assert psql(host, "SELECT 1", user, secrets[key]).stdout.strip() == "1", user
        assert psql(host, "SELECT 1", user, "not-the-password").rc != 0


def test_grafana_role_reads_only_the_contract_views(host) -> None:
    secrets = vault()
    owner_pw, ro_pw = (
        secrets["vault_postgres_watchlist_api_password"],
        secrets["vault_grafana_postgres_password"],
    )
    views = psql(
        host,
        "SELECT count(*) FROM pg_views WHERE schemaname = 'public' AND viewname IN "
        "('collected_assets', 'active_alert_rules', 'user_watchlist_assets')",
    ).stdout.strip()
    if views == "3":  # the watchlist API's migrations ran (full site)
        for view in ("collected_assets", "active_alert_rules", "user_watchlist_assets"):
            assert psql(host, f"SELECT count(*) FROM {view}", "grafana_ro", ro_pw).rc == 0
    else:  # the event trigger grants SELECT when the migrations create a contract view
        result = psql(
            host,
            "BEGIN; CREATE VIEW collected_assets AS SELECT 'BTC/USDT'::text AS symbol; "
            "SELECT has_table_privilege('grafana_ro', 'collected_assets', 'SELECT'), "
            "has_table_privilege('bbdash_feeder', 'collected_assets', 'SELECT'); ROLLBACK;",
            "watchlist_api",
            owner_pw,
        )
        assert result.stdout.split() == ["t|t"], result.stderr
    # Nothing else is readable, and nothing is writable.
    probe = psql(
        host,
        "BEGIN; CREATE TABLE bbdash_probe_secret (x int); "
        "SELECT has_table_privilege('grafana_ro', 'bbdash_probe_secret', 'SELECT'); ROLLBACK;",
        "watchlist_api",
        owner_pw,
    )
    assert probe.stdout.split() == ["f"], probe.stderr
    denied = psql(host, "CREATE TABLE bbdash_probe (x int)", "grafana_ro", ro_pw)
    assert denied.rc != 0 and "read-only transaction" in denied.stderr


def test_public_may_not_connect(host) -> None:
    acl = psql(host, "SELECT datacl FROM pg_database WHERE datname = 'bbdash'").stdout
    assert "=c/" not in acl.replace("bbdash_feeder=c/", "").replace("grafana_ro=c/", "")


def test_postgres_settings_for_512mb(host) -> None:
    settings = psql(
        host,
        "SELECT name || '=' || setting || coalesce(unit, '') FROM pg_settings WHERE name IN "
        "('shared_buffers', 'max_connections', 'work_mem', 'config_file')",
    ).stdout.split()
    assert sorted(settings) == [
        "config_file=/etc/postgresql/postgresql.conf",
        "max_connections=50",
        "shared_buffers=163848kB",
        "work_mem=4096kB",
    ]


def test_pg_isready_healthcheck(host) -> None:
    test = inspect(host, "bloomberg-postgres")["Config"]["Healthcheck"]["Test"]
    assert test[:2] == ["CMD", "pg_isready"]


# --------------------------------------------------------------------------- Prometheus


def _targets(host) -> list[dict[str, Any]]:
    out = host.check_output(
        "docker exec bloomberg-prometheus wget -qO- http://127.0.0.1:9090/api/v1/targets"
    )
    return json.loads(out)["data"]["activeTargets"]


def test_prometheus_scrapes_the_components_present(host) -> None:
    deadline = time.monotonic() + 120
    while True:
        targets = _targets(host)
        present = [
            t
            for t in targets
            if host.run("docker inspect %s", t["labels"].get("container", "-")).rc == 0
        ]
        down = [(t["labels"]["job"], t["lastError"]) for t in present if t["health"] != "up"]
        if not down or time.monotonic() > deadline:
            break
        time.sleep(5)
    jobs = {t["labels"]["job"] for t in present}
    assert {"prometheus", "node-exporter", "cadvisor", "influxdb"} <= jobs
    assert not down, down


# Runs promtool from the kit's bbdash-offline/prometheus:debian (--pull=never), an
# image only tests/images/build-stack.sh makes.
@pytest.mark.doubles
def test_promtool_rule_tests_pass_on_the_deployed_rules(host_name: str, tmp_path: Path) -> None:
    """`promtool test rules` (the real promtool, from the offline Prometheus image) over
    tests/promtool/, against the rule files as deployed on the host."""
    work = tmp_path / "promtool"
    shutil.copytree(REPO / "tests" / "promtool", work)
    subprocess.run(
        ["docker", "cp", f"{host_name}:/opt/bloomberg/prometheus/rules", str(work)], check=True
    )
    tests = sorted(p.name for p in work.glob("*_test.yml"))
    assert tests
    result = subprocess.run(
        [
            "docker",
            "run",
            "--rm",
            "--pull=never",
            "--network=none",
            "-v",
            f"{work}:/t:ro",
            "-w",
            "/t",
            "--entrypoint=promtool",
            "bbdash-offline/prometheus:debian",
            "test",
            "rules",
            *tests,
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]


# --------------------------------------------------------------------------- bad input


def _stopped_in_preflight(result: subprocess.CompletedProcess[str], message: str) -> None:
    out = result.stdout + result.stderr
    assert result.returncode != 0, out[-2000:]
    assert message in " ".join(out.split()), out[-3000:]
    recap = recap_changed(out)
    assert recap and all(n == 0 for n in recap), out[-2000:]
    assert "TASK [common : Install the base packages]" not in out


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            {"influxdb_buckets": [{"name": "markets", "retention": "30m"}]},
            "influxdb_buckets[markets].retention is '30m': InfluxDB refuses a retention shorter than 1h",
        ),
        (
            {
                "influxdb_downsample_tasks": [
                    {
                        "name": "downsample_5min",
                        "source": "markets",
                        "destination": "markets_10min",
                        "measurement": "market_data",
                        "every": "5m",
                        "window": "5m",
                        "lookback": "10m",
                    }
                ]
            },
            "influxdb_downsample_tasks[downsample_5min].destination names bucket 'markets_10min'",
        ),
        (
            {"vault_influxdb_admin_token": ""},
            "vault_influxdb_admin_token (influxdb_admin_token) is missing",
        ),
        (
            {"vault_grafana_postgres_password": "short"},
            "postgres_readonly_password (vault_grafana_postgres_password): missing, shorter than 16",
        ),
        (
            {"vault_influxdb_admin_token": "NotTheOperatorToken-0123456789"},
            "vault_influxdb_admin_token (influxdb_admin_token) is not accepted by the running bloomberg-influxdb",
        ),
    ],
    ids=[
        "retention-under-1h",
        "task-unknown-bucket",
        "missing-influx-token",
        "short-pg-password",
        "wrong-influx-token",
    ],
)
def test_bad_input_stops_in_preflight(
    tmp_path: Path, host_name: str, extra: dict[str, Any], message: str
) -> None:
    inventory = local_inventory(tmp_path, host_name)
    result = playbook("site.yml", "-e", json.dumps(extra), inventory=str(inventory), timeout=600)
    _stopped_in_preflight(result, message)
