#!/usr/bin/python
"""Ansible module pins_resolve: can each pinned image and plugin be pulled from this host?"""

from __future__ import annotations

from typing import Any

DOCUMENTATION = r"""
module: pins_resolve
author: Bloomberg Dashboard contributors
short_description: Resolve pinned image references and Grafana plugin versions in their registries
description:
  - Runs on the host that will pull, with its network and proxies, and needs no Docker.
  - Images go through the registry HTTP API v2 (anonymous Bearer token, then a HEAD of the
    manifest); plugins through grafana.com's version URL, or the plugin's mirror URL.
  - Only reads. Returns a status per pin (ok, missing, denied, invalid, unknown); the role's
    tasks decide what stops the play. Warns for each pin it could not check.
options:
  pins:
    description:
      - The pins, as the pins_wanted lookup gives them. Each needs kind (image or plugin) and
        ref; plugins also id, version and an optional url. Other keys are passed through.
    type: list
    elements: dict
    required: true
  grafana_api_url:
    description: grafana.com's plugin API (C(<url>/<id>/versions/<version>)).
    type: str
    default: https://grafana.com/api/plugins
  timeout:
    description: Seconds each HTTP request may take.
    type: float
    default: 10
  retries:
    description: Repeats of a request that got no answer or a 5xx.
    type: int
    default: 1
  insecure_registries:
    description: Registries reached over plain HTTP or without certificate checks (loopback always).
    type: list
    elements: str
    default: []
  http_proxy:
    description: Proxy for http URLs. Empty, with https_proxy empty too, uses the environment's.
    type: str
    default: ""
  https_proxy:
    description: Proxy for https URLs.
    type: str
    default: ""
  no_proxy:
    description: Hosts reached without a proxy (comma-separated names, .suffixes, CIDR ranges).
    type: str
    default: ""
attributes:
  check_mode:
    support: full
"""

EXAMPLES = r"""
- name: Check two pins
  pins_resolve:
    pins:
      - {kind: image, name: prometheus_image, ref: "prom/prometheus:v3.5.5"}
      - {kind: plugin, name: "grafana_plugins[0]", ref: "marcusolsson-treemap-panel@2.1.1",
         id: marcusolsson-treemap-panel, version: "2.1.1"}
  register: resolved
"""

RETURN = r"""
pins:
  description: Every pin given, with status, detail, digest (images) and summary added.
  returned: always
  type: list
  elements: dict
blocking:
  description: The pins that cannot be pulled (status missing, denied or invalid).
  returned: always
  type: list
  elements: dict
unknown:
  description: The pins that could not be checked (no answer, 5xx, 429).
  returned: always
  type: list
  elements: dict
"""

from ansible.module_utils.basic import AnsibleModule  # noqa: E402 - after the documentation
from ansible.module_utils.pins_registry import (  # noqa: E402
    BLOCKING,
    UNKNOWN,
    Http,
    Resolver,
)


def summary(pin: dict[str, Any]) -> str:
    """One line naming the pin, where it is set and what the registry said."""
    where = pin.get("file") or "?"
    if pin.get("line"):
        where += f":{pin['line']}"
    where = f"set in the inventory; role default at {where}" if pin.get("overridden") else where
    return f"{pin.get('name', '?')} = {pin.get('ref', '?')} ({where}): {pin['detail']}"


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "pins": {"type": "list", "elements": "dict", "required": True},
            "grafana_api_url": {"type": "str", "default": "https://grafana.com/api/plugins"},
            "timeout": {"type": "float", "default": 10},
            "retries": {"type": "int", "default": 1},
            "insecure_registries": {"type": "list", "elements": "str", "default": []},
            "http_proxy": {"type": "str", "default": ""},
            "https_proxy": {"type": "str", "default": ""},
            "no_proxy": {"type": "str", "default": ""},
        },
        supports_check_mode=True,
    )
    params = module.params
    proxies = {k: params[f"{k}_proxy"] for k in ("http", "https") if params[f"{k}_proxy"]}
    resolver = Resolver(
        Http(timeout=params["timeout"], proxies=proxies or None, no_proxy=params["no_proxy"]),
        insecure_registries=params["insecure_registries"],
        retries=params["retries"],
    )
    checked = []
    for pin in params["pins"]:
        if pin.get("kind") == "plugin":
            result = resolver.check_plugin(
                str(pin.get("id", "")),
                str(pin.get("version", "")),
                str(pin.get("url") or ""),
                params["grafana_api_url"],
            )
        else:
            result = resolver.check_image(str(pin.get("ref", "")))
        done = {**pin, "status": result.status, "detail": result.detail, "digest": result.digest}
        done["summary"] = summary(done)
        checked.append(done)
    blocking = [p for p in checked if p["status"] in BLOCKING]
    unknown = [p for p in checked if p["status"] == UNKNOWN]
    for pin in unknown:
        module.warn(f"could not check the pin {pin['summary']}")
    module.exit_json(
        changed=False,
        pins=checked,
        blocking=blocking,
        unknown=unknown,
        msg=f"{len(checked)} pins: {len(blocking)} cannot be pulled, {len(unknown)} not checked",
    )


if __name__ == "__main__":
    main()
