"""`make pins`: every pin of the project, checked where a registry answers, and what is newer.

Lists each pinned image and Grafana plugin the roles declare (the pins_wanted
lookup's rules: `<x>_image` beside `<x>_image_pull`, `<role>_plugins` beside
`<role>_plugins_install`): its variable, its value, where it is set
(file:line) and whether it is pulled. Then asks, from this machine (the
controller), each pulled pin's registry whether it exists, and lists the
tags of the same shape that are newer: the newest patch (same major.minor),
the newest in the same major, the newest overall (v3.5.5 is compared with
v3.x.y tags only, 16.10-bookworm with NN.NN-bookworm ones; pre-releases never
match). Plugins: grafana.com's version list.

A registry that does not answer gets one "registry not reachable" line and its
pins stay unchecked; that is not an error (exit 0), since this machine may
simply have no way out. Exit 1 only when a registry answered that a pin
cannot be pulled.

    .venv/bin/python roles/pins/tools/pins_report.py [--vars FILE]... [--timeout S]

`--vars` layers an inventory's variables over the role defaults, as Ansible
would (for example inventories/local/group_vars/offline_kit.yml: nothing pulled).
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import jinja2
import yaml

ROLE = Path(__file__).resolve().parents[1]
ROOT = ROLE.parents[1]


def _load(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


registry = _load("pins_registry", ROLE / "module_utils" / "pins_registry.py")
wanted = _load("pins_wanted", ROLE / "lookup_plugins" / "pins_wanted.py")


def collect(roles_dir: Path, layers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every pin, valued as the role defaults with `layers` over them (later wins)."""
    role_defaults: dict[str, dict[str, Any]] = {}
    where: dict[str, tuple[str, int]] = {}
    for path in sorted(roles_dir.glob("*/defaults/main.yml")):
        text = path.read_text(encoding="utf-8")
        role_defaults[path.parent.parent.name] = yaml.safe_load(text) or {}
        for name in role_defaults[path.parent.parent.name]:
            where[name] = (str(path.relative_to(roles_dir.parent)), wanted.line_of(text, name))
    merged: dict[str, Any] = {}
    for defaults in role_defaults.values():
        merged.update(defaults)
    overrides: dict[str, Any] = {}
    for layer in layers:
        overrides.update(layer)
    merged.update(overrides)
    return wanted.resolve_pins(
        wanted.declared_pins(role_defaults),
        _templater(merged),
        where,
        lambda name: name in overrides,
    )


def _templater(variables: dict[str, Any]) -> Callable[[str], Any]:
    """A variable's value, its Jinja rendered against the others until none is left."""
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)  # noqa: S701 - not HTML

    def value_of(name: str) -> Any:
        value = variables[name]
        for _ in range(10):
            if not (isinstance(value, str) and "{{" in value):
                break
            value = env.from_string(value).render(variables)
        return value

    return value_of


def _host(pin: dict[str, Any], api: str) -> str:
    if pin["kind"] == "plugin":
        return urllib.parse.urlsplit(pin["url"] or api).netloc
    try:
        return registry.parse_reference(pin["ref"]).host
    except ValueError:
        return ""


def check(pin: dict[str, Any], resolver: Any, api: str) -> tuple[str, str, str]:
    """(status, detail, newer) for one pulled pin."""
    if pin["kind"] == "plugin":
        result = resolver.check_plugin(pin["id"], pin["version"], pin["url"], api)
    else:
        result = resolver.check_image(pin["ref"])
    if result.status != registry.OK:
        return result.status, result.detail, ""
    try:
        if pin["kind"] == "plugin":
            candidates = resolver.plugin_versions(pin["id"], api)
            current = pin["version"]
        else:
            ref = registry.parse_reference(pin["ref"])
            candidates, current = resolver.list_tags(ref), ref.tag
    except (registry.CheckError, registry.NoAnswerError) as err:
        return result.status, result.detail, f"(newer versions not listed: {err})"
    newer = registry.newer_versions(current, candidates)
    shown: list[str] = []
    for scope in ("patch", "major", "any"):  # a wider scope only when it adds a version
        if scope in newer and not any(s.endswith(f" {newer[scope]}") for s in shown):
            shown.append(f"{scope} {newer[scope]}")
    return result.status, result.detail, ", ".join(shown) or "none newer"


def _count(number: int) -> str:
    return f"{number} pin" if number == 1 else f"{number} pins"


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--roles-dir", type=Path, default=ROOT / "roles")
    parser.add_argument(
        "--vars",
        type=Path,
        action="append",
        default=[],
        help="a YAML file of variables over the role defaults (repeatable)",
    )
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per request")
    parser.add_argument("--retries", type=int, default=0)
    parser.add_argument("--grafana-api-url", default=registry.GRAFANA_PLUGIN_API)
    args = parser.parse_args(argv)

    layers = [yaml.safe_load(p.read_text(encoding="utf-8")) or {} for p in args.vars]
    pins = collect(args.roles_dir, layers)
    resolver = registry.Resolver(registry.Http(timeout=args.timeout), retries=args.retries)
    rows = [["pin", "value", "set in", "pulled", "check", "newer"]]
    blocking = unchecked = 0
    for pin in pins:
        where = f"{pin['file']}:{pin['line']}" + (" (overridden)" if pin["overridden"] else "")
        if pin["pull"]:
            status, detail, newer = check(pin, resolver, args.grafana_api_url)
            if status == registry.UNKNOWN and _host(pin, args.grafana_api_url) in (
                resolver.unreachable
            ):
                status, newer = "not checked", ""
            elif status != registry.OK:
                newer = detail
            blocking += status in registry.BLOCKING
            unchecked += status in ("not checked", registry.UNKNOWN)
        else:
            status, newer = "not pulled", ""
        rows.append([pin["name"], pin["ref"], where, "yes" if pin["pull"] else "no", status, newer])
    print(
        f"{len(pins)} pins (role defaults{' + ' if args.vars else ''}"
        f"{', '.join(str(p) for p in args.vars)}):"
    )
    print(_table(rows))
    for host, why in sorted(resolver.unreachable.items()):
        count = sum(1 for p in pins if p["pull"] and _host(p, args.grafana_api_url) == host)
        print(f"registry not reachable: {host} ({why}); {_count(count)} not checked from here")
    if unchecked:
        print(f"{_count(unchecked)} not checked from here: whether they can be pulled is unknown")
    if blocking:
        print(f"{_count(blocking)} cannot be pulled: see the check column")
    return 1 if blocking else 0


if __name__ == "__main__":
    sys.exit(main())
