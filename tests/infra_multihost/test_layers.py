"""Each host runs its layer and nothing of the others', and the data host's
Prometheus watches all three.

Every host: the TLS front (bloomberg-link), node-exporter, cAdvisor and the
healer's timer. The data host: PostgreSQL, InfluxDB, Prometheus, Alertmanager
(and the backups). The collection host: the two feeders and the watchlist API.
The presentation host: nginx and Grafana. Prometheus reaches the other hosts'
exporters through its link, its targets labelled with their host.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from conftest import COLLECTION, DATA, HOSTS, PRESENTATION

EVERY_HOST = {"bloomberg-link", "bloomberg-node-exporter", "bloomberg-cadvisor"}
LAYER = {
    DATA: {
        "bloomberg-postgres",
        "bloomberg-influxdb",
        "bloomberg-prometheus",
        "bloomberg-alertmanager",
    },
    COLLECTION: {"bloomberg-market-feeder", "bloomberg-news-feeder", "bloomberg-watchlist-api"},
    PRESENTATION: {"bloomberg-nginx", "bloomberg-grafana"},
}
# The jobs Prometheus scrapes on every host. The other hosts' targets carry a
# `host` label (roles/prometheus, bbdash.stack.link_scrape_targets); the data
# host's own targets keep their one-host form, without it.
PER_HOST_JOBS = ("node-exporter", "cadvisor")
HOST_LABEL = "host"


def target_host(target: dict[str, Any]) -> str:
    return str(target["labels"].get(HOST_LABEL, DATA))


def stack_containers(host: Any) -> dict[str, str]:
    """The stack's containers on a host, running or not (the test helpers,
    bbdash-*, aside): name -> Docker's status line."""
    out = host.check_output("docker ps -a --format '{{.Names}}\t{{.Status}}'")
    rows = (line.split("\t", 1) for line in out.splitlines() if line.strip())
    return {name: status for name, status in rows if name.startswith("bloomberg-")}


@pytest.mark.parametrize("name", HOSTS)
def test_each_host_runs_only_its_layers_containers(hosts: dict[str, Any], name: str) -> None:
    """Proves the split: a host holds exactly its own layer's containers plus
    the ones every host has, each of them up (e.g. no InfluxDB on the
    collection host: its bloomberg-influxdb is only the link's alias)."""
    host = hosts[name]
    expected = EVERY_HOST | LAYER[name]
    deadline = time.monotonic() + 120
    while True:
        found = stack_containers(host)
        waiting = {
            n: s
            for n, s in found.items()
            if not s.startswith("Up") or "starting" in s or "unhealthy" in s
        }
        if not waiting or time.monotonic() > deadline:
            break
        time.sleep(5)
    assert set(found) == expected, (
        f"missing: {sorted(expected - set(found))}, not of this layer: {sorted(set(found) - expected)}"
    )
    assert not waiting, waiting


@pytest.mark.parametrize("name", HOSTS)
def test_each_host_has_its_own_healer(hosts: dict[str, Any], name: str) -> None:
    """Proves the every-host part of the hardening: the healer's timer runs on
    each host and has run there (roles/autoheal writes its last run)."""
    host = hosts[name]
    timer = host.service("bbdash-autoheal.timer")
    assert timer.is_enabled and timer.is_running
    text = host.file("/opt/bloomberg/node-exporter/textfile/bbdash_autoheal.prom").content_string
    assert "bbdash_autoheal_last_run_ok 1" in text


def _targets(data: Any) -> list[dict[str, Any]]:
    out = data.check_output(
        "docker exec bloomberg-prometheus wget -qO- http://127.0.0.1:9090/api/v1/targets"
    )
    return json.loads(out)["data"]["activeTargets"]


def test_prometheus_on_the_data_host_scrapes_every_host(data: Any) -> None:
    """Proves that monitoring spans the stack: node-exporter and cAdvisor of
    each of the three hosts are targets of the data host's Prometheus, labelled
    with their host, and every target is up (scraped through the links within
    90 s)."""
    wanted = {(job, name) for job in PER_HOST_JOBS for name in HOSTS}
    deadline = time.monotonic() + 90
    while True:
        targets = _targets(data)
        up = {(t["labels"].get("job"), target_host(t)) for t in targets if t["health"] == "up"}
        down = [
            (t["labels"].get("job"), target_host(t), t["lastError"])
            for t in targets
            if t["health"] != "up"
        ]
        if (wanted <= up and not down) or time.monotonic() > deadline:
            break
        time.sleep(5)
    assert wanted <= up, f"not up: {sorted(wanted - up)}; down: {down}"
    assert not down, down
