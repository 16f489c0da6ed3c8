"""The container role: the stack's one container lifecycle (roles/container/README.md).

What every component inherits is checked once here, on the role itself; what
each component asks for (its block of data) is checked per component, through
container_block.definition, in that component's own tests. Here: the hardened
defaults, the bookkeeping that the health report and the reload handlers rely
on, the tags that keep `--tags <role>_run` working, and the short list of
components allowed to opt out of a default, each for a reason written beside
its block.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import container_block
import pytest
import yaml

ROLES = Path(__file__).resolve().parents[2] / "roles"
ROLE = ROLES / "container"
COMPONENTS = sorted(
    r.name
    for r in ROLES.iterdir()
    if (r / "tasks" / "run.yml").exists()
    and "name: container\n" in (r / "tasks" / "run.yml").read_text()
)
# Components allowed a writable root or their capabilities (the official
# images of InfluxDB and PostgreSQL start as root and step down themselves;
# Grafana's and cAdvisor's images have never run read-only here).
WRITABLE_ROOT = {"cadvisor", "grafana", "influxdb", "postgres"}
KEEPS_CAPABILITIES = {"influxdb", "postgres"}


def _load(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _run_tasks() -> list[dict[str, Any]]:
    return _load(ROLE / "tasks" / "run.yml")


def _task(name_start: str) -> dict[str, Any]:
    return next(t for t in _run_tasks() if t["name"].startswith(name_start))


def test_every_container_component_uses_it() -> None:
    assert COMPONENTS == [
        "alertmanager", "cadvisor", "grafana", "influxdb", "link", "market_feeder",
        "news_feeder", "nginx", "node_exporter", "postgres", "prometheus", "watchlist_api",
    ]  # fmt: skip


def test_it_refuses_to_run_on_its_own() -> None:
    (task,) = _load(ROLE / "tasks" / "main.yml")
    assert "ansible.builtin.fail" in task


def test_both_entry_points_take_the_same_options() -> None:
    specs = _load(ROLE / "meta" / "argument_specs.yml")["argument_specs"]
    assert specs["run"]["options"] == specs["main"]["options"]
    required = {n for n, o in specs["run"]["options"].items() if o.get("required")}
    assert required == {
        "container_name", "container_image", "container_cpus", "container_memory",
        "container_healthcheck_test",
    }  # fmt: skip


def test_the_defaults_are_hardened() -> None:
    defaults = _load(ROLE / "defaults" / "main.yml")
    assert defaults["container_read_only"] is True
    assert defaults["container_cap_drop"] == ["ALL"]
    assert defaults["container_capabilities"] == []
    assert defaults["container_security_opts"] == ["no-new-privileges:true"]
    assert defaults["container_published_ports"] == []


def test_the_container_task() -> None:
    task = _task("Run the container")
    c = task["community.docker.docker_container"]
    assert c["restart_policy"] == "unless-stopped"
    # Aliases only when asked (the link role's front): others compare as before.
    assert (
        "[{'name': container_network}] if container_network_aliases | length == 0" in c["networks"]
    )
    assert "'aliases': container_network_aliases" in c["networks"]
    assert c["network_mode"] == "{{ container_network }}"
    assert c["comparisons"] == {
        "*": "strict",
        "env": "allow_more_present",
        "labels": "allow_more_present",
    }
    assert "privileged" not in c, "no component may run privileged"
    # The host's healer (roles/autoheal) restarts what carries this label.
    assert "'bloomberg.autoheal': 'true'" in c["labels"]
    assert c["cpus"] == "{{ container_cpus }}" and c["memory"] == "{{ container_memory }}"
    assert c["healthcheck"]["test"] == "{{ container_healthcheck_test }}"
    assert task["register"] == "_container_run"
    assert "when" not in task, "it also removes a disabled component's container"
    # Each include's result is forgotten at its end (tagged always), so that a
    # tag-limited run never takes the previous container's for its own.
    record = _run_tasks()[-1]
    assert record["ansible.builtin.set_fact"]["_container_run"] == {}
    assert record["tags"] == ["always"]
    state = _load(ROLE / "vars" / "main.yml")
    assert "(_container_run | default({}))" in state["_container_found"]


def test_the_wait_runs_the_healthcheck_command_or_the_readiness_one() -> None:
    wait = _task("Wait until the healthcheck passes")
    assert (
        wait["community.docker.docker_container_exec"]["argv"]
        == "{{ (container_ready_test or container_healthcheck_test)[1:] }}"
    )
    assert "until" in wait and int(wait["delay"]) > 0
    assert "container_wait | bool" in wait["when"]
    # A rerun does not pay for it when Docker already says healthy.
    assert "_container_run is changed or _container_state.health != 'healthy'" in wait["when"]


def test_it_records_the_container_for_the_report_and_the_handlers() -> None:
    record = _run_tasks()[-1]
    facts = record["ansible.builtin.set_fact"]
    assert "+ ([container_name] if" in facts["bloomberg_deployed_containers"]
    assert "combine({container_name: _container_state} if" in facts["container_state"]
    assert record["tags"] == ["always"]
    # A disabled container is neither reported nor given a state.
    assert (
        "[container_name] if container_enabled | bool else []"
        in facts["bloomberg_deployed_containers"]
    )
    assert "if container_enabled | bool else {}" in facts["container_state"]
    state = _load(ROLE / "vars" / "main.yml")["_container_state"]
    assert set(state) == {"started", "running", "health", "address"}


def test_a_disabled_component_is_removed() -> None:
    run = _task("Run the container")["community.docker.docker_container"]
    assert run["state"] == "{{ 'started' if container_enabled | bool else 'absent' }}"
    assert run["keep_volumes"] == "{{ container_keep_volumes | bool }}"


@pytest.mark.parametrize("role", COMPONENTS)
def test_each_include_keeps_the_components_tags(role: str) -> None:
    include = container_block.include(role)
    assert include["tags"] == ["always"]
    assert include["ansible.builtin.include_role"]["tasks_from"] == "run.yml"
    assert include["ansible.builtin.include_role"]["apply"]["tags"] == [role, f"{role}_run"]
    c = container_block.definition(role)
    assert c["enabled"] == f"{{{{ {role}_enabled }}}}"
    assert c["cpus"] == f"{{{{ {role}_cpus }}}}" and c["memory"] == f"{{{{ {role}_memory }}}}"
    assert c["healthcheck_test"][0] == "CMD"


@pytest.mark.parametrize("role", COMPONENTS)
def test_opt_outs_are_the_known_ones(role: str) -> None:
    c = container_block.definition(role)
    assert (c["read_only"] is True) == (role not in WRITABLE_ROOT)
    assert (c["cap_drop"] == ["ALL"]) == (role not in KEEPS_CAPABILITIES)
    assert c["security_opts"] == ["no-new-privileges:true"]


@pytest.mark.parametrize("role", COMPONENTS)
def test_only_nginx_publishes_to_the_world(role: str) -> None:
    ports = container_block.definition(role)["published_ports"]
    if role == "nginx":
        assert ports == ["80:80", "443:443"]
    elif role == "grafana":
        assert ports == ["{{ grafana_host_bind }}:{{ grafana_host_port }}:3000"]
    elif role == "link":
        # The TLS front between hosts: on the host's stack address only, which
        # the ufw role's DOCKER-USER rules admit from the other stack hosts only.
        assert ports == ["{{ _link_address }}:{{ link_port }}:{{ link_port }}"]
    else:
        assert ports == []
