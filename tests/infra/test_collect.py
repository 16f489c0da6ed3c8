"""The collection layer on the converged host: market feeder, news feeder, watchlist API.

Containers run healthy with the seed's limits, on bloomberg-net only, with no
published port; points arrive in InfluxDB (the test double's inspection
endpoint on these machines); the watchlists declared in the inventory exist in
the API; a symbol added through the API is collected within 5 seconds (demo
mode follows the watchlists); secrets are 0600 files owned by the container's
user and appear neither in the image nor in `docker inspect`.

Requests to the services run on the test host (they are reachable only on
bloomberg-net, from the host), by a Python snippet that reads the admin key
from its file itself, so no secret reaches this process or its output.
"""

from __future__ import annotations

import json
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from bbdash.common.watchlist import APPLICATION_NAME
from conftest import REPO
from test_data import inspect, psql, wait_healthy

CONTAINERS = {
    # name: (CPUs, memory bytes, metrics/health port): the seed's table
    "bloomberg-market-feeder": (0.5, 512 * 1024**2, 9108),
    "bloomberg-news-feeder": (0.25, 256 * 1024**2, 9109),
    "bloomberg-watchlist-api": (0.25, 256 * 1024**2, 8000),
}
SECRETS = {
    "market-feeder": {"influx.token", "postgres.dsn"},
    "news-feeder": {"influx.token", "postgres.dsn"},
    "watchlist-api": {"database-url", "admin-key", "metrics-token", "influx.token"},
}
BASE = "/opt/bloomberg"
LOCAL_VARS = yaml.safe_load(
    (REPO / "inventories" / "local" / "group_vars" / "all" / "main.yml").read_text()
)

PRELUDE = (Path(__file__).parent / "on_host_prelude.py").read_text()


def on_host(host: Any, script: str, timeout: int = 60) -> Any:
    """Run a Python snippet on the test host (as root), after on_host_prelude.py's
    helpers; it prints one JSON value."""
    code = PRELUDE + textwrap.dedent(script)
    result = host.run(f"timeout {timeout} python3 - <<'PYEOF'\n{code}\nPYEOF")
    assert result.rc == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def containers(host: Any) -> dict[str, dict[str, Any]]:
    # Waits, because verify's backup tests ran first: their restores keep the
    # databases away for a while, and a container that turned unhealthy
    # meanwhile is marked healthy again only by its next passing probe, up to
    # 30 s later.
    return {name: wait_healthy(host, name) for name in CONTAINERS}


@pytest.mark.parametrize("name", sorted(CONTAINERS))
def test_container_runs_healthy_with_the_seed_limits(
    containers: dict[str, dict[str, Any]], name: str
) -> None:
    c = containers[name]
    cpus, memory, _port = CONTAINERS[name]
    assert c["State"]["Running"]
    assert c["State"]["Health"]["Status"] == "healthy", c["State"]["Health"]["Log"][-2:]
    assert c["HostConfig"]["NanoCpus"] == int(cpus * 1e9)
    assert c["HostConfig"]["Memory"] == memory
    assert c["HostConfig"]["RestartPolicy"]["Name"] == "unless-stopped"
    assert c["Config"]["Healthcheck"]["Test"] == ["CMD", "bbdash-healthcheck"]


@pytest.mark.parametrize("name", sorted(CONTAINERS))
def test_container_is_confined(containers: dict[str, dict[str, Any]], name: str) -> None:
    c = containers[name]
    assert c["Config"]["User"] == "10001:10001"
    assert c["HostConfig"]["ReadonlyRootfs"] is True
    assert c["HostConfig"]["CapDrop"] == ["ALL"]
    assert "no-new-privileges:true" in c["HostConfig"]["SecurityOpt"]
    # No published port, and bloomberg-net is its only network.
    assert not c["HostConfig"]["PortBindings"]
    assert not any(c["NetworkSettings"]["Ports"].get(p) for p in c["NetworkSettings"]["Ports"])
    assert list(c["NetworkSettings"]["Networks"]) == ["bloomberg-net"]


