"""The collection roles (feeders_image, watchlist_api, market_feeder, news_feeder), statically.

What tests/static/test_roles.py checks for every role (defaults = argument_specs
= README) is not repeated here. These are the collection layer's own rules:
argument_specs types that fit the defaults, the seed's limits, the container
task's shape, secrets hidden and in 0600 files for the image's user, every
vault name the roles read listed in vault.yml.example, restarts only on change,
and the local inventory in demo mode with the wheelhouse.
"""

from __future__ import annotations

import re
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

import container_block
import pytest
import sizing_profiles
import yaml
from role_runner import step_file

REPO = Path(__file__).resolve().parents[2]
ROLES = REPO / "roles"
SERVICES = ["watchlist_api", "market_feeder", "news_feeder"]
ALL = ["feeders_image", *SERVICES]
SEED_LIMITS = {  # docs/architecture.md, "Resources per container" (the seed's table)
    "market_feeder": (0.5, "512m"),
    "news_feeder": (0.25, "256m"),
    "watchlist_api": (0.25, "256m"),
}
CONTAINER = {
    "market_feeder": "bloomberg-market-feeder",
    "news_feeder": "bloomberg-news-feeder",
    "watchlist_api": "bloomberg-watchlist-api",
}
TYPES: dict[str, tuple[type, ...]] = {
    "bool": (bool,),
    "int": (int,),
    "float": (int, float),
    "str": (str,),
    "list": (list,),
    "dict": (dict,),
}


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def tasks(role: str, name: str) -> list[dict[str, Any]]:
    return load(ROLES / role / "tasks" / name) or []


