"""Time a first converge of playbooks/site.yml into a fresh test host and the
idempotent re-converge, and write the converge section of docs/benchmarks.md.

The re-converge runs three times and the median counts: on a shared 2-vCPU VM
the same rerun varies by several seconds from one run to the next.

Uses the molecule default scenario's host (destroyed first and at the end).
Run with `make bench` or `.venv/bin/python bench/converge/run.py`.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))
from machine import describe  # noqa: E402

DOC = ROOT / "docs" / "benchmarks.md"
RERUNS = 3
START, END = "<!-- bench:converge:start -->", "<!-- bench:converge:end -->"


def molecule(action: str, *ansible_args: str) -> tuple[float, str]:
    # profile_tasks (molecule.yml) lists the ten slowest tasks after each run.
    env = dict(
        os.environ,
        ANSIBLE_FORCE_COLOR="0",
        NO_COLOR="1",
        PROFILE_TASKS_TASK_OUTPUT_LIMIT="10",
        # molecule's console wraps at the terminal's width: one task a line.
        COLUMNS="400",
    )
    # molecule runs ansible-playbook and ansible-config: the virtualenv's, also when
    # this script is started directly rather than through `make bench`.
    env["PATH"] = f"{ROOT / '.venv' / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env.setdefault("ANSIBLE_VAULT_PASSWORD_FILE", str(ROOT / ".cache" / "local" / "vault-pass"))
    began = time.monotonic()
    result = subprocess.run(
        [
            str(ROOT / ".venv" / "bin" / "molecule"),
            action,
            "-s",
            "default",
            *(["--", *ansible_args] if ansible_args else []),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.monotonic() - began
    if result.returncode != 0:
        sys.stderr.write(result.stdout[-4000:] + result.stderr[-2000:])
        raise SystemExit(f"molecule {action} failed")
    return elapsed, result.stdout


def recap(output: str) -> tuple[int, int]:
    found = re.findall(r"ok=(\d+)\s+changed=(\d+)", output)
    ok, changed = found[-1]
    return int(ok), int(changed)


def slowest(output: str) -> list[tuple[str, str]]:
    """The tasks profile_tasks lists after the run (slowest first): (task, seconds)."""
    recap_at = output.rfind("TASKS RECAP")
    rows = re.findall(r"^[\s│]*(.+?) -{2,}\s*([0-9.]+)s\s*$", output[recap_at:], flags=re.M)
    return [(task.strip(), seconds) for task, seconds in rows]


def fresh_volume() -> None:
    """molecule destroy keeps the inner Docker's named volume (and with it the
    databases of the last run) and the cached facts: a first converge starts
    without either, as `make molecule` does."""
    subprocess.run(
        ["docker", "volume", "rm", "-f", "bbdash-test-docker"], capture_output=True, check=False
    )
    shutil.rmtree(ROOT / ".cache" / "facts-default", ignore_errors=True)


def main() -> None:
    molecule("destroy")
    fresh_volume()
    load = os.getloadavg()
    create_s, _ = molecule("create")
    prepare_s, _ = molecule("prepare")
    converge_s, converge_out = molecule("converge")
    # The first rerun is molecule's idempotence check (it fails on any change);
    # the others are plain converges, their changes counted from their recap.
    reruns = [molecule("idempotence")] + [molecule("converge") for _ in range(RERUNS - 1)]
    idem_s, idem_out = sorted(reruns, key=lambda run: run[0])[len(reruns) // 2]
    # `molecule check` would run its own sequence (destroy, create, prepare, then
    # check mode on a fresh host): the check mode run after the rerun is this one.
    check_s, check_out = molecule("converge", "--check", "--diff")
    molecule("destroy")
    fresh_volume()
    tasks, changed = recap(converge_out)
    rerun_tasks, _ = recap(idem_out)
    changed_again = max(recap(out)[1] for _, out in reruns)
    rerun_times = ", ".join(f"{seconds:.0f}" for seconds, _ in reruns)
    _, changed_in_check = recap(check_out)
    section = "\n".join(
        [
            START,
            "## Converge (`bench/converge/run.py`)",
            "",
            f"- machine: {describe()} (load average at start: "
            f"{load[0]:.2f}, {load[1]:.2f}, {load[2]:.2f})",
            f"- date: {datetime.now(tz=UTC):%Y-%m-%d %H:%M} UTC",
            "- what: `playbooks/site.yml` into a fresh offline test host "
            "(molecule default scenario), images already built",
            "",
            "| step | seconds | result |",
            "| --- | --- | --- |",
            f"| create + prepare test host | {create_s + prepare_s:.0f} | — |",
            f"| first converge | {converge_s:.0f} | {tasks} tasks ok, {changed} changed |",
            f"| idempotent re-converge (median of {RERUNS}: {rerun_times}) | {idem_s:.0f} "
            f"| {rerun_tasks} tasks ok, changed={changed_again} in every run |",
            f"| `--check` after it | {check_s:.0f} | changed={changed_in_check} |",
            "",
            "Targets (issue 14): re-converge <= 90 s, first converge <= 360 s, changed=0 on the "
            "re-converge and in `--check`.",
            "",
            "The ten slowest tasks of the first converge and of the median re-converge:",
            "",
            "| first converge | s | re-converge | s |",
            "| --- | ---: | --- | ---: |",
            *(
                f"| {a[0]} | {a[1]} | {b[0]} | {b[1]} |"
                for a, b in zip(slowest(converge_out), slowest(idem_out), strict=False)
            ),
            END,
        ]
    )
    text = DOC.read_text()
    text = re.sub(re.escape(START) + ".*?" + re.escape(END), lambda _: section, text, flags=re.S)
    DOC.write_text(text)
    print(section)


if __name__ == "__main__":
    main()
