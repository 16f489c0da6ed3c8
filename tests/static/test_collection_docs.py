"""Every plugin of the project's collection (collections/ansible_collections/bbdash/stack)
documents itself in a form ansible-doc reads: DOCUMENTATION, EXAMPLES and RETURN are
YAML (a plain sentence holding ": " is a mapping to YAML, and ansible-doc then fails)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from role_runner import REPO, ansible_env

PLUGINS = REPO / "collections" / "ansible_collections" / "bbdash" / "stack" / "plugins"
FOUND = sorted(
    (kind, path.stem)
    for kind in ("modules", "filter")
    for path in (PLUGINS / kind).glob("*.py")
    if not path.name.startswith("_")
)


@pytest.mark.parametrize(("kind", "name"), FOUND)
def test_ansible_doc_reads_the_plugin(tmp_path: Path, kind: str, name: str) -> None:
    doc_type = "module" if kind == "modules" else "filter"
    proc = subprocess.run(
        [
            str(Path(sys.executable).parent / "ansible-doc"),
            "-t",
            doc_type,
            f"bbdash.stack.{name}",
        ],
        capture_output=True,
        text=True,
        env=ansible_env(tmp_path, "ansible.builtin.default"),
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0 and "ERROR" not in proc.stderr, proc.stderr[-2000:]
    assert f"bbdash.stack.{name}" in proc.stdout
