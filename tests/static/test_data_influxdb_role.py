"""The influxdb role without a host: its defaults against the seed (buckets and
retention, limits), its input checks (what InfluxDB would refuse stops in
preflight, naming the variable), its planning filters (idempotent: what
matches produces no call) and its downsampling Flux (known buckets only;
parsed and type-checked by Flux itself when the Flux WebAssembly is installed)."""

from __future__ import annotations

import base64
import functools
import importlib.util
import re
from pathlib import Path
from typing import Any

import grafana_flux_wasm
import pytest
import sizing_profiles
import yaml
from bbdash.downsample.flux import range_flux
from doubles.influxdb import server as influx_server

ROOT = Path(__file__).resolve().parents[2]
ROLE = ROOT / "roles" / "influxdb"
DEFAULTS = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
DAY = 86400

_spec = importlib.util.spec_from_file_location(
    "influxdb_filters", ROLE / "filter_plugins" / "influxdb.py"
)
assert _spec is not None and _spec.loader is not None
F = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(F)

# The seed's "Rétention des Données" table, but for its `infra` bucket (15 days):
# infrastructure metrics live in Prometheus for those 15 days, and its shared
# `custom` bucket (infinite): one `custom_<login>` per person instead, kept
# forever, because InfluxDB scopes tokens by bucket (issue 11, item 5).
SEED_RETENTION = {
    "markets": 7 * DAY,
    "markets_5min": 30 * DAY,
    "markets_1h": 365 * DAY,
    "news": 90 * DAY,
}


def test_buckets_are_the_seeds_table() -> None:
    got = {b["name"]: F.duration_seconds(b["retention"]) for b in DEFAULTS["influxdb_buckets"]}
    assert got == SEED_RETENTION
    assert DEFAULTS["influxdb_org"] == "bloomberg"


def test_infrastructure_metrics_live_in_prometheus_for_the_seeds_15_days() -> None:
    """No `infra` bucket: a second copy of what Prometheus keeps, which nothing would
    write or read; Prometheus keeps the seed's 15 days of it."""
    assert "infra" not in {b["name"] for b in DEFAULTS["influxdb_buckets"]}
    prometheus = yaml.safe_load(
        (ROOT / "roles" / "prometheus" / "defaults" / "main.yml").read_text()
    )
    assert F.duration_seconds(prometheus["prometheus_retention_time"]) == 15 * DAY


def test_limits_are_the_seeds() -> None:
    for role, seed in (("influxdb", (2.0, "3g")), ("postgres", (0.5, "512m"))):
        small = sizing_profiles.row(role, "small")
        assert (small["cpus"], small["memory"]) == seed
        assert sizing_profiles.defaults(role)[f"{role}_cpus"] == sizing_profiles.follows(
            role, "cpus"
        )
    assert DEFAULTS["influxdb_go_memory_limit"] == sizing_profiles.follows(
        "influxdb", "go_memory_limit"
    )


def test_image_is_a_pinned_2x() -> None:
    assert re.fullmatch(r"influxdb:2\.\d+\.\d+", DEFAULTS["influxdb_image"])


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("7d", 7 * DAY),
        ("1h30m", 5400),
        ("365d", 365 * DAY),
        ("2w", 14 * DAY),
        ("infinite", 0),
        ("0", 0),
        (0, 0),
        (3600, 3600),
    ],
)
def test_durations(text: Any, seconds: int) -> None:
    assert F.duration_seconds(text) == seconds


@pytest.mark.parametrize("text", ["7 days", "1y", "-1h", "h", "1.5h", True])
def test_invalid_durations(text: Any) -> None:
    with pytest.raises(F.AnsibleFilterError, match="invalid duration"):
        F.duration_seconds(text)


def test_defaults_pass_every_check() -> None:
    buckets = DEFAULTS["influxdb_buckets"]
    assert F.bucket_problems(buckets) == []
    assert F.task_problems(DEFAULTS["influxdb_downsample_tasks"], buckets) == []
    assert F.token_problems(DEFAULTS["influxdb_tokens"], buckets) == []


