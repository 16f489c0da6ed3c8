"""The grafana role's service accounts (tasks/service_accounts.yml) and how the
inventories wire the watchlist API's desk account (roles/watchlist_api).

Statically: the task file's conventions (every API call hidden, lookups that
run in --check and change nothing, writes that report changed, the token file
0600 and never in --diff), the watchlist API's environment, and the inventories.

For real: the role's task file run by Ansible against the Grafana TEST DOUBLE
(tests/doubles/grafana/server.py, not Grafana; BBDASH_GRAFANA_DOUBLE names
another server of the same command line): --check on an empty Grafana creates
nothing, a converge creates the folder, the account, its permission and the
token file, a second converge and a --check change nothing, and a token Grafana
refuses (deleted there) or a missing file gets a new token and the stale ones
deleted. Skipped while the double does not answer the service-account API.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from grafana_helpers import ROLE, load_yaml, role_defaults, role_vars
from role_runner import REPO, changed_tasks, failed_tasks, run_role, step_file, task_results

DOUBLE = Path(os.environ.get("BBDASH_GRAFANA_DOUBLE", REPO / "tests/doubles/grafana/server.py"))
API_ROLE = REPO / "roles" / "watchlist_api"
ADMIN_PASSWORD = "test-admin-password-0123"
ACCOUNT = "bbdash-desk"
FOLDER = "bbdash-desks"


def tasks() -> list[dict[str, Any]]:
    (block,) = load_yaml(ROLE / "tasks" / "service_accounts.yml")
    return block["block"]


def by_name() -> dict[str, dict[str, Any]]:
    return {t["name"]: t for t in tasks()}


# --------------------------------------------------------------------------- statically


def test_imported_after_the_users_with_its_tags() -> None:
    main = load_yaml(ROLE / "tasks" / "main.yml")
    files = [step_file(t) for t in main]
    assert files.index("service_accounts.yml") == files.index("users.yml") + 1
    step = main[files.index("service_accounts.yml")]
    assert step["tags"] == ["grafana", "grafana_service_accounts"]
    assert role_defaults()["grafana_service_accounts"] == []


def test_runs_only_where_the_container_runs() -> None:
    (block,) = load_yaml(ROLE / "tasks" / "service_accounts.yml")
    users = load_yaml(ROLE / "tasks" / "users.yml")[0]["when"]
    assert block["when"][0] == "grafana_enabled"
    assert set(users) - {"grafana_enabled"} <= set(block["when"])


def test_every_api_call_is_hidden_and_reads_do_not_change() -> None:
    for task in tasks():
        if "bbdash.stack.http_batch" in task:
            # The lookups and the token probes: one call for every request, reads only.
            assert task["no_log"] is True, task["name"]
            assert task["check_mode"] is False and task["changed_when"] is False, task["name"]
            continue
        uri = task.get("ansible.builtin.uri")
        if uri is None:
            continue
        assert task["no_log"] is True, task["name"]
        method = uri.get("method", "GET")
        if method == "GET":
            assert task["check_mode"] is False and task["changed_when"] is False, task["name"]
        else:
            # Only run for what a lookup found missing or different.
            assert task["changed_when"] is True and "check_mode" not in task, task["name"]
            assert task["loop"].startswith("{{ _grafana_sa_"), task["name"]


def test_the_token_is_read_hidden_and_written_private() -> None:
    named = by_name()
    assert named["Read the service accounts' token files"]["no_log"] is True
    probe = named["Check that Grafana accepts the tokens in the files"]["bbdash.stack.http_batch"]
    assert probe["requests"] == "{{ _grafana_sa_probe_requests }}"
    requests = role_vars()["_grafana_sa_probe_requests"]
    assert "'headers': {'Authorization': 'Bearer ' ~ (read.content | b64decode | trim)}" in requests
    assert "'status_code': [200, 401, 403, 404]" in requests
    assert "_grafana_admin_request" not in requests and "url_password" not in requests, (
        "the probe must use the token, not the admin"
    )
    write = named["Write the service accounts' token files"]
    assert write["no_log"] is True and write["diff"] is False
    assert write["ansible.builtin.copy"]["mode"] == "0600"
    folder = named["Create the missing folders of the token files"]["ansible.builtin.file"]
    assert folder["mode"] == "0700" and folder["state"] == "directory"
    create = named["Create the service accounts' tokens"]["ansible.builtin.uri"]
    assert create["url"].endswith("/tokens") and create["status_code"] == [200]
    renew = role_vars()["_grafana_sa_token_renew"]
    assert "rejectattr('name', 'in', _grafana_sa_token_accepted)" in renew
    assert "rejectattr('status', 'eq', 401)" in role_vars()["_grafana_sa_token_accepted"]


def test_check_mode_says_what_it_skipped() -> None:
    report = by_name()["Report what --check skipped"]
    assert report["when"] == "ansible_check_mode"
    assert report["changed_when"] == "_grafana_sa_plan | length > 0"


def test_the_api_reads_the_token_and_never_removes_it() -> None:
    defaults = load_yaml(API_ROLE / "defaults" / "main.yml")
    private = load_yaml(API_ROLE / "vars" / "main.yml")
    assert defaults["watchlist_api_grafana_token_file"] == (
        "{{ bloomberg_base_dir }}/secrets/watchlist-api/grafana-token"
    )
    assert defaults["watchlist_api_desks_folder_uid"] == FOLDER
    env = private["_watchlist_api_env"]
    assert "'BBDASH_API_GRAFANA_TOKEN_FILE': _watchlist_api_container_secrets ~ '/' ~ " in env
    assert "'BBDASH_API_DESKS_FOLDER_UID': watchlist_api_desks_folder_uid" in env
    assert private["_watchlist_api_grafana_token_name"] == "grafana-token"
    # The configure step removes only files of this list (those whose key is unset).
    assert "grafana-token" not in [f["file"] for f in private["_watchlist_api_secret_files"]]
    configure = load_yaml(API_ROLE / "tasks" / "configure.yml")
    removal = next(
        t for t in configure if t["name"].startswith("Write the secret files and remove")
    )
    assert removal["bbdash.stack.file_set"]["absent"] == "{{ _watchlist_api_secrets_unset }}"
    assert "_watchlist_api_secret_files" in private["_watchlist_api_secrets_unset"]
    # A token appearing after the API started needs no restart.
    run = (API_ROLE / "tasks" / "run.yml").read_text(encoding="utf-8")
    assert "grafana" not in run.split("container_restart:")[1].split("container_wait")[0]


@pytest.mark.parametrize("env", ["local", "production"])
def test_the_inventories_declare_the_desk_account(env: str) -> None:
    inventory = yaml.safe_load(
        (REPO / "inventories" / env / "group_vars" / "all" / "main.yml").read_text()
    )
    (account,) = [a for a in inventory["grafana_service_accounts"] if a["name"] == ACCOUNT]
    assert account["role"] == "None"
    assert account["folders"] == [
        {"uid": "{{ watchlist_api_desks_folder_uid }}", "title": "Desks", "permission": "Admin"}
    ]
    # One path, read by both roles.
    assert account["token_file"] == "{{ watchlist_api_grafana_token_file }}"
    assert inventory["watchlist_api_grafana_token_file"] == (
        "{{ bloomberg_base_dir }}/secrets/watchlist-api/grafana-token"
    )
    assert inventory["watchlist_api_desks_folder_uid"] == FOLDER
    uid = load_yaml(API_ROLE / "vars" / "main.yml")["_watchlist_api_uid"]
    assert account["token_owner"] == uid and account["token_group"] == uid


# --------------------------------------------------------------------------- for real


@dataclass
class Grafana:
    port: int
    process: subprocess.Popen[bytes]

    def call(self, method: str, path: str, body: Any = None, token: str | None = None) -> Any:
        if token is None:
            auth = "Basic " + base64.b64encode(f"admin:{ADMIN_PASSWORD}".encode()).decode()
        else:
            auth = f"Bearer {token}"
        headers = {"Authorization": auth, "Content-Type": "application/json"}
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            data = None if body is None else json.dumps(body)
            conn.request(method, path, body=data, headers=headers)
            response = conn.getresponse()
            raw = response.read()
            return response.status, (json.loads(raw) if raw.strip() else None)
        finally:
            conn.close()

    def account(self) -> dict[str, Any] | None:
        status, found = self.call("GET", f"/api/serviceaccounts/search?query={ACCOUNT}")
        assert status == 200, found
        return next((a for a in found["serviceAccounts"] if a["name"] == ACCOUNT), None)

    def tokens(self, account_id: int) -> list[dict[str, Any]]:
        status, found = self.call("GET", f"/api/serviceaccounts/{account_id}/tokens")
        assert status == 200, found
        return found


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def grafana(tmp_path: Path) -> Iterator[Grafana]:
    etc = tmp_path / "grafana"
    (etc / "provisioning").mkdir(parents=True)
    (tmp_path / "data").mkdir()
    (etc / "grafana.ini").write_text(
        f"[security]\nadmin_user = admin\nadmin_password = {ADMIN_PASSWORD}\n", encoding="utf-8"
    )
    port = _free_port()
    env = {
        **os.environ,
        "GF_PATHS_CONFIG": str(etc / "grafana.ini"),
        "GF_PATHS_PROVISIONING": str(etc / "provisioning"),
        "GF_PATHS_DATA": str(tmp_path / "data"),
    }
    process = subprocess.Popen(
        [sys.executable, str(DOUBLE), "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    running = Grafana(port, process)
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert process.poll() is None, "the Grafana double exited"
                time.sleep(0.1)
        status, _ = running.call("GET", "/api/serviceaccounts/search?query=")
        if status == 404:
            pytest.skip("the Grafana double does not answer the service-account API yet")
        yield running
    finally:
        process.terminate()
        process.wait(timeout=10)


def converge(
    base: Path, grafana: Grafana, *, check_mode: bool = False, check: bool = True
) -> dict[str, Any]:
    variables = {
        "grafana_enabled": True,
        "grafana_host_bind": "127.0.0.1",
        "grafana_host_port": grafana.port,
        "grafana_admin_password": ADMIN_PASSWORD,
        # What tasks/admin.yml registers: the container runs.
        "_grafana_container_info": {"exists": True, "container": {"State": {"Running": True}}},
        "grafana_service_accounts": [
            {
                "name": ACCOUNT,
                "role": "None",
                "folders": [{"uid": FOLDER, "title": "Desks", "permission": "Admin"}],
                "token_file": str(base / "secrets" / "watchlist-api" / "grafana-token"),
                "token_owner": os.getuid(),
                "token_group": os.getgid(),
            }
        ],
    }
    return run_role(
        "grafana", ["service_accounts"], base, variables, check_mode=check_mode, check=check
    )


def token_in(base: Path) -> str:
    return (base / "secrets" / "watchlist-api" / "grafana-token").read_text().strip()


@pytest.mark.slow
def test_converge_check_and_renewal(grafana: Grafana, tmp_path: Path) -> None:
    base = tmp_path / "host"
    (base / "secrets").mkdir(parents=True)  # as the postgres and influxdb roles make it
    token_file = base / "secrets" / "watchlist-api" / "grafana-token"

    dry = converge(base, grafana, check_mode=True)
    report = task_results(dry)["grafana : Report what --check skipped"]
    assert report["changed"] is True and any(ACCOUNT in line for line in report["msg"])
    assert grafana.account() is None and not token_file.parent.exists(), "--check created something"
    assert grafana.call("GET", f"/api/folders/{FOLDER}")[0] == 404

    first = converge(base, grafana)
    assert changed_tasks(first)
    account = grafana.account()
    assert account is not None and account["role"] == "None"
    token = token_in(base)
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(token_file.parent.stat().st_mode) == 0o700
    assert token not in first["stdout"], "the token leaked into the output"
    assert ADMIN_PASSWORD not in first["stdout"]
    assert grafana.call("GET", f"/api/folders/{FOLDER}", token=token)[0] == 200
    status, permissions = grafana.call("GET", f"/api/access-control/folders/{FOLDER}")
    assert status == 200
    assert {"userId": account["id"], "permission": "Admin"}.items() <= next(
        p for p in permissions if p.get("userId") == account["id"]
    ).items()

    assert changed_tasks(converge(base, grafana)) == [], "a second converge changed something"
    again = converge(base, grafana, check_mode=True)
    assert changed_tasks(again) == [], "--check after a converge reports changes"

    # Grafana refuses the file's token (deleted there): a new one, the old one gone.
    (old,) = grafana.tokens(account["id"])
    grafana.call("DELETE", f"/api/serviceaccounts/{account['id']}/tokens/{old['id']}")
    assert grafana.call("GET", f"/api/folders/{FOLDER}", token=token)[0] == 401
    converge(base, grafana)
    renewed = token_in(base)
    assert renewed != token
    assert grafana.call("GET", f"/api/folders/{FOLDER}", token=renewed)[0] == 200

    # A lost file: a new token, and the one only the lost file held is deleted.
    token_file.unlink()
    converge(base, grafana)
    assert token_in(base) != renewed
    assert len(grafana.tokens(account["id"])) == 1
    assert grafana.call("GET", f"/api/folders/{FOLDER}", token=renewed)[0] == 401

    # A role changed by hand is set back; the token stays.
    grafana.call("PATCH", f"/api/serviceaccounts/{account['id']}", {"role": "Viewer"})
    assert changed_tasks(converge(base, grafana)) == [
        "grafana : Apply the declared roles to the service accounts"
    ]
    assert grafana.account()["role"] == "None"
    assert changed_tasks(converge(base, grafana)) == []


@pytest.mark.slow
def test_a_missing_folder_above_the_token_stops_the_run(grafana: Grafana, tmp_path: Path) -> None:
    """The role creates the token's own folder only: one above it would get the
    token's owner and mode."""
    base = tmp_path / "host"
    base.mkdir()
    failed = failed_tasks(converge(base, grafana, check=False))
    (host,) = failed.values()
    (message,) = [item["msg"] for item in host["results"] if item.get("failed")]
    assert f"{base / 'secrets'} does not exist" in " ".join(message.split())
    assert not (base / "secrets").exists()
