"""Filter bbdash.stack.packages_missing: the wanted packages a host does not have yet."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

DOCUMENTATION = r"""
name: packages_missing
author: Bloomberg Dashboard contributors
short_description: The packages of a list that are not installed
description:
  - Lets an C(ansible.builtin.apt) task with C(state=present) be skipped when everything it
    would install is already there (one skipped task instead of one apt run per role).
  - A name with a version or release (C(pkg=1.2), C(pkg/bookworm)) always counts as
    missing, so apt itself decides. Without the installed list (not read in this run)
    every package counts as missing.
positional: installed
options:
  _input:
    description: Package names, as apt's I(name) takes them.
    type: list
    elements: str
    required: true
  installed:
    description: Names of the installed packages (bloomberg_installed_packages), or null.
    type: list
    elements: str
"""

EXAMPLES = r"""
when: >-
  common_base_packages
  | bbdash.stack.packages_missing(bloomberg_installed_packages | default(none))
"""

RETURN = r"""
_value:
  description: The packages to install, in the input's order.
  type: list
  elements: str
"""


def packages_missing(wanted: Any, installed: Iterable[str] | None = None) -> list[str]:
    names = [wanted] if isinstance(wanted, str) else list(wanted or [])
    if installed is None:
        return names
    present = set(installed)
    return [name for name in names if any(c in name for c in "=/<>") or name not in present]


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"packages_missing": packages_missing}
