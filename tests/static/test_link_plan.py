"""bbdash.stack.link_plan and link_scrape_targets: the TLS fronts of a stack on several hosts.

The plan decides which service crosses from one host to another: a missing
forward breaks a caller, a missing serve leaves a forward with no one to answer,
a serve nobody reaches is a port open for nothing. The filter is imported as a
module (like the other collection filters' tests) and roles/link's nginx
template is rendered with jinja2 from the plans, with the role's private vars.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from typing import Any

import jinja2
import pytest
import yaml
from ansible.errors import AnsibleFilterError

REPO = Path(__file__).resolve().parents[2]
PLUGIN = REPO / "collections/ansible_collections/bbdash/stack/plugins/filter/link_plan.py"
ROLE = REPO / "roles" / "link"
_spec = importlib.util.spec_from_file_location("link_plan", PLUGIN)
assert _spec and _spec.loader
module = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(module)
link_plan = module.link_plan
link_scrape_targets = module.link_scrape_targets
host_label = module.host_label

# One layer per host. The host names are not DNS labels, so that the labels show.
THREE_LAYERS = {"db.lan": ["data"], "feeds.lan": ["collection"], "dash.lan": ["presentation"]}
THREE_ADDRESSES = {"db.lan": "10.0.0.2", "feeds.lan": "10.0.0.3", "dash.lan": "10.0.0.4"}
DATA, COLLECTION, PRESENTATION = "db.lan", "feeds.lan", "dash.lan"

# Every way of putting the three layers on two or three hosts (one with IPv6).
LAYOUTS: dict[str, tuple[dict[str, list[str]], dict[str, str]]] = {
    "one layer each": (THREE_LAYERS, THREE_ADDRESSES),
    "data+collection, presentation": (
        {"core": ["data", "collection"], "dash": ["presentation"]},
        {"core": "10.0.0.2", "dash": "10.0.0.3"},
    ),
    "data+presentation, collection": (
        {"core": ["presentation", "data"], "feeds": ["collection"]},
        {"core": "10.0.0.2", "feeds": "10.0.0.3"},
    ),
    "presentation+collection, data": (
        {"front": ["presentation", "collection"], "db": ["data"]},
        {"front": "10.0.0.2", "db": "10.0.0.3"},
    ),
    "one layer each, IPv6": (
        THREE_LAYERS,
        {"db.lan": "fd00::2", "feeds.lan": "fd00::3", "dash.lan": "10.0.0.4"},
    ),
}


def plans(layers: dict[str, list[str]], addresses: dict[str, str]) -> dict[str, dict[str, Any]]:
    return {host: link_plan(host, layers, addresses) for host in layers}


def by_name(entries: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    names = [entry["name"] for entry in entries]
    assert len(names) == len(set(names)), f"a service twice: {names}"
    return {entry["name"]: entry for entry in entries}


def forward(
    name: str, container: str, port: int, address: str, remote_label: str
) -> dict[str, Any]:
    return {
        "name": name,
        "alias": container,
        "listen": port,
        "address": address,
        "port": 7443,
        "sni": f"{name}.{remote_label}.bbdash",
    }


def test_three_hosts_one_layer_each() -> None:
    """With one layer per host, each front forwards exactly the remote services its
    layer calls (under the container's name and the service's own port, to the
    holder's address and port 7443), serves the local services called or scraped
    from elsewhere as <service>.<hostlabel>.bbdash, and only the data host (Prometheus)
    scrapes: every job of every remote host, each on its own local port."""
    plan = plans(THREE_LAYERS, THREE_ADDRESSES)
    collection, presentation, data = plan[COLLECTION], plan[PRESENTATION], plan[DATA]

    assert (collection["label"], presentation["label"], data["label"]) == (
        "feeds-lan",
        "dash-lan",
        "db-lan",
    )

    # Collection: the data services and Grafana are remote.
    assert by_name(collection["forwards"]) == {
        "influxdb": forward("influxdb", "bloomberg-influxdb", 8086, "10.0.0.2", "db-lan"),
        "postgres": forward("postgres", "bloomberg-postgres", 5432, "10.0.0.2", "db-lan"),
        "alertmanager": forward(
            "alertmanager", "bloomberg-alertmanager", 9093, "10.0.0.2", "db-lan"
        ),
        "grafana": forward("grafana", "bloomberg-grafana", 3000, "10.0.0.4", "dash-lan"),
    }
    assert collection["aliases"] == [
        "bloomberg-alertmanager",
        "bloomberg-grafana",
        "bloomberg-influxdb",
        "bloomberg-postgres",
    ]
    assert by_name(collection["serves"]) == {
        "watchlist-api": {
            "name": "watchlist-api",
            "sni": "watchlist-api.feeds-lan.bbdash",
            "upstream": "bloomberg-watchlist-api:8000",
        },
        "market-feeder": {
            "name": "market-feeder",
            "sni": "market-feeder.feeds-lan.bbdash",
            "upstream": "bloomberg-market-feeder:9108",
        },
        "news-feeder": {
            "name": "news-feeder",
            "sni": "news-feeder.feeds-lan.bbdash",
            "upstream": "bloomberg-news-feeder:9109",
        },
        "node-exporter": {
            "name": "node-exporter",
            "sni": "node-exporter.feeds-lan.bbdash",
            "upstream": "bloomberg-node-exporter:9100",
        },
        "cadvisor": {
            "name": "cadvisor",
            "sni": "cadvisor.feeds-lan.bbdash",
            "upstream": "bloomberg-cadvisor:8081",
        },
    }
    assert collection["scrapes"] == []

    # Presentation: the API on the collection host, the data services on the data host.
    assert by_name(presentation["forwards"]) == {
        "influxdb": forward("influxdb", "bloomberg-influxdb", 8086, "10.0.0.2", "db-lan"),
        "postgres": forward("postgres", "bloomberg-postgres", 5432, "10.0.0.2", "db-lan"),
        "prometheus": forward("prometheus", "bloomberg-prometheus", 9090, "10.0.0.2", "db-lan"),
        "alertmanager": forward(
            "alertmanager", "bloomberg-alertmanager", 9093, "10.0.0.2", "db-lan"
        ),
        "watchlist-api": forward(
            "watchlist-api", "bloomberg-watchlist-api", 8000, "10.0.0.3", "feeds-lan"
        ),
    }
    assert {name: s["sni"] for name, s in by_name(presentation["serves"]).items()} == {
        "grafana": "grafana.dash-lan.bbdash",
        "node-exporter": "node-exporter.dash-lan.bbdash",
        "cadvisor": "cadvisor.dash-lan.bbdash",
    }
    assert presentation["scrapes"] == []

    # Data: calls nobody, serves its services, scrapes everyone else.
    assert data["forwards"] == []
    assert data["aliases"] == []
    assert {name: (s["sni"], s["upstream"]) for name, s in by_name(data["serves"]).items()} == {
        "influxdb": ("influxdb.db-lan.bbdash", "bloomberg-influxdb:8086"),
        "postgres": ("postgres.db-lan.bbdash", "bloomberg-postgres:5432"),
        "prometheus": ("prometheus.db-lan.bbdash", "bloomberg-prometheus:9090"),
        "alertmanager": ("alertmanager.db-lan.bbdash", "bloomberg-alertmanager:9093"),
    }
    scraped = {(s["job"], s["host"]): s for s in data["scrapes"]}
    assert len(scraped) == len(data["scrapes"]), "a job scraped twice on one host"
    assert set(scraped) == {
        ("watchlist-api", COLLECTION),
        ("market-feeder", COLLECTION),
        ("news-feeder", COLLECTION),
        ("node-exporter", COLLECTION),
        ("cadvisor", COLLECTION),
        ("grafana", PRESENTATION),
        ("node-exporter", PRESENTATION),
        ("cadvisor", PRESENTATION),
    }
    for (job, host), scrape in scraped.items():
        assert scrape["address"] == THREE_ADDRESSES[host]
        assert scrape["port"] == 7443
        assert scrape["sni"] == f"{scrape['name']}.{host_label(host)}.bbdash"
        assert scrape["name"] == job
    listens = [s["listen"] for s in data["scrapes"]]
    assert len(set(listens)) == len(listens), f"two scrapes on one port: {listens}"
    assert all(listen >= 17000 for listen in listens)


@pytest.mark.parametrize(("layers", "addresses"), LAYOUTS.values(), ids=LAYOUTS.keys())
def test_fronts_agree(layers: dict[str, list[str]], addresses: dict[str, str]) -> None:
    """The core invariant, for every layout: each forward and scrape goes to a host
    whose front serves its server name, and that name leads to the container and port
    the caller asked for; conversely, every service a front serves is reached by some
    other host (no port opened for nothing)."""
    plan = plans(layers, addresses)
    host_at = {address: host for host, address in addresses.items()}
    reached: set[str] = set()
    for host, mine in plan.items():
        for entry in mine["forwards"] + mine["scrapes"]:
            target = host_at[entry["address"]]
            assert target != host, f"{host} forwards {entry['name']} to itself"
            serves = {s["sni"]: s["upstream"] for s in plan[target]["serves"]}
            assert entry["sni"] in serves, f"{host} -> {target}: {entry['sni']} not served"
            service = module.SERVICES[entry["name"]]
            assert serves[entry["sni"]] == f"{service['container']}:{service['port']}"
            if "alias" in entry:
                assert f"{entry['alias']}:{entry['listen']}" == serves[entry["sni"]]
            reached.add(entry["sni"])
    served = {s["sni"] for mine in plan.values() for s in mine["serves"]}
    assert served == reached, f"served but never reached: {sorted(served - reached)}"


def test_two_hosts_data_and_collection_together() -> None:
    """Data and collection on one host, presentation on the other: nothing forwards
    between services of the same host; the data+collection host serves InfluxDB,
    Postgres, Prometheus, Alertmanager and the API because the presentation host calls
    them, but not its feeders' or exporters' metrics (Prometheus is local there)."""
    layers = {"core": ["data", "collection"], "dash": ["presentation"]}
    addresses = {"core": "10.0.0.2", "dash": "10.0.0.3"}
    core, dash = link_plan("core", layers, addresses), link_plan("dash", layers, addresses)

    for plan in (core, dash):
        local = set(plan["local"])
        assert not local & set(by_name(plan["forwards"])), "a local service is forwarded"

    assert list(by_name(core["forwards"])) == ["grafana"]
    assert core["forwards"][0]["address"] == "10.0.0.3"
    assert set(by_name(core["serves"])) == {
        "influxdb",
        "postgres",
        "prometheus",
        "alertmanager",
        "watchlist-api",
    }
    assert {(s["job"], s["host"]) for s in core["scrapes"]} == {
        ("grafana", "dash"),
        ("node-exporter", "dash"),
        ("cadvisor", "dash"),
    }

    assert {name: (f["address"], f["sni"]) for name, f in by_name(dash["forwards"]).items()} == {
        "influxdb": ("10.0.0.2", "influxdb.core.bbdash"),
        "postgres": ("10.0.0.2", "postgres.core.bbdash"),
        "prometheus": ("10.0.0.2", "prometheus.core.bbdash"),
        "alertmanager": ("10.0.0.2", "alertmanager.core.bbdash"),
        "watchlist-api": ("10.0.0.2", "watchlist-api.core.bbdash"),
    }
    assert dash["scrapes"] == []


def test_influxdb_is_served_only_because_presentation_calls_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The serve of InfluxDB on the data+collection host comes from the presentation
    layer being among its callers (Grafana): were it not, the host would neither serve
    it nor would the presentation host forward it."""
    layers = {"core": ["data", "collection"], "dash": ["presentation"]}
    addresses = {"core": "10.0.0.2", "dash": "10.0.0.3"}
    influxdb = module.SERVICES["influxdb"]
    monkeypatch.setitem(module.SERVICES, "influxdb", {**influxdb, "callers": ["collection"]})
    assert "influxdb" not in by_name(link_plan("core", layers, addresses)["serves"])
    assert "influxdb" not in by_name(link_plan("dash", layers, addresses)["forwards"])


@pytest.mark.parametrize(
    ("host", "layers", "addresses", "message"),
    [
        pytest.param(
            "a",
            {"a": ["data", "collection"]},
            {"a": "10.0.0.2"},
            r"the presentation layer needs one host, found \[\]",
            id="layer without host",
        ),
        pytest.param(
            "a",
            {"a": ["data", "collection"], "b": ["data", "presentation"]},
            {"a": "10.0.0.2", "b": "10.0.0.3"},
            r"the data layer needs one host, found \['a', 'b'\]",
            id="layer on two hosts",
        ),
        pytest.param(
            "a",
            {"a": ["data", "collection"], "b": ["presentation"]},
            {"a": "10.0.0.2"},
            r"no address for b",
            id="host without address",
        ),
        pytest.param(
            "a",
            {"a": ["data", "collection"], "b": ["presentation"]},
            {"a": "10.0.0.2", "b": ""},
            r"no address for b",
            id="host with an empty address",
        ),
        pytest.param(
            "a",
            {"a": ["data", "collection", "storage"], "b": ["presentation"]},
            {"a": "10.0.0.2", "b": "10.0.0.3"},
            r"a holds unknown layers \['storage'\]",
            id="unknown layer",
        ),
        pytest.param(
            "c",
            {"a": ["data", "collection"], "b": ["presentation"]},
            {"a": "10.0.0.2", "b": "10.0.0.3"},
            r"c is not among the stack's hosts \['a', 'b'\]",
            id="host not in the stack",
        ),
    ],
)
def test_refused_layouts(
    host: str, layers: dict[str, list[str]], addresses: dict[str, str], message: str
) -> None:
    """A layout the fronts cannot serve is refused with an AnsibleFilterError that names
    the problem (the layer, the host, the unknown layer), never a half plan."""
    with pytest.raises(AnsibleFilterError, match=message):
        link_plan(host, layers, addresses)


def test_host_label() -> None:
    """A host name becomes one lower-case DNS label (symbols become hyphens, none at
    the ends, 63 characters at most); a name with nothing to keep is refused, also
    when it reaches link_plan."""
    assert host_label("Data_Host.example") == "data-host-example"
    assert host_label("--db1--") == "db1"
    assert len(host_label("a" * 80)) == 63
    with pytest.raises(
        AnsibleFilterError, match=r"no DNS label can be made of the host name '_\.\*'"
    ):
        host_label("_.*")
    with pytest.raises(AnsibleFilterError, match="no DNS label"):
        link_plan("***", {"***": ["data", "collection", "presentation"]}, {"***": "10.0.0.2"})
    layers = {"Data_Host.example": ["data", "collection"], "dash": ["presentation"]}
    addresses = {"Data_Host.example": "10.0.0.2", "dash": "10.0.0.3"}
    dash = link_plan("dash", layers, addresses)
    assert by_name(dash["forwards"])["influxdb"]["sni"] == "influxdb.data-host-example.bbdash"


def test_long_host_label_does_not_end_with_a_hyphen() -> None:
    """A name cut to 63 characters is still a valid DNS label: it does not end with a
    hyphen (the certificates name <label>.bbdash and *.<label>.bbdash)."""
    label = host_label("a" * 62 + ".b")
    assert not label.endswith("-"), label
    assert label == "a" * 62


def test_two_names_with_the_same_label_are_refused() -> None:
    """db_1 and db.1 would get the same server names and certificate names: refused."""
    layers = {"db_1": ["data"], "db.1": ["collection"], "dash": ["presentation"]}
    addresses = {"db_1": "10.0.0.2", "db.1": "10.0.0.3", "dash": "10.0.0.4"}
    with pytest.raises(AnsibleFilterError, match="same DNS label"):
        link_plan("dash", layers, addresses)


def prometheus_targets() -> list[dict[str, Any]]:
    defaults = yaml.safe_load((REPO / "roles/prometheus/defaults/main.yml").read_text("utf-8"))
    return defaults["prometheus_scrape_targets"]


def test_scrape_targets_job_names_match_the_prometheus_role() -> None:
    """Every job of SERVICES is a job of the prometheus role's scrape targets: a job
    named differently would never get its remote instances."""
    jobs = {target["job"] for target in prometheus_targets()}
    wanted = {s["job"] for s in module.SERVICES.values() if s["job"] is not None}
    assert wanted <= jobs, f"jobs unknown to the prometheus role: {sorted(wanted - jobs)}"


@pytest.mark.parametrize("plan", [None, {}])
def test_scrape_targets_without_plan(plan: dict[str, Any] | None) -> None:
    """On one host (no plan), the targets come back as they are, as copies: no `local`
    or `remote` key, and the role's own list is not touched."""
    targets = prometheus_targets()
    out = link_scrape_targets(targets, plan)
    assert out == targets
    assert all(a is not b for a, b in zip(out, targets, strict=True))
    assert all("remote" not in item and "local" not in item for item in out)


def test_scrape_targets_with_the_data_hosts_plan() -> None:
    """On the data host of three, a job of a component that lives only on remote
    hosts loses its direct target and gets one instance per host through the local
    front (bloomberg-link:<listen>, labelled with the host); node-exporter keeps its
    local target and gets both remote ones; a job outside SERVICES (prometheus) or only
    local (influxdb) stays local with no remote instance."""
    plan = link_plan(DATA, THREE_LAYERS, THREE_ADDRESSES)
    listen = {(s["job"], s["host"]): s["listen"] for s in plan["scrapes"]}
    targets = prometheus_targets()
    before = [dict(target) for target in targets]
    out = {item["job"]: item for item in link_scrape_targets(targets, plan)}
    assert targets == before, "the input targets were changed"

    feeder = out["market-feeder"]
    assert feeder["local"] is False
    assert feeder["remote"] == [
        {"target": f"bloomberg-link:{listen['market-feeder', COLLECTION]}", "host": COLLECTION}
    ]
    assert feeder["target"] == "bloomberg-market-feeder:9108"
    assert feeder["container"] == "bloomberg-market-feeder"

    grafana = out["grafana"]
    assert grafana["local"] is False
    assert grafana["remote"] == [
        {"target": f"bloomberg-link:{listen['grafana', PRESENTATION]}", "host": PRESENTATION}
    ]
    assert "basic_auth_user" in grafana

    node = out["node-exporter"]
    assert node["local"] is True
    assert sorted(node["remote"], key=lambda r: r["host"]) == [
        {"target": f"bloomberg-link:{listen['node-exporter', PRESENTATION]}", "host": PRESENTATION},
        {"target": f"bloomberg-link:{listen['node-exporter', COLLECTION]}", "host": COLLECTION},
    ]

    for job in ("prometheus", "influxdb", "alertmanager"):
        assert out[job]["local"] is True, job
        assert out[job]["remote"] == [], job

    remote_targets = [r["target"] for item in out.values() for r in item["remote"]]
    assert len(remote_targets) == len(set(remote_targets)) == len(plan["scrapes"])


def role_vars() -> dict[str, Any]:
    return yaml.safe_load((ROLE / "vars" / "main.yml").read_text(encoding="utf-8"))


def render(plan: dict[str, Any], host: str) -> str:
    """roles/link/templates/nginx.conf.j2 as the template module renders it (trim_blocks),
    with every variable it uses given (StrictUndefined: a missing one fails)."""
    private = role_vars()
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(ROLE / "templates"),
        trim_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
        autoescape=False,
    )
    return env.get_template("nginx.conf.j2").render(
        ansible_managed="Ansible managed",
        inventory_hostname=host,
        link_user="nginx",
        link_port=7443,
        _link_health_port=private["_link_health_port"],
        _link_resolver=private["_link_resolver"],
        _link_container_dir=private["_link_container_dir"],
        _link_plan=plan,
    )


