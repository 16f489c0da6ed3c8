"""The bbdash.stack.file_set module and its action plugin (collections/), run by ansible-playbook on localhost.

What is checked: a first run writes folders and files with their attributes; a
rerun changes nothing; drift in content or mode is reported by --check --diff
without being repaired, and repaired by a real run; a file that fails validate
never replaces the live one; purge removes only unlisted matching files;
force false leaves an existing file alone; secret content stays out of the
diff; a template renders exactly as ansible.builtin.template renders it.
"""

from __future__ import annotations

import stat
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from role_runner import localhost_play, recap, run_playbook

TEMPLATE = """# {{ ansible_managed }}
{% for name in names %}
{{ name }} = {{ loop.index }}
{% endfor %}
trailing: {{ greeting }}
"""


@pytest.fixture
def role(tmp_path: Path) -> Path:
    """A role with one template and one file, as file_set finds them from a role's task."""
    base = tmp_path / "roles" / "demo"
    (base / "templates").mkdir(parents=True)
    (base / "files").mkdir()
    (base / "tasks").mkdir()
    (base / "templates" / "app.conf.j2").write_text(TEMPLATE, encoding="utf-8")
    (base / "files" / "board.json").write_text('{"uid": "board"}\n', encoding="utf-8")
    return base


@pytest.fixture
def target(tmp_path: Path) -> Path:
    """The folder that stands for the host's file system."""
    host = tmp_path / "host"
    host.mkdir()
    return host


def write_tasks(role: Path, tasks: list[dict[str, Any]]) -> None:
    (role / "tasks" / "main.yml").write_text(
        yaml.safe_dump(tasks, sort_keys=False), encoding="utf-8"
    )


def play(role: Path, target: Path, **extra: Any) -> list[dict[str, Any]]:
    variables = {
        "ansible_python_interpreter": sys.executable,
        "target": str(target),
        "names": ["alpha", "beta"],
        "greeting": "hello",
        **extra,
    }
    return [localhost_play("file_set", vars=variables, roles=[{"role": str(role)}])]


def file_set_task(**overrides: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "directories": [{"path": "{{ target }}/conf", "mode": "0750"}],
        "files": [
            {"dest": "{{ target }}/conf/app.conf", "template": "app.conf.j2", "mode": "0640"},
            {"dest": "{{ target }}/conf/board.json", "src": "board.json", "mode": "0644"},
            {
                "dest": "{{ target }}/conf/token",
                "content": "s3cret-value",
                "mode": "0600",
                "secret": True,
            },
        ],
        "purge": [{"path": "{{ target }}/conf", "patterns": ["*.json"]}],
    }
    args.update(overrides)
    return {"name": "Write the set", "bbdash.stack.file_set": args}


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_writes_then_changes_nothing_and_reports_then_repairs_drift(
    role: Path, tmp_path: Path, target: Path
) -> None:
    write_tasks(role, [file_set_task()])
    work = tmp_path / "run"

    assert recap(run_playbook(work, play(role, target)))["changed"] == 1
    conf = target / "conf"
    assert mode(conf) == 0o750
    assert (conf / "board.json").read_text(encoding="utf-8") == '{"uid": "board"}\n'
    assert (conf / "token").read_text(encoding="utf-8") == "s3cret-value"
    assert mode(conf / "token") == 0o600 and mode(conf / "app.conf") == 0o640
    assert "alpha = 1\nbeta = 2\ntrailing: hello\n" in (conf / "app.conf").read_text(
        encoding="utf-8"
    )

    assert recap(run_playbook(work, play(role, target)))["changed"] == 0

    (conf / "app.conf").write_text("edited by hand\n", encoding="utf-8")
    (conf / "board.json").chmod(0o666)
    (conf / "stray.json").write_text("{}", encoding="utf-8")
    (conf / "notes.txt").write_text("kept: not a purge pattern", encoding="utf-8")
    checked = run_playbook(work, play(role, target), "--check", "--diff")
    assert recap(checked)["changed"] == 1
    assert "-edited by hand" in checked.stdout and "+alpha = 1" in checked.stdout
    assert "stray.json" in checked.stdout
    assert (conf / "app.conf").read_text(encoding="utf-8") == "edited by hand\n", "check mode wrote"
    assert (conf / "stray.json").exists() and mode(conf / "board.json") == 0o666

    assert recap(run_playbook(work, play(role, target)))["changed"] == 1
    assert "alpha = 1" in (conf / "app.conf").read_text(encoding="utf-8")
    assert mode(conf / "board.json") == 0o644
    assert not (conf / "stray.json").exists() and (conf / "notes.txt").exists()
    assert sorted(p.name for p in conf.iterdir() if p.name.startswith(".")) == [], (
        "temporary files left"
    )


