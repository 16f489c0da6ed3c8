"""tests/report_failures.py: the few lines CI's tail shows when molecule fails."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).parents[1] / "report_failures.py"

JUNIT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" errors="1" failures="1" tests="3">
<testcase classname="test_data" name="test_passes[ansible://bbdash-test]" time="0.1"/>
<testcase classname="test_collect" name="test_market_points_arrive[ansible://bbdash-test]">
<failure message="AssertionError: no market point in 60 s&#10;assert [] == ['BTCUSDT']">trace</failure>
</testcase>
<testcase classname="test_backup" name="test_restore"><error message="">setup blew up</error></testcase>
</testsuite></testsuites>
"""

LOG = """\
TASK [postgres : Wait until the container is healthy] ***
ok: [bbdash-test]
TASK [grafana : Apply the admin password] ***
\x1b[0;31mfatal: [bbdash-test]: FAILED! => {"msg": "401 Unauthorized"}\x1b[0m
CRITICAL Idempotence test failed because of the following tasks:
* [bbdash-test] => nginx : Render the site configuration
"""


def report(tmp_path: Path, junit: str | None, log: str | None) -> str:
    junit_file, log_file = tmp_path / "verify.xml", tmp_path / "test.log"
    if junit is not None:
        junit_file.write_text(junit)
    if log is not None:
        log_file.write_text(log)
    return subprocess.run(
        [sys.executable, SCRIPT, "--junit", junit_file, "--log", log_file],
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def test_names_each_failed_test_with_the_first_line_of_its_reason(tmp_path: Path) -> None:
    out = report(tmp_path, JUNIT, LOG).splitlines()
    assert out[0].startswith("==== molecule failed; verify's failed tests")
    assert out[1:] == [
        "  test_collect::test_market_points_arrive[ansible://bbdash-test]: "
        "AssertionError: no market point in 60 s",
        "  test_backup::test_restore: setup blew up",
    ]


def test_without_verify_report_names_fatal_and_non_idempotent_tasks(tmp_path: Path) -> None:
    out = report(tmp_path, None, LOG).splitlines()
    assert "failed or changed tasks" in out[0]
    assert out[1:] == [
        "  TASK [grafana : Apply the admin password] *** fatal: [bbdash-test]: FAILED! => "
        '{"msg": "401 Unauthorized"}',
        "  not idempotent: [bbdash-test] => nginx : Render the site configuration",
    ]


def test_a_passing_verify_falls_back_to_the_log(tmp_path: Path) -> None:
    passing = JUNIT.split('<testcase classname="test_collect"')[0] + "</testsuite></testsuites>"
    out = report(tmp_path, passing, "nothing useful\n").splitlines()
    assert out[1:] == ["  (none found: read the full log)"]
