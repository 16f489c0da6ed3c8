"""The watchlist_api role's side of people's custom series (issue 11, item 5):
the environment the API receives (InfluxDB, its token file, the buckets and
their quotas, the public write URL) and the hand-over of the influxdb role's
`watchlist-api` token, run for real (ansible-playbook, tasks configure.yml)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest
from role_runner import (
    ROLES,
    changed_tasks,
    failed_tasks,
    localhost_play,
    recap,
    run_playbook,
    run_role,
    task_results,
)

ROLE = ROLES / "watchlist_api"
USERS = [
    {"login": "admin", "name": "Admin", "password": "p" * 12, "admin": True},
    {"login": "trader", "name": "Trader", "password": "p" * 12, "custom_bucket": True},
    {
        "login": "quant",
        "name": "Quant",
        "password": "p" * 12,
        "custom_bucket": True,
        "custom_max_series": 50000,
    },
    {"login": "former", "name": "Former", "password": "p" * 12, "custom_bucket": False},
]
SECRETS = {
    "watchlist_api_postgres_password": "postgres-password-for-tests",
    "watchlist_api_admin_key": "a" * 40,
    "watchlist_api_metrics_token": "",
}


def environment(tmp_path: Path, **variables: Any) -> dict[str, str]:
    """_watchlist_api_env as the role templates it, with the role's filters."""
    out = tmp_path / "env.json"
    play = localhost_play(
        "the watchlist API's environment",
        vars_files=[str(ROLE / "defaults" / "main.yml"), str(ROLE / "vars" / "main.yml")],
        tasks=[
            {
                "name": "write it",
                "ansible.builtin.copy": {
                    "content": "{{ _watchlist_api_env | to_json }}",
                    "dest": str(out),
                    "mode": "0600",
                },
            }
        ],
    )
    recap(
        run_playbook(
            tmp_path,
            [play],
            extra_vars={
                "bloomberg_base_dir": "/opt/bloomberg",
                "bloomberg_domain": "dash.example.org",
                "bloomberg_users": USERS,
                "ansible_python_interpreter": sys.executable,
                **SECRETS,
                **variables,
            },
            env={"ANSIBLE_FILTER_PLUGINS": str(ROLE / "filter_plugins")},
        )
    )
    env: dict[str, str] = json.loads(out.read_text())
    return env


def test_the_api_receives_influxdb_its_token_file_the_buckets_and_the_write_url(
    tmp_path: Path,
) -> None:
    env = environment(tmp_path)
    assert env["BBDASH_API_INFLUXDB_URL"] == "http://bloomberg-influxdb:8086"
    assert env["BBDASH_API_INFLUXDB_ORG"] == "bloomberg"
    assert env["BBDASH_API_INFLUXDB_TOKEN_FILE"] == "/run/secrets/bbdash/influx.token"
    assert json.loads(env["BBDASH_API_CUSTOM_BUCKETS"]) == {
        "trader": {"bucket": "custom_trader", "max_series": 10000},
        "quant": {"bucket": "custom_quant", "max_series": 50000},
    }
    assert env["BBDASH_API_CUSTOM_WRITE_URL"] == "https://dash.example.org/influxdb"
    assert all(isinstance(v, str) for v in env.values())


def test_an_empty_influxdb_url_turns_custom_series_off(tmp_path: Path) -> None:
    env = environment(tmp_path, watchlist_api_influxdb_url="")
    assert env["BBDASH_API_INFLUXDB_URL"] == ""
    assert not [
        k
        for k in env
        if k.startswith(("BBDASH_API_CUSTOM_", "BBDASH_API_INFLUXDB_"))
        and k != "BBDASH_API_INFLUXDB_URL"
    ]


HAND_OVER = (
    "watchlist_api : Hand the InfluxDB token to the container"
    ", or remove it when custom series are off"
)


def _configure(base: Path, **variables: Any) -> dict[str, Any]:
    return run_role(
        "watchlist_api", ["configure"], base, {**SECRETS, "bloomberg_users": USERS, **variables}
    )


@pytest.mark.skipif(os.geteuid() != 0, reason="the secret files belong to the API's uid")
def test_the_token_is_handed_over_on_the_host_without_a_restart(tmp_path: Path) -> None:
    base = tmp_path / "host"
    source = base / "secrets" / "influxdb" / "watchlist-api.token"
    # The data layer is not deployed yet: nothing to copy, reported, no failure.
    first = _configure(base)
    results = task_results(first)
    assert results[HAND_OVER].get("skipped")
    assert (
        "influxdb role"
        in results["watchlist_api : Report that custom series wait for the InfluxDB token"]["msg"]
    )
    assert not (base / "secrets" / "watchlist-api" / "influx.token").exists()

    source.parent.mkdir(parents=True)
    source.write_text("token-one")
    _configure(base)
    copied = base / "secrets" / "watchlist-api" / "influx.token"
    assert copied.read_text() == "token-one"
    assert oct(copied.stat().st_mode & 0o777) == "0o600" and copied.stat().st_uid == 10001
    assert changed_tasks(_configure(base)) == []
    # A replaced token (the custom buckets changed) is copied again: the API
    # re-reads it by mtime, so the container's restart does not depend on it.
    source.write_text("token-two")
    again = _configure(base)
    assert changed_tasks(again) == [HAND_OVER]
    assert copied.read_text() == "token-two"
    assert "token-one" not in again["stdout"] and "token-two" not in again["stdout"]
    # Custom series off: the API's copy goes.
    _configure(base, watchlist_api_influxdb_url="")
    assert not copied.exists()


def test_the_restart_ignores_the_influxdb_token() -> None:
    run = (ROLE / "tasks" / "run.yml").read_text()
    restart = run.split("container_restart:")[1].split("container_wait:")[0]
    assert "_watchlist_api_secrets" in restart and "influx" not in restart


def _preflight(base: Path, **variables: Any) -> dict[str, Any]:
    return run_role(
        "watchlist_api",
        ["preflight"],
        base,
        {**SECRETS, "bloomberg_users": USERS, "docker_network_name": "bloomberg-net", **variables},
        check=False,
    )


def test_preflight_accepts_the_custom_series_settings(tmp_path: Path) -> None:
    result = _preflight(tmp_path, bloomberg_domain="dash.example.org")
    assert not failed_tasks(result)


@pytest.mark.parametrize(
    "variables",
    [
        {"bloomberg_users": [{"login": "trader", "custom_bucket": True, "custom_max_series": 0}]},
        {
            "bloomberg_users": [
                {"login": "trader", "custom_bucket": True, "custom_max_series": "many"}
            ]
        },
        {"watchlist_api_custom_max_series": -1},
        {"watchlist_api_custom_max_series": 10_000_001},
        {},  # no bloomberg_domain: the write URL has no host
    ],
)
def test_preflight_refuses_wrong_custom_series_settings(
    tmp_path: Path, variables: dict[str, Any]
) -> None:
    variables = {"bloomberg_domain": "dash.example.org", **variables} if variables else {}
    failed = failed_tasks(_preflight(tmp_path, **variables))
    assert list(failed) == ["watchlist_api : Check the custom series settings"], failed
