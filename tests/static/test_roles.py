"""Every role: documented variables that agree with its defaults.

Like the prometheus-community collection's CI: defaults/main.yml and
meta/argument_specs.yml must name the same variables with the same default
values, every variable has a real description, and the role's README lists
every variable.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
ROLES = sorted(p for p in (ROOT / "roles").iterdir() if (p / "tasks" / "main.yml").exists())


def _load(path: Path) -> Any:
    return yaml.safe_load(path.read_text()) if path.exists() else None


@pytest.fixture(params=ROLES, ids=[r.name for r in ROLES])
def role(request: pytest.FixtureRequest) -> Path:
    return request.param


def _options(role: Path) -> dict[str, dict[str, Any]]:
    specs = _load(role / "meta" / "argument_specs.yml")
    assert specs, f"{role.name}: meta/argument_specs.yml is missing"
    return specs["argument_specs"]["main"]["options"]


def test_role_has_the_standard_files(role: Path) -> None:
    for name in ("README.md", "defaults/main.yml", "meta/main.yml", "meta/argument_specs.yml"):
        assert (role / name).exists(), f"{role.name}: {name} is missing"


def test_defaults_and_argument_specs_name_the_same_variables(role: Path) -> None:
    """Required options have no default, by definition; every other one has one."""
    defaults = _load(role / "defaults" / "main.yml") or {}
    options = {name: o for name, o in _options(role).items() if not o.get("required")}
    assert set(defaults) == set(options), (
        f"{role.name}: only in defaults: {sorted(set(defaults) - set(options))}, "
        f"only in argument_specs: {sorted(set(options) - set(defaults))}"
    )


def test_spec_defaults_equal_role_defaults(role: Path) -> None:
    defaults = _load(role / "defaults" / "main.yml") or {}
    for name, option in _options(role).items():
        if "default" in option:
            assert option["default"] == defaults[name], f"{role.name}: {name} differs"


def test_public_variables_are_role_prefixed(role: Path) -> None:
    defaults = _load(role / "defaults" / "main.yml") or {}
    prefix = role.name + "_"
    assert all(name.startswith(prefix) for name in defaults), [
        n for n in defaults if not n.startswith(prefix)
    ]


def test_every_variable_is_described(role: Path) -> None:
    for name, option in _options(role).items():
        description = option.get("description")
        text = " ".join(description) if isinstance(description, list) else str(description or "")
        assert text and text != name, f"{role.name}: {name} has no description"


def test_readme_lists_every_variable(role: Path) -> None:
    readme = (role / "README.md").read_text()
    missing = [name for name in _options(role) if f"`{name}`" not in readme]
    assert not missing, f"{role.name}: README does not document {missing}"


def _tasks(role: Path) -> list[dict[str, Any]]:
    """Every task of the role's task files, blocks flattened."""
    found: list[dict[str, Any]] = []

    def walk(items: list[dict[str, Any]] | None) -> None:
        for task in items or []:
            found.append(task)
            for key in ("block", "rescue", "always"):
                walk(task.get(key))

    for path in sorted((role / "tasks").glob("*.yml")):
        walk(_load(path))
    return found


def test_every_service_container_goes_through_the_container_role(role: Path) -> None:
    """One lifecycle (roles/container): no other role starts a long-running
    container itself, so none can forget the hardening, the health wait or the
    health report (docs/contracts.md, "Health report"). One-shot containers
    (detach: false) and restarts of an existing one (comparisons ignored) are not
    lifecycles."""
    if role.name == "container":
        return
    starts = [
        task["name"]
        for task in _tasks(role)
        if (task.get("community.docker.docker_container") or {}).get("state") == "started"
        and task["community.docker.docker_container"].get("detach", True) is not False
        and (task["community.docker.docker_container"].get("comparisons") or {}).get("*")
        != "ignore"
    ]
    assert not starts, f"{role.name} starts a container itself: {starts}"
    registers = [
        task["name"]
        for task in _tasks(role)
        if "bloomberg_deployed_containers" in (task.get("ansible.builtin.set_fact") or {})
    ]
    assert not registers, f"{role.name} registers a container itself: {registers}"


def test_preflight_runs_once_in_site_yml(role: Path) -> None:
    """playbooks/preflight.yml checks every role before anything changes and marks
    the run; a role then skips its own copy of the checks (one skipped include),
    and still runs them when it is played without that playbook."""
    main = _load(role / "tasks" / "main.yml")
    preflight = [
        t for t in main if "preflight.yml" in str(t.get("ansible.builtin.include_tasks", ""))
    ]
    if not (role / "tasks" / "preflight.yml").exists() or role.name == "container":
        assert not preflight
        return
    assert len(preflight) == 1, f"{role.name}: the preflight step is one include_tasks"
    step = preflight[0]
    assert step["when"] == "not (bloomberg_preflight_done | default(false) | bool)"
    assert step["ansible.builtin.include_tasks"]["apply"]["tags"] == step["tags"]
    assert f"{role.name}_preflight" in step["tags"]
    (play,) = [
        p
        for p in _load(ROOT / "playbooks" / "preflight.yml")
        if "ansible.builtin.import_playbook" not in p
    ]
    marks = [t for t in play["tasks"] if "ansible.builtin.set_fact" in t]
    assert marks and marks[-1]["ansible.builtin.set_fact"] == {"bloomberg_preflight_done": True}
    assert "cacheable" not in marks[-1]["ansible.builtin.set_fact"], "must not outlive the run"
    assert role.name in play["vars"]["bloomberg_preflight_roles"]
