"""The prometheus role's rules and configuration, checked by the real promtool.

The role's preflight and configure steps run for real (ansible-playbook,
connection local) into a temporary folder, with `prometheus_validate_with: host`
so that every `validate:` runs Debian's promtool (package `prometheus`) instead
of `docker run`. Then:

- `promtool check config` on the deployed prometheus.yml (it loads the rules);
- `promtool test rules` for every file of tests/promtool/, copied next to the
  deployed rules/ folder (their `rule_files:` say `rules/<group>.yml`);
- coverage: every alert rule has a firing test (for each of its severities)
  and a not-firing test, and every rule group has its `<group>_test.yml`;
- scrape targets and component alerts follow the `<component>_enabled` flags;
- the layout conventions of the three roles of the metrics pipeline
  (prometheus, node_exporter, cadvisor): defaults match argument_specs.

Handlers are not run (the play ends before them): they talk to a Docker engine.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Unpack

import container_block
import pytest
import role_runner
import yaml
from role_runner import REPO, ROLES, RunOptions, changed_tasks, failed_tasks, step_file

ROLE = ROLES / "prometheus"
PROMTOOL_TESTS = REPO / "tests" / "promtool"
METRICS_TOKEN = "watchlist-metrics-token-0123456789abcdef"
# What group_vars give every role: the network, and the vault's scrape token for the
# API (read directly: the watchlist_api role is not in Prometheus's play).
SHARED_VARS = {
    "docker_network_name": "bloomberg-net",
    "vault_watchlist_api_metrics_token": METRICS_TOKEN,
}

# Alerts that cannot have a "not firing" case, and why.
ALWAYS_FIRING = {"Watchdog": "vector(1): the dead man's switch heartbeat"}

promtool = shutil.which("promtool")
pytestmark = pytest.mark.skipif(
    promtool is None, reason="promtool missing: apt-get install -y prometheus (tests/deps.sh)"
)


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def run_role(
    role: str, steps: list[str], base: Path, extra: dict[str, Any], **options: Unpack[RunOptions]
) -> dict[str, Any]:
    """Run tasks/<step>.yml of `role` on localhost into `base`, with what group_vars give.

    See `role_runner.run_role`: with check=False a failed run is returned too.
    """
    return role_runner.run_role(role, steps, base, {**SHARED_VARS, **extra}, **options)


def run_promtool(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    assert promtool is not None
    return subprocess.run(
        [promtool, *args], capture_output=True, text=True, cwd=cwd, timeout=300, check=False
    )


def host_promtool() -> dict[str, Any]:
    """Validation by this machine's promtool instead of `docker run` (no Docker here)."""
    assert promtool is not None
    return {"prometheus_validate_with": "host", "prometheus_promtool_binary": promtool}


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The role's configure step, every component enabled; yields <base>/prometheus."""
    base = tmp_path_factory.mktemp("prometheus-all")
    extra = host_promtool()
    first = run_role("prometheus", ["preflight", "configure"], base, extra)
    assert changed_tasks(first), "the first run must write the files"
    second = run_role("prometheus", ["preflight", "configure"], base, extra)
    assert changed_tasks(second) == [], "second run must change nothing"
    yield base / "prometheus"


def rule_groups(rules_dir: Path) -> dict[str, list[dict[str, Any]]]:
    groups: dict[str, list[dict[str, Any]]] = {}
    for path in sorted(rules_dir.glob("*.yml")):
        for group in load_yaml(path)["groups"]:
            assert group["name"] == path.stem, f"{path.name}: one group per file, named after it"
            groups[group["name"]] = group.get("rules") or []
    return groups


def promtool_test_files() -> list[Path]:
    return sorted(PROMTOOL_TESTS.glob("*_test.yml"))


# --------------------------------------------------------------------------- config and rules


def test_deployed_files(deployed: Path) -> None:
    rules = sorted(p.name for p in (deployed / "rules").glob("*.yml"))
    assert rules == sorted(
        ["host.yml", "containers.yml", "services.yml", "feeders.yml", "backups.yml",
         "autoheal.yml", "meta.yml", "components.yml"]
    )  # fmt: skip
    for path in [deployed / "prometheus.yml", *(deployed / "rules").glob("*.yml")]:
        assert oct(path.stat().st_mode & 0o777) == "0o644", path


