"""Alerts reach people, every hop, on the real Prometheus and Alertmanager.

Every channel of the local inventory points at bbdash-capture, a TEST HELPER
on bloomberg-net (tests/capture/capture_server.py): a fake Telegram Bot API, an
SMTP sink, and HTTP captures for the webhook, Discord, Slack and the dead man's
switch. These tests make something happen on the deployed stack and read what
the far end of each channel received:

- a Prometheus rule fires (the Grafana container is stopped: ContainerAbsent,
  critical) and Telegram and e-mail receive it in readable text, then its
  resolution once the container is back;
- a price alert created through the watchlist API reaches the channel its rule
  names, when a tick crosses its threshold;
- the Watchdog reaches the dead man's URL, and stops reaching it when
  Prometheus stops (which is what the dead man's service watches for).

Timings are the local inventory's test-only ones (`for: 30s` for Grafana's
absence, after the role's 2 min without a cAdvisor sample, 5 s group wait,
15 s dead man's repeat, Prometheus's 10 s resend delay); the production values
are checked by promtool and amtool in tests/static.

The capture helper's image comes only from the offline kit's build
(tests/images/build-stack.sh), so these tests are marked `doubles`: the
real-images scenario has no far end to read.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

import pytest
from test_collect import on_host
from test_data import wait_healthy

CAPTURE = "bbdash-capture"


def captured(host: Any, channel: str, since: float) -> list[dict[str, Any]]:
    """What the capture helper recorded on a channel since a time (host clock)."""
    url = f"http://127.0.0.1:8080/captured?{urlencode({'channel': channel, 'since': since})}"
    out = host.check_output(
        "docker exec %s python3 -c %s",
        CAPTURE,
        f"import urllib.request; print(urllib.request.urlopen({url!r}, timeout=10).read().decode())",
    )
    return json.loads(out)


def wait_for(
    what: str, probe: Callable[[], list[dict[str, Any]]], timeout: float
) -> list[dict[str, Any]]:
    """Poll until `probe` returns something; fail naming what never came."""
    deadline = time.monotonic() + timeout
    while True:
        got = probe()
        if got:
            return got
        assert time.monotonic() < deadline, f"never received: {what}"
        time.sleep(2)


def rfc3339(text: str) -> float:
    """Alertmanager's times (RFC 3339, up to nanoseconds) as Unix seconds."""
    head, _, rest = text.partition(".")
    fraction = rest.rstrip("Z")[:6] if rest else "0"
    return datetime.fromisoformat(head.rstrip("Z") + "+00:00").timestamp() + float("0." + fraction)


def host_time(host: Any) -> float:
    return float(host.check_output("date +%s.%N"))


@pytest.mark.doubles
def test_the_capture_helper_runs_on_the_stack_network(host: Any) -> None:
    networks = json.loads(
        host.check_output("docker inspect -f '{{json .NetworkSettings.Networks}}' %s", CAPTURE)
    )
    assert list(networks) == ["bloomberg-net"]
    assert host.check_output("docker inspect -f '{{.HostConfig.PortBindings}}' %s", CAPTURE) in (
        "map[]",
        "",
    )


@pytest.mark.doubles
def test_a_rule_firing_reaches_telegram_and_email_then_its_resolution(host: Any) -> None:
    since = host_time(host)
    host.check_output("docker stop -t 5 bloomberg-grafana")
    try:

        def firing(channel: str) -> Callable[[], list[dict[str, Any]]]:
            def probe() -> list[dict[str, Any]]:
                return [
                    r
                    for r in captured(host, channel, since)
                    if "ContainerAbsent" in (r.get("text") or "")
                    and "bloomberg-grafana" in (r.get("text") or "")
                ]

            return probe

        # cAdvisor's last sample (at most a 30 s scrape before the stop), the
        # rule's 2 min without one, its 30 s `for` (test value), an evaluation
        # and the 5 s group wait.
        telegram = wait_for("ContainerAbsent on Telegram", firing("telegram"), 300)
        mail = wait_for("ContainerAbsent by e-mail", firing("email"), 60)
    finally:
        host.check_output("docker start bloomberg-grafana")
    message = telegram[0]
    assert message["method"] == "sendMessage"
    assert message["bot_token_shape_ok"]
    assert str(message["chat_id"]) == "-1001234567890"
    assert message["parse_mode"] == "HTML"
    # Readable: the rule's summary and what to do, not a raw label dump.
    assert "bloomberg-grafana is not running" in message["text"]
    assert "What to do:" in message["text"]
    email = mail[0]
    assert email["rcpt_tos"] == ["ops@example.org"]
    assert email["subject"].startswith("[FIRING:")
    assert "ContainerAbsent (critical)" in email["subject"]
    assert "FIRING ContainerAbsent [critical]: bloomberg-grafana is not running" in email["text"]
    assert email["authenticated"] and email["auth_login"] == "bbdash"
    # The password Alertmanager sent is the one in its secret file.
    secret = host.file("/opt/bloomberg/alertmanager/secrets/smtp_auth_password")
    digest = host.check_output("sha256sum %s", secret.path).split()[0]
    assert email["auth_password_sha256"] == digest

    wait_healthy(host, "bloomberg-grafana")

    # Other alerts of the stopped container (InstanceDown) resolve too: only
    # ContainerAbsent's resolution counts here.
    def resolved() -> list[dict[str, Any]]:
        return [
            r
            for r in captured(host, "telegram", since)
            if (r.get("text") or "").startswith("✅ <b>ContainerAbsent</b>")
        ]

    got = wait_for("the resolution on Telegram", resolved, 240)
    assert "bloomberg-grafana is not running" in got[0]["text"]
    mails = wait_for(
        "the resolution by e-mail",
        lambda: [
            r
            for r in captured(host, "email", since)
            if r["subject"].startswith("[RESOLVED] ContainerAbsent")
        ],
        60,
    )
    assert "RESOLVED ContainerAbsent [critical]: bloomberg-grafana" in mails[0]["text"]


