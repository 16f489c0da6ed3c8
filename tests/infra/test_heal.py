"""Self-healing on the real Docker engine of the test host (roles/autoheal).

Docker never restarts a container that runs but fails its healthcheck. Each
feeder is hung here for real (SIGSTOP on its process, from the test host, so
its /healthz stops answering): Docker marks it unhealthy, the healer restarts
it, it comes back healthy by itself, and Prometheus raises the alert that says
which container and why, which Alertmanager receives and delivers
(tests/infra/test_alerts.py's capture helper). The local inventory
uses a short test-only bound (autoheal_unhealthy_for_s: 0, a 5 s timer); the
production values are checked by the role's preflight and promtool tests.
A dependency that goes away is not a fault of its client: PostgreSQL stopped
under the watchlist API raises an alert and gets no restart.
"""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import quote

import pytest
from test_alerts import captured, host_time, rfc3339
from test_data import inspect, wait_healthy

FEEDERS = ("bloomberg-market-feeder", "bloomberg-news-feeder")
API = "bloomberg-watchlist-api"
METRICS = "/opt/bloomberg/node-exporter/textfile/bbdash_autoheal.prom"


def restarts(host: Any, name: str) -> int:
    text = host.file(METRICS).content_string
    for line in text.splitlines():
        if line.startswith(f'bbdash_autoheal_restarts_total{{name="{name}"}}'):
            return int(float(line.split()[-1]))
    return 0


def prometheus_query(host: Any, query: str) -> list[dict[str, Any]]:
    # The whole URL is one shell-quoted argument, the PromQL in it URL-encoded.
    url = f"http://127.0.0.1:9090/api/v1/query?query={quote(query, safe='')}"
    out = host.check_output("docker exec bloomberg-prometheus wget -qO- %s", url)
    return json.loads(out)["data"]["result"]


def alertmanager_alerts(host: Any) -> list[dict[str, Any]]:
    out = host.check_output(
        "docker exec bloomberg-alertmanager wget -qO- http://127.0.0.1:9093/api/v2/alerts"
    )
    return json.loads(out)


def test_the_healer_runs_and_reports(host: Any) -> None:
    assert host.service("bbdash-autoheal.timer").is_enabled
    assert host.service("bbdash-autoheal.timer").is_running
    text = host.file(METRICS).content_string
    stamp = next(
        float(line.split()[-1])
        for line in text.splitlines()
        if line.startswith("bbdash_autoheal_last_run_timestamp_seconds ")
    )
    assert time.time() - stamp < 60
    assert "bbdash_autoheal_last_run_ok 1" in text


def test_every_container_of_the_stack_is_watched(host: Any) -> None:
    names = host.check_output("docker ps --format '{{.Names}}'").split()
    stack = [n for n in names if n.startswith("bloomberg-")]
    assert len(stack) >= 11
    for name in stack:
        assert inspect(host, name)["Config"]["Labels"].get("bloomberg.autoheal") == "true", name


