"""The bbdash.stack.line_set module (collections/), run by ansible-playbook on localhost.

What is checked: every line set in one call, as lineinfile sets it (the last
matching line replaced, a line without a match added at the end); a rerun
changes nothing; --check --diff reports without writing; the file keeps its
mode; a missing file or a bad regexp is a clear error.
"""

from __future__ import annotations

import json
import stat
import sys
from pathlib import Path
from typing import Any

from role_runner import JSON_CALLBACK, localhost_play, run_playbook, task_results

LOGIN_DEFS = """# /etc/login.defs
UMASK\t\t022
#ENCRYPT_METHOD DES
PASS_MAX_DAYS\t99999
PASS_MAX_DAYS\t88888
"""

LINES = [
    {"regexp": r"^\s*UMASK\s", "line": "UMASK\t\t027"},
    {"regexp": r"^\s*#?\s*ENCRYPT_METHOD\s", "line": "ENCRYPT_METHOD\tSHA512"},
    {"regexp": r"^\s*#?\s*PASS_MAX_DAYS\s", "line": "PASS_MAX_DAYS\t365"},
    {"regexp": r"^\s*#?\s*SHA_CRYPT_MIN_ROUNDS\s", "line": "SHA_CRYPT_MIN_ROUNDS\t65536"},
]


def run(tmp_path: Path, args: dict[str, Any], *options: str) -> tuple[int, dict[str, Any]]:
    play = localhost_play(
        "line_set",
        vars={"ansible_python_interpreter": sys.executable},
        tasks=[{"name": "Under test", "bbdash.stack.line_set": args}],
    )
    proc = run_playbook(tmp_path / "run", [play], *options, callback=JSON_CALLBACK)
    return proc.returncode, task_results(json.loads(proc.stdout))["Under test"]


def test_sets_every_line_once_then_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "login.defs"
    path.write_text(LOGIN_DEFS, encoding="utf-8")
    path.chmod(0o640)
    args = {"path": str(path), "lines": LINES}

    rc, checked = run(tmp_path, args, "--check", "--diff")
    assert rc == 0 and checked["changed"] is True
    assert "PASS_MAX_DAYS\t365" in checked["diff"]["after"]
    assert path.read_text(encoding="utf-8") == LOGIN_DEFS, "check mode wrote"

    rc, result = run(tmp_path, args)
    assert rc == 0 and result["changed"] is True
    assert path.read_text(encoding="utf-8") == (
        "# /etc/login.defs\nUMASK\t\t027\nENCRYPT_METHOD\tSHA512\n"
        # As lineinfile: only the last matching line is replaced.
        "PASS_MAX_DAYS\t99999\nPASS_MAX_DAYS\t365\nSHA_CRYPT_MIN_ROUNDS\t65536\n"
    )
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []

    rc, again = run(tmp_path, args)
    assert rc == 0 and again["changed"] is False and again["changed_lines"] == []


def test_a_missing_file_or_a_bad_regexp_is_a_clear_error(tmp_path: Path) -> None:
    rc, result = run(tmp_path, {"path": str(tmp_path / "absent"), "lines": LINES})
    assert rc != 0 and "does not exist" in result["msg"]
    (tmp_path / "present").write_text("A=1\n", encoding="utf-8")
    rc, result = run(
        tmp_path, {"path": str(tmp_path / "present"), "lines": [{"regexp": "(", "line": "x"}]}
    )
    assert rc != 0 and "bad regexp" in result["msg"]
    assert (tmp_path / "present").read_text(encoding="utf-8") == "A=1\n"
