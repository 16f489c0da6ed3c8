"""The collection layer on its own host, writing into the data layer on another.

A symbol added through the watchlist API on bbdash-collection reaches the
market feeder there (PostgreSQL's NOTIFY, from the data host through the
link), and its points are stored by the InfluxDB test double on bbdash-data
within 5 seconds: the one-host test
(tests/infra/test_collect.py::test_a_symbol_added_through_the_api_is_collected_within_5_seconds)
with both ends of the path on different hosts.

The API call runs on the collection host and the watch of the double's
inspection endpoint on the data host, at the same time; both stamp their
events with their host's clock, which is this machine's (the hosts are
containers on one kernel), so the two times compare.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from bbdash.common.watchlist import APPLICATION_NAME
from conftest import on_host
from test_data import psql

WATCHLIST = "verify-multihost-symbol"
SYMBOL = "DOGE/USDT"  # in no declared watchlist and not in the demo defaults
API_SYMBOL = "doge-usdt"
# The PostgreSQL role both feeders log in as (roles/postgres).
FEEDER_ROLE = "bbdash_feeder"


def wait_until_both_feeders_listen(data: Any, timeout: float = 60) -> None:
    """Until the market and the news feeder (collection host) each hold their
    watchlist LISTEN session in PostgreSQL (data host). Through the link, the
    sessions' client address is the data host's front, not the feeder: they are
    told apart by their role and application name only."""
    sql = (
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = "
        f"'{APPLICATION_NAME}' AND usename = '{FEEDER_ROLE}'"
    )
    deadline = time.monotonic() + timeout
    while True:
        count = psql(data, sql).stdout.strip()
        if count.isdigit() and int(count) >= 2:
            return
        assert time.monotonic() < deadline, f"feeders' watchlist sessions in PostgreSQL: {count!r}"
        time.sleep(1)


def _remove_watchlist(collection: Any) -> None:
    on_host(
        collection,
        f"""
        status, body = api("GET", "/v1/watchlists/by-name/{WATCHLIST}")
        if status == 200:
            api("DELETE", "/v1/watchlists/%d" % body["id"])
        print(json.dumps(status))
        """,
    )


# The data host's side: first whether the symbol had any recent point, then
# polling until one newer than the watch's start is stored.
WATCH = f"""
started = time.time()
before = [p for p in points("markets", {SYMBOL!r}) if p["time"] > (started - 3) * 1e9]
seen_at = point_time = None
while time.time() - started < 20:
    recent = [p["time"] for p in points("markets", {SYMBOL!r}) if p["time"] >= started * 1e9]
    if recent:
        seen_at, point_time = time.time(), min(recent)
        break
    time.sleep(0.25)
print(json.dumps({{"started": started, "before": len(before),
                   "seen_at": seen_at, "point_time": point_time}}))
"""

# The collection host's side: the user's call.
ADD = f"""
start = time.time()
status, body = api("PUT", "/v1/watchlists/by-name/{WATCHLIST}",
                   {{"items": [{{"symbol": {API_SYMBOL!r}, "asset_type": "crypto"}}]}})
print(json.dumps({{"start": start, "status": status, "body": body}}))
"""


# Times the path by polling the InfluxDB double's /__double/points.
@pytest.mark.doubles
def test_a_symbol_added_on_the_collection_host_is_stored_on_the_data_host_within_5_seconds(
    data: Any, collection: Any
) -> None:
    """Proves the collection layer's whole path across hosts: the API's write
    to PostgreSQL and its NOTIFY reach the market feeder over the link, and
    the feeder's points reach InfluxDB on the data host over the link, within
    the same 5 s as on one host."""
    # The change travels by NOTIFY: time that path, not a reconnect.
    wait_until_both_feeders_listen(data)
    _remove_watchlist(collection)  # left over by an interrupted run
    time.sleep(3)
    try:
        with ThreadPoolExecutor(max_workers=1) as pool:
            watch = pool.submit(on_host, data, WATCH, 60)
            time.sleep(3)  # the watch has taken its first look
            added = on_host(collection, ADD)
            seen = watch.result()
    finally:
        _remove_watchlist(collection)
    assert added["status"] == 200, added["body"]
    assert seen["started"] < added["start"], "the watch on the data host began after the call"
    assert seen["before"] == 0, f"{SYMBOL} was collected before it was added"
    assert seen["seen_at"] is not None, f"{SYMBOL} never reached InfluxDB on the data host"
    # Demo points are stamped on the 1 s tick grid: at most 1 s before emission.
    assert seen["point_time"] >= (added["start"] - 1) * 1e9, seen
    delay = seen["seen_at"] - added["start"]
    print(f"{SYMBOL} stored on the data host {delay:.2f} s after the API call began")
    assert delay <= 5.0
