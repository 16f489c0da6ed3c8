"""Lookup `pins_wanted`: every pin the roles declare, with this host's values.

The roles are not listed by hand: any role whose defaults hold `<x>_image`
beside `<x>_image_pull`, or `<role>_plugins` beside `<role>_plugins_install`,
declares pins. Their values are what this host will use: the role defaults,
overridden by whatever the inventory, extra vars or play set (the variables the
lookup is called with), templated by Ansible itself, so that
`prom/alertmanager:v{{ alertmanager_version }}` follows an inventory's
`alertmanager_version`. A pin is pulled when its `_pull` / `_install` switch
is true and the role is not disabled (`<role>_enabled: false`).

The naming rules are plain functions (`declared_pins`, `resolve_pins`), shared
with `tools/pins_report.py` and unit-tested in tests/static/test_pins.py.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

DOCUMENTATION = r"""
name: pins_wanted
author: Bloomberg Dashboard contributors
short_description: The pinned images and plugins the project's roles pull, with this host's values
description:
  - Reads C(defaults/main.yml) of every role in the given roles folder, finds the variables that
    name a pulled image (C(<x>_image) with C(<x>_image_pull)) or plugins (C(<role>_plugins) with
    C(<role>_plugins_install)), and templates them with the host's variables over the role defaults.
options:
  _terms:
    description: The roles folder (one path).
    required: true
"""

RETURN = r"""
_raw:
  description: One dict per pin, kind image or plugin, with ref, pull, role, name, file and line.
  type: list
  elements: dict
"""

try:
    from ansible.errors import AnsibleLookupError
    from ansible.module_utils.parsing.convert_bool import boolean
    from ansible.plugins.lookup import LookupBase
    from ansible.template import trust_as_template
except ImportError:  # imported by tools/pins_report.py and the tests without Ansible's loader
    AnsibleLookupError = ValueError  # type: ignore[misc,assignment]
    LookupBase = object  # type: ignore[misc,assignment]

    def boolean(value: Any, strict: bool = True) -> bool:  # Ansible's, when it is missing
        del strict
        return str(value).strip().lower() in ("1", "true", "yes", "on", "y", "t")

    def trust_as_template(value: str) -> str:
        return value


def declared_pins(role_defaults: Mapping[str, Mapping[str, Any]]) -> list[dict[str, str]]:
    """The pin variables each role declares, by the naming rules above, in role order."""
    found: list[dict[str, str]] = []
    for role in sorted(role_defaults):
        defaults = role_defaults[role]
        enabled = f"{role}_enabled" if f"{role}_enabled" in defaults else ""
        for name in defaults:
            if name.endswith("_image") and f"{name}_pull" in defaults:
                kind, switch = "image", f"{name}_pull"
            elif name.endswith("_plugins") and f"{name}_install" in defaults:
                kind, switch = "plugin", f"{name}_install"
            else:
                continue
            found.append(
                {"kind": kind, "role": role, "name": name, "switch": switch, "enabled": enabled}
            )
    return found


def line_of(text: str, name: str) -> int:
    """The line where a top-level variable is set in a YAML file (0 when not found)."""
    match = re.search(rf"^{re.escape(name)}\s*:", text, re.MULTILINE)
    return text.count("\n", 0, match.start()) + 1 if match else 0


def resolve_pins(
    declared: list[dict[str, str]],
    value_of: Callable[[str], Any],
    where: Mapping[str, tuple[str, int]],
    overridden: Callable[[str], bool] = lambda _name: False,
) -> list[dict[str, Any]]:
    """One entry per image and per plugin, with its value and whether it is pulled.

    `value_of` templates a variable; `where` maps a variable to (file, line) of its
    role default; `overridden` says whether something above the role default sets it.
    """
    pins: list[dict[str, Any]] = []
    for item in declared:
        role_on = not item["enabled"] or boolean(value_of(item["enabled"]), strict=False)
        pulled = role_on and boolean(value_of(item["switch"]), strict=False)
        file, line = where.get(item["name"], ("", 0))
        common = {
            "kind": item["kind"],
            "role": item["role"],
            "switch": item["switch"],
            "pull": bool(pulled),
            "file": file,
            "line": line,
            "overridden": overridden(item["name"]),
        }
        if item["kind"] == "image":
            pins.append({**common, "name": item["name"], "ref": str(value_of(item["name"]))})
            continue
        for index, plugin in enumerate(value_of(item["name"]) or []):
            plugin_id = str(plugin.get("id", "")) if isinstance(plugin, Mapping) else ""
            version = str(plugin.get("version", "")) if isinstance(plugin, Mapping) else ""
            url = str(plugin.get("url") or "") if isinstance(plugin, Mapping) else ""
            pins.append(
                {
                    **common,
                    "name": f"{item['name']}[{index}]",
                    "ref": f"{plugin_id}@{version}",
                    "id": plugin_id,
                    "version": version,
                    "url": url,
                }
            )
    return pins


class LookupModule(LookupBase):  # type: ignore[misc,valid-type]
    def run(
        self, terms: list[Any], variables: dict[str, Any] | None = None, **kwargs: Any
    ) -> list[dict[str, Any]]:
        if len(terms) != 1:
            raise AnsibleLookupError("pins_wanted takes one term: the roles folder")
        roles_dir = Path(str(terms[0])).resolve()
        files = sorted(roles_dir.glob("*/defaults/main.yml"))
        if not files:
            raise AnsibleLookupError(f"pins_wanted: no role defaults under {roles_dir}")
        role_defaults: dict[str, dict[str, Any]] = {}
        where: dict[str, tuple[str, int]] = {}
        for path in files:
            role = path.parent.parent.name
            data = self._loader.load_from_file(str(path), cache="none", trusted_as_template=True)
            role_defaults[role] = dict(data or {})
            text = path.read_text(encoding="utf-8")
            shown = str(path.relative_to(roles_dir.parent))
            for name in role_defaults[role]:
                where[name] = (shown, line_of(text, name))
        host_vars = dict(variables or {})
        merged: dict[str, Any] = {}
        for defaults in role_defaults.values():
            merged.update(defaults)
        merged.update(host_vars)
        templar = self._templar.copy_with_new_env(available_variables=merged)

        def value_of(name: str) -> Any:
            return templar.template(trust_as_template("{{ " + name + " }}"))

        return resolve_pins(
            declared_pins(role_defaults), value_of, where, lambda name: name in host_vars
        )
