"""The common role's compiler restriction, run by Ansible on files of our own.

The molecule test host's only compiler is binutils' assembler (needrestart
depends on it), so the cases are run here on a stand-in tree: a chain of links
followed to the file that gets the mode, a plain file, an absent path skipped,
and a rerun that changes nothing.
"""

from __future__ import annotations

import stat
from pathlib import Path

from role_runner import changed_tasks, run_role


def _tree(tmp_path: Path) -> dict[str, Path]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    real = bin_dir / "x86_64-linux-gnu-gcc-12"
    real.write_text("#!/bin/sh\n")
    real.chmod(0o755)
    (bin_dir / "gcc-12").symlink_to(real.name)
    (bin_dir / "gcc").symlink_to("gcc-12")
    other = bin_dir / "as"
    other.write_text("#!/bin/sh\n")
    other.chmod(0o755)
    return {"real": real, "gcc": bin_dir / "gcc", "as": other, "absent": bin_dir / "clang"}


def test_compilers_run_for_root_only_and_a_rerun_changes_nothing(tmp_path: Path) -> None:
    tree = _tree(tmp_path)
    variables = {"common_compilers": [str(tree[k]) for k in ("gcc", "as", "absent")]}
    base = tmp_path / "base"
    base.mkdir()
    first = run_role("common", ["compilers"], base, variables)
    assert changed_tasks(first) == ["common : Let only root run the compilers installed"]
    for path in (tree["real"], tree["as"]):
        assert stat.S_IMODE(path.stat().st_mode) == 0o750, path
    # The link itself is untouched and still leads to the compiler.
    assert str(tree["gcc"].readlink()) == "gcc-12"
    assert not tree["absent"].exists()
    second = run_role("common", ["compilers"], base, variables)
    assert changed_tasks(second) == []