def test_one_image_built_from_the_shipped_files(
    host: Any, containers: dict[str, dict[str, Any]]
) -> None:
    images = {c["Config"]["Image"] for c in containers.values()}
    assert len(images) == 1
    (image,) = images
    assert image.startswith("bbdash/feeders:")
    label = inspect(host, image)["Config"]["Labels"]["org.bbdash.inputs"]
    assert image.endswith(":" + label)
    assert host.file(f"{BASE}/src/feeders/Dockerfile").exists
    assert host.file(f"{BASE}/src/feeders/wheels").is_directory


def test_feeders_have_their_data_volume(containers: dict[str, dict[str, Any]]) -> None:
    for name in ("bloomberg-market-feeder", "bloomberg-news-feeder"):
        mounts = {m["Destination"]: m for m in containers[name]["Mounts"]}
        assert mounts["/var/lib/bbdash"]["Type"] == "volume"
        assert mounts["/var/lib/bbdash"]["Name"] == f"{name}-data"
        assert mounts["/run/secrets/bbdash"]["RW"] is False
        assert mounts["/etc/bbdash"]["RW"] is False


@pytest.mark.parametrize("component", sorted(SECRETS))
def test_secret_files_are_private_to_the_container_user(host: Any, component: str) -> None:
    folder = host.file(f"{BASE}/secrets/{component}")
    assert folder.is_directory and folder.mode == 0o700 and folder.uid == 10001
    for name in SECRETS[component]:
        f = host.file(f"{BASE}/secrets/{component}/{name}")
        assert f.is_file, name
        assert (f.mode, f.uid, f.gid) == (0o600, 10001, 10001), name


def test_no_secret_in_images_environment_or_configuration(
    host: Any, containers: dict[str, dict[str, Any]]
) -> None:
    secrets = {
        host.file(f"{BASE}/secrets/{component}/{name}").content_string.strip()
        for component, names in SECRETS.items()
        for name in names
    }
    assert all(len(s) >= 16 for s in secrets)
    image = next(iter(containers.values()))["Config"]["Image"]
    seen = [
        json.dumps(list(containers.values())),
        json.dumps(inspect(host, image)),
        host.check_output(f"docker history --no-trunc {image}"),
        host.file(f"{BASE}/market-feeder/market-feeder.yml").content_string,
        host.file(f"{BASE}/news-feeder/news-feeder.yml").content_string,
    ]
    for text in seen:
        for secret in secrets:
            assert secret not in text
    # The passwords inside the DSNs too.
    for component in ("market-feeder", "watchlist-api"):
        dsn_file = "postgres.dsn" if component == "market-feeder" else "database-url"
        dsn = host.file(f"{BASE}/secrets/{component}/{dsn_file}").content_string.strip()
        password = dsn.split("://", 1)[1].split("@", 1)[0].split(":", 1)[1]
        assert all(password not in text for text in seen)


def test_configuration_files_turn_on_demo_mode(host: Any) -> None:
    for component in ("market-feeder", "news-feeder"):
        f = host.file(f"{BASE}/{component}/{component}.yml")
        assert f.mode == 0o644
        config = yaml.safe_load(f.content_string)
        assert config["demo"]["enabled"] is True
        assert config["influx"]["token_file"] == "/run/secrets/bbdash/influx.token"


# Reads the InfluxDB double's /__double/points (no such endpoint on InfluxDB).
@pytest.mark.doubles
def test_market_points_arrive(host: Any) -> None:
    got = on_host(
        host,
        """
        before = {p["tags"]["symbol"]: p["time"] for p in points("markets")}
        time.sleep(3)
        after = points("markets")
        newer = sorted({p["tags"]["symbol"] for p in after
                        if p["time"] > before.get(p["tags"]["symbol"], 0)})
        sample = next(p for p in reversed(after) if p["tags"]["symbol"] == "BTC/USDT")
        print(json.dumps({"newer": newer, "sample": sample}))
        """,
    )
    # Every declared symbol (and the demo's own) keeps ticking.
    declared = {i["symbol"] for w in LOCAL_VARS["watchlist_api_watchlists"] for i in w["items"]}
    assert declared <= set(got["newer"])
    sample = got["sample"]
    assert sample["measurement"] == "market_data"
    assert sample["tags"]["demo"] == "true"
    assert sample["tags"]["asset_type"] == "crypto"
    assert sample["fields"]["price"] > 0


