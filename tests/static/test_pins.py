"""Pins checked before any change (roles/pins): every pinned image and plugin a
host pulls is resolved in its registry during preflight, from the host, and the
play stops with one message naming what cannot be pulled.

Two halves:

- unit tests of what needs no network: image references read with Docker's
  defaults, WWW-Authenticate challenges as Docker Hub and ghcr.io send them,
  the token request, version comparison, and the lookup's naming rules over the
  real role defaults;
- the module, the role's preflight (ansible-playbook on localhost) and
  `make pins`'s report against a REAL registry: Debian's `docker-registry`
  (the distribution registry 2.8) on 127.0.0.1 with token authentication, a test
  double of the token server, and images pushed through the registry API
  (tests/static/pins_local_registry.py). Nothing leaves 127.0.0.1: every pin the
  runs pull points at the local registry or the local plugin API double, which
  `_only_local` asserts before each run.
"""

from __future__ import annotations

import http.server
import importlib.util
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from pins_local_registry import (
    LocalRegistry,
    free_port,
    local_registry,
    plugin_api,
    registry_binary,
)
from role_runner import (
    JSON_CALLBACK,
    REPO,
    failed_tasks,
    host_results,
    localhost_play,
    run_playbook,
    run_role,
    task_results,
)

ROLE = REPO / "roles" / "pins"
KIT = yaml.safe_load((REPO / "inventories/local/group_vars/offline_kit.yml").read_text())


def _load(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


R = _load("pins_registry", ROLE / "module_utils" / "pins_registry.py")
W = _load("pins_wanted", ROLE / "lookup_plugins" / "pins_wanted.py")
REPORT = ROLE / "tools" / "pins_report.py"
DIGEST = "sha256:" + "ab" * 32

# Recorded challenges. Docker Hub's, from the distribution project's token
# spec (docs/spec/auth/token.md, shipped as /usr/share/doc/docker-registry/spec/
# auth/token.md.gz), the example a push to samalba/my-app gets; ghcr.io's, as
# ghcr.io sends it on an anonymous manifest or tags request (recorded in
# renovatebot/renovate, lib/modules/datasource/docker/index.spec.ts).
DOCKER_HUB_CHALLENGE = (
    'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
    'scope="repository:samalba/my-app:pull,push"'
)
GHCR_CHALLENGE = (
    'Bearer realm="https://ghcr.io/token",service="ghcr.io",scope="repository:user/image:pull"'
)


# --------------------------------------------------------------------------- references


@pytest.mark.parametrize(
    ("text", "registry", "repository", "tag", "digest", "host"),
    [
        ("nginx", "docker.io", "library/nginx", "latest", "", "registry-1.docker.io"),
        ("nginx:1.30.3-alpine", "docker.io", "library/nginx", "1.30.3-alpine", "", None),
        ("prom/prometheus:v3.5.5", "docker.io", "prom/prometheus", "v3.5.5", "", None),
        ("docker.io/grafana/grafana:12.4.3", "docker.io", "grafana/grafana", "12.4.3", "", None),
        (
            "index.docker.io/library/postgres:16.10",
            "docker.io",
            "library/postgres",
            "16.10",
            "",
            None,
        ),
        ("docker.io/postgres:16", "docker.io", "library/postgres", "16", "", None),
        ("ghcr.io/google/cadvisor:v0.60.5", "ghcr.io", "google/cadvisor", "v0.60.5", "", "ghcr.io"),
        ("localhost/app", "localhost", "app", "latest", "", "localhost"),
        ("localhost:5000/a/b:c", "localhost:5000", "a/b", "c", "", "localhost:5000"),
        ("127.0.0.1:5000/prom/prometheus:v1", "127.0.0.1:5000", "prom/prometheus", "v1", "", None),
        ("Registry/app:1", "Registry", "app", "1", "", "Registry"),
        ("[::1]:5000/app", "[::1]:5000", "app", "latest", "", None),
        (f"nginx@{DIGEST}", "docker.io", "library/nginx", "", DIGEST, None),
        (f"nginx:1.30@{DIGEST}", "docker.io", "library/nginx", "1.30", DIGEST, None),
        ("a.b/c/d/e:f_g.h-i", "a.b", "c/d/e", "f_g.h-i", "", None),
        ("my-org/my__app", "docker.io", "my-org/my__app", "latest", "", None),
    ],
)
def test_references_are_read_with_dockers_defaults(
    text: str, registry: str, repository: str, tag: str, digest: str, host: str | None
) -> None:
    ref = R.parse_reference(text)
    assert (ref.registry, ref.repository, ref.tag, ref.digest) == (
        registry,
        repository,
        tag,
        digest,
    )
    if host:
        assert ref.host == host
    # A digest is what is pulled when there is one.
    assert ref.reference == (digest or tag)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "UPPER:1",
        "nginx:bad tag",
        "nginx:-dash",
        "nginx:" + "x" * 129,
        "nginx@sha256:short",
        "a//b",
        "-x/y",
        "x_/y",
        "ghcr.io/",
        "bad_host:5000/app",
    ],
)
def test_references_docker_refuses_are_invalid(text: str) -> None:
    with pytest.raises(ValueError, match=r"invalid|empty"):
        R.parse_reference(text)


