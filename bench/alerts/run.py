"""Price-alert latency on the deployed test stack: tick to delivered, p50 and p99.

A price alert travels: tick -> market feeder (rule evaluated inline) -> POST
/api/v2/alerts -> Alertmanager (price route, group_wait 0s) -> the channel.
Here the channel is the local inventory's capture helper (bbdash-capture, a
TEST HELPER that records the webhook with its arrival time). The latency of
one alert is the capture's arrival time minus the alert's startsAt, which the
feeder sets to the tick's own event time (bbdash.market_feeder.alerts).

Two runs:
- one at a time: a rule "above 1" on BTC/USDT is created through the watchlist
  API, its alert awaited, the rule deleted, `SAMPLES` times;
- a burst: `BURST` rules created at once fire on the same tick.

Needs the molecule default scenario's host converged (`make molecule` leaves
it destroyed: this script converges it when it is missing) and writes the
alerts section of docs/benchmarks.md. Run with `make bench` or
`.venv/bin/python bench/alerts/run.py`.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))
from machine import describe, percentile  # noqa: E402

DOC = ROOT / "docs" / "benchmarks.md"
START, END = "<!-- bench:alerts:start -->", "<!-- bench:alerts:end -->"
HOST = "bbdash-test"
SAMPLES = 60
BURST = 20

# Runs on the test host (python3 there), after the verify helpers
# (tests/infra/on_host_prelude.py); prints one JSON line.
ON_HOST = (
    (ROOT / "tests" / "infra" / "on_host_prelude.py").read_text()
    + r"""
import sys
from datetime import datetime

CAPTURE = "http://%s:8080" % address("bbdash-capture")

def call(method, path, body=None):
    status, out = api(method, path, body)
    assert status < 300, (method, path, status, out)
    return out

def webhooks(since):
    url = CAPTURE + "/captured?" + urllib.parse.urlencode({"channel": "webhook", "since": since})
    with urllib.request.urlopen(url, timeout=10) as resp:
        return json.loads(resp.read())

def rfc3339(text):
    head, _, rest = text.partition(".")
    fraction = rest.rstrip("Z")[:6] if rest else "0"
    return datetime.fromisoformat(head.rstrip("Z") + "+00:00").timestamp() + float("0." + fraction)

def create(name):
    body = call("PUT", "/v1/alert-rules/by-name/" + name, {
        "symbol": "BTC/USDT", "asset_type": "crypto", "condition": "above",
        "threshold": 1, "channels": ["webhook"]})
    if not body["created"]:  # left by an interrupted run: it fired already
        call("DELETE", "/v1/alert-rules/%d" % body["alert_rule"]["id"])
        body = call("PUT", "/v1/alert-rules/by-name/" + name, {
            "symbol": "BTC/USDT", "asset_type": "crypto", "condition": "above",
            "threshold": 1, "channels": ["webhook"]})
    return body["alert_rule"]["id"]

def await_alerts(rule_ids, since, timeout=60):
    # rule id -> (tick to delivered, rule saved to delivered)
    found, deadline = {}, time.time() + timeout
    while len(found) < len(rule_ids) and time.time() < deadline:
        for record in webhooks(since):
            for alert in record["body"].get("alerts", []):
                rid = int(alert["labels"].get("rule_id", "0"))
                if rid in rule_ids and rid not in found:
                    found[rid] = (record["received_at"] - rfc3339(alert["startsAt"]),
                                  record["received_at"] - since)
        time.sleep(0.05)
    return found

mode, count = sys.argv[1], int(sys.argv[2])
single, burst, missing = [], [], 0
if mode == "single":
    for i in range(count):
        since = time.time()
        rid = create("bench-latency-%d" % i)
        got = await_alerts({rid}, since)
        call("DELETE", "/v1/alert-rules/%d" % rid)
        if rid in got:
            single.append(got[rid])
        else:
            missing += 1
else:
    since = time.time()
    rids = {create("bench-burst-%d" % i) for i in range(count)}
    got = await_alerts(rids, since)
    for rid in rids:
        call("DELETE", "/v1/alert-rules/%d" % rid)
    burst = list(got.values())
    missing = len(rids) - len(got)
print(json.dumps({"single": single, "burst": burst, "missing": missing}))
"""
)


def host_exists() -> bool:
    return (
        subprocess.run(["docker", "inspect", HOST], capture_output=True, check=False).returncode
        == 0
    )


def converge() -> None:
    env = dict(os.environ)
    env["PATH"] = f"{ROOT / '.venv' / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env.setdefault("ANSIBLE_VAULT_PASSWORD_FILE", str(ROOT / ".cache" / "local" / "vault-pass"))
    subprocess.run(
        [str(ROOT / ".venv" / "bin" / "molecule"), "converge", "-s", "default"],
        cwd=ROOT,
        env=env,
        check=True,
    )


def run_on_host(mode: str, count: int) -> dict[str, object]:
    result = subprocess.run(
        ["docker", "exec", "-i", HOST, "python3", "-", mode, str(count)],
        input=ON_HOST,
        capture_output=True,
        text=True,
        check=False,
        timeout=1800,
    )
    if result.returncode != 0:
        raise SystemExit(f"on the test host: {result.stderr[-3000:]}")
    data: dict[str, object] = json.loads(result.stdout.strip().splitlines()[-1])
    return data


def row(name: str, samples: list[list[float]], missing: int) -> str:
    tick = [s[0] for s in samples]
    saved = [s[1] for s in samples]
    if not tick:
        return f"| {name} | 0 | — | — | — | — | {missing} |"
    return (
        f"| {name} | {len(tick)} | {statistics.median(tick):.2f} | {percentile(tick, 0.99):.2f} "
        f"| {max(tick):.2f} | {statistics.median(saved):.2f} | {missing} |"
    )


def main() -> None:
    if not host_exists():
        converge()
    one = run_on_host("single", SAMPLES)
    many = run_on_host("burst", BURST)
    single = one["single"]
    burst = many["burst"]
    assert isinstance(single, list) and isinstance(burst, list)
    ticks = [s[0] for s in single]
    p99 = percentile(ticks, 0.99) if ticks else float("nan")
    verdict = "met" if ticks and p99 <= 2.0 else "NOT met"
    section = "\n".join(
        [
            START,
            "## Price-alert latency (`bench/alerts/run.py`)",
            "",
            f"- machine: {describe()}; the whole stack and the test host share it",
            f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
            "- what: tick (the alert's startsAt, the tick's event time) to the webhook",
            "  received by the capture helper, on the molecule test host's deployed stack",
            "  (offline kit: real Alertmanager and PostgreSQL, demo market source)",
            f"- target: p99 <= 2 s, one at a time: **{verdict}** (p99 {p99:.2f} s)",
            "",
            "| run | alerts | p50 s | p99 s | max s | rule saved to delivered, p50 s | lost |",
            "| --- | --- | --- | --- | --- | --- | --- |",
            row("one at a time", single, int(str(one["missing"]))),
            row(f"burst of {BURST} on one tick", burst, int(str(many["missing"]))),
            END,
        ]
    )
    text = DOC.read_text()
    if START in text:
        before, rest = text.split(START, 1)
        text = before + section + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    DOC.write_text(text)
    sys.stdout.write(section + "\n")


if __name__ == "__main__":
    main()