def test_secret_content_stays_out_of_the_diff(role: Path, tmp_path: Path, target: Path) -> None:
    write_tasks(role, [file_set_task()])
    proc = run_playbook(tmp_path / "run", play(role, target), "--diff")
    assert recap(proc)["changed"] == 1
    assert "s3cret-value" not in proc.stdout
    assert "secret content: not shown" in proc.stdout


def test_a_file_that_fails_validate_never_replaces_the_live_one(role: Path, tmp_path: Path) -> None:
    target = tmp_path / "host"
    (target / "conf").mkdir(parents=True)
    (target / "conf" / "app.conf").write_text("live and good\n", encoding="utf-8")
    # The validator sees the candidate: it refuses one that mentions beta.
    task = file_set_task(
        files=[
            {
                "dest": "{{ target }}/conf/app.conf",
                "template": "app.conf.j2",
                "mode": "0640",
                "validate": "/bin/sh -c '! grep -q beta \"$0\"' %s",
            }
        ],
        purge=[],
    )
    write_tasks(role, [task])
    proc = run_playbook(tmp_path / "run", play(role, target))
    assert proc.returncode != 0
    assert "failed to validate" in proc.stdout and "app.conf" in proc.stdout
    assert (target / "conf" / "app.conf").read_text(encoding="utf-8") == "live and good\n"
    assert [p.name for p in (target / "conf").iterdir()] == ["app.conf"], "candidate left behind"

    # Without beta the candidate passes, and replaces the live file.
    assert (
        recap(run_playbook(tmp_path / "run", play(role, target, names=["alpha"])))["changed"] == 1
    )
    assert "alpha = 1" in (target / "conf" / "app.conf").read_text(encoding="utf-8")


def test_force_false_only_creates(role: Path, tmp_path: Path, target: Path) -> None:
    task = file_set_task(
        directories=[],
        files=[{"dest": "{{ target }}/access.log", "content": "", "mode": "0640", "force": False}],
        purge=[],
    )
    write_tasks(role, [task])
    assert recap(run_playbook(tmp_path / "run", play(role, target)))["changed"] == 1
    (target / "access.log").write_text("GET / 200\n", encoding="utf-8")
    assert recap(run_playbook(tmp_path / "run", play(role, target)))["changed"] == 0
    assert (target / "access.log").read_text(encoding="utf-8") == "GET / 200\n"


def test_absent_removes_and_reports_once(role: Path, tmp_path: Path) -> None:
    target = tmp_path / "host"
    (target / "old").mkdir(parents=True)
    (target / "old" / "a").write_text("x", encoding="utf-8")
    (target / "gone.conf").write_text("x", encoding="utf-8")
    task = file_set_task(
        directories=[], files=[], purge=[], absent=["{{ target }}/old", "{{ target }}/gone.conf"]
    )
    write_tasks(role, [task])
    assert recap(run_playbook(tmp_path / "run", play(role, target)))["changed"] == 1
    assert list(target.iterdir()) == []
    assert recap(run_playbook(tmp_path / "run", play(role, target)))["changed"] == 0


@pytest.mark.parametrize(
    "entry", [{"dest": "/x"}, {"dest": "/x", "content": "a", "src": "board.json"}]
)
def test_an_entry_needs_exactly_one_source(
    role: Path, tmp_path: Path, entry: dict[str, Any]
) -> None:
    write_tasks(role, [file_set_task(directories=[], files=[entry], purge=[])])
    proc = run_playbook(tmp_path / "run", play(role, tmp_path))
    assert proc.returncode != 0
    assert "give exactly one of template, src, content or remote_src" in proc.stdout


def test_a_template_renders_as_ansible_builtin_template_does(
    role: Path, tmp_path: Path, target: Path
) -> None:
    tasks = [
        {
            "name": "Render with the template module",
            "ansible.builtin.template": {
                "src": "app.conf.j2",
                "dest": "{{ target }}/by-template",
                "mode": "0644",
            },
        },
        {
            "name": "Render with file_set",
            "bbdash.stack.file_set": {
                "files": [
                    {"dest": "{{ target }}/by-file-set", "template": "app.conf.j2", "mode": "0644"}
                ]
            },
        },
    ]
    write_tasks(role, tasks)
    recap(run_playbook(tmp_path / "run", play(role, target)))
    assert (target / "by-file-set").read_bytes() == (target / "by-template").read_bytes()


