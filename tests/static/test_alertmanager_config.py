"""The alertmanager role's configuration, rendered by Ansible and checked by amtool.

The role's preflight and configure steps run for real (ansible-playbook,
connection local) into a temporary folder, once per variable set, with
`alertmanager_validate_with: host` so that the role's own `validate:` runs amtool
on the controller. Then `amtool check-config` and `amtool config routes test`
prove what the configuration does:

- all channels, current version (*_file secret fields): checked by amtool 0.28
  (Debian 13's package; Debian 12 only has 0.25, which does not know
  bot_token_file, webhook_url_file or url_file);
- all channels, version 0.25 (secrets inline): checked by Debian 12's amtool,
  the version of the Alertmanager the molecule test image is built from;
- no channel (acknowledged); only Telegram.

Preflight refuses (issue 12, "no silent drop"): no channel at all unless
`alertmanager_no_channel_acknowledged`, a channel configured in part (an SMTP
login without its password, a chat id without its token, e-mail without a
smarthost...), a malformed secret (bot token shape, URLs): each failure names
the variable and never prints a value.

Handlers are not run (the play ends before them): they talk to a Docker engine.

amtool 0.28 comes from `BBDASH_AMTOOL_CURRENT` (a path), else from
.cache/amtool-trixie/, else it is fetched there with `apt-get download` from
Debian 13 (trixie) using the machine's own Debian mirror; the tests that need
it are skipped, with the reason, when none of that works.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any, Unpack

import container_block
import pytest
import role_runner
import yaml
from role_runner import (
    REPO,
    ROLES,
    RunOptions,
    changed_tasks,
    failed_tasks,
    step_file,
    task_results,
)

# The `docker run` stand-in is shared with the Prometheus tests (same folder).
from test_prometheus_rules import docker_shim

ROLE = ROLES / "alertmanager"
SHARED_VARS = {"docker_network_name": "bloomberg-net"}
CACHE = REPO / ".cache" / "amtool-trixie"
# The task that renders alertmanager.yml (and validates it with amtool).
CONFIG_TASK = "alertmanager : Render the Alertmanager configuration and its notification templates"

SECRET_DEFAULTS = {
    "alertmanager_telegram_bot_token": "vault_alertmanager_telegram_bot_token",
    "alertmanager_smtp_auth_password": "vault_alertmanager_smtp_auth_password",
    "alertmanager_discord_webhook_url": "vault_alertmanager_discord_webhook_url",
    "alertmanager_slack_webhook_url": "vault_alertmanager_slack_webhook_url",
    "alertmanager_webhook_url": "vault_alertmanager_webhook_url",
    "alertmanager_deadman_url": "vault_alertmanager_deadman_url",
}
SECRETS = {
    # A bot token's shape: bot id, colon, 35 characters of [A-Za-z0-9_-].
    "vault_alertmanager_telegram_bot_token": "123456789:telegram_secret_token_0123456789abc",
    "vault_alertmanager_smtp_auth_password": "smtp-secret-password",
    "vault_alertmanager_discord_webhook_url": "https://discord.example/api/webhooks/1/discord-secret",
    "vault_alertmanager_slack_webhook_url": "https://hooks.slack.example/services/slack-secret",
    "vault_alertmanager_webhook_url": "https://hooks.example.org/bbdash/webhook-secret",
    "vault_alertmanager_deadman_url": "https://hc-ping.example/deadman-secret",
}
TELEGRAM = {
    "vault_alertmanager_telegram_bot_token": SECRETS["vault_alertmanager_telegram_bot_token"],
    "alertmanager_telegram_chat_id": "-1001234567",
}
EMAIL = {
    "alertmanager_email_to": "ops@example.org",
    "alertmanager_smtp_from": "bbdash@example.org",
    "alertmanager_smtp_smarthost": "smtp.example.org:587",
    "alertmanager_smtp_auth_username": "bbdash",
}
ALL_CHANNELS = {**SECRETS, **TELEGRAM, **EMAIL, "alertmanager_slack_channel": "#alerts"}

debian_amtool = shutil.which("amtool")
pytestmark = pytest.mark.skipif(
    debian_amtool is None,
    reason="amtool missing: apt-get install -y prometheus-alertmanager (tests/deps.sh)",
)


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def amtool_version(binary: str) -> tuple[int, ...]:
    out = subprocess.run(
        [binary, "--version"], capture_output=True, text=True, check=False, timeout=60
    )
    found = re.search(r"version (\d+)\.(\d+)\.(\d+)", out.stdout + out.stderr)
    return tuple(int(x) for x in found.groups()) if found else (0,)


def debian_mirror() -> str | None:
    """The machine's own Debian mirror (never written into the repository)."""
    for path in sorted(Path("/etc/apt/sources.list.d").glob("*.sources")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.startswith("URIs:") and "security" not in line:
                return line.split()[1]
    return None


def fetch_trixie_amtool() -> Path | None:
    """apt-get download prometheus-alertmanager from Debian 13 into .cache; its amtool."""
    binary = CACHE / "usr" / "bin" / "amtool"
    if binary.exists():
        return binary
    mirror = debian_mirror()
    if mirror is None or shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "lists" / "partial").mkdir(parents=True)
        (root / "cache" / "archives" / "partial").mkdir(parents=True)
        (root / "sources.list").write_text(
            f"deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] {mirror} trixie main\n",
            encoding="utf-8",
        )
        options = [
            f"-oDir::Etc::sourcelist={root / 'sources.list'}",
            "-oDir::Etc::sourceparts=/dev/null",
            f"-oDir::State::Lists={root / 'lists'}",
            f"-oDir::Cache={root / 'cache'}",
            "-oDir::State::status=/dev/null",
            "-oAPT::Sandbox::User=root",
        ]
        for command in (["update", "-qq"], ["download", "-qq", "prometheus-alertmanager"]):
            proc = subprocess.run(
                ["apt-get", *options, *command],
                cwd=root,
                capture_output=True,
                text=True,
                check=False,
                timeout=600,
            )
            if proc.returncode != 0:
                return None
        debs = sorted(root.glob("prometheus-alertmanager_*.deb"))
        if not debs:
            return None
        CACHE.mkdir(parents=True, exist_ok=True)
        subprocess.run(["dpkg-deb", "-x", str(debs[0]), str(CACHE)], check=True, timeout=120)
    return binary if binary.exists() else None