def test_an_invalid_pin_is_reported_not_raised() -> None:
    result = R.Resolver(R.Http(timeout=1)).check_image("nginx:bad tag")
    assert result.status == R.INVALID
    assert "invalid tag" in result.detail


# --------------------------------------------------------------------------- challenges


def test_docker_hubs_challenge() -> None:
    (challenge,) = R.parse_challenges(DOCKER_HUB_CHALLENGE)
    assert challenge.scheme == "bearer"
    assert challenge.params == {
        "realm": "https://auth.docker.io/token",
        "service": "registry.docker.io",
        "scope": "repository:samalba/my-app:pull,push",
    }
    assert R.token_url(challenge, "ignored/here") == (
        "https://auth.docker.io/token?service=registry.docker.io"
        "&scope=repository%3Asamalba%2Fmy-app%3Apull%2Cpush"
    )


def test_ghcrs_challenge() -> None:
    challenge = R.bearer_challenge(GHCR_CHALLENGE)
    assert challenge is not None
    assert challenge.params == {
        "realm": "https://ghcr.io/token",
        "service": "ghcr.io",
        "scope": "repository:user/image:pull",
    }
    assert R.token_url(challenge, "user/image") == (
        "https://ghcr.io/token?service=ghcr.io&scope=repository%3Auser%2Fimage%3Apull"
    )


def test_a_challenge_without_scope_asks_for_the_repositorys_pull_scope() -> None:
    """The challenge on GET /v2/ carries no scope (Docker Hub's realm and service only)."""
    challenge = R.bearer_challenge(
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io"'
    )
    assert challenge is not None
    assert R.token_url(challenge, "library/nginx") == (
        "https://auth.docker.io/token?service=registry.docker.io"
        "&scope=repository%3Alibrary%2Fnginx%3Apull"
    )


def test_several_scopes_become_several_parameters() -> None:
    challenge = R.bearer_challenge(
        'Bearer realm="https://r.example/token?x=1",scope="repository:a:pull repository:b:pull"'
    )
    assert challenge is not None
    assert R.token_url(challenge, "a") == (
        "https://r.example/token?x=1&scope=repository%3Aa%3Apull&scope=repository%3Ab%3Apull"
    )


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ('Basic realm="Registry Realm"', [("basic", {"realm": "Registry Realm"})]),
        ("bearer realm=https://x/token", [("bearer", {"realm": "https://x/token"})]),
        (
            'Bearer realm="https://x/token", Basic realm="fallback"',
            [("bearer", {"realm": "https://x/token"}), ("basic", {"realm": "fallback"})],
        ),
        ('Bearer realm="a\\"b",Service="s"', [("bearer", {"realm": 'a"b', "service": "s"})]),
        ("Negotiate, Basic realm=x", [("negotiate", {}), ("basic", {"realm": "x"})]),
        ("", []),
    ],
)
def test_challenge_parsing(header: str, expected: list[tuple[str, dict[str, str]]]) -> None:
    assert [(c.scheme, c.params) for c in R.parse_challenges(header)] == expected


