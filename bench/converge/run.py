"""Time a first converge of playbooks/site.yml into a fresh test host and the
idempotent re-converge, and write the converge section of docs/benchmarks.md.

Uses the molecule default scenario's host (destroyed first and at the end).
Run with `make bench` or `.venv/bin/python bench/converge/run.py`.
"""

from __future__ import annotations

import os
import platform
import re
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "benchmarks.md"
START, END = "<!-- bench:converge:start -->", "<!-- bench:converge:end -->"


def molecule(action: str) -> tuple[float, str]:
    env = dict(os.environ, ANSIBLE_FORCE_COLOR="0", NO_COLOR="1")
    # molecule runs ansible-playbook and ansible-config: the virtualenv's, also when
    # this script is started directly rather than through `make bench`.
    env["PATH"] = f"{ROOT / '.venv' / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env.setdefault("ANSIBLE_VAULT_PASSWORD_FILE", str(ROOT / ".cache" / "local" / "vault-pass"))
    began = time.monotonic()
    result = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "molecule"), action, "-s", "default"],
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


def machine() -> str:
    model = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    mem_kb = int(Path("/proc/meminfo").read_text().split()[1])
    return f"{model}, {os.cpu_count()} cores, {mem_kb // 1024 // 1024} GiB, {platform.system()}"


def fresh_volume() -> None:
    """molecule destroy keeps the inner Docker's named volume (and with it the
    databases of the last run): a first converge starts without it."""
    subprocess.run(
        ["docker", "volume", "rm", "-f", "bbdash-test-docker"], capture_output=True, check=False
    )


def main() -> None:
    molecule("destroy")
    fresh_volume()
    load = os.getloadavg()
    create_s, _ = molecule("create")
    prepare_s, _ = molecule("prepare")
    converge_s, converge_out = molecule("converge")
    idem_s, idem_out = molecule("idempotence")
    molecule("destroy")
    fresh_volume()
    tasks, changed = recap(converge_out)
    _, changed_again = recap(idem_out)
    section = "\n".join(
        [
            START,
            "## Converge (`bench/converge/run.py`)",
            "",
            f"- machine: {machine()} (load average at start: "
            f"{load[0]:.2f}, {load[1]:.2f}, {load[2]:.2f})",
            f"- date: {datetime.now(tz=UTC):%Y-%m-%d %H:%M} UTC",
            "- what: `playbooks/site.yml` into a fresh offline test host "
            "(molecule default scenario), images already built",
            "",
            "| step | seconds | result |",
            "| --- | --- | --- |",
            f"| create + prepare test host | {create_s + prepare_s:.0f} | — |",
            f"| first converge | {converge_s:.0f} | {tasks} tasks ok, {changed} changed |",
            f"| idempotent re-converge | {idem_s:.0f} | changed={changed_again} |",
            END,
        ]
    )
    text = DOC.read_text()
    text = re.sub(re.escape(START) + ".*?" + re.escape(END), lambda _: section, text, flags=re.S)
    DOC.write_text(text)
    print(section)


if __name__ == "__main__":
    main()
