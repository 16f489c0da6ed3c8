"""Print why a molecule run failed, in a few lines, as the very last output.

CI keeps only the tail of a run's output, and molecule ends with its own
recap, which names the failed stage but not the failed test or task. This
reads verify's JUnit report (which tests failed, and the first line of each
reason) or, when no test ran, the run's log (the tasks ansible called fatal).
"""

from __future__ import annotations

import argparse
import re
import xml.etree.ElementTree as ET
from pathlib import Path

MAX_LINES = 20
FATAL = re.compile(r"^(fatal|failed): \[[^\]]+\].*")
NOT_IDEMPOTENT = re.compile(r"^\* \[[^\]]+\] => .*")  # molecule's idempotence list
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def failed_tests(junit: Path) -> list[str]:
    """One line per failed or erroring test: its id and the first line of why."""
    lines = []
    for case in ET.parse(junit).getroot().iter("testcase"):
        for problem in (*case.findall("failure"), *case.findall("error")):
            reason = (problem.get("message") or problem.text or "").strip().splitlines()
            first = reason[0][:200] if reason else "(no message)"
            lines.append(f"{case.get('classname')}::{case.get('name')}: {first}")
    return lines


def fatal_tasks(log: Path) -> list[str]:
    """Every task ansible gave up on, and every task idempotence found changed."""
    lines, task = [], ""
    for raw in log.read_text(errors="replace").splitlines():
        line = ANSI.sub("", raw).strip()
        if line.startswith("TASK ["):
            task = line
        elif FATAL.match(line):
            lines.append(f"{task} {line[:200]}")
        elif NOT_IDEMPOTENT.match(line):
            lines.append(f"not idempotent: {line[2:200]}")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--junit", type=Path, required=True)
    parser.add_argument("--log", type=Path, required=True)
    args = parser.parse_args()
    source, lines = "verify's failed tests", []
    if args.junit.is_file():
        lines = failed_tests(args.junit)
    if not lines and args.log.is_file():
        source, lines = "failed or changed tasks", fatal_tasks(args.log)
    print(f"==== molecule failed; {source} (full log: {args.log}) ====")
    for line in lines[-MAX_LINES:]:
        print(f"  {line}")
    if not lines:
        print("  (none found: read the full log)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
