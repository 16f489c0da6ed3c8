"""Provisioning files and grafana.ini, rendered by Ansible with the role's defaults.

Checked against Grafana's documented file formats (apiVersion 1, required
keys and their types) and against what the stack needs: datasource uids the
dashboards name, secrets only through $__file{}, Alertmanager as the one
router, and the security settings of the issue.
"""

from __future__ import annotations

import configparser
import json
import re
from typing import Any

import pytest
from grafana_helpers import (
    SCENARIOS,
    render_all,
    rendered_yaml,
    role_defaults,
    role_vars,
)
from role_runner import REPO

DURATION = re.compile(r"^(\d+(ms|s|m|h|d|w))+$")
UID = re.compile(r"^[a-zA-Z0-9_-]{1,40}$")
NO_DATA_STATES = {"OK", "NoData", "Alerting", "KeepLast"}
EXEC_ERR_STATES = {"OK", "Error", "Alerting", "KeepLast"}


def seconds(duration: str) -> int:
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
    return int(sum(int(n) * units[u] for n, u in re.findall(r"(\d+)(ms|s|m|h|d|w)", duration)))


def ini(scenario: str = "default") -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.read_string(render_all()[scenario]["grafana.ini"])
    return parser


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_every_yaml_file_renders_and_parses(scenario: str) -> None:
    for name, text in render_all()[scenario].items():
        assert "{{ " not in text.replace("{{ $", "").replace("{{ humanize", ""), (
            f"{name}: Jinja left"
        )
        if name.endswith(".yml"):
            doc = rendered_yaml(scenario, name)
            assert doc["apiVersion"] == 1, name


# --------------------------------------------------------------------------- datasources


def test_datasources_format_and_fixed_uids() -> None:
    doc = rendered_yaml("default", "datasources.yml")
    assert doc["prune"] is True
    sources = doc["datasources"]
    expected = role_vars()["_grafana_datasource_uids"]
    assert {ds["uid"] for ds in sources} == set(expected.values())
    for ds in sources:
        for key, kind in (
            ("name", str),
            ("type", str),
            ("uid", str),
            ("url", str),
            ("access", str),
        ):
            assert isinstance(ds[key], kind), (ds.get("name"), key)
        assert ds["access"] == "proxy"
        assert UID.match(ds["uid"])
        assert ds["editable"] is False
        assert isinstance(ds.get("jsonData", {}), dict)
        for value in ds.get("secureJsonData", {}).values():
            assert re.fullmatch(r"\$__file\{/etc/grafana/secrets/\w+\}", value), value
    assert len({ds["name"] for ds in sources}) == len(sources)
    assert sum(1 for ds in sources if ds.get("isDefault")) == 1
    by_type = {ds["type"]: ds for ds in sources}
    assert set(by_type) == {
        "influxdb",
        "prometheus",
        "grafana-postgresql-datasource",
        "alertmanager",
    }


def datasource(ds_type: str) -> dict[str, Any]:
    """The default scenario's (first) datasource of that type."""
    return next(
        d
        for d in rendered_yaml("default", "datasources.yml")["datasources"]
        if d["type"] == ds_type
    )


def test_influxdb_datasource_is_flux_org_bloomberg_read_token() -> None:
    ds = datasource("influxdb")
    assert ds["jsonData"]["version"] == "Flux"
    assert ds["jsonData"]["organization"] == "bloomberg"
    assert ds["jsonData"]["defaultBucket"] == "markets"
    assert ds["url"] == "http://bloomberg-influxdb:8086"
    assert ds["secureJsonData"]["token"] == "$__file{/etc/grafana/secrets/influxdb_token}"
    assert ds["isDefault"] is True


def test_postgres_datasource_is_the_read_only_role() -> None:
    ds = datasource("grafana-postgresql-datasource")
    assert ds["user"] == "grafana_ro"
    assert ds["jsonData"]["database"] == "bbdash"
    assert ds["secureJsonData"]["password"] == "$__file{/etc/grafana/secrets/postgres_password}"
    assert "password" not in ds and "password" not in ds["jsonData"]