def test_root_and_task_wide_attributes_fill_the_entries(
    role: Path, tmp_path: Path, target: Path
) -> None:
    task = {
        "name": "Write under a root",
        "bbdash.stack.file_set": {
            "root": "{{ target }}",
            "owner": "root",
            "mode": "0640",
            "directory_mode": "0750",
            "directories": ["", "secrets", {"path": "public", "mode": "0755"}, "deep/er"],
            "files": [
                {"dest": "secrets/token", "content": "t"},
                {"dest": "public/index.html", "content": "<p>", "mode": "0644"},
                {"dest": "public/", "src": "board.json"},
            ],
            "absent": ["old.conf"],
        },
    }
    write_tasks(role, [task])
    (target / "old.conf").write_text("x", encoding="utf-8")
    assert recap(run_playbook(tmp_path / "run", play(role, target)))["changed"] == 1
    assert mode(target) == 0o750 and mode(target / "secrets") == 0o750
    assert mode(target / "public") == 0o755
    assert mode(target / "deep") == 0o750 and mode(target / "deep" / "er") == 0o750
    assert mode(target / "secrets" / "token") == 0o640
    assert mode(target / "public" / "index.html") == 0o644
    assert (target / "public" / "board.json").read_text(encoding="utf-8") == '{"uid": "board"}\n'
    assert not (target / "old.conf").exists()
    assert recap(run_playbook(tmp_path / "run", play(role, target)))["changed"] == 0


def test_file_entries_turns_a_mapping_into_sorted_entries(
    role: Path, tmp_path: Path, target: Path
) -> None:
    task = {
        "name": "Write a mapping of secrets",
        "bbdash.stack.file_set": {
            "root": "{{ target }}",
            "directories": ["keys"],
            "files": "{{ {'b_token': 'bee', 'a_token': 'ay'} | bbdash.stack.file_entries('keys', secret=true, end='\n') }}",
        },
    }
    write_tasks(role, [task])
    proc = run_playbook(tmp_path / "run", play(role, target), "--diff")
    assert recap(proc)["changed"] == 1
    assert (target / "keys" / "a_token").read_text(encoding="utf-8") == "ay\n"
    assert (target / "keys" / "b_token").read_text(encoding="utf-8") == "bee\n"
    assert "bee" not in proc.stdout


def test_remote_src_copies_a_host_file(role: Path, tmp_path: Path, target: Path) -> None:
    (target / "token.source").write_text("tok-123\n", encoding="utf-8")
    task = {
        "name": "Hand a host file over",
        "bbdash.stack.file_set": {
            "root": "{{ target }}",
            "files": [{"dest": "token", "remote_src": "{{ target }}/token.source", "mode": "0600"}],
        },
    }
    write_tasks(role, [task])
    assert recap(run_playbook(tmp_path / "run", play(role, target)))["changed"] == 1
    assert (target / "token").read_text(encoding="utf-8") == "tok-123\n"
    assert recap(run_playbook(tmp_path / "run", play(role, target)))["changed"] == 0
    (target / "token.source").unlink()
    proc = run_playbook(tmp_path / "run", play(role, target))
    assert proc.returncode != 0 and "token.source does not exist" in proc.stdout


def test_existing_sets_attributes_on_the_file_a_link_leads_to(
    role: Path, tmp_path: Path, target: Path
) -> None:
    real = target / "tool-12"
    real.write_text("#!/bin/sh\n", encoding="utf-8")
    real.chmod(0o755)
    (target / "tool").symlink_to(real.name)
    task = {
        "name": "Restrict what exists",
        "bbdash.stack.file_set": {
            "existing": ["{{ target }}/tool", "{{ target }}/absent-tool"],
            "mode": "0750",
        },
    }
    write_tasks(role, [task])
    checked = run_playbook(tmp_path / "run", play(role, target), "--check")
    assert recap(checked)["changed"] == 1 and mode(real) == 0o755
    assert recap(run_playbook(tmp_path / "run", play(role, target)))["changed"] == 1
    assert mode(real) == 0o750 and (target / "tool").is_symlink()
    assert real.read_text(encoding="utf-8") == "#!/bin/sh\n"
    assert not (target / "absent-tool").exists()
    assert recap(run_playbook(tmp_path / "run", play(role, target)))["changed"] == 0