@pytest.mark.parametrize(
    ("bucket", "expected"),
    [
        (
            {"name": "markets", "retention": "30m"},
            r"influxdb_buckets\[markets\]\.retention is '30m': InfluxDB refuses a retention shorter than 1h",
        ),
        (
            {"name": "markets", "retention": "7 days"},
            r"influxdb_buckets\[markets\]\.retention: invalid duration",
        ),
        (
            {"name": "markets", "retention": "1d", "shard_group_duration": "7d"},
            r"shard_group_duration \(7d\) is longer than its retention",
        ),
        ({"name": "_markets", "retention": "1d"}, r"names starting with _"),
        ({"name": "markets"}, r"retention is missing"),
    ],
)
def test_bucket_inputs_influxdb_would_refuse(bucket: dict[str, Any], expected: str) -> None:
    problems = F.bucket_problems([bucket])
    assert any(re.search(expected, p) for p in problems), problems


def test_task_naming_an_unknown_bucket_is_refused() -> None:
    task = dict(DEFAULTS["influxdb_downsample_tasks"][0], destination="markets_10min")
    problems = F.task_problems([task], DEFAULTS["influxdb_buckets"])
    assert problems == [
        "influxdb_downsample_tasks[downsample_5min].destination names bucket 'markets_10min', "
        "which is not in influxdb_buckets (markets, markets_1h, markets_5min, news)"
    ]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"every": "5 minutes"}, r"\.every must be a duration"),
        ({"lookback": "7m"}, r"every and lookback must be whole windows"),
        ({"lookback": "5m"}, r"lookback must cover every \+ one window \(600 s\)"),
        ({"fn": "spread"}, r"\.fn must be one of"),
        ({"source": "markets_5min"}, r"source and destination must be different"),
    ],
)
def test_task_inputs_that_would_fail(change: dict[str, str], expected: str) -> None:
    task = dict(DEFAULTS["influxdb_downsample_tasks"][0], **change)
    problems = F.task_problems([task], DEFAULTS["influxdb_buckets"])
    assert any(re.search(expected, p) for p in problems), problems


def test_tokens_are_least_privilege() -> None:
    tokens = {t["name"]: t for t in DEFAULTS["influxdb_tokens"]}
    # The market feeder also re-downsamples late windows: it reads the sources of the
    # downsampling tasks and writes their destinations (docs/data-layer.md, "Late data").
    assert tokens["market-feeder"] == {
        "name": "market-feeder",
        "write": ["markets", "markets_5min", "markets_1h"],
        "read": ["markets", "markets_5min"],
    }
    tasks = DEFAULTS["influxdb_downsample_tasks"]
    assert set(tokens["market-feeder"]["read"]) == {t["source"] for t in tasks}
    assert set(tokens["market-feeder"]["write"]) == {"markets"} | {t["destination"] for t in tasks}
    assert tokens["news-feeder"] == {"name": "news-feeder", "write": ["news"]}
    assert tokens["grafana"] == {"name": "grafana", "read": ["*"]}
    ids = {"markets": "m1", "news": "n1"}
    assert F.token_permissions({"name": "w", "write": ["markets"]}, ids, "o1") == [
        {"action": "write", "resource": {"type": "buckets", "orgID": "o1", "id": "m1"}}
    ]
    assert F.token_permissions(tokens["grafana"], ids, "o1") == [
        {"action": "read", "resource": {"type": "buckets", "orgID": "o1"}}
    ]
    bad = F.token_problems(
        [{"name": "x", "write": ["*"]}, {"name": "y", "read": ["nope"]}],
        DEFAULTS["influxdb_buckets"],
    )
    assert any("'*' (every bucket) is not allowed" in p for p in bad)
    assert any("names bucket 'nope'" in p for p in bad)


def _api_bucket(
    name: str,
    retention: int,
    shard: int,
    org: str = "o1",
    kind: str = "user",
    description: str = "",
) -> dict[str, Any]:
    rules = (
        [{"type": "expire", "everySeconds": retention, "shardGroupDurationSeconds": shard}]
        if retention or shard
        else []
    )
    return {
        "id": f"id-{name}",
        "orgID": org,
        "name": name,
        "type": kind,
        "retentionRules": rules,
        "description": description,
    }


