"""Sizing profiles (roles/sizing/README.md): every container role follows
bloomberg_profile, each seed tier fits the host it is sized for, and the
preflight stops a host that cannot hold its profile, saying what it lacks.

medium and large are checked here, statically, with the same rules the
preflight applies on a host; the test hosts (2 CPUs) run the test profile.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from typing import Any

import pytest
import sizing_profiles
import yaml
from role_runner import localhost_play, run_playbook

REPO = Path(__file__).resolve().parents[2]
ROLES = REPO / "roles"
SIZING = ROLES / "sizing"


def _lookup() -> Any:
    spec = importlib.util.spec_from_file_location(
        "sizing_report", SIZING / "lookup_plugins" / "sizing_report.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


S = _lookup()
SIZING_DEFAULTS = yaml.safe_load((SIZING / "defaults" / "main.yml").read_text(encoding="utf-8"))
# The roles that run a container with limits, found the way the lookup finds them.
CONTAINER_ROLES = S.declared_limits(
    {
        path.parent.parent.name: yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for path in ROLES.glob("*/defaults/main.yml")
    }
)
# The seed's "Recommandation VPS" tiers: vCPUs and GB of RAM. A VPS sold with
# N GB shows the kernel somewhat less (firmware and kernel reservations): 95 %.
SEED_TIERS = {"small": (4, 8), "medium": (4, 16), "large": (8, 32)}
REPORTED = 0.95


def test_every_container_role_is_found() -> None:
    expected = [
        "alertmanager", "cadvisor", "grafana", "influxdb", "link", "market_feeder",
        "news_feeder", "nginx", "node_exporter", "postgres", "prometheus", "watchlist_api",
    ]  # fmt: skip
    assert expected == CONTAINER_ROLES


def test_every_container_role_belongs_to_a_layer() -> None:
    """On a stack spread over several hosts, each host counts its layers' containers
    (sizing_layer_roles): every container role is in exactly one layer's list."""
    layers = SIZING_DEFAULTS["sizing_layer_roles"]
    assert set(layers) == {"every", "data", "collection", "presentation"}
    listed = [role for roles in layers.values() for role in roles]
    assert sorted(listed) == CONTAINER_ROLES


@pytest.mark.parametrize("role", CONTAINER_ROLES)
def test_limits_follow_the_profile(role: str) -> None:
    defaults = sizing_profiles.defaults(role)
    table = defaults[f"{role}_profiles"]
    assert tuple(table) == sizing_profiles.PROFILES
    assert table["test"] == table["small"], "the test profile is small's limits"
    for key in ("cpus", "memory"):
        assert defaults[f"{role}_{key}"] == sizing_profiles.follows(role, key)
    for profile, row in table.items():
        assert float(row["cpus"]) > 0, (profile, row)
        assert S.memory_mb(row["memory"]) > 0, (profile, row)
    # A larger tier never gets less than a smaller one.
    tiers = [table[name] for name in ("small", "medium", "large")]
    assert [float(r["cpus"]) for r in tiers] == sorted(float(r["cpus"]) for r in tiers)
    assert [S.memory_mb(r["memory"]) for r in tiers] == sorted(
        S.memory_mb(r["memory"]) for r in tiers
    )


def _containers(profile: str) -> list[dict[str, Any]]:
    """The containers of a one-host stack: all but the TLS front between hosts
    (roles/link, enabled only on a stack spread over several)."""
    rows = [
        (role, sizing_profiles.row(role, profile)) for role in CONTAINER_ROLES if role != "link"
    ]
    return [
        {"role": role, "cpus": row["cpus"], "memory": row["memory"],
         "memory_mb": S.memory_mb(row["memory"])}
        for role, row in rows
    ]  # fmt: skip


