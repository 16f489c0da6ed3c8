"""The grafana role's layout and conventions (docs/conventions.md), and its
configure step run for real into a temporary folder: twice (the second run
changes nothing) and in --check --diff mode.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import container_block
import pytest
import sizing_profiles
from grafana_helpers import ROLE, SHARED_VARS, load_yaml, role_defaults, role_vars
from role_runner import recap, run_playbook, step_file

SECRET_DEFAULTS = {
    "grafana_admin_password": "vault_grafana_admin_password",
    "grafana_secret_key": "vault_grafana_secret_key",
    "grafana_influxdb_token": "vault_grafana_influxdb_token",
    "grafana_postgres_password": "vault_grafana_postgres_password",
    "grafana_metrics_password": "vault_grafana_metrics_password",
}


def tasks(name: str) -> list[dict[str, Any]]:
    return load_yaml(ROLE / "tasks" / name)


def flat(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for item in items:
        out.append(item)
        out += flat(item.get("block", []))
    return out


def module_of(task: dict[str, Any]) -> str:
    skip = {
        "name", "when", "loop", "loop_control", "register", "notify", "no_log", "diff", "vars",
        "tags", "block", "changed_when", "check_mode", "until", "retries", "delay", "listen",
    }  # fmt: skip
    modules = [k for k in task if k not in skip]
    assert len(modules) == 1, task
    return modules[0]


def test_layout() -> None:
    for path in (
        "README.md",
        "defaults/main.yml",
        "vars/main.yml",
        "meta/main.yml",
        "meta/argument_specs.yml",
        "tasks/main.yml",
        "tasks/preflight.yml",
        "tasks/configure.yml",
        "tasks/run.yml",
        "tasks/admin.yml",
        "handlers/main.yml",
        "templates/grafana.ini.j2",
    ):
        assert (ROLE / path).is_file(), path
    assert list((ROLE / "files" / "dashboards").glob("*.json"))


def test_defaults_prefixed_commented_and_documented() -> None:
    defaults = role_defaults()
    lines = (ROLE / "defaults" / "main.yml").read_text(encoding="utf-8").splitlines()
    for name in defaults:
        assert name.startswith("grafana_"), name
        index = next(i for i, line in enumerate(lines) if line.startswith(f"{name}:"))
        above = lines[index - 1]
        assert above.startswith("#") or lines[index - 1].startswith(("grafana_", "  ")), name
    specs = load_yaml(ROLE / "meta" / "argument_specs.yml")["argument_specs"]["main"]["options"]
    assert set(specs) == set(defaults), "argument_specs must match defaults exactly"
    py_types = {bool: "bool", int: "int", float: "float", str: "str", list: "list", dict: "dict"}
    for name, value in defaults.items():
        spec = specs[name]
        if not (isinstance(value, str) and "{{" in value):  # templated: typed by its spec
            assert spec["type"] == py_types[type(value)], name
        assert spec["description"] and spec["description"] != name, name
        if "default" in spec:
            assert spec["default"] == value, name
        else:
            assert isinstance(value, str) and "{{" in value, (
                f"{name}: literal default missing from the spec"
            )
    readme = (ROLE / "README.md").read_text(encoding="utf-8")
    for name in defaults:
        assert f"`{name}`" in readme, f"README does not document {name}"


def test_vars_are_private() -> None:
    assert all(name.startswith("_grafana_") for name in role_vars())


def test_secrets_follow_the_vault_pattern() -> None:
    defaults = role_defaults()
    specs = load_yaml(ROLE / "meta" / "argument_specs.yml")["argument_specs"]["main"]["options"]
    for name, vault in SECRET_DEFAULTS.items():
        assert defaults[name] == f"{{{{ {vault} | default('') }}}}", name
        assert specs[name].get("no_log") is True, name
    readme = (ROLE / "README.md").read_text(encoding="utf-8")
    for vault in SECRET_DEFAULTS.values():
        assert vault in readme


def test_main_includes_the_steps_in_order_with_tags() -> None:
    main = tasks("main.yml")
    assert [step_file(t) for t in main] == [
        "preflight.yml",
        "configure.yml",
        "run.yml",
        "admin.yml",
        "users.yml",
        "service_accounts.yml",
    ]
    for task in main:
        step = step_file(task).removesuffix(".yml")
        assert "grafana" in task["tags"] and f"grafana_{step}" in task["tags"]


def test_every_task_is_named_and_fqcn() -> None:
    for path in [*sorted((ROLE / "tasks").glob("*.yml")), ROLE / "handlers" / "main.yml"]:
        for task in flat(load_yaml(path)):
            assert task.get("name"), f"{path.name}: unnamed task"
            if "block" in task:
                continue
            module = module_of(task)
            assert module.count(".") >= 2, f"{path.name}: {task['name']}: {module} is not FQCN"
            assert module not in (
                "ansible.builtin.shell",
                "ansible.builtin.command",
                "ansible.builtin.raw",
            )


def test_preflight_fails_clearly_without_an_admin_password() -> None:
    first = tasks("preflight.yml")[0]
    assert "grafana_admin_password | length >= 12" in first["ansible.builtin.assert"]["that"]
    assert "vault_grafana_admin_password" in first["ansible.builtin.assert"]["fail_msg"]
    assert first["no_log"] is True


@pytest.mark.parametrize(
    ("password", "refused"), [("pa$$word-0123456789", True), ("password-0123456789", False)]
)
def test_preflight_refuses_a_dollar_in_the_postgres_password(
    tmp_path: Path, password: str, refused: bool
) -> None:
    """Grafana's provisioning expands "$NAME" inside a $__file{} secret's contents
    (pkg/services/provisioning/values/values.go): the password would change."""
    play = {
        "hosts": "localhost",
        "gather_facts": False,
        "vars": {**SHARED_VARS, "vault_grafana_postgres_password": password},
        "roles": [{"role": str(ROLE)}],
    }
    proc = run_playbook(tmp_path, [play], "--tags", "grafana_preflight")
    assert ('holds a "$"' in proc.stdout) is refused, proc.stdout[-2000:]
    assert (proc.returncode != 0) is refused
    assert password not in proc.stdout


def test_tasks_touching_secrets_hide_them() -> None:
    for path in [*sorted((ROLE / "tasks").glob("*.yml")), ROLE / "handlers" / "main.yml"]:
        for task in flat(load_yaml(path)):
            if "block" in task:
                continue
            text = json.dumps(task)
            secretish = (
                any(name in text for name in SECRET_DEFAULTS) or "_grafana_start_files" in text
            )
            if secretish and module_of(task) != "ansible.builtin.assert":
                assert task.get("no_log") is True, f"{path.name}: {task['name']} needs no_log"
    configure = {t["name"]: t for t in tasks("configure.yml")}
    start = configure["Write Grafana's folders, grafana.ini and secret files"]
    assert start["no_log"] is True and start["bbdash.stack.file_set"]["mode"] == "0640"
    written = {entry["dest"]: entry for entry in role_vars()["_grafana_start_files"]}
    assert "grafana.ini" in written
    secrets = [entry for dest, entry in written.items() if dest.startswith("secrets/")]
    assert len(secrets) == 5 and all(entry["secret"] is True for entry in secrets)


def test_admin_password_applied_every_run_idempotently() -> None:
    admin = {t["name"]: t for t in flat(tasks("admin.yml"))}
    wait = admin["Wait for Grafana's health endpoint and log in with the vault's admin password"]
    health, login = wait["bbdash.stack.http_batch"]["requests"]
    assert health["url"].endswith("/api/health")
    assert login["url"].endswith("/api/user") and login["status_code"] == [200, 401]
    assert login["url_password"] == "{{ grafana_admin_password }}" and wait["no_log"] is True
    assert wait["check_mode"] is False and wait["changed_when"] is False
    assert "_grafana_health.results[1].status in [200, 401]" in wait["until"]
    assert role_vars()["_grafana_admin_login"] == "{{ _grafana_health.results[1] }}"
    reset = admin["Reset the admin password to the vault's"]
    exec_args = reset["community.docker.docker_container_exec"]
    assert "--password-from-stdin" in exec_args["argv"]
    assert exec_args["stdin"] == "{{ grafana_admin_password }}"
    assert reset["when"] == "_grafana_admin_login.status == 401"
    assert reset["changed_when"] is True


def test_container_follows_the_canonical_task() -> None:
    container = container_block.definition("grafana")
    assert container["name"] == "{{ _grafana_container_name }}"
    assert role_vars()["_grafana_container_name"] == "bloomberg-grafana"
    assert container["cap_drop"] == ["ALL"]
    assert container["security_opts"] == ["no-new-privileges:true"]
    assert (
        container["cpus"] == "{{ grafana_cpus }}" and container["memory"] == "{{ grafana_memory }}"
    )
    assert sizing_profiles.row("grafana", "small") == {"cpus": 1.0, "memory": "1g"}
    assert role_defaults()["grafana_cpus"] == sizing_profiles.follows("grafana", "cpus")
    assert container["published_ports"] == ["{{ grafana_host_bind }}:{{ grafana_host_port }}:3000"]
    assert role_defaults()["grafana_host_bind"] == "127.0.0.1"
    assert "/api/health" in " ".join(container["healthcheck_test"])
    assert all(
        v.endswith(":ro") or v.startswith("{{ _grafana_volume_name }}")
        for v in container["volumes"]
    )
    assert "is changed" in container["restart"]
    assert container["pull"] == "{{ grafana_image_pull }}"
    assert re.fullmatch(r"grafana/grafana:12\.\d+\.\d+", role_defaults()["grafana_image"])


def test_handlers_listen() -> None:
    listened = set()
    for handler in load_yaml(ROLE / "handlers" / "main.yml"):
        topics = handler["listen"] if isinstance(handler["listen"], list) else [handler["listen"]]
        assert all(t.startswith("grafana ") for t in topics)
        listened |= set(topics)
    notified = set()
    for task in flat(tasks("configure.yml")):
        notify = task.get("notify", [])
        notified |= set([notify] if isinstance(notify, str) else notify)
    assert notified <= listened


# --------------------------------------------------------------------------- configure, for real


def run_configure(base: Path, check: bool) -> subprocess.CompletedProcess[str]:
    """The whole role (static roles:, so that --tags reach its tasks), preflight and configure."""
    variables = {
        **SHARED_VARS,
        "bloomberg_base_dir": str(base / "opt"),
        "grafana_enabled": False,  # no container, no API: handlers skip
        "ansible_python_interpreter": sys.executable,
    }
    play = {
        "hosts": "localhost",
        "gather_facts": False,
        "vars": variables,
        "roles": [{"role": str(ROLE)}],
    }
    tags = ["--tags", "grafana_preflight,grafana_configure"]
    return run_playbook(
        base,
        [play],
        *tags,
        *(["--check", "--diff"] if check else []),
        env={"ANSIBLE_PIPELINING": "true"},
    )


@pytest.mark.slow
@pytest.mark.skipif(os.geteuid() != 0, reason="the role writes root-owned files: run as root")
def test_configure_is_idempotent_and_checkable() -> None:
    with tempfile.TemporaryDirectory(prefix="grafana-role-") as tmp:
        base = Path(tmp)
        dry = run_configure(base, check=True)
        assert recap(dry)["failed"] == 0
        assert "test-admin-password" not in dry.stdout, "a secret leaked into --check --diff output"
        conf = base / "opt" / "grafana"
        # A dashboard the role does not ship (any more) is removed.
        (conf / "dashboards").mkdir(parents=True)
        (conf / "dashboards" / "old.json").write_text("{}")
        first = recap(run_configure(base, check=False))
        assert first["changed"] > 0
        assert not (conf / "dashboards" / "old.json").exists()
        second = recap(run_configure(base, check=False))
        assert second["changed"] == 0, "configure is not idempotent"
        again = run_configure(base, check=True)
        assert recap(again)["changed"] == 0
        assert "test-admin-password" not in again.stdout
        assert oct((conf / "grafana.ini").stat().st_mode)[-4:] == "0640"
        assert oct((conf / "secrets" / "admin_password").stat().st_mode)[-4:] == "0640"
        assert (conf / "secrets" / "admin_password").read_text() == SHARED_VARS[
            "vault_grafana_admin_password"
        ]
        shipped = sorted(p.name for p in (ROLE / "files" / "dashboards").glob("*.json"))
        assert sorted(p.name for p in (conf / "dashboards").glob("*.json")) == shipped