def test_bucket_plan_creates_patches_and_reports() -> None:
    wanted = [
        {"name": "markets", "retention": "7d"},
        {"name": "news", "retention": "90d"},
        {"name": "custom", "retention": "infinite"},
    ]
    existing = [
        _api_bucket("markets", 3 * DAY, DAY),
        _api_bucket("_monitoring", 7 * DAY, DAY, kind="system"),
        _api_bucket("old", DAY, 3600),
        _api_bucket("news", 90 * DAY, DAY, org="other-org"),
    ]
    plan = F.bucket_plan(wanted, existing, "o1")
    assert [c["name"] for c in plan["to_create"]] == ["news", "custom"]
    assert plan["to_create"][1]["body"]["retentionRules"] == [{"type": "expire", "everySeconds": 0}]
    # The shard duration follows InfluxDB's default for the new retention, so a
    # shorter retention is never refused for an old, longer shard duration.
    assert plan["to_update"] == [
        {
            "name": "markets",
            "id": "id-markets",
            "body": {
                "retentionRules": [
                    {"type": "expire", "everySeconds": 7 * DAY, "shardGroupDurationSeconds": DAY}
                ]
            },
        }
    ]
    assert plan["unmanaged"] == ["old"]


def test_bucket_plan_is_empty_when_everything_matches() -> None:
    wanted = [dict(b) for b in DEFAULTS["influxdb_buckets"]]
    existing = [
        _api_bucket(
            b["name"],
            F.duration_seconds(b["retention"]),
            F.default_shard_group_seconds(F.duration_seconds(b["retention"])),
            description=b["description"],
        )
        for b in wanted
    ]
    assert F.bucket_plan(wanted, existing, "o1") == {
        "to_create": [],
        "to_update": [],
        "to_delete": [],
        "unmanaged": [],
    }


def test_task_plan() -> None:
    wanted = [
        {"name": "a", "flux": "A", "status": "active", "description": ""},
        {"name": "b", "flux": "B2", "status": "active", "description": ""},
    ]
    existing = [
        {
            "id": "1",
            "orgID": "o1",
            "name": "b",
            "flux": "B1",
            "status": "active",
            "createdAt": "2026-01-01",
        },
        {
            "id": "2",
            "orgID": "o1",
            "name": "b",
            "flux": "B1",
            "status": "active",
            "createdAt": "2026-01-02",
        },
        {"id": "3", "orgID": "o1", "name": "unrelated", "flux": "X", "status": "active"},
    ]
    plan = F.task_plan(wanted, existing, "o1")
    assert [c["name"] for c in plan["to_create"]] == ["a"]
    assert plan["to_update"] == [{"name": "b", "id": "1", "body": {"flux": "B2"}}]
    assert plan["to_delete"] == [{"name": "b", "id": "2"}]
    same = [
        {
            "id": "9",
            "orgID": "o1",
            "name": w["name"],
            "flux": w["flux"],
            "status": "active",
            "description": "",
        }
        for w in wanted
    ]
    assert F.task_plan(wanted, same, "o1") == {"to_create": [], "to_update": [], "to_delete": []}


def _slurp(name: str, content: str | None) -> dict[str, Any]:
    if content is None:
        return {"item": {"name": name}, "failed": False, "msg": "file not found"}
    return {"item": {"name": name}, "content": base64.b64encode(content.encode()).decode()}


def _probe(name: str, status: int, message: str = "", buckets: int = 0) -> dict[str, Any]:
    return {
        "item": {"item": {"name": name}},
        "status": status,
        "json": {"message": message, "buckets": [{}] * buckets},
    }