@pytest.mark.doubles
def test_a_price_alert_from_the_api_reaches_its_channel(host: Any) -> None:
    since = host_time(host)
    # An "above" rule under the price: the next tick crosses it. Demo prices of
    # BTC/USDT are far above 1.
    rule = on_host(
        host,
        """
        rule = {"symbol": "BTC/USDT", "asset_type": "crypto",
                "condition": "above", "threshold": 1, "channels": ["webhook"]}
        status, body = api("PUT", "/v1/alert-rules/by-name/verify-price-alert", rule)
        assert status == 200, (status, body)
        if not body["created"]:  # left over by an interrupted run: it fired then
            api("DELETE", "/v1/alert-rules/%d" % body["alert_rule"]["id"])
            status, body = api("PUT", "/v1/alert-rules/by-name/verify-price-alert", rule)
            assert status == 200 and body["created"], (status, body)
        print(json.dumps(body["alert_rule"]))
        """,
    )
    try:

        def delivered(channel: str) -> Callable[[], list[dict[str, Any]]]:
            def probe() -> list[dict[str, Any]]:
                out = []
                for r in captured(host, channel, since):
                    body = r.get("body") or {}
                    text = json.dumps(body)
                    if f'"rule_id": "{rule["id"]}"' in text or f"rule {rule['id']} " in text:
                        out.append(r)
                return out

            return probe

        # The route "webhook" fans out to the generic webhook, Discord and Slack.
        hooks = wait_for("the price alert on the webhook", delivered("webhook"), 60)
        wait_for("the price alert on Discord", delivered("discord"), 30)
        wait_for("the price alert on Slack", delivered("slack"), 30)
    finally:
        on_host(host, f'api("DELETE", "/v1/alert-rules/{rule["id"]}"); print("null")')
    (alert,) = [a for a in hooks[0]["body"]["alerts"] if a["labels"]["rule_id"] == str(rule["id"])]
    assert alert["labels"]["alertname"] == "PriceAlert"
    assert alert["labels"]["symbol"] == "BTC/USDT"
    assert alert["labels"]["channel"] == "webhook"
    assert "BTC/USDT traded at" in alert["annotations"]["description"]
    # Tick to delivered, from the tick's own time (startsAt) to the capture.
    latency = hooks[0]["received_at"] - rfc3339(alert["startsAt"])
    print(f"price alert delivered {latency:.2f} s after its tick")
    # Nothing for the other channels: a price alert goes where its rule says.
    assert not [
        r for r in captured(host, "telegram", since) if f"rule {rule['id']} " in (r["text"] or "")
    ]


@pytest.mark.doubles
def test_the_watchdog_reaches_the_dead_mans_switch_and_stops_with_prometheus(
    host: Any,
) -> None:
    since = host_time(host)
    pings = wait_for("a dead man's ping", lambda: captured(host, "deadman", since), 60)
    (alert,) = pings[0]["body"]["alerts"]
    assert alert["labels"]["alertname"] == "Watchdog"
    assert pings[0]["answered"] == 200
    host.check_output("docker stop -t 10 bloomberg-prometheus")
    try:
        stopped = host_time(host)
        # Alertmanager keeps the Watchdog until its endsAt, which Prometheus sets
        # to 4 x max(resend delay, evaluation interval) = 2 min here; then the
        # pings stop. Silence is seen as no ping for three repeat intervals.
        deadline = time.monotonic() + 300
        quiet_since = None
        while time.monotonic() < deadline:
            last = captured(host, "deadman", stopped)
            now = host_time(host)
            latest = max((r["received_at"] for r in last), default=stopped)
            if now - latest >= 60:
                quiet_since = latest
                break
            time.sleep(5)
        assert quiet_since is not None, "the dead man's switch is still pinged"
        print(f"last ping {quiet_since - stopped:.0f} s after Prometheus stopped")
    finally:
        restarted = host_time(host)
        host.check_output("docker start bloomberg-prometheus")
    wait_healthy(host, "bloomberg-prometheus")
    wait_for(
        "pings again once Prometheus is back",
        lambda: captured(host, "deadman", restarted),
        120,
    )