def test_alertmanager_datasource_does_not_double_send() -> None:
    ds = datasource("alertmanager")
    assert ds["url"] == "http://bloomberg-alertmanager:9093"
    assert ds["jsonData"]["implementation"] == "prometheus"
    assert ds["jsonData"]["handleGrafanaManagedAlerts"] is False


def test_secret_files_match_the_references() -> None:
    names = {
        entry["dest"].removeprefix("secrets/")
        for entry in role_vars()["_grafana_start_files"]
        if entry["dest"].startswith("secrets/")
    }
    text = "\n".join(render_all()["direct"].values())
    referenced = set(re.findall(r"\$__file\{/etc/grafana/secrets/(\w+)\}", text))
    assert referenced <= names
    assert {
        "admin_password",
        "secret_key",
        "influxdb_token",
        "postgres_password",
        "metrics_password",
    } == names
    for scenario in SCENARIOS:
        for value in (
            "test-admin-password-0123",
            "test-secret-key",
            "test-influx-token",
            "test-pg-password",
        ):
            assert value not in "\n".join(render_all()[scenario].values()), (
                f"secret in a file ({scenario})"
            )


# --------------------------------------------------------------------------- dashboards provider


def test_dashboard_provider() -> None:
    doc = rendered_yaml("default", "dashboards.yml")
    (provider,) = doc["providers"]
    assert provider["type"] == "file"
    assert isinstance(provider["name"], str) and isinstance(provider["orgId"], int)
    assert provider["allowUiUpdates"] is False
    assert provider["disableDeletion"] is True
    assert (
        isinstance(provider["updateIntervalSeconds"], int) and provider["updateIntervalSeconds"] > 0
    )
    assert provider["options"]["path"] == role_vars()["_grafana_dashboards_dir"]
    assert provider["options"]["foldersFromFilesStructure"] is False
    assert UID.match(provider["folderUid"])


# --------------------------------------------------------------------------- alerting


def check_rule(rule: dict[str, Any], datasource_uids: set[str]) -> None:
    for key, kind in (
        ("uid", str),
        ("title", str),
        ("condition", str),
        ("data", list),
        ("for", str),
    ):
        assert isinstance(rule[key], kind), (rule.get("uid"), key)
    assert UID.match(rule["uid"])
    assert DURATION.match(rule["for"])
    assert rule["noDataState"] in NO_DATA_STATES
    assert rule["execErrState"] in EXEC_ERR_STATES
    assert isinstance(rule["isPaused"], bool)
    ref_ids = [d["refId"] for d in rule["data"]]
    assert len(set(ref_ids)) == len(ref_ids)
    assert rule["condition"] in ref_ids
    for item in rule["data"]:
        assert item["model"]["refId"] == item["refId"]
        uid = item["datasourceUid"]
        if uid == "__expr__":
            model = item["model"]
            assert model["type"] in {
                "reduce",
                "threshold",
                "math",
                "classic_conditions",
                "resample",
            }
            assert model["expression"] in ref_ids and model["expression"] != item["refId"]
            if model["type"] == "threshold":
                evaluator = model["conditions"][0]["evaluator"]
                assert evaluator["type"] in {"gt", "lt", "within_range", "outside_range"}
                assert all(isinstance(p, (int, float)) for p in evaluator["params"])
        else:
            assert uid in datasource_uids, uid
            assert item["model"]["datasource"]["uid"] == uid
            span = item["relativeTimeRange"]
            assert isinstance(span["from"], int) and span["from"] > span["to"] >= 0
    for block in ("labels", "annotations"):
        assert all(isinstance(k, str) and isinstance(v, str) for k, v in rule[block].items()), block
    assert rule["labels"]["severity"] in {"info", "warning", "critical"}
    assert rule["annotations"]["summary"]


