"""The healer (roles/autoheal/files/bbdash-autoheal), run as the timer runs it.

The program runs for real, with the docker command replaced by a test double
(tests/doubles/docker-cli, its README cites the Docker behaviour each answer
follows): containers are scripted with Docker's inspect format, restarts are
recorded, and the node-exporter file it writes is parsed as Prometheus would.
The real engine is exercised by molecule verify (tests/infra/test_heal.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

REPO = Path(__file__).resolve().parents[2]
PROGRAM = REPO / "roles" / "autoheal" / "files" / "bbdash-autoheal"
FAKE_DOCKER = REPO / "tests" / "doubles" / "docker-cli"
LABEL = "bloomberg.autoheal"


def container(name: str, status: str, output: str = "", labelled: bool = True) -> dict[str, Any]:
    probes = [{"Start": "t", "End": "t", "ExitCode": 1, "Output": output}] if output else []
    return {
        "Name": f"/{name}",
        "Config": {"Labels": {LABEL: "true"} if labelled else {}},
        "State": {"Running": True, "Health": {"Status": status, "FailingStreak": 3, "Log": probes}},
    }


class Host:
    """A temporary host: the healer's configuration, state, metrics and a scripted Docker."""

    def __init__(self, root: Path, **config: Any) -> None:
        self.root = root
        self.textfile = root / "textfile"
        self.textfile.mkdir()
        self.docker_state = root / "docker.json"
        self.config = root / "config.json"
        self.config.write_text(
            json.dumps(
                {
                    "label": LABEL,
                    "unhealthy_for_s": 0,
                    "max_restarts": 3,
                    "window_s": 1800,
                    "textfile_dir": str(self.textfile),
                    "state_dir": str(root / "state"),
                    **config,
                }
            )
        )

    def docker(self, containers: list[dict[str, Any]], *, fail: bool = False) -> None:
        self.docker_state.write_text(json.dumps({"containers": containers, "fail": fail}))

    def run(self) -> subprocess.CompletedProcess[str]:
        env = {
            **os.environ,
            "PATH": f"{FAKE_DOCKER}{os.pathsep}{os.environ['PATH']}",
            "FAKE_DOCKER_STATE": str(self.docker_state),
            "BBDASH_AUTOHEAL_CONFIG": str(self.config),
        }
        return subprocess.run(
            [sys.executable, str(PROGRAM), "run"],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )

    def fault_persists(self, output: str) -> None:
        """Every container is unhealthy again (a restart did not cure it)."""
        state = json.loads(self.docker_state.read_text())
        for c in state["containers"]:
            c["State"]["Health"] = container("x", "unhealthy", output)["State"]["Health"]
        self.docker_state.write_text(json.dumps(state))

    def restarted(self) -> list[str]:
        return json.loads(self.docker_state.read_text()).get("restarted", [])

    def metrics(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        text = (self.textfile / "bbdash_autoheal.prom").read_text()
        return {
            (sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
        }


@pytest.fixture
def host(tmp_path: Path) -> Host:
    return Host(tmp_path)


def test_healthy_containers_are_left_alone(host: Host) -> None:
    host.docker(
        [container("bloomberg-grafana", "healthy"), container("bloomberg-nginx", "starting")]
    )
    assert host.run().returncode == 0
    assert host.restarted() == []
    metrics = host.metrics()
    assert metrics[("bbdash_autoheal_unhealthy", (("name", "bloomberg-grafana"),))] == 0
    assert metrics[("bbdash_autoheal_restarts_total", (("name", "bloomberg-nginx"),))] == 0
    assert metrics[("bbdash_autoheal_last_run_ok", ())] == 1
    assert not list(host.textfile.glob(".*tmp")), "the metrics file is written by rename"


def test_an_unhealthy_container_is_restarted_with_its_reason(host: Host) -> None:
    host.docker([container("bloomberg-market-feeder", "unhealthy", 'stale: {"main": 94.2}')])
    proc = host.run()
    assert proc.returncode == 0
    assert host.restarted() == ["bloomberg-market-feeder"]
    assert "restarting an unhealthy container" in proc.stdout
    metrics = host.metrics()
    assert metrics[("bbdash_autoheal_restarts_total", (("name", "bloomberg-market-feeder"),))] == 1
    (reason,) = [
        dict(labels)["reason"]
        for name, labels in metrics
        if name == "bbdash_autoheal_last_restart_info"
    ]
    assert reason.startswith("unhealthy for 0 s; last probe: stale:")


def test_a_stopped_container_is_not_restarted(host: Host) -> None:
    """`docker stop` leaves Health.Status "unhealthy" (moby container/health.go,
    CloseMonitorChannel): before this, the healer started what a person stopped."""
    stopped = container("bloomberg-grafana", "unhealthy", "no output")
    stopped["State"]["Running"] = False
    paused = container("bloomberg-nginx", "unhealthy", "timeout")
    paused["State"]["Paused"] = True
    host.docker([stopped, paused])
    assert host.run().returncode == 0
    assert host.restarted() == []
    metrics = host.metrics()
    assert metrics[("bbdash_autoheal_unhealthy", (("name", "bloomberg-grafana"),))] == 0
    assert metrics[("bbdash_autoheal_unhealthy", (("name", "bloomberg-nginx"),))] == 0


def test_a_container_must_stay_unhealthy_for_the_bound(tmp_path: Path) -> None:
    host = Host(tmp_path, unhealthy_for_s=3600)
    host.docker([container("bloomberg-news-feeder", "unhealthy", "timeout")])
    assert host.run().returncode == 0
    assert host.restarted() == []
    assert host.metrics()[("bbdash_autoheal_unhealthy", (("name", "bloomberg-news-feeder"),))] == 1


def test_only_labelled_containers_are_watched(host: Host) -> None:
    host.docker([container("someone-elses", "unhealthy", "x", labelled=False)])
    assert host.run().returncode == 0
    assert host.restarted() == []


def test_a_container_a_restart_does_not_cure_is_left_to_a_person(tmp_path: Path) -> None:
    host = Host(tmp_path, max_restarts=2)
    host.docker([container("bloomberg-postgres", "unhealthy", "no response")])
    for _ in range(4):
        assert host.run().returncode == 0
        host.fault_persists("no response")
    assert host.restarted() == ["bloomberg-postgres"] * 2
    metrics = host.metrics()
    assert metrics[("bbdash_autoheal_looping", (("name", "bloomberg-postgres"),))] == 1
    assert metrics[("bbdash_autoheal_restarts_total", (("name", "bloomberg-postgres"),))] == 2


def test_an_engine_that_does_not_answer_is_reported(host: Host) -> None:
    host.docker([container("bloomberg-grafana", "healthy")])
    assert host.run().returncode == 0
    host.docker([], fail=True)
    proc = host.run()
    assert proc.returncode == 1
    assert "cannot ask Docker" in proc.stdout
    metrics = host.metrics()
    assert metrics[("bbdash_autoheal_last_run_ok", ())] == 0
    # What was known is kept, so the series do not vanish.
    assert ("bbdash_autoheal_unhealthy", (("name", "bloomberg-grafana"),)) in metrics
