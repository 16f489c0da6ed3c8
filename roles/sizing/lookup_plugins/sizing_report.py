"""Lookup `sizing_report`: does this host fit the stack at its sizing profile?

The containers are not listed by hand: any role whose defaults hold
`<role>_cpus` beside `<role>_memory` runs one. Their values are what this host
will use: the role defaults (which pick the profile's row of
`<role>_profiles`), overridden by whatever the inventory, extra vars or play
set, templated by Ansible itself. A role with `<role>_enabled: false` runs no
container and counts for nothing.

The rules are plain functions (`declared_limits`, `memory_mb`, `free_gb`,
`problems`), unit-tested in tests/static/test_sizing.py.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ansible.errors import AnsibleLookupError
from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.lookup import LookupBase
from ansible.template import trust_as_template

DOCUMENTATION = r"""
name: sizing_report
author: Bloomberg Dashboard contributors
short_description: The containers' limits with this host's values, and what the host lacks
description:
  - Reads C(defaults/main.yml) of every role in the given roles folder, finds the roles that run a
    container (C(<role>_cpus) beside C(<role>_memory)), templates their limits with the host's
    variables over the role defaults, and compares them with the host's CPUs, memory and free disk.
options:
  _terms:
    description: The roles folder (one path).
    required: true
  profile:
    description: The sizing profile's name, for the messages.
    type: str
    required: true
  needs:
    description: What the profile asks of the host besides memory, C({vcpus, free_disk_gb}).
    type: dict
    required: true
  vcpus:
    description: The host's vCPUs (ansible_processor_vcpus).
    type: int
    required: true
  memtotal_mb:
    description: The host's memory in MB (ansible_memtotal_mb).
    type: int
    required: true
  reserve_mb:
    description: Memory kept for the host itself, in MB.
    type: int
    required: true
  mounts:
    description: The host's mounts (ansible_mounts).
    type: list
    required: true
  data_path:
    description: The folder whose file system must have the free disk.
    type: str
    required: true
  roles:
    description:
      - The roles whose containers run on this host (a stack spread over several hosts runs
        only its layers' on each). Empty, every role found counts.
    type: list
    elements: str
    default: []
"""

RETURN = r"""
_raw:
  description: One dict, with the profile, containers (role, cpus, memory, memory_mb),
    memory_mb (their sum), the host's vcpus, memtotal_mb, free_gb and mount, and problems
    (one sentence each; empty when the host fits).
  type: list
  elements: dict
"""

_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3}
_DOCKER_SIZE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([bkmg]?)\s*$", re.IGNORECASE)


def memory_mb(size: Any) -> float:
    """A Docker memory size (`512m`, `3g`, bytes without a unit) in MB (MiB)."""
    match = _DOCKER_SIZE.match(str(size))
    if not match:
        raise ValueError(f"not a Docker memory size: {size!r} (e.g. 512m or 3g)")
    return float(match.group(1)) * _UNITS[match.group(2).lower()] / 1024**2


def declared_limits(role_defaults: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """The roles that run a container with limits, by the naming rule above, sorted."""
    return sorted(
        role
        for role, defaults in role_defaults.items()
        if f"{role}_cpus" in defaults and f"{role}_memory" in defaults
    )


def free_gb(mounts: Sequence[Mapping[str, Any]], path: str) -> tuple[str, float | None]:
    """The mount holding `path` (longest mount point above it) and its free GB."""
    best: Mapping[str, Any] | None = None
    for mount in mounts:
        point = str(mount.get("mount", ""))
        above = path == point or path.startswith(point.rstrip("/") + "/")
        if above and (best is None or len(point) > len(str(best["mount"]))):
            best = mount
    if best is None or best.get("size_available") is None:
        return "", None
    return str(best["mount"]), float(best["size_available"]) / 1000**3


def problems(
    profile: str,
    needs: Mapping[str, Any],
    containers: Sequence[Mapping[str, Any]],
    host: Mapping[str, Any],
) -> list[str]:
    """What this host lacks, one sentence each. `host`: vcpus, memtotal_mb, reserve_mb,
    free_gb (None when unknown), mount, data_path."""
    found: list[str] = []
    vcpus = int(host["vcpus"])
    if vcpus < int(needs["vcpus"]):
        found.append(
            f"The {profile} profile asks for {needs['vcpus']} vCPUs; this host has {vcpus}."
        )
    for item in containers:
        if float(item["cpus"]) > vcpus:
            found.append(
                f"{item['role']}_cpus is {item['cpus']}, more than the host's {vcpus} CPUs:"
                " Docker would refuse to start the container."
            )
    used = sum(float(item["memory_mb"]) for item in containers)
    needed = used + float(host["reserve_mb"])
    if needed > float(host["memtotal_mb"]):
        largest = sorted(containers, key=lambda item: -float(item["memory_mb"]))[:3]
        named = ", ".join(f"{item['role']} {item['memory']}" for item in largest)
        found.append(
            f"The containers' memory limits add up to {used:.0f} MB (largest: {named}) and"
            f" the host keeps {float(host['reserve_mb']):.0f} MB for itself: {needed:.0f} MB,"
            f" but this host has {float(host['memtotal_mb']):.0f} MB."
        )
    free = host.get("free_gb")
    wanted = float(needs["free_disk_gb"])
    if free is not None and float(free) < wanted:
        found.append(
            f"Only {float(free):.1f} GB are free on {host['mount']} (which holds"
            f" {host['data_path']}); the {profile} profile keeps {wanted:.0f} GB free for the"
            " data to grow into."
        )
    return found


def report(
    roles: Sequence[str],
    value_of: Callable[[str], Any],
    enabled: Mapping[str, bool],
    profile: str,
    needs: Mapping[str, Any],
    host: Mapping[str, Any],
) -> dict[str, Any]:
    """The containers of the enabled roles with their values, and the problems."""
    containers = []
    for role in roles:
        if not enabled[role]:
            continue
        memory = str(value_of(f"{role}_memory"))
        containers.append(
            {
                "role": role,
                "cpus": float(value_of(f"{role}_cpus")),
                "memory": memory,
                "memory_mb": round(memory_mb(memory), 1),
            }
        )
    return {
        "profile": profile,
        "containers": containers,
        "memory_mb": round(sum(item["memory_mb"] for item in containers), 1),
        "vcpus": host["vcpus"],
        "memtotal_mb": host["memtotal_mb"],
        "free_gb": host.get("free_gb"),
        "mount": host.get("mount", ""),
        "problems": problems(profile, needs, containers, host),
    }


class LookupModule(LookupBase):
    def run(
        self, terms: list[Any], variables: dict[str, Any] | None = None, **kwargs: Any
    ) -> list[dict[str, Any]]:
        if len(terms) != 1:
            raise AnsibleLookupError("sizing_report takes one term: the roles folder")
        self.set_options(var_options=variables, direct=kwargs)
        roles_dir = Path(str(terms[0])).resolve()
        role_defaults: dict[str, dict[str, Any]] = {}
        for path in sorted(roles_dir.glob("*/defaults/main.yml")):
            data = self._loader.load_from_file(str(path), cache="none", trusted_as_template=True)
            role_defaults[path.parent.parent.name] = dict(data or {})
        merged: dict[str, Any] = {}
        for defaults in role_defaults.values():
            merged.update(defaults)
        merged.update(variables or {})
        templar = self._templar.copy_with_new_env(available_variables=merged)

        def value_of(name: str) -> Any:
            return templar.template(trust_as_template("{{ " + name + " }}"))

        roles = declared_limits(role_defaults)
        on_this_host = self.get_option("roles") or []
        if on_this_host:
            roles = [role for role in roles if role in on_this_host]
        enabled = {
            role: f"{role}_enabled" not in merged
            or boolean(value_of(f"{role}_enabled"), strict=False)
            for role in roles
        }
        data_path = str(self.get_option("data_path"))
        mount, free = free_gb(self.get_option("mounts") or [], data_path)
        host = {
            "vcpus": self.get_option("vcpus"),
            "memtotal_mb": self.get_option("memtotal_mb"),
            "reserve_mb": self.get_option("reserve_mb"),
            "free_gb": free,
            "mount": mount,
            "data_path": data_path,
        }
        try:
            result = report(
                roles,
                value_of,
                enabled,
                str(self.get_option("profile")),
                self.get_option("needs"),
                host,
            )
        except ValueError as error:
            raise AnsibleLookupError(f"sizing_report: {error}") from error
        return [result]