def test_only_a_bearer_challenge_with_a_realm_starts_the_token_dance() -> None:
    assert R.bearer_challenge('Basic realm="Registry Realm"') is None
    assert R.bearer_challenge('Bearer service="x"') is None
    assert R.bearer_challenge("") is None


# --------------------------------------------------------------------------- helpers


@pytest.mark.parametrize(
    ("pinned", "tags", "newer"),
    [
        (
            "v3.5.5",
            ["v3.5.4", "v3.5.6", "v3.6.0", "v3.6.0-rc.0", "v4.0.0", "3.7.0", "latest", "v3.5"],
            {"patch": "v3.5.6", "major": "v3.6.0", "any": "v4.0.0"},
        ),
        (
            "16.10-bookworm",
            ["16.15-bookworm", "16.15", "17.2-bookworm", "16.15-alpine", "16-bookworm"],
            {"major": "16.15-bookworm", "any": "17.2-bookworm"},
        ),
        (
            "1.30.3-alpine",
            ["1.30.4-alpine", "1.31.4-alpine"],
            {"patch": "1.30.4-alpine", "major": "1.31.4-alpine", "any": "1.31.4-alpine"},
        ),
        ("v0.60.5", ["v0.60.5", "v0.60.4"], {}),
        ("latest", ["v1"], {}),
    ],
)
def test_newer_versions_of_the_same_shape(
    pinned: str, tags: list[str], newer: dict[str, str]
) -> None:
    assert R.newer_versions(pinned, tags) == newer


@pytest.mark.parametrize(
    ("netloc", "no_proxy", "bypassed"),
    [
        ("registry-1.docker.io", "", False),
        ("registry-1.docker.io", ".docker.io", True),
        ("registry-1.docker.io", "docker.io", True),
        ("ghcr.io:443", "ghcr.io", True),
        ("10.1.2.3:5000", "10.0.0.0/8", True),
        ("notdocker.io", "docker.io", False),
        ("anything", "*", True),
    ],
)
def test_no_proxy(netloc: str, no_proxy: str, bypassed: bool) -> None:
    assert R.no_proxy_matches(netloc, no_proxy) is bypassed


def test_loopback_registries_are_insecure_as_dockers_are() -> None:
    resolver = R.Resolver(insecure_registries=["registry.lan:5000"])
    assert resolver.is_insecure("127.0.0.1:5000")
    assert resolver.is_insecure("localhost:5000")
    assert resolver.is_insecure("[::1]:5000")
    assert resolver.is_insecure("registry.lan:5000")
    assert not resolver.is_insecure("registry-1.docker.io")


def test_requests_go_through_the_configured_proxy() -> None:
    """pins_proxies (daemon.json's http-proxy/https-proxy) is what the pulls use: a
    proxy double on 127.0.0.1 sees the registry request for a host that does not
    resolve. HTTPS goes through CONNECT (refused here), so this insecure registry
    is then tried over plain HTTP, through the proxy too."""
    seen: list[tuple[str, str]] = []

    class Proxy(http.server.BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_CONNECT(self) -> None:
            seen.append(("CONNECT", self.path))
            self.send_response(502)
            self.end_headers()

        def do_HEAD(self) -> None:
            seen.append(("HEAD", self.path))
            self.send_response(200)
            self.send_header("Docker-Content-Digest", DIGEST)
            self.send_header("Content-Type", "application/vnd.oci.image.index.v1+json")
            self.end_headers()

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Proxy)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        proxy = f"http://127.0.0.1:{server.server_address[1]}"
        resolver = R.Resolver(
            R.Http(timeout=5, proxies={"http": proxy, "https": proxy}),
            insecure_registries=["pins.invalid:5000"],
            retries=0,
        )
        result = resolver.check_image("pins.invalid:5000/prom/prometheus:v3.5.5")
    finally:
        server.shutdown()
        server.server_close()
    assert (result.status, result.digest) == (R.OK, DIGEST)
    assert seen == [
        ("CONNECT", "pins.invalid:5000"),
        ("HEAD", "http://pins.invalid:5000/v2/prom/prometheus/manifests/v3.5.5"),
    ]


# --------------------------------------------------------------------------- the lookup


