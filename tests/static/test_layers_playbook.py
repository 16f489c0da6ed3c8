"""playbooks/layers.yml: which layers each host holds, the one-host default, and
the same answer under --limit (ansible-playbook on localhost connections)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import yaml
from role_runner import REPO, ansible_env, ansible_playbook

LAYER_GROUPS = ["bbdash_presentation", "bbdash_data", "bbdash_collection", "bbdash_linked"]


def run(tmp_path: Path, inventory: dict[str, Any], *args: str) -> subprocess.CompletedProcess[str]:
    """layers.yml, then one play that prints the bbdash_* groups as JSON."""
    (tmp_path / "hosts.yml").write_text(yaml.safe_dump(inventory), encoding="utf-8")
    playbook = [
        {"ansible.builtin.import_playbook": str(REPO / "playbooks" / "layers.yml")},
        {
            "name": "Show the groups",
            "hosts": "bloomberg",
            "gather_facts": False,
            "tasks": [
                {
                    "ansible.builtin.debug": {
                        "msg": f"GROUPS={{{{ dict({LAYER_GROUPS} | zip({LAYER_GROUPS} "
                        "| map('extract', groups) | map('default', []) | map('sort'))) | to_json }}"
                    },
                    "run_once": True,
                }
            ],
        },
    ]
    (tmp_path / "play.yml").write_text(yaml.safe_dump(playbook), encoding="utf-8")
    return subprocess.run(
        [ansible_playbook(), "-i", str(tmp_path / "hosts.yml"), str(tmp_path / "play.yml"), *args],
        cwd=tmp_path,
        env=ansible_env(tmp_path, "ansible.builtin.default"),
        capture_output=True,
        text=True,
        check=False,
    )


def groups_of(proc: subprocess.CompletedProcess[str]) -> dict[str, list[str]]:
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    line = next(line for line in proc.stdout.splitlines() if "GROUPS=" in line)
    return json.loads(json.loads("{" + line.strip().rstrip(",") + "}")["msg"].split("=", 1)[1])


def host(name: str) -> dict[str, Any]:
    return {name: {"ansible_connection": "local"}}


def three_hosts() -> dict[str, Any]:
    return {
        "all": {
            "children": {
                "bloomberg": {
                    "children": {
                        "bloomberg_data": {"hosts": host("db")},
                        "bloomberg_collection": {"hosts": host("feeds")},
                        "bloomberg_presentation": {"hosts": host("web")},
                    }
                }
            }
        }
    }


def test_one_host_without_layer_groups_holds_every_layer_and_is_not_linked(tmp_path: Path) -> None:
    inventory = {"all": {"children": {"bloomberg": {"hosts": host("vps")}}}}
    assert groups_of(run(tmp_path, inventory)) == {
        "bbdash_presentation": ["vps"],
        "bbdash_data": ["vps"],
        "bbdash_collection": ["vps"],
        "bbdash_linked": [],
    }


def test_three_hosts_hold_one_layer_each_and_are_linked(tmp_path: Path) -> None:
    assert groups_of(run(tmp_path, three_hosts())) == {
        "bbdash_presentation": ["web"],
        "bbdash_data": ["db"],
        "bbdash_collection": ["feeds"],
        "bbdash_linked": ["db", "feeds", "web"],
    }


def test_a_limited_run_still_knows_every_hosts_layers(tmp_path: Path) -> None:
    """Under --limit the other hosts stay where their peers find them (the CA on the
    data host, the firewall's peers, the carried secrets)."""
    found = groups_of(run(tmp_path, three_hosts(), "--limit", "feeds"))
    assert found["bbdash_data"] == ["db"]
    assert found["bbdash_presentation"] == ["web"]
    assert found["bbdash_linked"] == ["db", "feeds", "web"]


def test_one_host_may_hold_two_layers(tmp_path: Path) -> None:
    inventory = three_hosts()
    layers = inventory["all"]["children"]["bloomberg"]["children"]
    layers["bloomberg_collection"] = {"hosts": host("db")}
    layers["bloomberg_presentation"] = {"hosts": {**host("web")}}
    found = groups_of(run(tmp_path, inventory))
    assert found["bbdash_data"] == ["db"] and found["bbdash_collection"] == ["db"]
    assert found["bbdash_linked"] == ["db", "web"]


def test_two_hosts_in_one_layer_are_refused(tmp_path: Path) -> None:
    inventory = three_hosts()
    inventory["all"]["children"]["bloomberg"]["children"]["bloomberg_data"]["hosts"]["db2"] = {
        "ansible_connection": "local"
    }
    proc = run(tmp_path, inventory)
    assert proc.returncode != 0
    assert "holds exactly one host" in proc.stdout


def test_a_host_outside_every_layer_is_refused(tmp_path: Path) -> None:
    inventory = three_hosts()
    inventory["all"]["children"]["bloomberg"]["hosts"] = host("stray")
    proc = run(tmp_path, inventory)
    assert proc.returncode != 0
    assert "in at least one of them" in proc.stdout