def test_alert_rules_format() -> None:
    doc = rendered_yaml("default", "alert-rules.yml")
    datasource_uids = {d["uid"] for d in rendered_yaml("default", "datasources.yml")["datasources"]}
    uids, titles = [], []
    for group in doc["groups"]:
        assert isinstance(group["orgId"], int)
        assert isinstance(group["name"], str) and isinstance(group["folder"], str)
        assert DURATION.match(group["interval"])
        for rule in group["rules"]:
            check_rule(rule, datasource_uids)
            uids.append(rule["uid"])
            titles.append(rule["title"])
    assert len(set(uids)) == len(uids) and len(set(titles)) == len(titles)
    assert set(uids) == set(role_vars()["_grafana_alert_rule_uids"])


SHIPPED_WEIGHTS = REPO / "files/feeders/src/bbdash/sentiment/model_weights.json"


def test_alert_rules_cover_price_stall_and_sentiment() -> None:
    rules = {
        r["uid"]: r
        for g in rendered_yaml("default", "alert-rules.yml")["groups"]
        for r in g["rules"]
    }
    defaults = role_defaults()
    price = rules["bbdash-price-move"]
    assert price["data"][2]["model"]["conditions"][0]["evaluator"]["params"] == [
        float(defaults["grafana_alert_price_move_pct"])
    ]
    stalled = rules["bbdash-market-data-stalled"]
    assert stalled["noDataState"] == "Alerting", "no point at all is the stall"
    assert (
        stalled["data"][0]["relativeTimeRange"]["from"]
        == 60 * defaults["grafana_alert_feeder_stall_minutes"]
    )
    swing = rules["bbdash-sentiment-swing"]
    assert swing["data"][2]["model"]["conditions"][0]["evaluator"]["params"] == [
        float(defaults["grafana_alert_sentiment_swing"])
    ]
    # The default swing is the width of the shipped model's neutral zone (README):
    # a retrain that moves the bands must move the threshold too.
    bands = json.loads(SHIPPED_WEIGHTS.read_text(encoding="utf-8"))["bands"]
    assert float(defaults["grafana_alert_sentiment_swing"]) == round(
        bands["positive"] - bands["negative"], 2
    )
    for rule in rules.values():
        assert rule["labels"]["source"] == "grafana"


def test_alerting_disabled_deletes_the_rules() -> None:
    doc = rendered_yaml("alerting_off", "alert-rules.yml")
    assert "groups" not in doc
    assert {d["uid"] for d in doc["deleteRules"]} == set(role_vars()["_grafana_alert_rule_uids"])
    assert all(d["orgId"] == 1 for d in doc["deleteRules"])


def contact_point_names(scenario: str) -> set[str]:
    return {c["name"] for c in rendered_yaml(scenario, "contact-points.yml")["contactPoints"]}


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_contact_points_format(scenario: str) -> None:
    doc = rendered_yaml(scenario, "contact-points.yml")
    for point in doc["contactPoints"]:
        assert isinstance(point["orgId"], int) and isinstance(point["name"], str)
        assert point["receivers"]
        for receiver in point["receivers"]:
            assert UID.match(receiver["uid"])
            assert isinstance(receiver["type"], str)
            assert isinstance(receiver["settings"], dict)
            assert isinstance(receiver["disableResolveMessage"], bool)
    am = next(c for c in doc["contactPoints"] if c["name"] == "bbdash-alertmanager")
    assert am["receivers"][0]["type"] == "prometheus-alertmanager"
    assert am["receivers"][0]["settings"]["url"] == "http://bloomberg-alertmanager:9093"


