"""Running the project's roles with ansible-playbook on localhost, for the static tests.

The static tests check what a converge really writes, so they let Ansible
itself render templates and run a role's tasks (connection local, into a
temporary folder) rather than re-implementing Jinja or the role's logic. One
place decides how: the venv's ansible-playbook, an ansible.cfg of our own (the
repository's and the user's settings do not leak in), temporary files under
the run's own folder, and the roles found in roles/.

Each test module keeps its own variables (SHARED_VARS, secrets, scenarios)
and passes them in.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypedDict

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
ROLES = REPO / "roles"
# Output callbacks: the default one prints a PLAY RECAP (see `recap`); the json
# one gives every task's result per host (see `run_role`).
DEFAULT_CALLBACK = "ansible.builtin.default"
JSON_CALLBACK = "ansible.posix.json"


def ansible_playbook() -> str:
    """The venv's ansible-playbook (the pinned ansible-core), else the one on PATH."""
    local = Path(sys.executable).parent / "ansible-playbook"
    if local.exists():
        return str(local)
    found = shutil.which("ansible-playbook")
    if not found:
        raise RuntimeError("ansible-playbook not found: run the tests with the project's venv")
    return found


def ansible_env(work: Path, callback: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for a run isolated in `work`: its own ansible.cfg, temp files there.

    The callback is set here, not in ansible.cfg, so that an ANSIBLE_STDOUT_CALLBACK
    in the caller's environment cannot change the output the tests parse.
    """
    # Facts only through ansible_facts, as ansible.cfg and the molecule scenarios have it.
    (work / "ansible.cfg").write_text(
        "[defaults]\ninject_facts_as_vars = false\n", encoding="utf-8"
    )
    return {
        **os.environ,
        "ANSIBLE_CONFIG": str(work / "ansible.cfg"),
        "ANSIBLE_ROLES_PATH": str(ROLES),
        "ANSIBLE_COLLECTIONS_PATH": str(REPO / "collections"),
        "ANSIBLE_STDOUT_CALLBACK": callback,
        "ANSIBLE_LOCALHOST_WARNING": "false",
        "ANSIBLE_INVENTORY_UNPARSED_WARNING": "false",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_RETRY_FILES_ENABLED": "false",
        "ANSIBLE_LOCAL_TEMP": str(work / ".ansible-tmp"),
        "ANSIBLE_REMOTE_TEMP": str(work / ".ansible-tmp"),
        **(extra or {}),
    }


def step_file(task: dict[str, Any]) -> str:
    """The task file a step of a role's tasks/main.yml brings in: import_tasks, or
    include_tasks' file (the preflight step, skipped when site.yml already ran it)."""
    if "ansible.builtin.import_tasks" in task:
        return str(task["ansible.builtin.import_tasks"])
    return str(task["ansible.builtin.include_tasks"]["file"])


def localhost_play(name: str, **fields: Any) -> dict[str, Any]:
    """A play on localhost, without facts: nothing the tests run needs them."""
    return {"name": name, "hosts": "localhost", "gather_facts": False, **fields}


def run_playbook(
    work: Path,
    plays: list[dict[str, Any]],
    *args: str,
    extra_vars: dict[str, Any] | None = None,
    callback: str = DEFAULT_CALLBACK,
    env: dict[str, str] | None = None,
    timeout: int = 600,
) -> subprocess.CompletedProcess[str]:
    """ansible-playbook `plays` on localhost (connection local), its files in `work`.

    `extra_vars` go in as extra vars (-e @file): above the role's defaults and
    vars, like inventory settings. `args` are more ansible-playbook options
    (--check, --tags ...); `env`, more environment. The run's outcome is the
    caller's to judge (see `recap`, `run_role`).
    """
    work.mkdir(parents=True, exist_ok=True)
    playbook = work / "play.yml"
    playbook.write_text(yaml.safe_dump(plays, sort_keys=False), encoding="utf-8")
    options = list(args)
    if extra_vars is not None:
        (work / "vars.json").write_text(json.dumps(extra_vars), encoding="utf-8")
        options = ["-e", f"@{work / 'vars.json'}", *options]
    return subprocess.run(
        [ansible_playbook(), "-i", "localhost,", "-c", "local", *options, str(playbook)],
        capture_output=True,
        text=True,
        env=ansible_env(work, callback, env),
        timeout=timeout,
        check=False,
    )


def recap(proc: subprocess.CompletedProcess[str]) -> dict[str, int]:
    """The PLAY RECAP counts (ok, changed, failed ...) of a successful default-callback run."""
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-3000:]
    line = re.search(r"localhost\s*:\s*(.*)", proc.stdout.split("PLAY RECAP")[-1])[1]
    return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", line)}


# --------------------------------------------------------------------------- templates


