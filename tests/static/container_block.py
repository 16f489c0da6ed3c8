"""The container a component role runs, read from its block of data.

Every component role runs its container through the internal `container` role
(roles/container/README.md): `tasks/run.yml` includes it with container_*
variables. `definition(role)` is that block with the container role's
defaults filled in, keys without the prefix (`read_only`, `cpus`,
`healthcheck_test`...), values as written (not templated), so tests can say
what each role asks for.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

ROLES = Path(__file__).resolve().parents[2] / "roles"


def _load(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def include(role: str) -> dict[str, Any]:
    """The role's include of the container role (exactly one)."""
    found = [
        task
        for task in _load(ROLES / role / "tasks" / "run.yml") or []
        if (task.get("ansible.builtin.include_role") or {}).get("name") == "container"
    ]
    assert len(found) == 1, f"{role}: tasks/run.yml must include the container role once"
    return found[0]


def definition(role: str) -> dict[str, Any]:
    defaults = _load(ROLES / "container" / "defaults" / "main.yml")
    merged = {**defaults, **include(role)["vars"]}
    return {name.removeprefix("container_"): value for name, value in merged.items()}