def test_direct_contact_point_is_opt_in() -> None:
    assert contact_point_names("default") == {"bbdash-alertmanager"}
    assert contact_point_names("direct") == {"bbdash-alertmanager", "bbdash-direct"}
    off = rendered_yaml("alerting_off", "contact-points.yml")
    assert [d["uid"] for d in off["deleteContactPoints"]] == ["direct-mail"]


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_notification_policy(scenario: str) -> None:
    (policy,) = rendered_yaml(scenario, "policies.yml")["policies"]
    names = contact_point_names(scenario)
    assert policy["receiver"] == "bbdash-alertmanager"
    assert isinstance(policy["group_by"], list)

    def walk(route: dict[str, Any], inherited: dict[str, int]) -> None:
        assert route["receiver"] in names
        timings = dict(inherited)
        for key in ("group_wait", "group_interval", "repeat_interval"):
            if key in route:
                assert DURATION.match(route[key]), route[key]
                timings[key] = seconds(route[key])
        assert timings["repeat_interval"] >= timings["group_interval"]
        for child in route.get("routes", []):
            walk(child, timings)

    walk(policy, {})
    if scenario == "direct":
        receivers = [r["receiver"] for r in policy["routes"]]
        assert receivers == ["bbdash-direct", "bbdash-alertmanager"]
        assert policy["routes"][0]["continue"] is True
    else:
        assert "routes" not in policy


# --------------------------------------------------------------------------- grafana.ini


def test_ini_security() -> None:
    conf = ini()
    assert conf.get("users", "allow_sign_up") == "false"
    assert conf.get("users", "allow_org_create") == "false"
    assert conf.get("auth.anonymous", "enabled") == "false"
    assert conf.get("security", "cookie_secure") == "true"
    assert conf.get("security", "disable_gravatar") == "true"
    assert conf.get("security", "admin_password") == "$__file{/etc/grafana/secrets/admin_password}"
    assert conf.get("security", "secret_key") == "$__file{/etc/grafana/secrets/secret_key}"
    assert conf.get("snapshots", "external_enabled") == "false"
    assert conf.get("public_dashboards", "enabled") == "false"
    assert conf.get("analytics", "reporting_enabled") == "false"
    assert conf.get("panels", "disable_sanitize_html") == "false"


def test_ini_server_behind_nginx_at_root() -> None:
    conf = ini()
    assert conf.get("server", "root_url") == "https://dashboard.example.org/"
    assert conf.get("server", "domain") == "dashboard.example.org"
    assert conf.get("server", "serve_from_sub_path") == "false"
    assert conf.get("server", "http_port") == "3000"
    assert conf.get("server", "enforce_domain") == "false", (
        "the 127.0.0.1:3000 fallback must not redirect"
    )
    assert conf.get("users", "default_theme") == "dark"
    assert conf.get("dashboards", "default_home_dashboard_path").endswith("/market-overview.json")


def test_ini_metrics_basic_auth_when_a_password_is_set() -> None:
    assert not ini("default").has_option("metrics", "basic_auth_password")
    conf = ini("direct")
    assert conf.get("metrics", "basic_auth_username") == "metrics"
    assert (
        conf.get("metrics", "basic_auth_password")
        == "$__file{/etc/grafana/secrets/metrics_password}"
    )


def test_ini_plugins_pinned_and_skippable_offline() -> None:
    pins = ",".join(f"{p['id']}@{p['version']}" for p in role_defaults()["grafana_plugins"])
    conf = ini("default")
    assert conf.get("plugins", "preinstall_disabled") == "false"
    assert conf.get("plugins", "preinstall") == pins
    assert conf.get("plugins", "preinstall_sync") == ""
    assert conf.get("plugins", "preinstall_auto_update") == "false"
    sync = ini("sync_plugins")
    assert (
        sync.get("plugins", "preinstall") == "" and sync.get("plugins", "preinstall_sync") == pins
    )
    offline = ini("offline")
    assert offline.get("plugins", "preinstall_disabled") == "true"
    assert (
        offline.get("plugins", "preinstall") == ""
        and offline.get("plugins", "preinstall_sync") == ""
    )
