"""The container roles' sizing profiles (roles/sizing/README.md), read from their defaults.

Each container role keeps a `<role>_profiles` table (small, medium, large,
test) and takes its limits from the row `bloomberg_profile` names. Tests read
the table for a profile's values and check that a variable follows it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

ROLES = Path(__file__).resolve().parents[2] / "roles"
PROFILES = ("small", "medium", "large", "test")


def defaults(role: str) -> dict[str, Any]:
    return yaml.safe_load((ROLES / role / "defaults" / "main.yml").read_text(encoding="utf-8"))


def row(role: str, profile: str = "small") -> dict[str, Any]:
    """The role's values for one profile."""
    return dict(defaults(role)[f"{role}_profiles"][profile])


def follows(role: str, key: str) -> str:
    """How a role default takes `key` from the profile's row."""
    return f"{{{{ {role}_profiles[bloomberg_profile | default('small')].{key} }}}}"