@pytest.fixture(scope="module")
def current_amtool() -> str:
    """An amtool that knows the *_file secret fields (0.26 or newer)."""
    candidates = [os.environ.get("BBDASH_AMTOOL_CURRENT", ""), debian_amtool or ""]
    for candidate in candidates:
        if candidate and Path(candidate).exists() and amtool_version(candidate) >= (0, 26, 0):
            return candidate
    fetched = fetch_trixie_amtool()
    if fetched is None or amtool_version(str(fetched)) < (0, 26, 0):
        pytest.skip(
            "no amtool >= 0.26: set BBDASH_AMTOOL_CURRENT, or let the test fetch Debian 13's "
            "prometheus-alertmanager with apt-get download (needs apt and the Debian archive)"
        )
    return str(fetched)


# --------------------------------------------------------------------------- running the role


def run_role(
    steps: list[str], base: Path, extra: dict[str, Any], **options: Unpack[RunOptions]
) -> dict[str, Any]:
    """Run the alertmanager role's tasks/<step>.yml on localhost into `base` (json callback).

    amtool validates on the controller (`alertmanager_validate_with: host`): no Docker here.
    """
    variables = {**SHARED_VARS, "alertmanager_validate_with": "host", **extra}
    return role_runner.run_role("alertmanager", steps, base, variables, **options)


def warnings(result: dict[str, Any]) -> list[str]:
    """Messages of the role's warning tasks that ran."""
    return [
        host["msg"]
        for name, host in task_results(result).items()
        if name.startswith("alertmanager : Warn") and not host.get("skipped")
    ]


