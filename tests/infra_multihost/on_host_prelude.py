"""Prepended to every Python snippet conftest.on_host runs on one of the three
hosts: the addresses of that host's containers on its bloomberg-net, the
watchlist API as its admin (collection host) and the InfluxDB double's record
of points (data host). Looked up when first used, since each host holds only
its layer's containers (tests/infra/on_host_prelude.py looks everything up at
once, on the one host that holds them all). Runs there with the host's
python3 and the standard library; never imported on the controller."""

import json
import subprocess
import time  # noqa: F401 - the snippets use it
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path


def address(name):
    out = subprocess.run(
        ["docker", "inspect", "-f",
         '{{ (index .NetworkSettings.Networks "bloomberg-net").IPAddress }}', name],
        check=True, capture_output=True, text=True).stdout.strip()  # fmt: skip
    assert out, name
    return out


def api(method, path, body=None):
    """(status, decoded JSON body or None) of a watchlist API call as the admin."""
    key = Path("/opt/bloomberg/secrets/watchlist-api/admin-key").read_text().strip()
    url = f"http://{address('bloomberg-watchlist-api')}:8000{path}"
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers={
        "Authorization": "Bearer " + key, "Content-Type": "application/json"})  # fmt: skip
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            raw = resp.read()
            return resp.status, (json.loads(raw) if raw else None)
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def points(bucket, symbol=None):
    """What the InfluxDB test double stored in a bucket (of one symbol, if given)."""
    url = f"http://{address('bloomberg-influxdb')}:8086/__double/points?bucket={bucket}"
    if symbol:
        url += "&symbol=" + urllib.parse.quote(symbol, safe="")
    with urllib.request.urlopen(url, timeout=30) as resp:
        return json.loads(resp.read())