def test_token_plan_keeps_valid_tokens_and_replaces_the_rest() -> None:
    tokens = [
        {"name": "feeder", "write": ["markets"]},
        {"name": "grafana", "read": ["*"]},
        {"name": "new", "write": ["markets"]},
    ]
    ids = {"markets": "m1"}
    perms = {t["name"]: F.token_permissions(t, ids, "o1") for t in tokens}
    auths = [
        {
            "id": "a1",
            "description": "bbdash:feeder",
            "status": "active",
            "permissions": perms["feeder"],
        },
        {
            "id": "a0",
            "description": "bbdash:feeder",
            "status": "active",
            "permissions": perms["feeder"],
        },
        # Grafana's authorization has drifted (write added by hand): replaced.
        {
            "id": "a2",
            "description": "bbdash:grafana",
            "status": "active",
            "permissions": perms["grafana"] + perms["feeder"],
        },
    ]
    plan = F.token_plan(
        tokens,
        [_slurp("feeder", "tok-f"), _slurp("grafana", "tok-g"), _slurp("new", None)],
        [_slurp("feeder", "a1\n"), _slurp("grafana", "a2"), _slurp("new", None)],
        [_probe("feeder", 204), _probe("grafana", 200, buckets=1)],
        auths,
        ids,
        "o1",
        "bbdash:",
    )
    by_name = {p["name"]: p for p in plan}
    assert (by_name["feeder"]["action"], by_name["feeder"]["stale_ids"]) == ("keep", ["a0"])
    assert (by_name["grafana"]["action"], by_name["grafana"]["stale_ids"]) == ("create", ["a2"])
    assert (by_name["new"]["action"], by_name["new"]["stale_ids"]) == ("create", [])


@pytest.mark.parametrize(
    ("probe", "action"),
    [
        # InfluxDB 2.1+ (v2.9.1 http/write_handler.go) accepts an empty write with 204.
        (_probe("feeder", 204), "keep"),
        # InfluxDB v2.0.0's answer to an empty write: it proves nothing on 2.9.
        (_probe("feeder", 400, "writing requires points"), "create"),
        (_probe("feeder", 404, 'bucket "markets" not found'), "create"),
        (_probe("feeder", 401, "unauthorized access"), "create"),  # InfluxDB no longer knows it
        (_probe("feeder", 403, "insufficient permissions for write"), "create"),
    ],
)
def test_token_plan_trusts_only_a_token_that_works(probe: dict[str, Any], action: str) -> None:
    token = {"name": "feeder", "write": ["markets"]}
    perms = F.token_permissions(token, {"markets": "m1"}, "o1")
    plan = F.token_plan(
        [token],
        [_slurp("feeder", "t")],
        [_slurp("feeder", "a1")],
        [probe],
        [{"id": "a1", "description": "bbdash:feeder", "status": "active", "permissions": perms}],
        {"markets": "m1"},
        "o1",
        "bbdash:",
    )
    assert plan[0]["action"] == action


def test_orphan_authorizations() -> None:
    auths = [
        {"id": "1", "description": "bbdash:gone"},
        {"id": "2", "description": "bbdash:grafana"},
        {"id": "3", "description": "admin's Token"},
    ]
    assert F.orphan_authorizations(auths, [{"name": "grafana"}], "bbdash:") == ["1"]


def test_influxd_environment() -> None:
    # The profile's values, as Ansible templates them for the small profile.
    small = sizing_profiles.row("influxdb", "small")
    config = dict(DEFAULTS["influxdb_config"])
    for option, key in (
        ("storage-cache-max-memory-size", "cache_max_memory_size"),
        ("query-concurrency", "query_concurrency"),
        ("query-max-memory-bytes", "query_max_memory_bytes"),
    ):
        assert config[option] == sizing_profiles.follows("influxdb", key)
        config[option] = small[key]
    env = F.influxd_env(config, {"log-level": "warn"})
    assert env["INFLUXD_REPORTING_DISABLED"] == "true"
    assert env["INFLUXD_STORAGE_CACHE_MAX_MEMORY_SIZE"] == str(256 * 1024 * 1024)
    assert env["INFLUXD_LOG_LEVEL"] == "warn"
    assert int(env["INFLUXD_QUERY_MEMORY_BYTES"]) <= int(env["INFLUXD_QUERY_MAX_MEMORY_BYTES"])


# --------------------------------------------------------------------------- Flux of the tasks


def render(task: dict[str, Any], org: str = "bloomberg") -> str:
    """The task's Flux as flux_tasks.yml renders it (filter influxdb_task_flux)."""
    return F.FilterModule().filters()["influxdb_task_flux"](task, org)