def test_promtool_check_config_loads_the_rules(deployed: Path) -> None:
    proc = run_promtool("check", "config", str(deployed / "prometheus.yml"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout + proc.stderr
    assert "SUCCESS: 8 rule files found" in out, out


def test_promtool_check_rules(deployed: Path) -> None:
    for path in sorted((deployed / "rules").glob("*.yml")):
        # --lint-fatal: duplicate rules (same name and labels) fail too.
        proc = run_promtool("check", "rules", "--lint-fatal", str(path))
        assert proc.returncode == 0, f"{path.name}: {proc.stdout}{proc.stderr}"


@pytest.mark.parametrize("test_file", promtool_test_files(), ids=lambda p: p.name)
def test_promtool_unit_tests(deployed: Path, test_file: Path, tmp_path: Path) -> None:
    shutil.copytree(deployed / "rules", tmp_path / "rules")
    shutil.copy(test_file, tmp_path / test_file.name)
    proc = run_promtool("test", "rules", test_file.name, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_every_group_has_a_test_file(deployed: Path) -> None:
    groups = set(rule_groups(deployed / "rules"))
    files = {p.name.removesuffix("_test.yml") for p in promtool_test_files()}
    assert groups == files, (
        f"groups without tests: {groups - files}, tests without group: {files - groups}"
    )
    for path in promtool_test_files():
        assert load_yaml(path)["rule_files"] == [
            f"rules/{path.name.removesuffix('_test.yml')}.yml"
        ], path


def test_every_alert_has_firing_and_not_firing_tests(deployed: Path) -> None:
    """Per alert name: a not-firing case; per (alert name, severity): a firing case."""
    rules = [r for group in rule_groups(deployed / "rules").values() for r in group if "alert" in r]
    firing: set[tuple[str, str]] = set()
    not_firing: set[str] = set()
    for path in promtool_test_files():
        for case in load_yaml(path)["tests"]:
            for check in case.get("alert_rule_test", []):
                expected = check.get("exp_alerts") or []
                if not expected:
                    not_firing.add(check["alertname"])
                for alert in expected:
                    firing.add((check["alertname"], alert["exp_labels"]["severity"]))
    problems = []
    for rule in rules:
        name, severity = rule["alert"], rule["labels"]["severity"]
        if (name, severity) not in firing:
            problems.append(f"{name} ({severity}): no firing test")
        if name not in not_firing and name not in ALWAYS_FIRING:
            problems.append(f"{name}: no not-firing test")
    assert not problems, "\n".join(sorted(set(problems)))


def test_every_rule_is_documented(deployed: Path) -> None:
    for group in rule_groups(deployed / "rules").values():
        for rule in group:
            if "alert" not in rule:
                continue
            assert rule["labels"]["severity"] in {"critical", "warning", "info", "none"}, rule[
                "alert"
            ]
            for key in ("summary", "description", "runbook"):
                assert rule["annotations"].get(key, "").strip(), f"{rule['alert']}: {key}"


def test_scrape_config_has_every_component(deployed: Path) -> None:
    config = load_yaml(deployed / "prometheus.yml")
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert {name: job["static_configs"][0]["targets"][0] for name, job in jobs.items()} == {
        "prometheus": "localhost:9090",
        "node-exporter": "bloomberg-node-exporter:9100",
        "cadvisor": "bloomberg-cadvisor:8081",
        "alertmanager": "bloomberg-alertmanager:9093",
        "grafana": "bloomberg-grafana:3000",
        "influxdb": "bloomberg-influxdb:8086",
        "market-feeder": "bloomberg-market-feeder:9108",
        "news-feeder": "bloomberg-news-feeder:9109",
        "watchlist-api": "bloomberg-watchlist-api:8000",
    }
    for name, job in jobs.items():
        assert job["static_configs"][0]["labels"]["container"].startswith("bloomberg-"), name
    # Rules and inhibitions match on `container`, which cAdvisor calls `name`.
    relabel = jobs["cadvisor"]["metric_relabel_configs"][0]
    assert relabel["source_labels"] == ["name"] and relabel["target_label"] == "container"
    assert config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == [
        "bloomberg-alertmanager:9093"
    ]
    assert config["rule_files"] == ["rules/*.yml"]
    assert config["global"]["external_labels"] == {"host": "localhost"}


def test_rules_use_only_known_jobs(deployed: Path) -> None:
    """A job name in a rule that no scrape target has would silently never fire."""
    jobs = {
        t["job"] for t in load_yaml(ROLE / "defaults" / "main.yml")["prometheus_scrape_targets"]
    }
    for group in rule_groups(deployed / "rules").values():
        for rule in group:
            for used in re.findall(r'job=~?"([^"]+)"', rule["expr"]):
                for job in used.split("|"):
                    assert job in jobs, f"{rule.get('alert')}: unknown job {job}"


def test_feeder_metric_names_exist_in_the_feeders() -> None:
    """The bbdash_* names in the rules are declared by the feeders' code (the contract)."""
    source = "\n".join(
        p.read_text(encoding="utf-8") for p in (REPO / "files" / "feeders" / "src").rglob("*.py")
    )
    declared = set(re.findall(r'"(bbdash_[a-z0-9_]+)"', source))
    # Written by the backup job and the healer into node-exporter's textfile
    # directory, not by the feeders: checked against those programs.
    host_programs = "\n".join(
        (REPO / "roles" / role / "files" / program).read_text(encoding="utf-8")
        for role, program in (("backup", "bbdash-backup"), ("autoheal", "bbdash-autoheal"))
    )
    from_backups = set(re.findall(r"\b(bbdash_(?:backup|autoheal)_[a-z0-9_]+)", host_programs))
    used: set[str] = set()
    for path in [
        *(ROLE / "files" / "rules").glob("*.yml"),
        *(ROLE / "templates" / "rules").glob("*.j2"),
    ]:
        used |= set(re.findall(r"\b(bbdash_[a-z0-9_]+)", path.read_text(encoding="utf-8")))
    used = {name for name in used if not name.endswith("_")}
    assert used - declared - from_backups == set()


def test_subset_of_components(tmp_path: Path) -> None:
    """Only what is deployed is scraped and watched: no alert for an absent component."""
    extra = {
        **host_promtool(),
        "grafana_enabled": False,
        "influxdb_enabled": False,
        "postgres_enabled": False,
        "market_feeder_enabled": False,
        "news_feeder_enabled": False,
        "watchlist_api_enabled": False,
        "nginx_enabled": False,
        "alertmanager_enabled": False,
        "backup_enabled": False,
    }
    run_role("prometheus", ["preflight", "configure"], tmp_path, extra)
    config = load_yaml(tmp_path / "prometheus" / "prometheus.yml")
    assert [job["job_name"] for job in config["scrape_configs"]] == [
        "prometheus",
        "node-exporter",
        "cadvisor",
    ]
    assert "alerting" not in config
    components = load_yaml(tmp_path / "prometheus" / "rules" / "components.yml")["groups"][0][
        "rules"
    ]
    assert [(r["alert"], r["expr"]) for r in components] == [
        (
            "ContainerAbsent",
            'absent_over_time(container_last_seen{container="bloomberg-node-exporter"}[2m])',
        )
    ]
    proc = run_promtool("check", "config", str(tmp_path / "prometheus" / "prometheus.yml"))
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_without_cadvisor_no_container_presence_alerts(tmp_path: Path) -> None:
    """Without cAdvisor every container would look absent: no presence rule at all."""
    extra = {**host_promtool(), "cadvisor_enabled": False, "node_exporter_enabled": False}
    run_role("prometheus", ["preflight", "configure"], tmp_path, extra)
    group = load_yaml(tmp_path / "prometheus" / "rules" / "components.yml")["groups"][0]
    # No cAdvisor: no container presence; no node-exporter: no backup metric either.
    assert group["rules"] == []


@pytest.mark.parametrize(
    ("variable", "value", "task"),
    [
        ("prometheus_retention_time", "15 days", "Check the retention settings"),
        ("prometheus_retention_size", "8G", "Check the retention settings"),
        ("prometheus_memory", "1 GB", "Check the container limits"),
        ("prometheus_scrape_interval", "30", "Check the scrape and evaluation intervals"),
        ("prometheus_validate_with", "docker", "Check how promtool runs"),
        ("prometheus_scrape_targets", [{"job": "x", "target": "http://x:1", "enabled": True}],
         "Check the scrape targets"),
        ("prometheus_scrape_bearer_tokens", {"watchlist-api": ""},
         "Check that every bearer-protected target has its token"),
    ],
)  # fmt: skip
def test_preflight_rejects_what_prometheus_would_refuse(
    tmp_path: Path, variable: str, value: Any, task: str
) -> None:
    result = run_role("prometheus", ["preflight"], tmp_path, {variable: value}, check=False)
    failed = failed_tasks(result)
    assert list(failed) == [f"prometheus : {task}"], failed
    assert variable in json.dumps(failed), "the message names the variable"


def test_config_change_is_validated_before_it_is_live(tmp_path: Path) -> None:
    """A configuration promtool rejects never replaces the deployed one."""
    extra = host_promtool()
    run_role("prometheus", ["preflight", "configure"], tmp_path, extra)
    deployed = (tmp_path / "prometheus" / "prometheus.yml").read_text(encoding="utf-8")
    # A timeout longer than the interval is only caught by promtool, not by preflight.
    result = run_role(
        "prometheus",
        ["configure"],
        tmp_path,
        {**extra, "prometheus_scrape_timeout": "2m"},
        check=False,
    )
    failed = failed_tasks(result)
    assert list(failed) == [
        "prometheus : Write the alert rules and the Prometheus configuration"
    ], failed
    assert (
        "failed to validate"
        in failed["prometheus : Write the alert rules and the Prometheus configuration"]["msg"]
    )
    assert (tmp_path / "prometheus" / "prometheus.yml").read_text(encoding="utf-8") == deployed


def deploy_with_secret(
    tmp_path: Path, extra: dict[str, Any], filename: str, secret: str
) -> dict[str, dict[str, Any]]:
    """Run preflight + configure; check the scrape secret lands in a 0640 file
    (root:65534) and nowhere else (output, prometheus.yml), and that promtool
    accepts the result. Returns the scrape jobs by name."""
    result = run_role("prometheus", ["preflight", "configure"], tmp_path, extra)
    assert secret not in json.dumps(result)
    path = tmp_path / "prometheus" / "secrets" / filename
    assert path.read_text(encoding="utf-8") == secret
    info = path.stat()
    assert (oct(info.st_mode & 0o777), info.st_uid, info.st_gid) == ("0o640", 0, 65534)
    config_path = tmp_path / "prometheus" / "prometheus.yml"
    assert secret not in config_path.read_text(encoding="utf-8")
    proc = run_promtool("check", "config", str(config_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return {job["job_name"]: job for job in load_yaml(config_path)["scrape_configs"]}


def scrape_jobs(tmp_path: Path) -> dict[str, dict[str, Any]]:
    config = load_yaml(tmp_path / "prometheus" / "prometheus.yml")
    return {job["job_name"]: job for job in config["scrape_configs"]}


def test_grafana_metrics_basic_auth(tmp_path: Path) -> None:
    """With Grafana's metrics password in the vault: a 0640 file, password_file, no leak."""
    secret = "grafana-metrics-secret-42"
    extra = host_promtool()
    jobs = deploy_with_secret(
        tmp_path, {**extra, "vault_grafana_metrics_password": secret}, "grafana_password", secret
    )
    assert jobs["grafana"]["basic_auth"] == {
        "username": "metrics",
        "password_file": "secrets/grafana_password",
    }
    assert [name for name, job in jobs.items() if "basic_auth" in job] == ["grafana"]
    # The password leaves the vault: the file goes, and so does basic auth.
    run_role("prometheus", ["configure"], tmp_path, extra)
    assert not (tmp_path / "prometheus" / "secrets" / "grafana_password").exists()
    assert "basic_auth" not in scrape_jobs(tmp_path)["grafana"]


def test_watchlist_api_bearer_token(tmp_path: Path) -> None:
    """The API's /metrics wants its scrape token: a 0640 file, credentials_file, no leak."""
    extra = host_promtool()
    jobs = deploy_with_secret(tmp_path, extra, "watchlist-api_token", METRICS_TOKEN)
    assert jobs["watchlist-api"]["authorization"] == {
        "type": "Bearer",
        "credentials_file": "secrets/watchlist-api_token",
    }
    assert [name for name, job in jobs.items() if "authorization" in job] == ["watchlist-api"]
    # Without the API there is nothing to scrape: the token file goes too.
    run_role("prometheus", ["preflight", "configure"], tmp_path,
             {**extra, "watchlist_api_enabled": False})  # fmt: skip
    assert not (tmp_path / "prometheus" / "secrets" / "watchlist-api_token").exists()
    assert "watchlist-api" not in scrape_jobs(tmp_path)


DOCKER_SHIM = """#!{python}
# Test stand-in for `docker run --rm ... --entrypoint=TOOL -v SRC:DST:ro ... IMAGE ARGS`:
# maps each DST under a scratch root (a symlink to SRC), runs TOOL from this machine
# with ARGS rewritten onto that root, and logs the call. Only `run` is supported.
import json, os, subprocess, sys, tempfile
args = sys.argv[1:]
assert args[0] == "run", args
flags, mounts, i = [], [], 1
while args[i].startswith("-"):
    if args[i] == "-v":
        mounts.append(args[i + 1].split(":")); i += 2
    else:
        flags.append(args[i]); i += 1
image, rest = args[i], args[i + 1:]
tool = next(f.split("=", 1)[1] for f in flags if f.startswith("--entrypoint="))
root = tempfile.mkdtemp()
for src, dst, *_ in mounts:
    os.makedirs(os.path.dirname(root + dst), exist_ok=True)
    os.symlink(src, root + dst)
mapped = [root + a if any(a.startswith(m[1]) for m in mounts) else a for a in rest]
with open({log!r}, "a") as log:
    log.write(json.dumps({{"flags": flags, "mounts": mounts, "image": image, "args": rest}}) + "\\n")
sys.exit(subprocess.run([{tools!r}[tool], *mapped]).returncode)
"""


def docker_shim(tmp_path: Path, tools: dict[str, str]) -> tuple[Path, Path]:
    """A `docker` stand-in on a private PATH directory; returns (bin dir, call log)."""
    bin_dir, log = tmp_path / "shim-bin", tmp_path / "docker-calls.jsonl"
    bin_dir.mkdir()
    shim = bin_dir / "docker"
    shim.write_text(
        DOCKER_SHIM.format(python=sys.executable, log=str(log), tools=tools), encoding="utf-8"
    )
    shim.chmod(0o755)
    return bin_dir, log


def test_validate_with_image_runs_promtool_from_the_image(tmp_path: Path, monkeypatch: Any) -> None:
    """The default validation: promtool in the Prometheus image, through `docker run`.

    No Docker here: a stand-in `docker` maps the mounts and runs this machine's
    promtool, so the test proves the command line (no pull, no network, the
    rules and secrets mounted where the configuration looks for them).
    """
    assert promtool is not None
    bin_dir, log = docker_shim(tmp_path, {"promtool": promtool})
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    base = tmp_path / "base"
    run_role("prometheus", ["preflight", "configure"], base, {})
    calls = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    assert len(calls) == 9, "8 rule files, then the configuration"
    for call in calls:
        assert call["image"] == "prom/prometheus:v3.5.5"
        assert {"--rm", "--pull=never", "--network=none", "--entrypoint=promtool"} <= set(
            call["flags"]
        )
    assert [c["args"][:2] for c in calls] == [["check", "rules"]] * 8 + [["check", "config"]]
    config_call = calls[-1]
    assert {m[1] for m in config_call["mounts"]} == {
        "/etc/prometheus/rules", "/etc/prometheus/secrets", "/etc/prometheus/prometheus.yml",
    }  # fmt: skip
    # A configuration promtool rejects fails the same way through the image.
    result = run_role(
        "prometheus", ["configure"], base, {"prometheus_scrape_timeout": "5m"}, check=False
    )
    assert list(failed_tasks(result)) == [
        "prometheus : Write the alert rules and the Prometheus configuration"
    ]


def test_check_mode_on_a_fresh_host(tmp_path: Path) -> None:
    """--check --diff before anything exists: no failure, nothing written."""
    extra = host_promtool()
    result = run_role("prometheus", ["preflight", "configure"], tmp_path, extra, check_mode=True)
    assert "prometheus : Write the alert rules and the Prometheus configuration" in changed_tasks(
        result
    )
    assert not (tmp_path / "prometheus").exists()


# --------------------------------------------------------------------------- role conventions

PIPELINE_ROLES = ["prometheus", "node_exporter", "cadvisor"]


def role_file(role: str, path: str) -> Any:
    return load_yaml(ROLES / role / path)


@pytest.mark.parametrize("role", PIPELINE_ROLES)
def test_role_layout(role: str) -> None:
    for path in (
        "README.md", "defaults/main.yml", "vars/main.yml", "meta/main.yml",
        "meta/argument_specs.yml", "tasks/main.yml", "tasks/preflight.yml",
        "tasks/install.yml", "tasks/run.yml",
    ):  # fmt: skip
        assert (ROLES / role / path).is_file(), f"{role}/{path}"
    steps = [step_file(t) for t in role_file(role, "tasks/main.yml")]
    assert steps[0] == "preflight.yml" and steps[-1] == "run.yml", steps
    for task in role_file(role, "tasks/main.yml"):
        step = step_file(task).removesuffix(".yml")
        assert role in task["tags"] and f"{role}_{step}" in task["tags"], task


@pytest.mark.parametrize("role", PIPELINE_ROLES)
def test_defaults_match_argument_specs(role: str) -> None:
    defaults = role_file(role, "defaults/main.yml")
    specs = role_file(role, "meta/argument_specs.yml")["argument_specs"]["main"]["options"]
    assert set(specs) == set(defaults), "argument_specs must match defaults exactly"
    lines = (ROLES / role / "defaults" / "main.yml").read_text(encoding="utf-8").splitlines()
    readme = (ROLES / role / "README.md").read_text(encoding="utf-8")
    py_types = {bool: "bool", int: "int", float: "float", str: "str", list: "list", dict: "dict"}
    for name, value in defaults.items():
        assert name.startswith(f"{role}_"), name
        index = next(i for i, line in enumerate(lines) if line.startswith(f"{name}:"))
        assert lines[index - 1].startswith("#") or lines[index - 1].startswith(f"{role}_"), name
        spec = specs[name]
        assert spec["description"] and spec["description"] != name, name
        templated = isinstance(value, str) and "{{" in value
        if not templated:
            assert spec["type"] == py_types[type(value)], name
        if "default" in spec:
            assert spec["default"] == value, name
        else:
            assert templated, f"{name}: literal default missing from the spec"
        assert f"`{name}`" in readme, f"README does not document {name}"
    assert all(name.startswith(f"_{role}_") for name in role_file(role, "vars/main.yml"))


def spec_validation_task(role: str) -> dict[str, Any]:
    """validate_argument_spec on the role's templated defaults, as a converge does."""
    specs = ROLES / role / "meta" / "argument_specs.yml"
    names = list(role_file(role, "defaults/main.yml"))
    return {
        "name": "validate the defaults against argument_specs",
        "ansible.builtin.validate_argument_spec": {
            "argument_spec": "{{ (lookup('ansible.builtin.file', specs) | from_yaml)"
            ".argument_specs.main.options }}",
            "provided_arguments": "{{ dict(names | zip(query('ansible.builtin.vars', *names))) }}",
        },
        "vars": {"specs": str(specs), "names": names},
    }


@pytest.mark.parametrize("role", PIPELINE_ROLES)
def test_argument_specs_accept_the_defaults(role: str, tmp_path: Path) -> None:
    run_role(role, ["preflight"], tmp_path, {}, after=[spec_validation_task(role)])


@pytest.mark.parametrize("role", PIPELINE_ROLES)
def test_container_task_follows_the_convention(role: str) -> None:
    container = container_block.definition(role)
    assert container["name"] == f"{{{{ _{role}_container_name }}}}"
    assert container["image"] == f"{{{{ {role}_image }}}}"
    assert container["pull"] == f"{{{{ {role}_image_pull }}}}"
    assert container["enabled"] == f"{{{{ {role}_enabled }}}}"
    assert (
        container["cpus"] == f"{{{{ {role}_cpus }}}}"
        and container["memory"] == f"{{{{ {role}_memory }}}}"
    )
    assert container["healthcheck_test"][0] == "CMD"
    assert container["published_ports"] == [], "only nginx (and Grafana on 127.0.0.1) publish ports"
    assert container["cap_drop"] == ["ALL"]
    assert container["security_opts"] == ["no-new-privileges:true"]
    name = role_file(role, "vars/main.yml")[f"_{role}_container_name"]
    assert name == "bloomberg-" + role.replace("_", "-")


# --------------------------------------------------------------------------- node_exporter


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def host_mounts(textfile: Path) -> dict[str, str]:
    """The container's mount points, pointed at this machine for the test."""
    return {
        "_node_exporter_host_proc": "/proc",
        "_node_exporter_host_sys": "/sys",
        "_node_exporter_host_root": "/",
        "_node_exporter_textfile_mount": str(textfile),
    }


def listening_on(port: int, flags: list[str]) -> list[str]:
    """The role's node-exporter flags, listening on a free local port instead."""
    return [
        f"--web.listen-address=127.0.0.1:{port}"
        if flag.startswith("--web.listen-address=")
        else flag
        for flag in flags
    ]


def scrape(command: list[str], port: int) -> str:
    """Start node-exporter with `command`, return one scrape of /metrics."""
    with subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    ) as proc:
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    with urllib.request.urlopen(
                        f"http://127.0.0.1:{port}/metrics", timeout=10
                    ) as r:
                        return r.read().decode()
                except OSError:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        pytest.fail(
                            f"node-exporter did not start: {proc.stderr.read() if proc.stderr else ''}"
                        )
                    time.sleep(0.2)
        finally:
            proc.terminate()
            proc.wait(timeout=30)


node_exporter_binary = shutil.which("prometheus-node-exporter") or shutil.which("node_exporter")


@pytest.mark.skipif(
    node_exporter_binary is None,
    reason="node-exporter missing: apt-get install -y prometheus-node-exporter",
)
def test_node_exporter_flags_with_the_real_exporter(tmp_path: Path) -> None:
    """The role's flags, run by Debian's node-exporter on this machine's own /proc, /sys and /.

    Checks that the exporter accepts them, that every node-exporter metric the
    host rules read is there, that the backup metric comes through the textfile
    directory, and that what the flags turn off is off.
    """
    assert node_exporter_binary is not None
    textfile = tmp_path / "node-exporter" / "textfile"
    run_role(
        "node_exporter",
        ["preflight", "configure"],
        tmp_path,
        host_mounts(textfile),
        dump=["_node_exporter_command", "_node_exporter_volumes"],
    )
    assert oct(textfile.stat().st_mode & 0o777) == "0o755"
    dumped = json.loads((tmp_path / ".ansible" / "dump.json").read_text(encoding="utf-8"))
    (textfile / "backup.prom").write_text(
        "# TYPE bbdash_backup_last_success_timestamp_seconds gauge\n"
        "bbdash_backup_last_success_timestamp_seconds 1.7e+09\n",
        encoding="utf-8",
    )
    port = free_port()
    command = listening_on(port, dumped["_node_exporter_command"])
    metrics = scrape([node_exporter_binary, *command], port)
    names = {
        line.split("{")[0].split(" ")[0] for line in metrics.splitlines() if line[:1].isalpha()
    }
    for needed in (
        "node_cpu_seconds_total", "node_load15", "node_memory_MemAvailable_bytes",
        "node_memory_MemTotal_bytes", "node_filesystem_avail_bytes", "node_filesystem_size_bytes",
        "node_filesystem_readonly", "node_vmstat_oom_kill", "node_textfile_scrape_error",
        "bbdash_backup_last_success_timestamp_seconds",
    ):  # fmt: skip
        assert needed in names, needed
    assert "node_network_receive_bytes_total" not in names, "netdev is off (container namespace)"
    assert "node_sockstat_sockets_used" not in names
    assert "node_textfile_scrape_error 0" in metrics
    fstypes = set(re.findall(r'node_filesystem_size_bytes\{[^}]*fstype="([^"]+)"', metrics))
    assert fstypes, "at least one real file system"
    assert not fstypes & {
        "tmpfs",
        "overlay",
        "squashfs",
        "nsfs",
        "proc",
        "sysfs",
        "cgroup",
        "cgroup2",
    }
    # The volumes the container gets: host read-only, textfile directory read-only.
    assert dumped["_node_exporter_volumes"][:3] == [
        "/proc:/proc:ro",
        "/sys:/sys:ro",
        "/:/:ro,rslave",
    ]


def test_node_exporter_systemd_collector_flags() -> None:
    """Each flag is a separate argument, and the systemd option adds the D-Bus socket."""
    defaults = role_file("node_exporter", "defaults/main.yml")
    assert "netdev" in defaults["node_exporter_disabled_collectors"]
    assert defaults["node_exporter_systemd_collector"] is False
    command = role_file("node_exporter", "vars/main.yml")["_node_exporter_command"]
    assert (
        "--collector.systemd" in command
        and "system_bus_socket"
        in role_file("node_exporter", "vars/main.yml")["_node_exporter_volumes"]
    )


@pytest.mark.skipif(node_exporter_binary is None, reason="node-exporter missing")
def test_node_exporter_systemd_flags_are_accepted(tmp_path: Path) -> None:
    assert node_exporter_binary is not None
    extra = {**host_mounts(tmp_path), "node_exporter_systemd_collector": True}
    run_role("node_exporter", ["preflight"], tmp_path, extra, dump=["_node_exporter_command"])
    dumped = json.loads((tmp_path / ".ansible" / "dump.json").read_text(encoding="utf-8"))
    port = free_port()
    command = listening_on(port, dumped["_node_exporter_command"])
    assert "--collector.systemd" in command
    metrics = scrape([node_exporter_binary, *command], port)
    assert 'node_scrape_collector_success{collector="systemd"}' in metrics


# --------------------------------------------------------------------------- cadvisor

# cAdvisor metric group each series the rules read comes from (None: always exported).
CADVISOR_SERIES = {
    "container_last_seen": None,
    "container_spec_memory_limit_bytes": None,
    "container_cpu_usage_seconds_total": "cpu",
    "container_memory_working_set_bytes": "memory",
    "container_oom_events_total": "oom_event",
}


def test_cadvisor_collects_what_the_rules_read() -> None:
    used: set[str] = set()
    for path in [
        *(ROLE / "files" / "rules").glob("*.yml"),
        *(ROLE / "templates" / "rules").glob("*.j2"),
    ]:
        used |= set(re.findall(r"\b(container_[a-z_]+)\b", path.read_text(encoding="utf-8")))
    assert used == set(CADVISOR_SERIES), "update CADVISOR_SERIES with the group of the new series"
    enabled = role_file("cadvisor", "defaults/main.yml")["cadvisor_enabled_metrics"]
    for series, group in CADVISOR_SERIES.items():
        assert group is None or group in enabled, f"{series} needs the {group} metric group"
    # Expensive groups stay off.
    assert not set(enabled) & {
        "disk",
        "percpu",
        "sched",
        "process",
        "tcp",
        "udp",
        "advtcp",
        "perf_event",
    }


def test_cadvisor_container_settings() -> None:
    variables = role_file("cadvisor", "vars/main.yml")
    defaults = role_file("cadvisor", "defaults/main.yml")
    assert variables["_cadvisor_port"] == 8081
    command = variables["_cadvisor_command"]
    for flag in ("--port=", "--housekeeping_interval=", "--docker_only=true",
                 "--store_container_labels=false", "--enable_metrics="):  # fmt: skip
        assert flag in command, flag
    assert set(defaults["cadvisor_enabled_metrics"]) <= set(variables["_cadvisor_metric_groups"])
    spec = role_file("cadvisor", "meta/argument_specs.yml")["argument_specs"]["main"]["options"]
    assert spec["cadvisor_enabled_metrics"]["choices"] == variables["_cadvisor_metric_groups"]
    container = container_block.definition("cadvisor")
    assert "privileged" not in container
    assert (
        container["cap_drop"] == ["ALL"]
        and container["capabilities"] == "{{ cadvisor_capabilities }}"
    )
    assert defaults["cadvisor_capabilities"] == ["SYSLOG"]
    assert container["cgroupns_mode"] == "host"
    assert "/dev/kmsg:/dev/kmsg:r" in container["devices"]
    assert "8081/healthz" in container["healthcheck_test"][-1]
    assert variables["_cadvisor_volumes"] == [
        "/:/rootfs:ro", "/var/run:/var/run:ro", "/sys:/sys:ro", "/var/lib/docker/:/var/lib/docker:ro",
    ]  # fmt: skip
    assert defaults["cadvisor_image"].startswith("ghcr.io/google/cadvisor:v0.")
    minor = int(defaults["cadvisor_image"].split(":v0.")[1].split(".")[0])
    assert minor >= 53, "cAdvisor images are on ghcr.io from v0.53.0"


@pytest.mark.parametrize(
    ("variable", "value", "task"),
    [
        ("cadvisor_enabled_metrics", ["cpu", "memory", "disks"], "Check the metric groups"),
        ("cadvisor_enabled_metrics", ["network"], "Check the metric groups"),
        ("cadvisor_capabilities", ["SYS_ADMIN"], "Check the capabilities"),
        ("cadvisor_housekeeping_interval", "30", "Check the container settings"),
    ],
)
def test_cadvisor_preflight(tmp_path: Path, variable: str, value: Any, task: str) -> None:
    result = run_role("cadvisor", ["preflight"], tmp_path, {variable: value}, check=False)
    failed = failed_tasks(result)
    assert list(failed) == [f"cadvisor : {task}"], failed