# Reads the InfluxDB double's /__double/points (no such endpoint on InfluxDB).
@pytest.mark.doubles
def test_news_points_arrive(host: Any) -> None:
    got = on_host(host, 'print(json.dumps(points("news")[-3:]))')
    assert got, "no news point"
    for point in got:
        assert point["measurement"] == "news_articles"
        assert point["tags"]["demo"] == "true"
        assert point["fields"]["title"].startswith("[DEMO]")
        assert -1 <= point["fields"]["sentiment_score"] <= 1


def test_declared_watchlists_are_in_the_api(host: Any) -> None:
    declared = LOCAL_VARS["watchlist_api_watchlists"]
    got = on_host(
        host,
        f"""
        out = {{}}
        for name in {[w["name"] for w in declared]!r}:
            status, body = api("GET", "/v1/watchlists/by-name/" + urllib.parse.quote(name, safe=""))
            out[name] = [status, sorted(i["symbol"] for i in (body or {{}}).get("items", []))]
        print(json.dumps(out))
        """,
    )
    for watchlist in declared:
        status, symbols = got[watchlist["name"]]
        assert status == 200
        assert symbols == sorted(i["symbol"] for i in watchlist["items"])


def test_declared_alert_rule_is_in_the_api(host: Any) -> None:
    (rule,) = LOCAL_VARS["watchlist_api_alert_rules"]
    got = on_host(
        host,
        f"""
        status, body = api("GET", "/v1/alert-rules?limit=200")
        print(json.dumps([r for r in body["data"] if r["name"] == {rule["name"]!r}]))
        """,
    )
    assert len(got) == 1
    assert got[0]["symbol"] == rule["symbol"]
    assert got[0]["threshold"] == rule["threshold"]


def wait_until_listening(host: Any, container: str, timeout: float = 60) -> None:
    """Until the container's watchlist listener has a session in PostgreSQL (after
    the backup test's restore it reconnects within its retry cap, 10 s)."""
    networks = inspect(host, container)["NetworkSettings"]["Networks"]
    sql = (
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = "
        f"'{APPLICATION_NAME}' AND client_addr = '{networks['bloomberg-net']['IPAddress']}'"
    )
    deadline = time.monotonic() + timeout
    while psql(host, sql).stdout.strip() in ("", "0"):
        assert time.monotonic() < deadline, f"{container} is not listening for watchlist changes"
        time.sleep(1)


# Times the path by polling the InfluxDB double's /__double/points.
@pytest.mark.doubles
def test_a_symbol_added_through_the_api_is_collected_within_5_seconds(host: Any) -> None:
    # The change travels by NOTIFY: time that path, not a reconnect.
    wait_until_listening(host, "bloomberg-market-feeder")
    got = on_host(
        host,
        """
        name = "verify-dynamic-symbol"
        symbol = "DOGE/USDT"   # in no declared watchlist and not in the demo defaults
        status, body = api("GET", "/v1/watchlists/by-name/" + name)
        if status == 200:  # left over by an interrupted run
            api("DELETE", "/v1/watchlists/%d" % body["id"])
            time.sleep(3)
        # Not collected before: no point of it in the last 3 seconds.
        before = [p for p in points("markets")
                  if p["tags"]["symbol"] == symbol and p["time"] > (time.time() - 3) * 1e9]
        start, start_wall = time.monotonic(), time.time()
        status, body = api("PUT", "/v1/watchlists/by-name/" + name,
                           {"items": [{"symbol": "doge-usdt", "asset_type": "crypto"}]})
        assert status == 200, body
        seen_after = None
        while time.monotonic() - start < 10:
            # Demo points are stamped on the 1 s tick grid: at most 1 s before emission.
            recent = [p for p in points("markets")
                      if p["tags"]["symbol"] == symbol and p["time"] >= (start_wall - 1) * 1e9]
            if recent:
                seen_after = time.monotonic() - start
                break
            time.sleep(0.25)
        wid = body["watchlist"]["id"]
        api("DELETE", "/v1/watchlists/%d" % wid)
        print(json.dumps({"seen_after": seen_after, "before": len(before)}))
        """,
    )
    assert got["before"] == 0, "DOGE/USDT was collected before it was added"
    assert got["seen_after"] is not None, "DOGE/USDT was never collected"
    print(f"DOGE/USDT collected {got['seen_after']:.2f} s after the API accepted it")
    assert got["seen_after"] <= 5.0


