"""Filters bbdash.stack.link_plan and bbdash.stack.link_scrape_targets: the TLS fronts of a
stack spread over several hosts (roles/link, docs/links.md)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from ansible.errors import AnsibleFilterError

DOCUMENTATION = r"""
name: link_plan
author: Bloomberg Dashboard contributors
short_description: What one host's TLS front serves, forwards and scrapes
description:
  - The stack's services, where each lives (its layer) and which layers call it, are the
    table C(SERVICES) of this file. From the layers each host holds and the hosts' addresses,
    the plan says, for the host I(_input)
  - "C(serves): the local services another host calls or Prometheus scrapes, each
    C({sni, upstream}), the TLS server name C(<service>.<host>.bbdash) and the container."
  - "C(forwards): the remote services this host's layers call, each C({name, alias, listen,
    address, sni}). The front listens on the service's own port under the container's name
    (a network alias), so that the callers need no change."
  - "C(scrapes): on the host that holds the data layer (Prometheus), one local port per
    remote host and scraped service, each C({job, host, listen, address, sni})."
  - "C(local): the services that live on this host; C(aliases): the names the front answers
    to."
positional: layers, addresses
options:
  _input:
    description: The host the plan is for (inventory_hostname).
    type: str
    required: true
  layers:
    description: Every stack host's layers, C({host, [presentation|data|collection]}).
    type: dict
    required: true
  addresses:
    description: Every stack host's address on the network between them, C({host, address}).
    type: dict
    required: true
  port:
    description: The port every front listens on for the other hosts.
    type: int
    default: 7443
  scrape_base:
    description: First local port of the scrape forwards (one per remote host and service).
    type: int
    default: 17000
"""

EXAMPLES = r"""
plan: "{{ inventory_hostname | bbdash.stack.link_plan(layers_by_host, addresses_by_host) }}"
targets: "{{ prometheus_targets | bbdash.stack.link_scrape_targets(plan) }}"
"""

RETURN = r"""
_value:
  description: C({label, local, serves, forwards, scrapes, aliases}).
  type: dict
"""

LAYERS = ("presentation", "data", "collection")
# name: container, port, layer ("every": on each host), layers that call it, Prometheus job.
SERVICES: dict[str, dict[str, Any]] = {
    "influxdb": {
        "container": "bloomberg-influxdb",
        "port": 8086,
        "layer": "data",
        "callers": ["collection", "presentation"],
        "job": "influxdb",
    },
    "postgres": {
        "container": "bloomberg-postgres",
        "port": 5432,
        "layer": "data",
        "callers": ["collection", "presentation"],
        "job": None,
    },
    "prometheus": {
        "container": "bloomberg-prometheus",
        "port": 9090,
        "layer": "data",
        "callers": ["presentation"],
        "job": None,
    },
    "alertmanager": {
        "container": "bloomberg-alertmanager",
        "port": 9093,
        "layer": "data",
        "callers": ["collection", "presentation"],
        "job": "alertmanager",
    },
    "grafana": {
        "container": "bloomberg-grafana",
        "port": 3000,
        "layer": "presentation",
        "callers": ["collection"],
        "job": "grafana",
    },
    "watchlist-api": {
        "container": "bloomberg-watchlist-api",
        "port": 8000,
        "layer": "collection",
        "callers": ["presentation"],
        "job": "watchlist-api",
    },
    "market-feeder": {
        "container": "bloomberg-market-feeder",
        "port": 9108,
        "layer": "collection",
        "callers": [],
        "job": "market-feeder",
    },
    "news-feeder": {
        "container": "bloomberg-news-feeder",
        "port": 9109,
        "layer": "collection",
        "callers": [],
        "job": "news-feeder",
    },
    "node-exporter": {
        "container": "bloomberg-node-exporter",
        "port": 9100,
        "layer": "every",
        "callers": [],
        "job": "node-exporter",
    },
    "cadvisor": {
        "container": "bloomberg-cadvisor",
        "port": 8081,
        "layer": "every",
        "callers": [],
        "job": "cadvisor",
    },
}
# Room for this many scraped services per remote host in the scrape ports.
SCRAPE_STRIDE = 20


def host_label(host: str) -> str:
    """The host's name as one DNS label (the certificates' and server names' part)."""
    label = re.sub(r"[^a-z0-9-]+", "-", host.lower()).strip("-")[:63].rstrip("-")
    if not label:
        raise AnsibleFilterError(f"link_plan: no DNS label can be made of the host name {host!r}")
    return label