TASK_FLUX = [(t["name"], render(t)) for t in DEFAULTS["influxdb_downsample_tasks"]]
# The same queries over an explicit range, as the market feeder's re-downsampler
# sends them for late windows (bbdash.downsample.flux.range_flux).
RANGE_FLUX = [
    (f"{t['name']}-range", range_flux(t, "bloomberg", 1_767_614_400, 1_767_636_000))
    for t in DEFAULTS["influxdb_downsample_tasks"]
]


@pytest.mark.parametrize(("name", "flux"), TASK_FLUX, ids=[n for n, _ in TASK_FLUX])
def test_task_flux_reads_and_writes_known_buckets(name: str, flux: str) -> None:
    buckets = {b["name"] for b in DEFAULTS["influxdb_buckets"]}
    read = re.findall(r'from\(bucket: "([^"]+)"\)', flux)
    written = re.findall(r'to\(bucket: "([^"]+)", org: "bloomberg"\)', flux)
    assert read and written and set(read + written) <= buckets
    option = re.search(r'option task = \{name: "([^"]+)", every: (\w+)(?:, offset: (\w+))?\}', flux)
    assert option and option[1] == name


def test_the_seed_task_is_kept_and_writes_candles() -> None:
    """The seed's downsample_5min (every 5m, the last minutes of markets into markets_5min), writing
    true candles of the price instead of means (issue 10): open = first, high = max,
    low = min, close = last; every other field (price included) the window's last."""
    flux = dict(TASK_FLUX)["downsample_5min"]
    for line in (
        'from(bucket: "markets")',
        "|> range(start: -30m)",  # the seed's 10 m, lengthened for delayed quotes
        '|> filter(fn: (r) => r._measurement == "market_data")',
        'candle(field: "price", fn: first, name: "open")',
        'candle(field: "price", fn: max, name: "high")',
        'candle(field: "price", fn: min, name: "low")',
        'candle(field: "price", fn: last, name: "close")',
        "|> aggregateWindow(every: 5m, fn: last, createEmpty: false)",
        '|> to(bucket: "markets_5min", org: "bloomberg")',
    ):
        assert line in flux
    assert 'option task = {name: "downsample_5min", every: 5m' in flux
    assert "mean" not in flux and "timeShift" not in flux  # raw points carry their own time


def test_the_hourly_task_rolls_the_five_minute_candles_up() -> None:
    flux = dict(TASK_FLUX)["downsample_1h"]
    for line in (
        'from(bucket: "markets_5min")',
        "|> range(start: -3h, stop: 1ns)",  # the candle stamped with the run's time is in
        '|> timeShift(duration: -1ns, columns: ["_time"])',
        'candle(field: "open", fn: first, name: "open")',
        'candle(field: "high", fn: max, name: "high")',
        'candle(field: "low", fn: min, name: "low")',
        'candle(field: "close", fn: last, name: "close")',
        'r._field != "open" and r._field != "high" and r._field != "low" and r._field != "close"',
        "|> aggregateWindow(every: 1h, fn: last, createEmpty: false)",
        '|> to(bucket: "markets_1h", org: "bloomberg")',
    ):
        assert line in flux


def test_candles_take_no_field_filter() -> None:
    task = dict(DEFAULTS["influxdb_downsample_tasks"][0], fields=["price"])
    assert F.task_problems([task], DEFAULTS["influxdb_buckets"]) == [
        "influxdb_downsample_tasks[downsample_5min]: fn candles reads every field; drop fields"
    ]


def test_field_filter() -> None:
    task = dict(DEFAULTS["influxdb_downsample_tasks"][0], fn="mean", fields=["price", "volume_24h"])
    assert '|> filter(fn: (r) => r._field == "price" or r._field == "volume_24h")' in render(task)


FLUX_UNAVAILABLE = grafana_flux_wasm.unavailable_reason()


CHECKED_FLUX = TASK_FLUX + RANGE_FLUX


@functools.lru_cache(maxsize=1)
def flux_verdicts() -> list[dict[str, object]]:
    return grafana_flux_wasm.check([flux for _, flux in CHECKED_FLUX])