@pytest.mark.parametrize("profile", list(SEED_TIERS))
def test_each_seed_tier_fits_its_host(profile: str) -> None:
    vcpus, gigabytes = SEED_TIERS[profile]
    assert SIZING_DEFAULTS["sizing_hosts"][profile]["vcpus"] == vcpus
    host = {
        "vcpus": vcpus,
        "memtotal_mb": gigabytes * 1024 * REPORTED,
        "reserve_mb": SIZING_DEFAULTS["sizing_host_reserve_mb"],
        "free_gb": None,
        "mount": "/",
        "data_path": "/var/lib/docker",
    }
    needs = SIZING_DEFAULTS["sizing_hosts"][profile]
    assert S.problems(profile, needs, _containers(profile), host) == []
    # ...and the next tier down does not hold the larger profile's memory.
    smaller = {"medium": "small", "large": "medium"}.get(profile)
    if smaller:
        tight = dict(host, memtotal_mb=SEED_TIERS[smaller][1] * 1024 * REPORTED)
        assert any(
            "memory limits" in p for p in S.problems(profile, needs, _containers(profile), tight)
        )


def test_small_is_the_seeds_table() -> None:
    # docs/architecture.md, "Resources per container": the seed's ~6 GB plus Alertmanager.
    total = sum(item["memory_mb"] for item in _containers("small"))
    assert total == 7168


@pytest.mark.parametrize("profile", sizing_profiles.PROFILES)
def test_influxdb_memory_is_consistent_within_each_profile(profile: str) -> None:
    row = sizing_profiles.row("influxdb", profile)
    config = sizing_profiles.defaults("influxdb")["influxdb_config"]
    go_limit = _go_bytes(row["go_memory_limit"])
    assert go_limit < S.memory_mb(row["memory"]) * 1024**2, "GOMEMLIMIT under the container limit"
    # The write cache and every query at once stay under Go's soft limit.
    assert row["cache_max_memory_size"] + row["query_max_memory_bytes"] < go_limit
    # influxd refuses query-max-memory-bytes below concurrency x initial memory,
    # and a single query's budget above the total.
    assert (
        row["query_concurrency"] * config["query-initial-memory-bytes"]
        <= row["query_max_memory_bytes"]
    )
    assert config["query-memory-bytes"] <= row["query_max_memory_bytes"]


def _go_bytes(size: str) -> int:
    number, unit = re.fullmatch(r"([0-9]+)(B|KiB|MiB|GiB|TiB)?", size).groups()  # type: ignore[union-attr]
    return int(number) * {None: 1, "B": 1, "KiB": 1024, "MiB": 1024**2, "GiB": 1024**3,
                          "TiB": 1024**4}[unit]  # fmt: skip


def test_prometheus_size_cap_grows_with_the_profile() -> None:
    table = sizing_profiles.defaults("prometheus")["prometheus_profiles"]
    sizes = [
        int(table[p]["retention_size"].removesuffix("GB")) for p in ("small", "medium", "large")
    ]
    assert sizes == [8, 16, 32]
    assert sizing_profiles.defaults("prometheus")["prometheus_retention_size"] == (
        sizing_profiles.follows("prometheus", "retention_size")
    )


# --------------------------------------------------------------------------- rules


def test_memory_sizes_are_read_as_docker_reads_them() -> None:
    assert S.memory_mb("512m") == 512
    assert S.memory_mb("3g") == 3072
    assert S.memory_mb("1048576") == 1
    assert S.memory_mb("64M") == 64
    with pytest.raises(ValueError, match="not a Docker memory size"):
        S.memory_mb("3 gigabytes")


def test_free_disk_is_read_on_the_mount_holding_the_path() -> None:
    mounts = [
        {"mount": "/", "size_available": 50 * 1000**3},
        {"mount": "/var", "size_available": 7 * 1000**3},
        {"mount": "/var/lib/dockerish", "size_available": 1},
    ]
    assert S.free_gb(mounts, "/var/lib/docker") == ("/var", 7.0)
    assert S.free_gb(mounts, "/opt") == ("/", 50.0)
    assert S.free_gb([], "/var/lib/docker") == ("", None)