def flat(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for task in items:
        out.append(task)
        out.extend(flat(task.get("block", [])))
    return out


def all_tasks(role: str) -> list[dict[str, Any]]:
    return [
        t for f in sorted((ROLES / role / "tasks").glob("*.yml")) for t in flat(tasks(role, f.name))
    ]


def module(task: dict[str, Any]) -> str:
    return next(
        k for k in task if "." in k and k.split(".")[0] in ("ansible", "community", "bbdash")
    )


@pytest.mark.parametrize("role", ALL)
def test_argument_spec_types_fit_the_defaults(role: str) -> None:
    defaults = load(ROLES / role / "defaults" / "main.yml")
    specs = load(ROLES / role / "meta" / "argument_specs.yml")
    options = specs["argument_specs"]["main"]["options"]
    for name, value in defaults.items():
        spec = options[name]
        if isinstance(value, str) and "{{" in value:
            assert "default" not in spec, f"{name}: a templated default is not a spec default"
            continue
        assert isinstance(value, TYPES[spec["type"]]), f"{name}: {value!r} is not {spec['type']}"
        if spec["type"] == "int":
            assert not isinstance(value, bool), name
        if spec["type"] == "list":
            assert "elements" in spec, name


@pytest.mark.parametrize("role", SERVICES)
def test_limits_are_the_seeds(role: str) -> None:
    defaults = load(ROLES / role / "defaults" / "main.yml")
    assert defaults[f"{role}_cpus"] == sizing_profiles.follows(role, "cpus")
    assert defaults[f"{role}_memory"] == sizing_profiles.follows(role, "memory")
    small = sizing_profiles.row(role, "small")
    assert (small["cpus"], small["memory"]) == SEED_LIMITS[role]
    assert sizing_profiles.row(role, "test") == small
    table = (REPO / "docs" / "architecture.md").read_text(encoding="utf-8")
    label = role.replace("_", " ").replace("api", "API")
    cpus, memory = SEED_LIMITS[role]
    assert f"| {label} | {cpus:g} | {int(memory[:-1])} MB |" in table


@pytest.mark.parametrize("role", SERVICES)
def test_main_includes_the_steps_in_order_with_tags(role: str) -> None:
    main = tasks(role, "main.yml")
    steps = ["preflight", "install", "configure", "run"]
    assert [step_file(t) for t in main] == [f"{s}.yml" for s in steps]
    for task, step in zip(main, steps, strict=True):
        assert role in task["tags"] and f"{role}_{step}" in task["tags"]


@pytest.mark.parametrize("role", SERVICES)
def test_container_task(role: str) -> None:
    c = container_block.definition(role)
    vars_ = load(ROLES / role / "vars" / "main.yml")
    assert c["name"] == f"{{{{ _{role}_container_name }}}}"
    assert vars_[f"_{role}_container_name"] == CONTAINER[role]
    assert c["image"] == "{{ feeders_image_ref | default('') }}" and c["pull"] is False
    assert c["published_ports"] == []
    assert c["cpus"] == f"{{{{ {role}_cpus }}}}" and c["memory"] == f"{{{{ {role}_memory }}}}"
    assert c["healthcheck_test"] == ["CMD", "bbdash-healthcheck"]
    assert c["read_only"] is True and c["cap_drop"] == ["ALL"]
    assert c["security_opts"] == ["no-new-privileges:true"]
    assert c["user"] == f"{{{{ _{role}_uid }}}}:{{{{ _{role}_uid }}}}"
    assert vars_[f"_{role}_uid"] == 10001  # the image's bbdash user
    # Restart on change only: an expression of registered results, never a constant.
    assert "is changed" in c["restart"]


@pytest.mark.parametrize("role", SERVICES)
def test_waits_for_health_and_registers_for_the_report(role: str) -> None:
    """The container role runs the healthcheck command until it passes, and records
    the container for the report (tests/static/test_container_role.py)."""
    c = container_block.definition(role)
    assert c["wait"] is True and c["wait_seconds"] == f"{{{{ {role}_wait_seconds }}}}"
    include = container_block.include(role)
    assert include["tags"] == ["always"]
    assert include["ansible.builtin.include_role"]["apply"]["tags"] == [role, f"{role}_run"]


def test_the_api_is_restarted_on_liveness_and_deployed_on_readiness() -> None:
    """Docker's healthcheck (what the healer restarts on) asks /livez, which needs no
    database: a PostgreSQL outage raises an alert, not a restart loop. The deploy
    waits for /healthz (database answering, schema current)."""
    c = container_block.definition("watchlist_api")
    env = (ROLES / "watchlist_api" / "vars" / "main.yml").read_text(encoding="utf-8")
    assert "'BBDASH_HEALTHCHECK_URL': 'http://127.0.0.1:' ~ _watchlist_api_port ~ '/livez'" in env
    assert c["ready_test"] == [
        "CMD",
        "bbdash-healthcheck",
        "http://127.0.0.1:{{ _watchlist_api_port }}/healthz",
    ]
    for feeder in ("market_feeder", "news_feeder"):
        # A feeder's /healthz is its own loops' heartbeat: liveness already.
        assert container_block.definition(feeder)["ready_test"] == []


@pytest.mark.parametrize("role", SERVICES)
def test_secrets_are_hidden_and_private(role: str) -> None:
    for task in all_tasks(role):
        text = yaml.safe_dump(task)
        secretish = re.search(r"item\.value|_password\b|_token\b|_key\b|_dsn\b", text)
        mod = module(task) if any("." in k for k in task) else ""
        if secretish and mod in ("ansible.builtin.copy", "ansible.builtin.template"):
            assert task.get("no_log") is True, task["name"]
            assert task.get("diff") is False, task["name"]
            args = task[mod]
            assert args["mode"] == "0600", task["name"]
            assert args["owner"] == f"{{{{ _{role}_uid }}}}", task["name"]
        if mod == "bbdash.stack.file_set" and (
            secretish or re.search(r"_secrets_dir\b|_secret_entries\b|_token_files\b", text)
        ):
            # One call for the secrets folder: hidden, 0600 files and a 0700 folder
            # for the image's user, every file's content kept out of --diff.
            assert task.get("no_log") is True, task["name"]
            args = task[mod]
            assert args["mode"] == "0600", task["name"]
            assert args["owner"] == f"{{{{ _{role}_uid }}}}", task["name"]
            assert args.get("directory_mode", "0700") == "0700", task["name"]
        if mod == "ansible.builtin.uri":
            assert task.get("no_log") is True, task["name"]
    vars_ = load(ROLES / role / "vars" / "main.yml")
    assert "bbdash.stack.file_entries(secret=true" in vars_[f"_{role}_secret_entries"]
    tokens = vars_.get(f"_{role}_token_files", vars_.get(f"_{role}_influxdb_token_files"))
    assert tokens and all(entry["secret"] is True and entry["remote_src"] for entry in tokens)


@pytest.mark.parametrize("role", SERVICES)
def test_environment_names_files_not_secrets(role: str) -> None:
    text = (ROLES / role / "vars" / "main.yml").read_text(encoding="utf-8")
    text += (ROLES / role / "tasks" / "run.yml").read_text(encoding="utf-8")
    # Secrets reach the containers only as files: no variable holding one is templated
    # into an environment or a command line.
    env_part = re.findall(r"(?s)_env: >-.*?\n\n|env:\n(?:\s{6}.*\n)+", text)
    for part in env_part:
        assert not re.search(
            r"_(password|admin_key|metrics_token|api_key|token|key)\b(?! \|)", part
        )


def test_every_vault_name_is_listed_in_the_example() -> None:
    example = (REPO / "inventories/production/group_vars/all/vault.yml.example").read_text()
    listed = set(re.findall(r"^(vault_[a-z0-9_]+):", example, re.M))
    used: set[str] = set()
    for role in ALL:
        for path in (ROLES / role).rglob("*.yml"):
            used |= set(re.findall(r"\b(vault_[a-z0-9_]+)\b", path.read_text()))
    assert used and used <= listed, sorted(used - listed)


@pytest.mark.parametrize("role", ["market_feeder", "news_feeder"])
def test_configuration_is_validated_by_the_service(role: str) -> None:
    (template,) = [
        t
        for t in tasks(role, "configure.yml")
        if any("template" in entry for entry in t.get("bbdash.stack.file_set", {}).get("files", []))
    ]
    args = template["bbdash.stack.file_set"]
    (entry,) = args["files"]
    assert entry["validate"] == f"{{{{ _{role}_validate }}}}" and args["mode"] == "0644"
    assert entry.get("mode", args["mode"]) == "0644" and "secret" not in entry
    assert "no_log" not in template  # the configuration names secret files only: in --diff
    validate = load(ROLES / role / "vars" / "main.yml")[f"_{role}_validate"]
    assert "--network=none" in validate and "--pull=never" in validate
    assert "load_settings(" in validate and "{{ feeders_image_ref }}" in validate
    assert template["register"] == f"_{role}_config"


@pytest.mark.parametrize("role", ["market_feeder", "news_feeder"])
def test_missing_token_names_the_role_to_run_first(role: str) -> None:
    configure = tasks(role, "configure.yml")
    check = next(t for t in configure if "ansible.builtin.assert" in t)
    message = " ".join(check["ansible.builtin.assert"]["fail_msg"].split())
    assert "the influxdb role" in message and "playbooks/data.yml" in message
    defaults = load(ROLES / role / "defaults" / "main.yml")
    service = role.replace("_", "-")
    assert defaults[f"{role}_influxdb_token_path"] == (
        "{{ bloomberg_base_dir }}/secrets/influxdb/" + service + ".token"
    )


def test_the_image_hash_ignores_what_the_build_ignores() -> None:
    vars_ = load(ROLES / "feeders_image" / "vars" / "main.yml")
    # Matched against paths relative to the project (find normalises the paths it
    # returns, and the project may sit under hidden folders of its own).
    ignored = re.compile(vars_["_feeders_image_ignored"])
    for path in (
        "src/bbdash/__pycache__/config.cpython-311.pyc",
        "src/bbdash.egg-info/PKG-INFO",
        "src/.mypy_cache/3.11/bbdash/config.data.json",
        "src/bbdash/.DS_Store",
        "src/bbdash/common/stale.pyc",
    ):
        assert ignored.search(path), path
    for path in ("Dockerfile", ".dockerignore", "pyproject.toml", "src/bbdash/common/config.py",
                 "src/bbdash/news_feeder/demo/sample.xml"):  # fmt: skip
        assert not ignored.search(path), path
    # The archive that carries the project to the host leaves out the same files.
    excludes = vars_["_feeders_image_archive_excludes"]
    for path in ("src/.mypy_cache/3.11/x.json", "src/bbdash/__pycache__/a.pyc", "src/b.egg-info/c"):
        assert any(fnmatch(path, p) for p in excludes), path
    for path in ("Dockerfile", ".dockerignore", "pyproject.toml", "src/bbdash/common/config.py"):
        assert not any(fnmatch(path, p) for p in excludes), path
    dockerignore = (REPO / "files" / "feeders" / ".dockerignore").read_text()
    allowed = {line[1:] for line in dockerignore.splitlines() if line.startswith("!")}
    hashed = set(vars_["_feeders_image_top_files"]) - {"Dockerfile", ".dockerignore"}
    assert hashed | {"src", "wheels"} == allowed


def test_collect_playbook_runs_the_api_before_the_feeders() -> None:
    (play,) = [p for p in load(REPO / "playbooks" / "collect.yml") if "roles" in p]
    assert play["hosts"] == "bbdash_collection"
    assert [r["role"] for r in play["roles"]] == ["watchlist_api", "market_feeder", "news_feeder"]
    (preflight,) = [p for p in load(REPO / "playbooks" / "preflight.yml") if "vars" in p]
    assert set(ALL) <= set(preflight["vars"]["bloomberg_preflight_roles"])


def test_local_inventory_runs_the_demo_offline() -> None:
    """Demo sources for every local host; the offline kit builds the feeders image
    from the local Debian image and wheelhouse (no registry, no PyPI)."""
    local = load(REPO / "inventories" / "local" / "group_vars" / "all" / "main.yml")
    assert local["market_feeder_demo_enabled"] is True
    assert local["news_feeder_demo_enabled"] is True
    assert local["watchlist_api_watchlists"]
    kit = load(REPO / "inventories" / "local" / "group_vars" / "offline_kit.yml")
    assert kit["feeders_image_base_image"] == "bbdash-offline/debian:bookworm"
    assert kit["feeders_image_base_image_pull"] is False
    assert kit["feeders_image_wheelhouse_dir"].endswith("/.cache/wheels")


def test_production_example_declares_every_asset_type() -> None:
    prod = load(REPO / "inventories" / "production" / "group_vars" / "all" / "main.yml")
    types = {i["asset_type"] for w in prod["watchlist_api_watchlists"] for i in w["items"]}
    assert types == {"crypto", "stock", "forex", "index"}
