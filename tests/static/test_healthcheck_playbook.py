"""The health report's verdict on Docker's container list (playbooks/healthcheck.yml).

The report asks Docker once for every container and reads its status line
(the `Status` field of `GET /containers/json`, as community.docker's
docker_host_info returns it). Ansible itself evaluates the playbook's
expression here on recorded status lines: a container is healthy when it is
up and Docker does not call it unhealthy or still starting; one without a
healthcheck counts when it is up.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from role_runner import REPO, localhost_play, run_playbook

PLAYBOOK = yaml.safe_load((REPO / "playbooks" / "healthcheck.yml").read_text(encoding="utf-8"))
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


def healthy(tmp_path: Path, containers: list[dict[str, Any]]) -> list[str]:
    play = localhost_play(
        "evaluate the health report's expression",
        vars={
            "_hc_healthy": PLAYBOOK[0]["vars"]["_hc_healthy"],
            "_hc_docker": {"containers": containers},
        },
        tasks=[{"ansible.builtin.debug": {"msg": "HEALTHY={{ _hc_healthy | to_json }}"}}],
    )
    proc = run_playbook(tmp_path, [play])
    assert proc.returncode == 0, proc.stdout[-3000:]
    line = next(x for x in proc.stdout.splitlines() if "HEALTHY=" in x)
    return json.loads(line.split("HEALTHY=", 1)[1].rstrip('"').replace('\\"', '"'))


def test_only_up_and_not_unhealthy_containers_count(tmp_path: Path) -> None:
    assert healthy(tmp_path, CONTAINERS) == ["bloomberg-grafana", "bloomberg-cadvisor"]


def test_no_container_listed_means_none_healthy(tmp_path: Path) -> None:
    assert healthy(tmp_path, []) == []
