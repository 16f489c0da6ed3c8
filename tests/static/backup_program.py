"""The backup program (roles/backup/files/bbdash-backup), a script with no .py
suffix, loaded once as a module `B` for the tests that call its functions."""

from __future__ import annotations

import importlib.machinery
import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROGRAM = ROOT / "roles" / "backup" / "files" / "bbdash-backup"
_loader = importlib.machinery.SourceFileLoader("bbdash_backup", str(PROGRAM))
_spec = importlib.util.spec_from_loader("bbdash_backup", _loader)
assert _spec is not None
B = importlib.util.module_from_spec(_spec)
_loader.exec_module(B)