def servers(config: str) -> list[str]:
    """The bodies of the config's server blocks (none has a nested block)."""
    return re.findall(r"^\s*server \{\n(.*?)^\s*\}$", config, flags=re.MULTILINE | re.DOTALL)


def server_listening(config: str, listen: str) -> str:
    found = [body for body in servers(config) if re.search(rf"^\s*listen {listen};$", body, re.M)]
    assert len(found) == 1, f"{len(found)} server blocks listen on {listen}"
    return found[0]


@pytest.mark.parametrize("host", [COLLECTION, PRESENTATION, DATA])
def test_nginx_conf_of_each_host(host: str) -> None:
    """The rendered front: the inbound server on 7443 requires a client certificate
    from the stack's CA and maps each served name to its container; there is one plain
    `listen <port>;` server per forward and scrape, and each goes on over TLS with its
    client certificate, the peer's certificate verified, under the peer's server name."""
    plan = link_plan(host, THREE_LAYERS, THREE_ADDRESSES)
    config = render(plan, host)
    tls = role_vars()["_link_container_dir"] + "/tls"
    assert config.count("{") == config.count("}")

    inbound = server_listening(config, "7443 ssl")
    assert re.search(r"^\s*ssl_verify_client on;$", inbound, re.M)
    assert f"ssl_client_certificate {tls}/ca.crt;" in inbound
    assert "proxy_pass $link_upstream;" in inbound
    for serve in plan["serves"]:
        assert re.search(
            rf"^\s*{re.escape(serve['sni'])} {re.escape(serve['upstream'])};$", config, re.M
        )

    outbound = plan["forwards"] + plan["scrapes"]
    listens = re.findall(r"^\s*listen (\d+);$", config, flags=re.MULTILINE)
    assert sorted(map(int, listens)) == sorted(entry["listen"] for entry in outbound)
    for entry in outbound:
        body = server_listening(config, str(entry["listen"]))
        assert f"proxy_pass {entry['address']}:7443;" in body
        assert "proxy_ssl on;" in body
        assert "proxy_ssl_verify on;" in body
        assert f"proxy_ssl_certificate {tls}/host.crt;" in body
        assert f"proxy_ssl_certificate_key {tls}/host.key;" in body
        assert f"proxy_ssl_trusted_certificate {tls}/ca.crt;" in body
        assert f"proxy_ssl_name {entry['sni']};" in body
        assert "proxy_ssl_server_name on;" in body


def test_nginx_conf_brackets_ipv6_addresses() -> None:
    """An IPv6 peer address is written [address]:port in proxy_pass (bare, nginx would
    read its last group as the port); an IPv4 one is not bracketed."""
    addresses = {"db.lan": "fd00::2", "feeds.lan": "10.0.0.3", "dash.lan": "10.0.0.4"}
    config = render(link_plan(COLLECTION, THREE_LAYERS, addresses), COLLECTION)
    assert re.findall(r"proxy_pass (\S+);", config) == [
        "$link_upstream",
        "[fd00::2]:7443",
        "[fd00::2]:7443",
        "[fd00::2]:7443",
        "10.0.0.4:7443",
    ]