def _defaults() -> dict[str, dict[str, Any]]:
    return {
        p.parent.parent.name: yaml.safe_load(p.read_text()) or {}
        for p in sorted((REPO / "roles").glob("*/defaults/main.yml"))
    }


def test_the_naming_rules_find_every_pinned_image_and_the_plugins() -> None:
    declared = {(d["kind"], d["name"]) for d in W.declared_pins(_defaults())}
    images = {
        name
        for defaults in _defaults().values()
        for name in defaults
        if name.endswith("_image") and f"{name}_pull" in defaults
    }
    assert {"prometheus_image", "cadvisor_image", "feeders_image_base_image"} <= images
    assert declared == {("image", n) for n in images} | {("plugin", "grafana_plugins")}


def test_a_disabled_role_or_a_false_switch_pulls_nothing() -> None:
    defaults = {
        "web": {"web_enabled": True, "web_image": "nginx:1", "web_image_pull": True},
        "off": {"off_enabled": False, "off_image": "x:1", "off_image_pull": True},
        "kit": {"kit_image": "local/x:1", "kit_image_pull": "no"},
        "ui": {"ui_plugins": [{"id": "p", "version": "1.0.0"}], "ui_plugins_install": "yes"},
    }
    merged = {k: v for d in defaults.values() for k, v in d.items()}
    pins = W.resolve_pins(W.declared_pins(defaults), merged.__getitem__, {})
    assert {p["name"]: (p["ref"], p["pull"]) for p in pins} == {
        "web_image": ("nginx:1", True),
        "off_image": ("x:1", False),
        "kit_image": ("local/x:1", False),
        "ui_plugins[0]": ("p@1.0.0", True),
    }


def _lookup(tmp_path: Path, extra_vars: dict[str, Any]) -> list[dict[str, Any]]:
    """The lookup itself, in ansible-playbook, with extra vars over the role defaults."""
    play = localhost_play(
        "collect the pins",
        tasks=[
            {
                "ansible.builtin.copy": {
                    "content": "{{ query('pins_wanted', roles_dir) | to_json }}",
                    "dest": str(tmp_path / "pins.json"),
                    "mode": "0600",
                }
            }
        ],
    )
    proc = run_playbook(
        tmp_path,
        [play],
        extra_vars={
            "roles_dir": str(REPO / "roles"),
            "ansible_python_interpreter": sys.executable,
            **extra_vars,
        },
        env={"ANSIBLE_LOOKUP_PLUGINS": str(ROLE / "lookup_plugins")},
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    return json.loads((tmp_path / "pins.json").read_text())


def test_the_lookup_values_each_pin_as_the_host_will(tmp_path: Path) -> None:
    defaults = {k: v for d in _defaults().values() for k, v in d.items()}
    pins = {p["name"]: p for p in _lookup(tmp_path / "defaults", {})}
    assert pins["prometheus_image"]["ref"] == defaults["prometheus_image"]
    assert pins["prometheus_image"]["file"] == "roles/prometheus/defaults/main.yml"
    assert pins["prometheus_image"]["line"] > 0
    # Templated by Ansible: the alertmanager image follows alertmanager_version.
    assert (
        pins["alertmanager_image"]["ref"]
        == f"prom/alertmanager:v{defaults['alertmanager_version']}"
    )
    assert all(p["pull"] for p in pins.values())
    assert pins["grafana_plugins[0]"]["ref"] == "{id}@{version}".format(
        **defaults["grafana_plugins"][0]
    )

    changed = {
        p["name"]: p
        for p in _lookup(
            tmp_path / "changed", {"alertmanager_version": "0.30.0", "cadvisor_enabled": False}
        )
    }
    assert changed["alertmanager_image"]["ref"] == "prom/alertmanager:v0.30.0"
    assert changed["cadvisor_image"]["pull"] is False

    kit = _lookup(tmp_path / "kit", KIT)
    assert [p["name"] for p in kit if p["pull"]] == [], "the offline kit pulls nothing"
    assert all(p["overridden"] for p in kit if p["kind"] == "image")


# --------------------------------------------------------------------------- the role, offline


def test_preflight_lists_pins_last() -> None:
    (play,) = [
        p
        for p in yaml.safe_load((REPO / "playbooks" / "preflight.yml").read_text())
        if "ansible.builtin.import_playbook" not in p
    ]
    assert play["vars"]["bloomberg_preflight_roles"][-1] == "pins"


def test_nothing_pulled_skips_the_check(tmp_path: Path) -> None:
    """The offline kit: every _pull false, plugins not installed. No request is made."""
    result = run_role("pins", ["preflight"], tmp_path, KIT)
    tasks = task_results(result)
    assert tasks["pins : Resolve every pulled pin in its registry"].get("skipped")
    assert tasks["pins : Stop when a pinned version cannot be pulled"].get("skipped")


# --------------------------------------------------------------------------- a real registry


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRegistry]:
    binary, why = registry_binary()
    if binary is None:
        pytest.skip(f"no docker-registry (Debian package) to test against: {why}")
    with local_registry(binary, tmp_path_factory.mktemp("registry")) as running:
        running.push_image("prom/prometheus", "v3.5.5")
        running.push_image("prom/prometheus", "v3.5.6")
        running.push_image("prom/prometheus", "v3.6.0-rc.0")
        running.push_image("prom/prometheus", "v4.0.0")
        running.push_image("google/cadvisor", "v0.60.5", oci_index=True)
        running.push_image("postgres", "16.10-bookworm")
        yield running