# Polls the InfluxDB double's /__double/points; the klines come from the capture
# TEST HELPER's fake Binance (tests/capture/fake_market_history.py).
@pytest.mark.doubles
def test_a_pair_added_through_the_api_has_its_history_within_60_seconds(host: Any) -> None:
    """Issue 10, item 4: a year of 1 h candles, 30 days of 5 min candles and a week of
    1-minute closes, through the real backfill code, while its live ticks flow."""
    wait_until_listening(host, "bloomberg-market-feeder")
    got = on_host(
        host,
        """
        import random, string
        # A pair no earlier run or other test watched: its history starts empty.
        base = "V" + "".join(random.choice(string.ascii_uppercase) for _ in range(5))
        symbol = base + "/USDT"
        name = "verify-backfill-" + base.lower()
        wanted = {"markets_1h": 365 * 24 - 1, "markets_5min": 30 * 288 - 1, "markets": 7 * 1440 - 2}
        before = {b: len(points(b, symbol)) for b in wanted}
        start, start_wall = time.monotonic(), time.time()
        status, body = api("PUT", "/v1/watchlists/by-name/" + name,
                           {"items": [{"symbol": base.lower() + "-usdt", "asset_type": "crypto"}]})
        assert status == 200, body
        filled_after, counts, live = None, {}, 0
        try:
            while time.monotonic() - start < 75:
                counts = {b: len(points(b, symbol)) for b in wanted}
                if all(counts[b] >= n for b, n in wanted.items()):
                    filled_after = time.monotonic() - start
                    break
                time.sleep(2)
            raw = points("markets", symbol)
            live = len([p for p in raw if p["time"] >= start_wall * 1e9])
            hourly = points("markets_1h", symbol)
            sample = hourly[-1] if hourly else None
        finally:
            api("DELETE", "/v1/watchlists/%d" % body["watchlist"]["id"])
        print(json.dumps({"symbol": symbol, "before": before, "counts": counts,
                          "filled_after": filled_after, "live": live, "sample": sample}))
        """,
        timeout=120,
    )
    assert got["before"] == {"markets_1h": 0, "markets_5min": 0, "markets": 0}, got
    assert got["filled_after"] is not None, f"history incomplete after 75 s: {got['counts']}"
    print(f"{got['symbol']}: history filled {got['filled_after']:.1f} s after the API accepted it")
    assert got["filled_after"] <= 60.0, got
    assert got["live"] > 0, "no live tick arrived while the history was fetched"
    sample = got["sample"]
    assert set(sample["fields"]) >= {"open", "high", "low", "close", "price"}
    assert sample["fields"]["low"] <= sample["fields"]["close"] <= sample["fields"]["high"]
    assert sample["tags"] == {
        "exchange": "binance",
        "symbol": got["symbol"],
        "asset_type": "crypto",
        "demo": "true",
    }


