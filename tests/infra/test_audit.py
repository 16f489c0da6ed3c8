"""Host hardening as lynis, the widely used auditing tool, sees it.

Lynis runs on the converged host; its report is kept under artifacts/. The
floor guards against regressions: the test host is a container, where lynis
cannot see the kernel settings the common role applies on a real VPS (they
are written but not applied), so a VPS scores higher than this floor.
"""

from __future__ import annotations

import re

from conftest import REPO

HARDENING_INDEX_FLOOR = 75


def test_lynis_hardening_index(host) -> None:
    host.check_output("DEBIAN_FRONTEND=noninteractive apt-get install -y -qq lynis >/dev/null 2>&1")
    report = host.run("lynis audit system --quick --no-colors --no-log").stdout
    artifacts = REPO / "artifacts"
    artifacts.mkdir(exist_ok=True)
    (artifacts / "lynis-report.txt").write_text(report)
    match = re.search(r"Hardening index : (\d+)", report)
    assert match, report[-2000:]
    assert int(match.group(1)) >= HARDENING_INDEX_FLOOR, f"lynis hardening index {match.group(1)}"
    # Nothing lynis rates as a warning (as opposed to a suggestion).
    warnings = re.findall(r"^\s+! (.+)$", report, re.MULTILINE)
    assert not warnings, warnings