@pytest.mark.parametrize("hung", [FEEDERS])
def test_a_hung_feeder_is_restarted_healthy_and_the_alert_says_why(
    host: Any, hung: tuple[str, ...]
) -> None:
    before = {
        name: (restarts(host, name), inspect(host, name)["State"]["StartedAt"]) for name in hung
    }
    since = host_time(host)
    for name in hung:
        pid = inspect(host, name)["State"]["Pid"]
        host.check_output("kill -STOP %s", str(pid))
    # Docker needs 3 failed probes 30 s apart; then the healer's 5 s timer and
    # the 20 s stop timeout of a process that cannot answer SIGTERM.
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if all(restarts(host, name) > before[name][0] for name in hung):
            break
        time.sleep(5)
    for name in hung:
        assert restarts(host, name) == before[name][0] + 1, f"{name} was not restarted"
        info = wait_healthy(host, name, timeout=180)
        assert info["State"]["Health"]["Status"] == "healthy", name
        assert info["State"]["StartedAt"] != before[name][1], f"{name} did not start again"
    # Prometheus reads the healer's metrics and fires the alert naming the container.
    deadline = time.monotonic() + 180
    firing: set[str] = set()
    # Other containers may fire it too: what matters is that each hung feeder
    # is named.
    while time.monotonic() < deadline and not set(hung) <= firing:
        firing = {
            a["metric"]["name"]
            for a in prometheus_query(
                host, 'ALERTS{alertname="ContainerRestartedUnhealthy",alertstate="firing"}'
            )
        }
        time.sleep(5)
    assert set(hung) <= firing
    received = [
        a
        for a in alertmanager_alerts(host)
        if a["labels"].get("alertname") == "ContainerRestartedUnhealthy"
        and a["labels"].get("name") in hung
    ]
    assert {a["labels"]["name"] for a in received} == set(hung)
    for alert in received:
        assert "last probe" in alert["annotations"]["description"], alert["annotations"]
    # ... and delivers it (warning: Telegram, the local inventory's capture
    # helper, which only the offline kit has: test_alerts.py checks it runs).
    if host.run("docker inspect bbdash-capture").rc != 0:
        return
    deadline = time.monotonic() + 120
    told: set[str] = set()
    while time.monotonic() < deadline and told != set(hung):
        told = {
            name
            for message in captured(host, "telegram", since)
            for name in hung
            if "ContainerRestartedUnhealthy" in (message.get("text") or "")
            and name in message["text"]
        }
        time.sleep(5)
    assert told == set(hung), "the restart alert did not reach Telegram"


def api_ready(host: Any) -> bool:
    """The API's readiness (/healthz: database and schema), asked from inside."""
    ready = host.run("docker exec %s bbdash-healthcheck http://127.0.0.1:8000/healthz", API)
    return ready.rc == 0


def test_a_database_outage_is_an_alert_not_a_restart_of_the_api(host: Any) -> None:
    """Upstream silence is not an internal fault. With PostgreSQL stopped, the
    API's liveness probe (Docker's healthcheck) keeps passing, so the healer
    leaves it alone; its readiness (/healthz) and Prometheus say what is
    wrong; it serves again once PostgreSQL is back, same process."""
    before = (restarts(host, API), inspect(host, API)["State"]["StartedAt"])
    stopped_at = host_time(host)
    host.check_output("docker stop bloomberg-postgres")
    try:
        # Two of Docker's probes (30 s apart) during the outage: the old probe
        # (/healthz) failed each one, and three make "unhealthy".
        deadline = time.monotonic() + 120
        during: list[dict[str, Any]] = []
        while time.monotonic() < deadline and len(during) < 2:
            time.sleep(5)
            log = inspect(host, API)["State"]["Health"]["Log"]
            during = [p for p in log if rfc3339(p["Start"]) > stopped_at + 1]
        assert len(during) >= 2, "Docker ran no healthcheck during the outage"
        assert [p["ExitCode"] for p in during] == [0] * len(during), during
        assert inspect(host, API)["State"]["Health"]["Status"] == "healthy"
        assert not api_ready(host), "readiness passed without a database"
        deadline = time.monotonic() + 60
        down: list[dict[str, Any]] = []
        while time.monotonic() < deadline and not down:
            down = prometheus_query(host, "bbdash_api_db_up == 0")
            time.sleep(5)
        assert down, "Prometheus did not see the API's database check fail"
    finally:
        host.check_output("docker start bloomberg-postgres")
    assert wait_healthy(host, "bloomberg-postgres")["State"]["Health"]["Status"] == "healthy"
    deadline = time.monotonic() + 60
    while not api_ready(host) and time.monotonic() < deadline:
        time.sleep(2)
    assert api_ready(host), "the API did not serve again once PostgreSQL was back"
    assert (restarts(host, API), inspect(host, API)["State"]["StartedAt"]) == before