# Reads the InfluxDB double's /__double/points; the bars come from the capture TEST
# HELPER's fake Yahoo chart, through yfinance's session in the market feeder.
@pytest.mark.doubles
def test_the_watched_stocks_have_their_sessions_history_from_yahoo(host: Any) -> None:
    """The demo watchlist's AAPL, planned at the first deployment: a year of 1 h
    candles of its regular sessions (14:30-21:00 UTC in the fake), filed under
    the hour like the downsampling tasks' windows."""
    got = on_host(
        host,
        """
        deadline = time.monotonic() + 90
        while True:
            hourly = points("markets_1h", "AAPL")
            backfilled = [p for p in hourly if p["tags"].get("exchange") == "yahoo"
                          and p["time"] < (time.time() - 2 * 86400) * 1e9]
            if len(backfilled) >= 250 * 7 or time.monotonic() > deadline:
                break
            time.sleep(3)
        print(json.dumps({"count": len(backfilled),
                          "hours": sorted({p["time"] // 10**9 % 86400 // 3600 for p in backfilled}),
                          "fields": sorted(backfilled[-1]["fields"]) if backfilled else []}))
        """,
        timeout=120,
    )
    assert got["count"] >= 250 * 7, got
    assert got["hours"] == list(range(15, 22)), got
    assert {"open", "high", "low", "close", "price"} <= set(got["fields"])


def test_health_endpoints_answer_on_the_network_only(host: Any) -> None:
    got = on_host(
        host,
        """
        out = {}
        for name, port in (("bloomberg-market-feeder", 9108), ("bloomberg-news-feeder", 9109),
                           ("bloomberg-watchlist-api", 8000)):
            url = "http://%s:%d/healthz" % (address(name), port)
            with urllib.request.urlopen(url, timeout=5) as resp:
                out[name] = resp.status
        print(json.dumps(out))
        """,
    )
    assert got == dict.fromkeys(CONTAINERS, 200)
    # Nothing listens on the host for these ports.
    listening = host.check_output("ss -Htln")
    for _, _, port in CONTAINERS.values():
        assert f":{port} " not in listening


def test_the_market_feeder_watches_the_deployed_downsampling_for_late_data(host: Any) -> None:
    """Issue 10, item 2: the feeder's copy of the tasks is the influxdb role's (same
    windows and lookbacks), and its late-data metrics are served, with nothing stuck."""
    config = yaml.safe_load(host.file(f"{BASE}/market-feeder/market-feeder.yml").content_string)
    tasks = {t["name"]: t for t in config["redownsample"]["tasks"]}
    assert {n: (t["window"], t["lookback"], t["source_retention"]) for n, t in tasks.items()} == {
        "downsample_5min": ("5m", "30m", "7d"),
        "downsample_1h": ("1h", "3h", "30d"),
    }
    metrics = on_host(
        host,
        """
        url = "http://%s:9108/metrics" % address("bloomberg-market-feeder")
        with urllib.request.urlopen(url, timeout=5) as resp:
            text = resp.read().decode()
        print(json.dumps([l for l in text.splitlines() if l.startswith("bbdash_downsample_")]))
        """,
    )
    for task in tasks:
        assert f'bbdash_downsample_pending_seconds{{task="{task}"}} 0.0' in metrics


# Reads the InfluxDB double's /__double/points (no such endpoint on InfluxDB).
@pytest.mark.doubles
def test_the_demo_market_says_it_is_open(host: Any) -> None:
    """Its synthetic market never closes: the MARKET columns read "open", not blank."""
    got = on_host(
        host,
        """
        states = [p for p in points("markets") if p["measurement"] == "market_state"]
        print(json.dumps(sorted({(p["tags"]["symbol"], p["tags"]["demo"], p["fields"]["state"])
                                 for p in states})))
        """,
    )
    symbols = {symbol for symbol, _, _ in got}
    assert {"AAPL", "EURUSD=X", "^GSPC"} <= symbols and "BTC/USDT" not in symbols
    assert {(demo, state) for _, demo, state in got} == {("true", "open")}
