"""bbdash.stack.packages_missing: which apt tasks a rerun may skip.

The filter decides whether an apt task with state=present runs at all, so a
wrong answer would leave a package uninstalled: each rule is checked here.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
PLUGIN = REPO / "collections/ansible_collections/bbdash/stack/plugins/filter/packages_missing.py"
spec = importlib.util.spec_from_file_location("packages_missing", PLUGIN)
assert spec and spec.loader
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
packages_missing = module.packages_missing


def test_only_what_is_not_installed_is_missing() -> None:
    assert packages_missing(["ufw", "aide", "auditd"], ["ufw", "auditd", "curl"]) == ["aide"]
    assert packages_missing(["ufw"], ["ufw"]) == []


def test_without_the_installed_list_everything_is_missing() -> None:
    assert packages_missing(["ufw", "aide"], None) == ["ufw", "aide"]


def test_a_single_name_works_like_a_list() -> None:
    assert packages_missing("ufw", []) == ["ufw"]
    assert packages_missing("ufw", ["ufw"]) == []


def test_a_version_or_release_is_left_to_apt() -> None:
    installed = ["docker-ce", "containerd.io", "logrotate"]
    assert packages_missing(["docker-ce=5:27.3.1-1", "containerd.io"], installed) == [
        "docker-ce=5:27.3.1-1"
    ]
    assert packages_missing(["logrotate/bookworm-backports"], installed) == [
        "logrotate/bookworm-backports"
    ]


def test_every_apt_install_in_the_roles_is_guarded_the_same_way() -> None:
    """Each apt state=present task of a role either names packages_missing in its
    `when` or is the one that has no list to compare (none today)."""
    unguarded = []
    for path in sorted((REPO / "roles").glob("*/tasks/*.yml")):
        for task in yaml.safe_load(path.read_text(encoding="utf-8")) or []:
            apt = task.get("ansible.builtin.apt")
            if not apt or apt.get("state", "present") != "present":
                continue
            when = task.get("when", "")
            if "packages_missing" not in str(when):
                unguarded.append(f"{path.relative_to(REPO)}: {task['name']}")
    assert unguarded == []