@pytest.fixture(scope="module")
def plugins() -> Iterator[str]:
    with plugin_api({"marcusolsson-treemap-panel": ["2.1.1", "2.0.1"]}) as url:
        yield url


def _only_local(pins: list[dict[str, Any]]) -> None:
    """No pin of a test run may point outside 127.0.0.1."""
    for pin in pins:
        if pin.get("kind") == "plugin":
            continue
        assert pin["ref"].startswith("127.0.0.1:"), pin


def _host_vars(reg: LocalRegistry, plugins_url: str, **more: Any) -> dict[str, Any]:
    """The offline kit (nothing pulled), then a few pins pulled from the local registry."""
    return {
        **KIT,
        "prometheus_image": f"{reg.host}/prom/prometheus:v3.5.5",
        "prometheus_image_pull": True,
        "cadvisor_image": f"{reg.host}/google/cadvisor:v0.60.5",
        "cadvisor_image_pull": True,
        "postgres_image": f"{reg.host}/postgres:16.10-bookworm",
        "postgres_image_pull": True,
        "grafana_plugins_install": True,
        "grafana_plugins": [{"id": "marcusolsson-treemap-panel", "version": "2.1.1"}],
        "pins_grafana_api_url": plugins_url,
        "pins_timeout": 5,
        **more,
    }


def _preflight(tmp_path: Path, variables: dict[str, Any], **options: Any) -> dict[str, Any]:
    result = run_role("pins", ["preflight"], tmp_path, variables, check=False, **options)
    resolved = task_results(result).get("pins : Resolve every pulled pin in its registry", {})
    _only_local(resolved.get("invocation", {}).get("module_args", {}).get("pins", []))
    return result