def _lives_on(service: dict[str, Any], host_layers: Sequence[str]) -> bool:
    return service["layer"] == "every" or service["layer"] in host_layers


def _check(host: str, layers: Mapping[str, Sequence[str]], addresses: Mapping[str, str]) -> None:
    if host not in layers:
        raise AnsibleFilterError(
            f"link_plan: {host} is not among the stack's hosts {sorted(layers)}"
        )
    for name, held in layers.items():
        unknown = set(held) - set(LAYERS)
        if unknown:
            raise AnsibleFilterError(f"link_plan: {name} holds unknown layers {sorted(unknown)}")
        if not addresses.get(name):
            raise AnsibleFilterError(
                f"link_plan: no address for {name} "
                "(bloomberg_stack_address, or its default IPv4 address)"
            )
    labels = [host_label(name) for name in layers]
    if len(set(labels)) != len(labels):
        raise AnsibleFilterError(
            f"link_plan: two host names make the same DNS label ({sorted(labels)}): rename one"
        )
    for layer in LAYERS:
        holders = [name for name, held in layers.items() if layer in held]
        if len(holders) != 1:
            raise AnsibleFilterError(
                f"link_plan: the {layer} layer needs one host, found {holders}"
            )


def link_plan(
    host: str,
    layers: Mapping[str, Sequence[str]],
    addresses: Mapping[str, str],
    port: int = 7443,
    scrape_base: int = 17000,
) -> dict[str, Any]:
    _check(host, layers, addresses)
    mine = layers[host]
    others = sorted(name for name in layers if name != host)
    holder = {
        layer: next(name for name, held in layers.items() if layer in held) for layer in LAYERS
    }
    prometheus_host = holder["data"]

    serves = []
    for name, service in SERVICES.items():
        if not _lives_on(service, mine):
            continue
        called = any(holder[layer] != host for layer in service["callers"])
        scraped = service["job"] is not None and prometheus_host != host
        if called or scraped:
            serves.append(
                {
                    "name": name,
                    "sni": f"{name}.{host_label(host)}.bbdash",
                    "upstream": f"{service['container']}:{service['port']}",
                }
            )

    forwards = []
    for name, service in SERVICES.items():
        if service["layer"] == "every" or _lives_on(service, mine):
            continue
        if not any(layer in mine for layer in service["callers"]):
            continue
        remote = holder[service["layer"]]
        forwards.append(
            {
                "name": name,
                "alias": service["container"],
                "listen": service["port"],
                "address": addresses[remote],
                "port": port,
                "sni": f"{name}.{host_label(remote)}.bbdash",
            }
        )

    scrapes = []
    if prometheus_host == host:
        jobs = [name for name, service in SERVICES.items() if service["job"] is not None]
        for index, remote in enumerate(others):
            for offset, name in enumerate(jobs):
                if _lives_on(SERVICES[name], layers[remote]):
                    scrapes.append(
                        {
                            "name": name,
                            "job": SERVICES[name]["job"],
                            "host": remote,
                            "listen": scrape_base + index * SCRAPE_STRIDE + offset,
                            "address": addresses[remote],
                            "port": port,
                            "sni": f"{name}.{host_label(remote)}.bbdash",
                        }
                    )

    return {
        "label": host_label(host),
        "local": [name for name, service in SERVICES.items() if _lives_on(service, mine)],
        "serves": serves,
        "forwards": forwards,
        "scrapes": scrapes,
        "aliases": sorted({forward["alias"] for forward in forwards}),
    }


def link_scrape_targets(
    targets: Sequence[Mapping[str, Any]],
    plan: Mapping[str, Any] | None,
    front: str = "bloomberg-link",
) -> list[dict[str, Any]]:
    """Prometheus's scrape targets on a stack of several hosts: a job whose component lives
    on no other host keeps its target; each remote host's instance is added through the
    local front, labelled with its host. A job whose component is only remote loses its
    direct target. Without a plan (one host), the targets are returned as they are."""
    if not plan:
        return [dict(target) for target in targets]
    local = set(plan.get("local", []))
    out = []
    for target in targets:
        item = dict(target)
        remote = [scrape for scrape in plan.get("scrapes", []) if scrape["job"] == item.get("job")]
        service = next((name for name, s in SERVICES.items() if s["job"] == item.get("job")), None)
        item["local"] = service is None or service in local
        item["remote"] = [
            {"target": f"{front}:{scrape['listen']}", "host": scrape["host"]} for scrape in remote
        ]
        out.append(item)
    return out


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"link_plan": link_plan, "link_scrape_targets": link_scrape_targets}