def _host(**overrides: Any) -> dict[str, Any]:
    base = {"vcpus": 4, "memtotal_mb": 7800, "reserve_mb": 512, "free_gb": 60.0,
            "mount": "/", "data_path": "/var/lib/docker"}  # fmt: skip
    return base | overrides


NEEDS = {"vcpus": 4, "free_disk_gb": 10}


def test_a_host_that_fits_has_no_problem() -> None:
    assert S.problems("small", NEEDS, _containers("small"), _host()) == []


def test_each_shortfall_is_named() -> None:
    found = S.problems(
        "small", NEEDS, _containers("small"), _host(vcpus=1, memtotal_mb=4096, free_gb=3.5)
    )
    assert found == [
        "The small profile asks for 4 vCPUs; this host has 1.",
        "influxdb_cpus is 2.0, more than the host's 1 CPUs: Docker would refuse to start the container.",
        "The containers' memory limits add up to 7168 MB (largest: influxdb 3g, grafana 1g,"
        " prometheus 1g) and the host keeps 512 MB for itself: 7680 MB, but this host has 4096 MB.",
        "Only 3.5 GB are free on / (which holds /var/lib/docker); the small profile keeps 10 GB"
        " free for the data to grow into.",
    ]


def test_unknown_free_disk_is_not_a_problem() -> None:
    # A host whose facts list no mount for the path: nothing to compare, no false alarm.
    assert S.problems("small", NEEDS, _containers("small"), _host(free_gb=None)) == []


# --------------------------------------------------------------------------- the preflight, run


def _preflight(tmp_path: Path, extra: dict[str, Any]) -> Any:
    play = localhost_play(
        "Sizing preflight",
        gather_facts=True,
        tasks=[{"name": "Sizing", "ansible.builtin.include_role": {"name": "sizing", "tasks_from": "preflight.yml"}}],
    )  # fmt: skip
    # Facts (CPUs, memory, mounts) are gathered by this Python: the one running the tests.
    return run_playbook(
        tmp_path, [play], extra_vars={"ansible_python_interpreter": sys.executable} | extra
    )


def test_the_preflight_passes_a_host_that_fits(tmp_path: Path) -> None:
    # Whatever this machine has: ask for no more than one CPU and no disk.
    proc = _preflight(
        tmp_path,
        {"bloomberg_profile": "test", "sizing_hosts": {"test": {"vcpus": 1, "free_disk_gb": 0}},
         "sizing_host_reserve_mb": 0} | {f"{r}_memory": "1m" for r in CONTAINER_ROLES}
        | {f"{r}_cpus": 0.01 for r in CONTAINER_ROLES},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "The test profile fits: 11 containers limited to 11 MB in all" in proc.stdout


def test_the_preflight_stops_a_host_too_small_and_says_why(tmp_path: Path) -> None:
    # An override is honoured (grafana_memory), a disabled role counts for nothing.
    proc = _preflight(
        tmp_path,
        {"bloomberg_profile": "medium", "grafana_memory": "100000g", "influxdb_enabled": False,
         "sizing_hosts": {"medium": {"vcpus": 100000, "free_disk_gb": 10**9}}},
    )  # fmt: skip
    assert proc.returncode != 0
    out = " ".join((proc.stdout + proc.stderr).split())
    assert "cannot hold the stack at the medium profile" in out
    assert "The medium profile asks for 100000 vCPUs" in out
    assert "(largest: grafana 100000g, prometheus 2g, postgres 1g)" in out
    assert "the medium profile keeps 1000000000 GB free" in out
    assert "Choose a profile that fits (bloomberg_profile: small, medium or large" in out


def test_the_preflight_refuses_an_unknown_profile(tmp_path: Path) -> None:
    proc = _preflight(tmp_path, {"bloomberg_profile": "huge"})
    assert proc.returncode != 0
    assert "bloomberg_profile (huge) must be one of small, medium, large, test" in proc.stdout