def render_templates(
    role_dir: Path,
    templates: dict[str, str],
    scenarios: dict[str, dict[str, Any]],
    variables: dict[str, Any],
    *,
    timeout: int = 300,
) -> dict[str, dict[str, str]]:
    """Render every template of a role in every scenario; {scenario: {name: text}}.

    One play, the role's defaults and vars as vars_files (as the role sees them),
    `variables` as play vars (what the inventory gives) and each scenario's values
    as template_vars (they win over the defaults). The template lookup renders
    on the controller: no module runs per file, so one run serves all scenarios.
    `templates` maps a name to a path under the role's templates/.
    """
    tmp = Path(tempfile.mkdtemp(prefix=f"{role_dir.name}-render-"))
    try:
        out = tmp / "rendered.json"
        play = localhost_play(
            f"render the {role_dir.name} role's templates",
            vars_files=[
                str(role_dir / "defaults" / "main.yml"),
                str(role_dir / "vars" / "main.yml"),
            ],
            vars={
                **variables,
                "ansible_python_interpreter": sys.executable,
                "scenarios": scenarios,
                "templates": {k: str(role_dir / "templates" / v) for k, v in templates.items()},
            },
            tasks=[
                {
                    "name": "render every template in every scenario",
                    "ansible.builtin.set_fact": {
                        "rendered": "{{ rendered | default({}) | combine({item.0.key: {item.1.key: "
                        "lookup('ansible.builtin.template', item.1.value, template_vars=item.0.value)}}, "
                        "recursive=True) }}"
                    },
                    "loop": "{{ scenarios | dict2items | product(templates | dict2items) | list }}",
                    "loop_control": {"label": "{{ item.0.key }} {{ item.1.key }}"},
                },
                {
                    "name": "write them",
                    "ansible.builtin.copy": {
                        "content": "{{ rendered | to_json }}",
                        "dest": str(out),
                        "mode": "0600",
                    },
                },
            ],
        )
        proc = run_playbook(tmp, [play], timeout=timeout)
        if proc.returncode != 0:
            pytest.fail(f"rendering failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
        rendered: dict[str, dict[str, str]] = json.loads(out.read_text(encoding="utf-8"))
        missing = {(s, t) for s in scenarios for t in templates} - {
            (s, t) for s, files in rendered.items() for t in files
        }
        if missing:
            pytest.fail(f"not rendered: {sorted(missing)}")
        return rendered
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# --------------------------------------------------------------------------- a role's tasks


class RunOptions(TypedDict, total=False):
    """`run_role`'s options, for the test modules' wrappers that add their own variables."""

    check: bool
    check_mode: bool
    dump: list[str] | None
    after: list[dict[str, Any]] | None


def run_role(
    role: str,
    steps: list[str],
    base: Path,
    variables: dict[str, Any],
    *,
    check: bool = True,
    check_mode: bool = False,
    dump: list[str] | None = None,
    after: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Run tasks/<step>.yml of `role` on localhost into `base`; the json callback's output.

    `base` is bloomberg_base_dir; `variables` go in as extra vars. The play
    stops before the handlers: they talk to a Docker engine, and there is none
    here. With check=False a failed run is returned too (see `failed_tasks`);
    check_mode runs with --check --diff. Variables named in `dump` are written,
    templated, to <base>/.ansible/dump.json; `after` are tasks run after the
    steps. The raw output is kept as result["stdout"], for leak checks.
    """
    work = base / ".ansible"
    play = localhost_play(
        f"{role} {' '.join(steps)}",
        tasks=[
            {
                "name": f"{role} {step}",
                "ansible.builtin.include_role": {"name": role, "tasks_from": step, "public": True},
            }
            for step in steps
        ]
        + [
            {
                "name": "dump variables",
                "ansible.builtin.copy": {
                    "content": "{{ dict(dump | zip(query('ansible.builtin.vars', *dump))) | to_json }}",
                    "dest": str(work / "dump.json"),
                    "mode": "0600",
                },
                "vars": {"dump": dump},
            }
            for _ in range(1 if dump else 0)
        ]
        + (after or [])
        + [{"name": "stop before the handlers", "ansible.builtin.meta": "end_play"}],
    )
    variables = {
        "bloomberg_base_dir": str(base),
        "ansible_python_interpreter": sys.executable,
        **variables,
    }
    proc = run_playbook(
        work,
        [play],
        *(["--check", "--diff"] if check_mode else []),
        extra_vars=variables,
        callback=JSON_CALLBACK,
    )
    try:
        result: dict[str, Any] = json.loads(proc.stdout)
    except json.JSONDecodeError:
        pytest.fail(
            f"ansible-playbook output is not JSON:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        )
    result["stdout"] = proc.stdout
    if check and proc.returncode != 0:
        pytest.fail(
            f"ansible-playbook failed: {json.dumps(failed_tasks(result), indent=1)[-6000:]}"
        )
    return result


def host_results(result: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(task name, host result) for every task `run_role` ran, in order."""
    for play in result["plays"]:
        for task in play["tasks"]:
            for host in task["hosts"].values():
                yield task["task"]["name"], host


def task_results(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """{task name: host result}; role tasks are named "<role> : <task>"."""
    return dict(host_results(result))


def failed_tasks(result: dict[str, Any]) -> dict[str, Any]:
    """{task name: host result} for every failed task."""
    return {name: host for name, host in host_results(result) if host.get("failed")}


def changed_tasks(result: dict[str, Any]) -> list[str]:
    """Names of the tasks that changed something (or would, in check mode)."""
    return [name for name, host in host_results(result) if host.get("changed")]
