"""Host hardening as lynis, the widely used auditing tool, sees it.

Lynis runs on the converged host twice: with the test profile
(tests/infra/lynis/test-host.prf), which skips the tests that read the build
machine's own kernel and says why, and plain, as anyone would run it. Both
reports are kept under artifacts/. The floor applies to the profiled run; the
plain run scores a few points lower only because of those kernel tests.
"""

from __future__ import annotations

import re

from conftest import REPO

HARDENING_INDEX_FLOOR = 85
PROFILE = REPO / "tests" / "infra" / "lynis" / "test-host.prf"


def _audit(host, name: str, options: str = "") -> tuple[int, str]:
    report = host.run(f"lynis audit system --quick --no-colors --no-log {options}").stdout
    artifacts = REPO / "artifacts"
    artifacts.mkdir(exist_ok=True)
    (artifacts / name).write_text(report)
    match = re.search(r"Hardening index : (\d+)", report)
    assert match, report[-2000:]
    return int(match.group(1)), report


def test_lynis_hardening_index(host) -> None:
    host.check_output("DEBIAN_FRONTEND=noninteractive apt-get install -y -qq lynis >/dev/null 2>&1")
    host.check_output(
        f"install -m 0644 /dev/stdin /tmp/bbdash-test-host.prf <<'EOF'\n{PROFILE.read_text()}EOF"
    )
    index, report = _audit(host, "lynis-report.txt", "--profile /tmp/bbdash-test-host.prf")
    plain, _ = _audit(host, "lynis-report-plain.txt")
    print(f"lynis hardening index: {index} with the test profile, {plain} plain")
    assert "[KRNL-6000]" not in report  # the profile was read
    assert index >= HARDENING_INDEX_FLOOR, f"lynis hardening index {index} (plain run: {plain})"
    # Nothing lynis rates as a warning (as opposed to a suggestion).
    warnings = re.findall(r"^\s+! (.+)$", report, re.MULTILINE)
    assert not warnings, warnings