def routes(amtool: str, config: Path, *labels: str) -> list[str]:
    proc = subprocess.run(
        [amtool, "config", "routes", "test", f"--config.file={config}", *labels],
        capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout.strip().split(",")


def check_config(amtool: str, config: Path) -> str:
    proc = subprocess.run(
        [amtool, "check-config", str(config)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def receiver_names(config: Path) -> list[str]:
    return [r["name"] for r in load_yaml(config)["receivers"]]


class Deployed:
    """One variable set, deployed by the role into a temporary base dir."""

    def __init__(self, base: Path, result: dict[str, Any]) -> None:
        self.base = base
        self.dir = base / "alertmanager"
        self.config = self.dir / "alertmanager.yml"
        self.result = result

    def secrets(self) -> dict[str, str]:
        return {p.name: p.read_text(encoding="utf-8") for p in (self.dir / "secrets").iterdir()}


def deploy(tmp_path_factory: pytest.TempPathFactory, name: str, extra: dict[str, Any]) -> Deployed:
    base = tmp_path_factory.mktemp(f"alertmanager-{name}")
    result = run_role(["preflight", "configure"], base, extra)
    return Deployed(base, result)


# --------------------------------------------------------------------------- variable sets


@pytest.fixture(scope="module")
def all_channels(tmp_path_factory: pytest.TempPathFactory, current_amtool: str) -> Deployed:
    extra = {**ALL_CHANNELS, "alertmanager_amtool_binary": current_amtool}
    deployed = deploy(tmp_path_factory, "all", extra)
    second = run_role(["preflight", "configure"], deployed.base, extra)
    assert changed_tasks(second) == [], "second run must change nothing"
    return deployed


@pytest.fixture(scope="module")
def all_channels_025(tmp_path_factory: pytest.TempPathFactory) -> Deployed:
    assert debian_amtool is not None
    if amtool_version(debian_amtool)[:2] != (0, 25):
        pytest.skip(
            f"this case checks with Debian 12's amtool 0.25; {debian_amtool} is another version"
        )
    # As the local inventory runs it: Telegram's Bot API and SMTP at the capture test helper.
    extra = {
        **ALL_CHANNELS,
        "alertmanager_version": "0.25.0",
        "alertmanager_amtool_binary": debian_amtool,
        "alertmanager_telegram_api_url": "http://bbdash-capture:8080",
        "alertmanager_smtp_require_tls": False,
    }
    return deploy(tmp_path_factory, "all-025", extra)


@pytest.fixture(scope="module")
def no_channel(tmp_path_factory: pytest.TempPathFactory, current_amtool: str) -> Deployed:
    extra = {
        "alertmanager_amtool_binary": current_amtool,
        "alertmanager_no_channel_acknowledged": True,
    }
    return deploy(tmp_path_factory, "none", extra)


@pytest.fixture(scope="module")
def only_telegram(tmp_path_factory: pytest.TempPathFactory, current_amtool: str) -> Deployed:
    extra = {**TELEGRAM, "alertmanager_amtool_binary": current_amtool}
    return deploy(tmp_path_factory, "telegram", extra)


# --------------------------------------------------------------------------- all channels


def test_all_channels_config_is_valid(all_channels: Deployed, current_amtool: str) -> None:
    out = check_config(current_amtool, all_channels.config)
    assert "12 receivers" in out
    channels = ["telegram", "email", "discord", "slack", "webhook"]
    assert receiver_names(all_channels.config) == [
        "null", *channels, *(f"price-{c}" for c in channels), "deadman",
    ]  # fmt: skip


def test_all_channels_routing(all_channels: Deployed, current_amtool: str) -> None:
    config = all_channels.config
    assert routes(current_amtool, config, "alertname=HostDiskSpaceLow", "severity=critical") == [
        "telegram",
        "email",
    ]
    assert routes(current_amtool, config, "alertname=HostHighLoad", "severity=warning") == [
        "telegram"
    ]
    assert routes(current_amtool, config, "alertname=Whatever", "severity=info") == ["null"]
    # No severity at all (a Grafana rule without labels): the fallback channel.
    assert routes(current_amtool, config, "alertname=GrafanaRule") == ["telegram"]
    price = ["alertname=PriceAlert", "severity=warning", "symbol=BTC/USDT", "rule_id=7"]
    # Price alerts: the same channels through receivers that never send "resolved".
    assert routes(current_amtool, config, *price, "channel=webhook") == [
        "price-webhook", "price-discord", "price-slack",
    ]  # fmt: skip
    assert routes(current_amtool, config, *price, "channel=telegram") == ["price-telegram"]
    assert routes(current_amtool, config, *price, "channel=email") == ["price-email"]
    assert routes(current_amtool, config, *price, "channel=sms") == ["price-telegram"]
    receivers = {r["name"]: r for r in load_yaml(config)["receivers"]}
    assert receivers["telegram"]["telegram_configs"][0]["send_resolved"] is True
    assert receivers["price-telegram"]["telegram_configs"][0]["send_resolved"] is False
    assert routes(current_amtool, config, "alertname=Watchdog", "severity=none") == ["deadman"]


def test_production_timings(all_channels: Deployed) -> None:
    """Infrastructure alerts are batched (30 s, 5 min); a price alert is alone in its
    group (per rule and channel), so it waits for nothing: tick to delivered p99 <= 2 s
    (docs/benchmarks.md). Verify runs with shorter test-only timings; these are the
    defaults a VPS gets."""
    config = load_yaml(all_channels.config)
    route = config["route"]
    assert (route["group_wait"], route["group_interval"], route["repeat_interval"]) == (
        "30s", "5m", "4h",
    )  # fmt: skip
    price = next(r for r in route["routes"] if r["matchers"] == ['alertname="PriceAlert"'])
    assert price["group_by"] == ["alertname", "rule_id", "symbol", "channel"]
    assert (price["group_wait"], price["group_interval"]) == ("0s", "1m")
    assert price["repeat_interval"] == "24h"
    telegram = next(r for r in config["receivers"] if r["name"] == "telegram")
    assert telegram["telegram_configs"][0]["api_url"] == "https://api.telegram.org"


def test_watchdog_is_pinged_often(all_channels: Deployed) -> None:
    route = load_yaml(all_channels.config)["route"]["routes"][0]
    assert route["matchers"] == ['alertname="Watchdog"'] and route["receiver"] == "deadman"
    assert route["repeat_interval"] == "1m" and route["group_wait"] == "0s"
    deadman = next(r for r in load_yaml(all_channels.config)["receivers"] if r["name"] == "deadman")
    assert deadman["webhook_configs"][0]["send_resolved"] is False


def test_secrets_are_files_never_in_the_config(all_channels: Deployed) -> None:
    text = all_channels.config.read_text(encoding="utf-8")
    for value in SECRETS.values():
        assert value not in text
    assert all_channels.secrets() == {
        "telegram_bot_token": SECRETS["vault_alertmanager_telegram_bot_token"],
        "smtp_auth_password": SECRETS["vault_alertmanager_smtp_auth_password"],
        "discord_webhook_url": SECRETS["vault_alertmanager_discord_webhook_url"],
        "slack_webhook_url": SECRETS["vault_alertmanager_slack_webhook_url"],
        "webhook_url": SECRETS["vault_alertmanager_webhook_url"],
        "deadman_url": SECRETS["vault_alertmanager_deadman_url"],
    }
    receivers = {r["name"]: r for r in load_yaml(all_channels.config)["receivers"]}
    assert receivers["telegram"]["telegram_configs"][0]["bot_token_file"].endswith(
        "/telegram_bot_token"
    )
    assert receivers["email"]["email_configs"][0]["auth_password_file"].endswith(
        "/smtp_auth_password"
    )
    assert receivers["discord"]["discord_configs"][0]["webhook_url_file"].endswith(
        "/discord_webhook_url"
    )
    assert receivers["slack"]["slack_configs"][0]["api_url_file"].endswith("/slack_webhook_url")
    assert receivers["webhook"]["webhook_configs"][0]["url_file"].endswith("/webhook_url")
    assert receivers["deadman"]["webhook_configs"][0]["url_file"].endswith("/deadman_url")


def test_files_are_private_to_the_container_group(all_channels: Deployed) -> None:
    for path in [all_channels.config, *(all_channels.dir / "secrets").iterdir()]:
        info = path.stat()
        assert oct(info.st_mode & 0o777) == "0o640", path
        assert (info.st_uid, info.st_gid) == (0, 65534), path
    for path in [all_channels.dir, all_channels.dir / "secrets"]:
        assert oct(path.stat().st_mode & 0o777) == "0o750", path


def test_secrets_never_appear_in_the_output(all_channels: Deployed) -> None:
    for value in SECRETS.values():
        assert value not in all_channels.result["stdout"]


def test_notification_templates_render(current_amtool: str) -> None:
    glob = str(ROLE / "files" / "templates" / "*.tmpl")
    for name in ("bbdash.title", "bbdash.text", "bbdash.telegram.message"):
        proc = subprocess.run(
            [current_amtool, "template", "render", f"--template.glob={glob}",
             f'--template.text={{{{ template "{name}" . }}}}'],
            capture_output=True, text=True, check=False, timeout=60,
        )  # fmt: skip
        assert proc.returncode == 0, f"{name}: {proc.stdout}{proc.stderr}"
        assert proc.stdout.strip(), name


def test_validate_with_image_runs_amtool_from_the_image(
    tmp_path: Path, monkeypatch: Any, current_amtool: str
) -> None:
    """The default validation: amtool in the Alertmanager image, through `docker run`.

    No Docker here: a stand-in `docker` maps the mounts and runs an amtool from
    this machine, so the test proves the command line (no pull, no network, the
    templates and secrets mounted where the configuration names them).
    """
    bin_dir, log = docker_shim(tmp_path, {"amtool": current_amtool})
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    extra = {**ALL_CHANNELS, "alertmanager_validate_with": "image"}
    run_role(["preflight", "configure"], tmp_path / "base", extra)
    calls = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    assert len(calls) == 1
    call = calls[0]
    assert call["image"] == "prom/alertmanager:v0.34.0"
    assert {"--rm", "--pull=never", "--network=none", "--entrypoint=amtool"} <= set(call["flags"])
    assert call["args"] == ["check-config", "/etc/alertmanager/alertmanager.yml"]
    assert {m[1] for m in call["mounts"]} == {
        "/etc/alertmanager/templates", "/etc/alertmanager/secrets", "/etc/alertmanager/alertmanager.yml",
    }  # fmt: skip
    config = load_yaml(tmp_path / "base" / "alertmanager" / "alertmanager.yml")
    assert config["templates"] == ["/etc/alertmanager/templates/*.tmpl"]
    secret_paths = {
        value
        for receiver in config["receivers"]
        for configs in receiver.values()
        if isinstance(configs, list)
        for entry in configs
        for key, value in entry.items()
        if key.endswith("_file")
    }
    assert secret_paths and all(p.startswith("/etc/alertmanager/secrets/") for p in secret_paths)


# --------------------------------------------------------------------------- Alertmanager 0.25


def test_all_channels_with_alertmanager_025(all_channels_025: Deployed) -> None:
    """Before 0.26 the secrets without a *_file field are inline, in the same 0640 file."""
    assert debian_amtool is not None
    check_config(debian_amtool, all_channels_025.config)
    receivers = {r["name"]: r for r in load_yaml(all_channels_025.config)["receivers"]}
    assert (
        receivers["telegram"]["telegram_configs"][0]["bot_token"]
        == SECRETS["vault_alertmanager_telegram_bot_token"]
    )
    assert (
        receivers["webhook"]["webhook_configs"][0]["url"]
        == SECRETS["vault_alertmanager_webhook_url"]
    )
    assert set(all_channels_025.secrets()) == {"smtp_auth_password", "slack_webhook_url"}
    telegram = receivers["telegram"]["telegram_configs"][0]
    assert telegram["api_url"] == "http://bbdash-capture:8080"
    assert receivers["email"]["email_configs"][0]["require_tls"] is False
    assert oct(all_channels_025.config.stat().st_mode & 0o777) == "0o640"
    for value in SECRETS.values():
        assert value not in all_channels_025.result["stdout"], "inline secrets: the task is no_log"
    config = all_channels_025.config
    assert routes(debian_amtool, config, "alertname=X", "severity=critical") == [
        "telegram",
        "email",
    ]
    assert routes(debian_amtool, config, "alertname=Watchdog", "severity=none") == ["deadman"]


def test_check_diff_never_shows_a_secret(tmp_path: Path, current_amtool: str) -> None:
    """--check --diff on a fresh host, current and 0.25 layouts: no secret in the output."""
    assert debian_amtool is not None
    for version, amtool in (("0.34.0", current_amtool), ("0.25.0", debian_amtool)):
        base = tmp_path / version
        extra = {
            **ALL_CHANNELS,
            "alertmanager_version": version,
            "alertmanager_amtool_binary": amtool,
        }
        result = run_role(["preflight", "configure"], base, extra, check_mode=True)
        assert CONFIG_TASK in changed_tasks(result)
        for value in SECRETS.values():
            assert value not in result["stdout"], (version, value)
        assert not (base / "alertmanager").exists()


# --------------------------------------------------------------------------- partial sets


def test_no_channel(no_channel: Deployed, current_amtool: str) -> None:
    check_config(current_amtool, no_channel.config)
    assert receiver_names(no_channel.config) == ["null"]
    assert routes(current_amtool, no_channel.config, "alertname=PriceAlert", "channel=sms") == [
        "null"
    ]
    for labels in (
        ["alertname=X", "severity=critical"],
        ["alertname=PriceAlert", "channel=telegram"],
        ["alertname=Watchdog", "severity=none"],
    ):
        assert routes(current_amtool, no_channel.config, *labels) == ["null"]
    assert no_channel.secrets() == {}
    text = "\n".join(warnings(no_channel.result))
    assert "no Alertmanager notification channel is enabled" in text
    assert "vault_alertmanager_deadman_url is not set" in text


def test_only_telegram(only_telegram: Deployed, current_amtool: str) -> None:
    config = only_telegram.config
    check_config(current_amtool, config)
    assert receiver_names(config) == ["null", "telegram", "price-telegram"]
    # critical asks for telegram and email: email is disabled, telegram remains.
    assert routes(current_amtool, config, "alertname=X", "severity=critical") == ["telegram"]
    price = ["alertname=PriceAlert", "severity=warning", "symbol=AAPL", "rule_id=1"]
    assert routes(current_amtool, config, *price, "channel=telegram") == ["price-telegram"]
    # The user chose email or a webhook for this rule, and none is configured: dropped.
    assert routes(current_amtool, config, *price, "channel=email") == ["null"]
    assert routes(current_amtool, config, *price, "channel=webhook") == ["null"]
    assert routes(current_amtool, config, "alertname=Watchdog", "severity=none") == ["null"]
    assert set(only_telegram.secrets()) == {"telegram_bot_token"}
    text = "\n".join(warnings(only_telegram.result))
    assert "routes name disabled Alertmanager channel(s)" in text and "email" in text


def test_severity_with_only_disabled_channels_falls_back(
    tmp_path: Path, current_amtool: str
) -> None:
    extra = {
        "vault_alertmanager_discord_webhook_url": SECRETS["vault_alertmanager_discord_webhook_url"],
        "alertmanager_amtool_binary": current_amtool,
    }
    run_role(["preflight", "configure"], tmp_path, extra)
    config = tmp_path / "alertmanager" / "alertmanager.yml"
    assert routes(current_amtool, config, "alertname=X", "severity=critical") == ["discord"]
    assert routes(current_amtool, config, "alertname=X", "severity=warning") == ["discord"]
    assert routes(current_amtool, config, "alertname=X", "severity=info") == ["null"]


def test_disabling_a_channel_removes_its_secret(tmp_path: Path, current_amtool: str) -> None:
    run_role(
        ["configure"], tmp_path, {**ALL_CHANNELS, "alertmanager_amtool_binary": current_amtool}
    )
    assert len(list((tmp_path / "alertmanager" / "secrets").iterdir())) == 6
    run_role(["configure"], tmp_path, {**TELEGRAM, "alertmanager_amtool_binary": current_amtool})
    assert [p.name for p in (tmp_path / "alertmanager" / "secrets").iterdir()] == [
        "telegram_bot_token"
    ]
    assert receiver_names(tmp_path / "alertmanager" / "alertmanager.yml") == [
        "null", "telegram", "price-telegram",
    ]  # fmt: skip


def test_invalid_config_never_goes_live(tmp_path: Path, current_amtool: str) -> None:
    """amtool rejects the file: the task fails and the live file is unchanged."""
    run_role(["configure"], tmp_path, {**TELEGRAM, "alertmanager_amtool_binary": current_amtool})
    config = tmp_path / "alertmanager" / "alertmanager.yml"
    before = config.read_text(encoding="utf-8")
    # Preflight would refuse this group_wait; configure alone shows what amtool does.
    result = run_role(
        ["configure"],
        tmp_path,
        {
            **TELEGRAM,
            "alertmanager_amtool_binary": current_amtool,
            "alertmanager_group_wait": "soon",
        },
        check=False,
    )
    failed = failed_tasks(result)
    assert list(failed) == [CONFIG_TASK], failed
    assert config.read_text(encoding="utf-8") == before


@pytest.mark.parametrize(
    ("variable", "value", "task"),
    [
        ("alertmanager_telegram_chat_id", "@mychannel", "Check the channel settings that are not secret"),
        ("alertmanager_smtp_smarthost", "smtp.example.org", "Check the channel settings that are not secret"),
        ("alertmanager_severity_channels", {"critical": ["sms"]}, "Check the routes name known channels"),
        ("alertmanager_price_alert_channels", {"pager": ["telegram"]}, "Check the routes name known channels"),
        ("alertmanager_data_retention", "5d", "Check the version and the container settings"),
        ("alertmanager_version", "latest", "Check the version and the container settings"),
        ("alertmanager_group_wait", "soon", "Check the routing durations"),
        ("alertmanager_validate_with", "docker", "Check how amtool runs"),
        ("alertmanager_telegram_chat_id", "12ab", "Check the channel settings that are not secret"),
        ("alertmanager_telegram_api_url", "api.telegram.org", "Check the channel settings that are not secret"),
        ("alertmanager_telegram_api_url", "http://bbdash-capture:8080/", "Check the channel settings that are not secret"),
        ("alertmanager_price_alert_group_wait", "now", "Check the routing durations"),
    ],
)  # fmt: skip
def test_preflight_rejects_bad_settings(
    tmp_path: Path, variable: str, value: Any, task: str
) -> None:
    result = run_role(["preflight"], tmp_path, {variable: value}, check=False)
    failed = failed_tasks(result)
    assert list(failed) == [f"alertmanager : {task}"], failed
    assert variable in json.dumps(failed), "the message names the variable"


def test_preflight_never_shows_a_secret_url(tmp_path: Path) -> None:
    """Changed with issue 12: the check names the variable in its message (the
    URL check was a no_log loop whose message was censored, task "Check the
    secret URLs"); the value is still never shown."""
    secret = "ftp://user:password-123@example.org/x"
    result = run_role(
        ["preflight"], tmp_path, {"vault_alertmanager_webhook_url": secret}, check=False
    )
    failed = failed_tasks(result)
    assert list(failed) == ["alertmanager : Check the channel secrets"]
    assert (
        "vault_alertmanager_webhook_url"
        in failed["alertmanager : Check the channel secrets"]["msg"]
    )
    assert "password-123" not in result["stdout"]


# --------------------------------------------------------------------------- no silent drop


def refused(tmp_path: Path, extra: dict[str, Any], task: str) -> str:
    """Preflight fails in `task` (and nowhere else); its message; no secret in the output."""
    result = run_role(["preflight"], tmp_path, extra, check=False)
    failed = failed_tasks(result)
    assert list(failed) == [f"alertmanager : {task}"], failed
    for value in SECRETS.values():
        assert value not in result["stdout"], value
    return failed[f"alertmanager : {task}"]["msg"]


def test_no_channel_at_all_stops_the_play(tmp_path: Path) -> None:
    """Before issue 12 this deployed with a warning and notified nobody."""
    msg = refused(tmp_path, {}, "Check that alerts reach someone")
    for name in (
        "vault_alertmanager_telegram_bot_token", "alertmanager_telegram_chat_id",
        "alertmanager_email_to", "alertmanager_smtp_smarthost",
        "vault_alertmanager_discord_webhook_url", "vault_alertmanager_slack_webhook_url",
        "vault_alertmanager_webhook_url", "alertmanager_no_channel_acknowledged",
    ):  # fmt: skip
        assert name in msg, name


def test_no_channel_is_accepted_when_acknowledged(tmp_path: Path) -> None:
    result = run_role(["preflight"], tmp_path, {"alertmanager_no_channel_acknowledged": True})
    assert "no Alertmanager notification channel is enabled" in "\n".join(warnings(result))


def test_a_disabled_alertmanager_needs_no_channel(tmp_path: Path) -> None:
    run_role(["preflight"], tmp_path, {"alertmanager_enabled": False})


@pytest.mark.parametrize(
    ("extra", "missing"),
    [
        # An SMTP login without its password: before issue 12, e-mail was only disabled.
        ({**TELEGRAM, **EMAIL}, ["vault_alertmanager_smtp_auth_password"]),
        # A password without its login.
        ({**TELEGRAM, **{k: v for k, v in EMAIL.items() if k != "alertmanager_smtp_auth_username"},
          "vault_alertmanager_smtp_auth_password": SECRETS["vault_alertmanager_smtp_auth_password"]},
         ["alertmanager_smtp_auth_username"]),
        # E-mail configured, with an empty SMTP host.
        ({**TELEGRAM, "alertmanager_email_to": "ops@example.org", "alertmanager_smtp_from": "a@example.org"},
         ["alertmanager_smtp_smarthost"]),
        # A chat id without the bot token (the local inventory did this on purpose before).
        ({"alertmanager_telegram_chat_id": "-1001234567"}, ["vault_alertmanager_telegram_bot_token"]),
        # A bot token without a chat id.
        ({"vault_alertmanager_telegram_bot_token": SECRETS["vault_alertmanager_telegram_bot_token"]},
         ["alertmanager_telegram_chat_id"]),
        # A Slack channel without the webhook.
        ({**TELEGRAM, "alertmanager_slack_channel": "#alerts"}, ["vault_alertmanager_slack_webhook_url"]),
    ],
    ids=["smtp-login-without-password", "smtp-password-without-login", "email-without-smarthost",
         "chat-id-without-token", "token-without-chat-id", "slack-channel-without-webhook"],
)  # fmt: skip
def test_a_channel_configured_in_part_stops_the_play(
    tmp_path: Path, extra: dict[str, Any], missing: list[str]
) -> None:
    msg = refused(tmp_path, extra, "Check that no channel is configured in part")
    for name in missing:
        assert name in msg, (name, msg)


@pytest.mark.parametrize(
    "token",
    [
        "123456:too-short",
        "not-a-bot-id:telegram_secret_token_0123456789abc",
        "123456789:telegram secret token 0123456789abc",
        "123456789:telegram_secret_token_0123456789abcd",
    ],
    ids=["short", "no-bot-id", "spaces", "36-characters"],
)
def test_a_malformed_bot_token_stops_the_play_without_showing_it(
    tmp_path: Path, token: str
) -> None:
    extra = {**TELEGRAM, "vault_alertmanager_telegram_bot_token": token}
    result = run_role(["preflight"], tmp_path, extra, check=False)
    failed = failed_tasks(result)
    assert list(failed) == ["alertmanager : Check the channel secrets"], failed
    assert (
        "vault_alertmanager_telegram_bot_token"
        in failed["alertmanager : Check the channel secrets"]["msg"]
    )
    assert token not in result["stdout"]
    assert token.split(":", 1)[1] not in result["stdout"]


# --------------------------------------------------------------------------- role conventions


def role_file(path: str) -> Any:
    return load_yaml(ROLE / path)


def test_role_layout_and_specs() -> None:
    for path in (
        "README.md", "defaults/main.yml", "vars/main.yml", "meta/main.yml",
        "meta/argument_specs.yml", "tasks/main.yml", "tasks/preflight.yml", "tasks/install.yml",
        "tasks/configure.yml", "tasks/run.yml", "handlers/main.yml",
        "templates/alertmanager.yml.j2", "files/templates/bbdash.tmpl",
    ):  # fmt: skip
        assert (ROLE / path).is_file(), path
    main = role_file("tasks/main.yml")
    assert [step_file(t) for t in main] == [
        "preflight.yml", "install.yml", "configure.yml", "run.yml",
    ]  # fmt: skip
    for task in main:
        step = step_file(task).removesuffix(".yml")
        assert {"alertmanager", f"alertmanager_{step}"} <= set(task["tags"])
    defaults = role_file("defaults/main.yml")
    specs = role_file("meta/argument_specs.yml")["argument_specs"]["main"]["options"]
    assert set(specs) == set(defaults), "argument_specs must match defaults exactly"
    readme = (ROLE / "README.md").read_text(encoding="utf-8")
    py_types = {bool: "bool", int: "int", float: "float", str: "str", list: "list", dict: "dict"}
    for name, value in defaults.items():
        assert name.startswith("alertmanager_"), name
        spec = specs[name]
        assert spec["description"] and spec["description"] != name, name
        templated = isinstance(value, str) and "{{" in value
        if not templated:
            assert spec["type"] in {py_types[type(value)], "raw"}, name
        if "default" in spec:
            assert spec["default"] == value, name
        else:
            assert templated, f"{name}: literal default missing from the spec"
        assert f"`{name}`" in readme, f"README does not document {name}"
    assert all(name.startswith("_alertmanager_") for name in role_file("vars/main.yml"))


def test_secrets_follow_the_vault_pattern() -> None:
    defaults = role_file("defaults/main.yml")
    specs = role_file("meta/argument_specs.yml")["argument_specs"]["main"]["options"]
    readme = (ROLE / "README.md").read_text(encoding="utf-8")
    for name, vault in SECRET_DEFAULTS.items():
        assert defaults[name] == f"{{{{ {vault} | default('') }}}}", name
        assert specs[name].get("no_log") is True, name
        assert vault in readme, vault
    secret_tasks = [t for t in role_file("tasks/configure.yml") if "secret" in t["name"].lower()]
    writer = next(t for t in secret_tasks if t["name"].startswith("Write"))
    assert writer["no_log"] is True and writer["diff"] is False
    assert writer["bbdash.stack.file_set"]["mode"] == "0640"
    # Each secret file is kept out of --diff by file_set itself too.
    entries = role_file("vars/main.yml")["_alertmanager_secret_entries"]
    assert "bbdash.stack.file_entries('secrets', secret=true)" in entries


def test_container_task() -> None:
    container = container_block.definition("alertmanager")
    assert container["name"] == "{{ _alertmanager_container_name }}"
    assert role_file("vars/main.yml")["_alertmanager_container_name"] == "bloomberg-alertmanager"
    assert container["published_ports"] == []
    assert container["read_only"] is True and container["cap_drop"] == ["ALL"]
    assert (
        container["volumes"][1]
        == "{{ _alertmanager_volume_name }}:{{ _alertmanager_container_data_dir }}"
    )
    assert container["healthcheck_test"][0] == "CMD"
    assert container["cpus"] == "{{ alertmanager_cpus }}"
    assert container["memory"] == "{{ alertmanager_memory }}"
    handlers = role_file("handlers/main.yml")
    assert {h["listen"] for h in handlers} == {"alertmanager reload"}


def test_argument_specs_accept_the_defaults_and_all_channels(tmp_path: Path) -> None:
    """validate_argument_spec on the templated defaults, as a converge does."""
    names = list(role_file("defaults/main.yml"))
    task = {
        "name": "validate against argument_specs",
        "ansible.builtin.validate_argument_spec": {
            "argument_spec": "{{ (lookup('ansible.builtin.file', specs) | from_yaml)"
            ".argument_specs.main.options }}",
            "provided_arguments": "{{ dict(names | zip(query('ansible.builtin.vars', *names))) }}",
        },
        "vars": {"specs": str(ROLE / "meta" / "argument_specs.yml"), "names": names},
        "no_log": True,
    }
    run_role(["preflight"], tmp_path, {"alertmanager_no_channel_acknowledged": True}, after=[task])
    run_role(["preflight"], tmp_path, ALL_CHANNELS, after=[task])