@pytest.mark.skipif(FLUX_UNAVAILABLE is not None, reason=f"Flux type checker: {FLUX_UNAVAILABLE}")
@pytest.mark.parametrize("index", range(len(CHECKED_FLUX)), ids=[n for n, _ in CHECKED_FLUX])
def test_task_flux_parses_and_type_checks(index: int) -> None:
    """Flux's own parser and type checker (WebAssembly build) accept the task, and the
    same query over an explicit range (the re-downsampler's)."""
    verdict = flux_verdicts()[index]
    name, flux = CHECKED_FLUX[index]
    assert verdict["valid"], f"{name}: {verdict['errors']}\n{flux}"


def test_the_range_form_is_the_task_with_explicit_bounds() -> None:
    """One source: the re-downsampler's query is the task's, bar the options and the
    range (1 ns past the stop for a rollup, like the task's `stop: 1ns`)."""
    for (name, task), (_, ranged) in zip(TASK_FLUX, RANGE_FLUX, strict=True):
        body = task.split("\n\n", 1)[1]
        strip = re.compile(r"\|> range\([^)]*\)|^// .*$", re.M)
        assert strip.sub("", body) == strip.sub("", ranged), name
    assert "range(start: 2026-01-05T12:00:00Z, stop: 2026-01-05T18:00:00Z)" in RANGE_FLUX[0][1]
    assert "stop: 2026-01-05T18:00:00.000000001Z)" in RANGE_FLUX[1][1]


def test_the_market_feeder_re_downsamples_the_tasks_the_role_creates() -> None:
    """market_feeder_redownsample_tasks repeats influxdb_downsample_tasks (the roles run
    in different plays) with each source bucket's retention: they must not drift."""
    feeder = yaml.safe_load((ROOT / "roles/market_feeder/defaults/main.yml").read_text())
    retention = {b["name"]: b["retention"] for b in DEFAULTS["influxdb_buckets"]}
    tasks = feeder["market_feeder_redownsample_tasks"]
    assert [t.pop("source_retention") for t in tasks] == [
        retention[t["source"]] for t in DEFAULTS["influxdb_downsample_tasks"]
    ]
    wanted = [
        {k: v for k, v in t.items() if k != "description"}
        for t in DEFAULTS["influxdb_downsample_tasks"]
    ]
    assert tasks == wanted


@pytest.mark.skipif(FLUX_UNAVAILABLE is not None, reason=f"Flux type checker: {FLUX_UNAVAILABLE}")
@pytest.mark.parametrize(("name", "flux"), TASK_FLUX, ids=[n for n, _ in TASK_FLUX])
def test_the_influxdb_double_accepts_every_task(name: str, flux: str) -> None:
    """Converge creates the tasks in the test host's InfluxDB double, which parses the
    whole Flux for its options (task/options/options.go): a syntax its parser lacks
    (a pipe-receive parameter, once) fails the converge, not a unit test."""
    options = influx_server.InfluxDBDouble.parse_task_options(flux)
    assert options["name"] == name


def test_the_type_checker_would_catch_a_broken_task() -> None:
    broken = render(dict(DEFAULTS["influxdb_downsample_tasks"][0], fn="meen"))
    assert not grafana_flux_wasm.check([broken])[0]["valid"]


# --------------------------------------------------------------------------- custom buckets


def test_custom_buckets_one_per_person_who_asks() -> None:
    users = [{"login": "trader", "custom_bucket": True}, {"login": "quant", "custom_max_series": 5}]
    assert F.custom_buckets(users, "custom_") == [
        {
            "name": "custom_trader",
            "retention": "infinite",
            "description": "Custom series of trader",
        },
        {"name": "custom_quant", "retention": "infinite", "description": "Custom series of quant"},
    ]
    assert F.custom_buckets([], "custom_") == []
    assert not F.custom_user_problems(users, "custom_", DEFAULTS["influxdb_buckets"])


@pytest.mark.parametrize(
    ("users", "buckets", "expected"),
    [
        ([{"login": "a b"}], [], r"login 'a b' must be letters"),
        ([{"login": "x"}, {"login": "x"}], [], r"login 'x' is listed twice"),
        ([{"login": "x", "custom_max_series": 0}], [], r"custom_max_series must be a positive"),
        ([], [{"name": "custom_shared", "retention": "0"}], r"per-person custom buckets"),
    ],
)
def test_custom_user_inputs_that_are_refused(
    users: list[dict[str, Any]], buckets: list[dict[str, Any]], expected: str
) -> None:
    problems = F.custom_user_problems(users, "custom_", buckets)
    assert any(re.search(expected, p) for p in problems), problems