def test_the_module_resolves_pins_in_a_real_registry(
    tmp_path: Path, registry: LocalRegistry, plugins: str
) -> None:
    """The module alone: present, missing, refused, unreachable, invalid; and a plugin."""
    closed = free_port()
    pins = [
        {"kind": "image", "name": "a", "ref": f"{registry.host}/prom/prometheus:v3.5.5"},
        {"kind": "image", "name": "b", "ref": f"{registry.host}/google/cadvisor:v0.60.5"},
        {"kind": "image", "name": "c", "ref": f"{registry.host}/prom/prometheus:v9.9.9"},
        {"kind": "image", "name": "d", "ref": f"{registry.host}/private/thing:1"},
        {"kind": "image", "name": "e", "ref": f"127.0.0.1:{closed}/prom/prometheus:v3.5.5"},
        {"kind": "image", "name": "f", "ref": f"127.0.0.1:{closed}/Bad:tag"},
        {
            "kind": "plugin",
            "name": "g",
            "ref": "marcusolsson-treemap-panel@2.1.1",
            "id": "marcusolsson-treemap-panel",
            "version": "2.1.1",
        },
        {
            "kind": "plugin",
            "name": "h",
            "ref": "marcusolsson-treemap-panel@9.9.9",
            "id": "marcusolsson-treemap-panel",
            "version": "9.9.9",
        },
    ]
    _only_local(pins)
    play = localhost_play(
        "resolve pins",
        tasks=[
            {"pins_resolve": {"pins": pins, "grafana_api_url": plugins, "timeout": 5, "retries": 0}}
        ],
    )
    proc = run_playbook(
        tmp_path,
        [play],
        "--check",
        extra_vars={"ansible_python_interpreter": sys.executable},
        callback=JSON_CALLBACK,
        env={
            "ANSIBLE_LIBRARY": str(ROLE / "library"),
            "ANSIBLE_MODULE_UTILS": str(ROLE / "module_utils"),
        },
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    ((_, host),) = host_results(json.loads(proc.stdout))
    status = {p["name"]: p["status"] for p in host["pins"]}
    assert status == {
        "a": "ok",  # a Docker v2 manifest
        "b": "ok",  # an OCI index: the Accept header asks for indexes too
        "c": "missing",
        "d": "denied",
        "e": "unknown",
        "f": "invalid",
        "g": "ok",
        "h": "missing",
    }
    digests = {p["name"]: p["digest"] for p in host["pins"]}
    assert digests["a"].startswith("sha256:") and digests["b"].startswith("sha256:")
    assert host["changed"] is False
    assert any("could not check" in w and f"127.0.0.1:{closed}" in w for w in host["warnings"])
    # The anonymous token dance happened: the token server was asked for pull scopes.
    assert {"repository:prom/prometheus:pull"} <= {
        s for q in registry.issuer.requests for s in q.get("scope", [])
    }


def test_preflight_passes_when_every_pulled_pin_exists(
    tmp_path: Path, registry: LocalRegistry, plugins: str
) -> None:
    for check_mode in (False, True):
        result = _preflight(
            tmp_path / str(check_mode), _host_vars(registry, plugins), check_mode=check_mode
        )
        assert failed_tasks(result) == {}
        resolved = task_results(result)["pins : Resolve every pulled pin in its registry"]
        assert {p["name"]: p["status"] for p in resolved["pins"]} == {
            "cadvisor_image": "ok",
            "grafana_plugins[0]": "ok",
            "postgres_image": "ok",
            "prometheus_image": "ok",
        }
        assert task_results(result)["pins : Stop when a pinned version cannot be pulled"]["skipped"]


def test_preflight_stops_naming_every_pin_that_cannot_be_pulled(
    tmp_path: Path, registry: LocalRegistry, plugins: str
) -> None:
    variables = _host_vars(
        registry,
        plugins,
        nginx_image=f"{registry.host}/library/nginx:1.30.3-alpine",
        nginx_image_pull=True,
        grafana_plugins=[{"id": "marcusolsson-treemap-panel", "version": "2.1.2"}],
    )
    result = _preflight(tmp_path, variables)
    failed = failed_tasks(result)
    assert list(failed) == ["pins : Stop when a pinned version cannot be pulled"]
    message = failed["pins : Stop when a pinned version cannot be pulled"]["msg"]
    assert message.startswith(
        "2 pinned version(s) cannot be pulled on localhost; nothing has been changed"
    )
    assert f"nginx_image = {registry.host}/library/nginx:1.30.3-alpine" in message
    assert "has no '1.30.3-alpine' (HTTP 404" in message
    assert "grafana_plugins[0] = marcusolsson-treemap-panel@2.1.2" in message
    assert "set in the inventory" in message
    assert "prometheus_image" not in message and "cadvisor_image" not in message
    changed = [name for name, host in host_results(result) if host.get("changed")]
    assert changed == []


def test_an_unreachable_registry_warns_and_strict_stops(
    tmp_path: Path, registry: LocalRegistry, plugins: str
) -> None:
    closed = free_port()
    variables = _host_vars(
        registry,
        plugins,
        influxdb_image=f"127.0.0.1:{closed}/influxdb:2.9.1",
        influxdb_image_pull=True,
        pins_retries=0,
    )
    result = _preflight(tmp_path / "lenient", variables)
    assert failed_tasks(result) == {}
    resolved = task_results(result)["pins : Resolve every pulled pin in its registry"]
    (warning,) = resolved["warnings"]
    assert f"influxdb_image = 127.0.0.1:{closed}/influxdb:2.9.1" in warning
    assert "did not answer: connection refused" in warning

    strict = _preflight(tmp_path / "strict", {**variables, "pins_strict": True})
    message = failed_tasks(strict)["pins : Stop when a pinned version cannot be pulled"]["msg"]
    assert message.startswith("1 pinned version(s) cannot be pulled")
    assert f"127.0.0.1:{closed}/influxdb:2.9.1" in message
    assert "pins_strict is true" in message


def test_the_preflight_play_checks_pins_in_tag_limited_runs(
    tmp_path: Path, registry: LocalRegistry, plugins: str
) -> None:
    """playbooks/preflight.yml's own play (tagged always), on localhost with only
    the pins role: a `--tags nginx` run still resolves the pins, and stops."""
    (play,) = [
        p
        for p in yaml.safe_load((REPO / "playbooks" / "preflight.yml").read_text())
        if "ansible.builtin.import_playbook" not in p
    ]
    play.update(hosts="localhost", gather_facts=False)
    play["vars"]["bloomberg_preflight_roles"] = ["pins"]
    variables = _host_vars(
        registry,
        plugins,
        nginx_image=f"{registry.host}/library/nginx:1.30.3-alpine",
        nginx_image_pull=True,
        ansible_python_interpreter=sys.executable,
    )
    proc = run_playbook(tmp_path, [play], "--tags", "nginx", extra_vars=variables)
    assert proc.returncode != 0
    assert "TASK [pins : Resolve every pulled pin in its registry]" in proc.stdout
    assert f"nginx_image = {registry.host}/library/nginx:1.30.3-alpine" in proc.stdout


# --------------------------------------------------------------------------- make pins


def _report(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(REPORT), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_report_checks_pins_and_shows_newer_tags(
    tmp_path: Path, registry: LocalRegistry, plugins: str
) -> None:
    closed = free_port()
    layer = {
        **KIT,
        "prometheus_image": f"{registry.host}/prom/prometheus:v3.5.5",
        "prometheus_image_pull": True,
        "cadvisor_image": f"127.0.0.1:{closed}/google/cadvisor:v0.60.5",
        "cadvisor_image_pull": True,
        "grafana_plugins_install": True,
        "grafana_plugins": [{"id": "marcusolsson-treemap-panel", "version": "2.0.1"}],
    }
    _only_local([{"ref": layer["prometheus_image"]}, {"ref": layer["cadvisor_image"]}])
    (tmp_path / "vars.yml").write_text(yaml.safe_dump(layer))
    proc = _report(
        "--vars", str(tmp_path / "vars.yml"), "--timeout", "5", "--grafana-api-url", plugins
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = {line.split()[0]: line for line in proc.stdout.splitlines() if line.strip()}
    assert "patch v3.5.6, any v4.0.0" in lines["prometheus_image"], proc.stdout
    assert "v3.6.0-rc.0" not in lines["prometheus_image"]
    assert "roles/prometheus/defaults/main.yml:" in lines["prometheus_image"]
    assert "(overridden)" in lines["prometheus_image"]
    assert " ok " in lines["prometheus_image"]
    assert "not checked" in lines["cadvisor_image"]
    assert "major 2.1.1" in lines["grafana_plugins[0]"]
    assert "not pulled" in lines["nginx_image"]
    assert f"registry not reachable: 127.0.0.1:{closed} (connection refused); 1 pin" in proc.stdout
    assert "1 pin not checked from here: whether they can be pulled is unknown" in proc.stdout

    layer["prometheus_image"] = f"{registry.host}/prom/prometheus:v9.9.9"
    (tmp_path / "vars.yml").write_text(yaml.safe_dump(layer))
    proc = _report(
        "--vars", str(tmp_path / "vars.yml"), "--timeout", "5", "--grafana-api-url", plugins
    )
    assert proc.returncode == 1, proc.stdout
    assert "1 pin cannot be pulled" in proc.stdout