def test_the_watchlist_api_token_name_is_reserved() -> None:
    tokens = [{"name": "watchlist-api", "write": ["markets"]}]
    assert any(
        "creates the 'watchlist-api' token" in p
        for p in F.token_problems(tokens, DEFAULTS["influxdb_buckets"])
    )


def test_bucket_plan_deletes_the_custom_buckets_of_people_gone_only() -> None:
    wanted = [
        {"name": "markets", "retention": "7d"},
        *F.custom_buckets([{"login": "kept"}], "custom_"),
    ]
    existing = [
        _api_bucket("markets", 7 * DAY, DAY),
        _api_bucket("custom_kept", 0, 7 * DAY, description="Custom series of kept"),
        _api_bucket("custom_gone", 0, 7 * DAY),
        _api_bucket("custom", 0, 7 * DAY),
        _api_bucket("infra", 15 * DAY, DAY),
        _api_bucket("custom_elsewhere", 0, 7 * DAY, org="other-org"),
    ]
    plan = F.bucket_plan(wanted, existing, "o1", "custom_")
    assert plan["to_create"] == [] and plan["to_update"] == []
    assert plan["to_delete"] == [{"name": "custom_gone", "id": "id-custom_gone"}]
    # The seed's shared bucket and infra are kept, reported.
    assert plan["unmanaged"] == ["custom", "infra"]
    # Without a prefix (the plan as before), nothing is ever deleted.
    assert F.bucket_plan(wanted, existing, "o1")["to_delete"] == []


def test_the_token_manager_holds_only_its_buckets_and_its_own_user() -> None:
    spec = {"name": "watchlist-api", "read": ["custom_a"], "write": ["custom_a"], "owner_id": "u1"}
    perms = F.token_permissions(spec, {"custom_a": "b1", "markets": "b2"}, "o1")
    assert sorted(F._permission_key(p) for p in perms) == sorted(
        [
            ("read", "buckets", "b1", "o1"),
            ("write", "buckets", "b1", "o1"),
            ("read", "authorizations", "", "o1"),
            ("write", "authorizations", "", "o1"),
            ("read", "users", "u1", ""),
            ("write", "users", "u1", ""),
        ]
    )
    # A bucket not created yet (--check) never widens to the whole org.
    missing = F.token_permissions(dict(spec, read=["custom_new"], write=[]), {}, "o1")
    assert missing[0]["resource"]["id"] == F.MISSING_ID


def test_token_plan_replaces_the_manager_for_another_owner_or_bucket_set() -> None:
    spec = {"name": "watchlist-api", "read": ["custom_a"], "write": ["custom_a"], "owner_id": "u1"}
    ids = {"custom_a": "b1"}
    auth = {
        "id": "a1",
        "status": "active",
        "description": "bbdash:watchlist-api",
        "userID": "u1",
        "permissions": F.token_permissions(spec, ids, "o1"),
    }
    probe = {
        "item": {"item": {"name": "watchlist-api"}},
        "status": 200,
        "json": {"authorizations": [auth]},
    }

    def plan(spec: dict[str, Any], auth: dict[str, Any], probe: dict[str, Any]) -> dict[str, Any]:
        return F.token_plan(
            [spec],
            [_slurp("watchlist-api", "tok")],
            [_slurp("watchlist-api", "a1")],
            [probe],
            [auth],
            ids,
            "o1",
            "bbdash:",
        )[0]

    kept = plan(spec, auth, probe)
    assert kept["action"] == "keep" and kept["body_extra"] == {"userID": "u1"}
    assert plan(spec, dict(auth, userID="operator"), probe)["action"] == "create"
    assert plan(dict(spec, read=[], write=[]), auth, probe)["action"] == "create"
    assert plan(spec, auth, dict(probe, status=401, json={}))["action"] == "create"
    assert plan(spec, auth, dict(probe, json={"authorizations": []}))["action"] == "create"
