"""The collection roles' budget preflight runs the services' own rule, and agrees with them.

The market feeder refuses at start a CoinGecko configuration over its monthly
budget; the news feeder refuses RSS, CryptoPanic and NewsAPI intervals over
their quotas. The rule is written once, in Python (`bbdash.common.budgets`):
the services' settings call it, and the roles' filter plugins load it on the
controller (`market_feeder_budget_problems`, `news_feeder_budget_problems`)
over the settings the role renders. Here Ansible itself evaluates the roles'
variables for a few hundred configurations (one ansible-playbook run,
connection local); each verdict must be the service's (`load_settings`), each
message the service's with the role's variable names, and the arithmetic
is checked independently (calls, and the smallest interval that fits: it
fits, one second less does not). Then the real preflight tasks run at the
boundary, where the last accepted and the first refused interval meet.
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from bbdash.common.budgets import SECONDS_PER_DAY, SECONDS_PER_MONTH
from bbdash.common.config import ConfigError, load_settings
from bbdash.market_feeder.config import (
    CoinGeckoSettings,
    MarketFeederSettings,
    coingecko_monthly_calls,
)
from bbdash.news_feeder.config import CryptoPanicSettings, NewsApiSettings, NewsSettings

REPO = Path(__file__).resolve().parents[2]
ROLES = REPO / "roles"
PLAYBOOK = REPO / ".venv" / "bin" / "ansible-playbook"
FILTERS = f"{ROLES / 'market_feeder' / 'filter_plugins'}:{ROLES / 'news_feeder' / 'filter_plugins'}"

INTERVALS = [10, 10.5, 29.99, 60, 61.7, 267, 268, 268.84, 300, 301, 997, 3600, 86400, 2678399,
             2678400, 2678401, 1e7]  # fmt: skip
PAGES = [1, 7, 100, 250]
COINS = [1, 99, 250, 251, 12345]
BUDGETS = [10_000, 3]
NEWS_INTERVALS = [0.5, 59, 100, 864, 865, 892, 893, 1800, 25920, 86399, 86400, 86401, 1e6]
QUOTAS = [1, 99, 100, 3000, 2592000, 2678400]
MONTH = "31 days"  # the one month length of every monthly quota (SECONDS_PER_MONTH)


def _coingecko_cases() -> list[dict[str, Any]]:
    cases = [
        {"interval_s": i, "per_page": p, "max_coins": c, "enabled": True, "monthly_budget": b}
        for i in INTERVALS
        for p in PAGES
        for c in COINS
        for b in BUDGETS
        if b == BUDGETS[0] or i == INTERVALS[0]
    ]
    cases += [
        {"interval_s": 60, "per_page": 250, "max_coins": 250, "enabled": False, "monthly_budget": 1}
    ]
    return cases


def _news_cases() -> list[dict[str, Any]]:
    return [
        {"interval_s": i, "categories": ["business", "technology", "general"][:n], "limit": q}
        for i in NEWS_INTERVALS
        for n in (1, 2, 3)
        for q in QUOTAS
    ]


def _run(
    playbook: str, extra: dict[str, Any], tmp: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    (tmp / "play.yml").write_text(playbook, encoding="utf-8")
    (tmp / "extra.json").write_text(json.dumps(extra), encoding="utf-8")
    env = {
        **os.environ,
        "ANSIBLE_ROLES_PATH": str(ROLES),
        "ANSIBLE_COLLECTIONS_PATH": str(ROLES.parent / "collections"),
        "ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.default",
        "ANSIBLE_RETRY_FILES_ENABLED": "false",
        "ANSIBLE_NOCOLOR": "1",
        **(env or {}),
    }
    env.pop("ANSIBLE_VAULT_PASSWORD_FILE", None)
    return subprocess.run(
        [
            str(PLAYBOOK),
            "-i",
            "localhost,",
            "-c",
            "local",
            "-e",
            f"@{tmp / 'extra.json'}",
            "-e",
            f"ansible_python_interpreter={sys.executable}",
            str(tmp / "play.yml"),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp,
        timeout=600,
        check=False,
    )


# The roles' own variables (defaults, then vars), evaluated by Ansible with the
# roles' filter plugins: the role holds no arithmetic of its own any more.
EVALUATE = """
- name: Evaluate the roles' budget checks
  hosts: localhost
  gather_facts: false
  vars_files:
    - {roles}/market_feeder/defaults/main.yml
    - {roles}/market_feeder/vars/main.yml
    - {roles}/news_feeder/defaults/main.yml
    - {roles}/news_feeder/vars/main.yml
  tasks:
    - name: CoinGecko
      ansible.builtin.debug:
        msg: "{{{{ _market_feeder_budget_problems }}}}"
      loop: "{{{{ coingecko_cases }}}}"
      register: coingecko
      vars:
        market_feeder_coingecko_enabled: "{{{{ item.enabled }}}}"
        market_feeder_coingecko_interval_s: "{{{{ item.interval_s }}}}"
        market_feeder_coingecko_per_page: "{{{{ item.per_page }}}}"
        market_feeder_coingecko_max_coins: "{{{{ item.max_coins }}}}"
        market_feeder_coingecko_monthly_budget: "{{{{ item.monthly_budget }}}}"
        # The live poll alone here; the backfill's share has its own cases below.
        market_feeder_backfill_enabled: false

    - name: CoinGecko with the history backfill's share
      ansible.builtin.debug:
        msg: "{{{{ _market_feeder_budget_problems }}}}"
      loop: "{{{{ backfill_cases }}}}"
      register: backfill
      vars:
        market_feeder_coingecko_interval_s: "{{{{ item.interval_s }}}}"
        market_feeder_backfill_coingecko_monthly_calls: "{{{{ item.share }}}}"

    - name: CryptoPanic and NewsAPI, both keyed
      ansible.builtin.debug:
        msg: "{{{{ _news_feeder_budget_problems }}}}"
      loop: "{{{{ news_cases }}}}"
      register: news
      vars:
        news_feeder_cryptopanic_token: t
        news_feeder_cryptopanic_interval_s: "{{{{ item.interval_s }}}}"
        news_feeder_cryptopanic_monthly_quota: "{{{{ item.limit }}}}"
        news_feeder_newsapi_key: k
        news_feeder_newsapi_interval_s: "{{{{ item.interval_s }}}}"
        news_feeder_newsapi_categories: "{{{{ item.categories }}}}"
        news_feeder_newsapi_daily_limit: "{{{{ item.limit }}}}"

    - name: Write the results
      ansible.builtin.copy:
        content: >-
          {{{{ {{'coingecko': coingecko.results | map(attribute='msg') | list,
                'backfill': backfill.results | map(attribute='msg') | list,
                'news': news.results | map(attribute='msg') | list}} | to_json }}}}
        dest: "{out}"
        mode: "0644"
"""


@pytest.fixture(scope="module")
def evaluated() -> dict[str, list[list[str]]]:
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        out = tmp / "results.json"
        result = _run(
            EVALUATE.format(roles=ROLES, out=out),
            {
                **BASE,
                "coingecko_cases": _coingecko_cases(),
                "backfill_cases": BACKFILL_CASES,
                "news_cases": _news_cases(),
            },
            tmp,
            {"ANSIBLE_FILTER_PLUGINS": FILTERS},
        )
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        return json.loads(out.read_text(encoding="utf-8"))


def _as_service(message: str, role: str, sections: tuple[str, ...]) -> str:
    """A role's message with the service's setting names (`market_feeder_coingecko_x` -> `coingecko.x`)."""
    for section in sections:
        message = message.replace(f"{role}_{section}_", f"{section}.")
    return message


def _service_refusal(cls: type, **settings: Any) -> str | None:
    try:
        load_settings(cls, **settings)
    except ConfigError as exc:
        return str(exc)
    return None


def test_coingecko_verdicts_and_messages_are_the_services(evaluated: dict[str, Any]) -> None:
    cases = _coingecko_cases()
    assert len(evaluated["coingecko"]) == len(cases)
    refused = 0
    for case, problems in zip(cases, evaluated["coingecko"], strict=True):
        settings = CoinGeckoSettings(**case)
        calls = coingecko_monthly_calls(settings)
        assert calls == coingecko_monthly_calls(case)  # the mapping form too
        per_poll = math.ceil(case["max_coins"] / case["per_page"])
        budget = case["monthly_budget"]
        # Independent arithmetic: ceil(31 days / interval) polls of per_poll calls.
        assert calls == (
            math.ceil(SECONDS_PER_MONTH / case["interval_s"]) * per_poll if case["enabled"] else 0
        ), case
        service = _service_refusal(
            MarketFeederSettings, coingecko=case, backfill={"enabled": False}
        )
        if calls <= budget:
            assert problems == [] and service is None, case
            continue
        refused += 1
        (message,) = problems
        assert message.startswith(f"CoinGecko: {calls} calls a month ({MONTH}"), message
        assert "market_feeder_coingecko_interval_s=" in message
        assert service is not None and _as_service(message, "market_feeder", ("coingecko",)) in (
            service
        ), (message, service)
        # The smallest interval the message names fits the budget, and one second
        # less does not (none fits when one poll alone is over budget).
        if per_poll > budget:
            assert "a single poll is over budget: lower market_feeder_coingecko_max_coins" in (
                message
            )
            continue
        minimum = int(re.search(r"interval_s to at least (\d+)", message)[1])

        def fits(interval: float, per_poll: int = per_poll, budget: int = budget) -> bool:
            return math.ceil(SECONDS_PER_MONTH / interval) * per_poll <= budget

        assert fits(minimum), case
        assert minimum == 1 or not fits(minimum - 1), case
    assert refused > 100  # the cases do reach both sides of the boundary


# (live poll interval, backfill share): with the defaults' 250 coins in one page a poll,
# the live poll makes ceil(2,678,400 / interval) calls a month of the 10,000.
BACKFILL_CASES = [
    {"interval_s": 300, "share": 1000},  # 8,928 + 1,000: fits (the defaults)
    {"interval_s": 300, "share": 1072},  # 8,928 + 1,072 = 10,000: fits, just
    {"interval_s": 300, "share": 1073},  # one over
    {"interval_s": 290, "share": 1000},  # 9,237 + 1,000
    {"interval_s": 200, "share": 1},  # the live poll alone is over: both say so
]


def test_the_backfill_share_and_the_live_poll_fit_coingecko_together(
    evaluated: dict[str, Any],
) -> None:
    """Backfill spends the same CoinGecko plan as the live quotes: the role and the
    service refuse a share that, with the live poll's calls, exceeds the plan, and
    name the largest share that fits."""
    verdicts = []
    for case, problems in zip(BACKFILL_CASES, evaluated["backfill"], strict=True):
        live = math.ceil(SECONDS_PER_MONTH / case["interval_s"])
        ours = [m for m in problems if "history backfill" in m]
        service = _service_refusal(
            MarketFeederSettings,
            coingecko={"interval_s": case["interval_s"]},
            backfill={"coingecko_monthly_calls": case["share"]},
        )
        if live + case["share"] <= 10_000:
            assert problems == [] and service is None, case
            verdicts.append("fits")
            continue
        (message,) = ours
        assert f"market_feeder_backfill_coingecko_monthly_calls={case['share']}" in message
        assert f"the live poll's {live} exceed" in message
        assert (
            f"lower market_feeder_backfill_coingecko_monthly_calls to {max(10_000 - live, 0)}"
            in (message)
        )
        service_names = _as_service(message, "market_feeder", ("coingecko", "backfill"))
        assert service is not None and service_names in service, (message, service)
        verdicts.append("refused")
    assert verdicts == ["fits", "fits", "refused", "refused", "refused"]


def test_news_verdicts_and_messages_are_the_services(evaluated: dict[str, Any]) -> None:
    cases = _news_cases()
    assert len(evaluated["news"]) == len(cases)
    for case, problems in zip(cases, evaluated["news"], strict=True):
        interval, limit, n = case["interval_s"], case["limit"], len(case["categories"])
        cryptopanic = CryptoPanicSettings(interval_s=interval)
        newsapi = NewsApiSettings(interval_s=interval, categories=case["categories"])
        per_month, per_day = cryptopanic.requests_per_month(), newsapi.requests_per_day()
        assert per_month == math.ceil(SECONDS_PER_MONTH / interval), case
        assert per_day == math.ceil(SECONDS_PER_DAY / interval) * n, case
        expected = [name for name, over in (("CryptoPanic", per_month > limit),
                                            ("NewsAPI", per_day > limit)) if over]  # fmt: skip
        assert [p.split(":")[0] for p in problems] == expected, (case, problems)
        service = _service_refusal(
            NewsSettings,
            cryptopanic={"token": "t", "interval_s": interval, "monthly_quota": limit},
            newsapi={"key": "k", "interval_s": interval, "categories": case["categories"],
                     "daily_limit": limit},
        )  # fmt: skip
        assert (service is None) == (not problems), (case, service)
        for message in problems:
            assert "news_feeder_" in message
            mapped = _as_service(message, "news_feeder", ("cryptopanic", "newsapi"))
            assert service is not None and mapped in service, (message, service)
        # The intervals the messages name fit, and one second less does not.
        for message in problems:
            if message.startswith("CryptoPanic"):
                assert f"{per_month} requests a month ({MONTH})" in message
                minimum = int(re.search(r"cryptopanic_interval_s to (\d+)", message)[1])

                def cp_fits(seconds: float, limit: int = limit) -> bool:
                    return math.ceil(SECONDS_PER_MONTH / seconds) <= limit

                assert cp_fits(minimum), case
                assert minimum == 1 or not cp_fits(minimum - 1), case
            elif n > limit:
                assert "one poll alone is over the limit" in message, case
            else:
                minimum = int(re.search(r"newsapi_interval_s to (\d+)", message)[1])

                def na_fits(seconds: float, limit: int = limit, n: int = n) -> bool:
                    return math.ceil(SECONDS_PER_DAY / seconds) * n <= limit

                assert na_fits(minimum), case
                assert minimum == 1 or not na_fits(minimum - 1), case


PREFLIGHT = """
- name: Run a role's preflight
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Preflight
      ansible.builtin.include_role:
        name: "{role}"
        tasks_from: preflight.yml
"""

BASE = {
    "bloomberg_base_dir": "/opt/bloomberg",
    "docker_network_name": "bloomberg-net",
    "vault_postgres_feeder_password": "preflight-test-password",
}


def _preflight(role: str, variables: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory() as name:
        return _run(PREFLIGHT.format(role=role), {**BASE, **variables}, Path(name))


@pytest.mark.parametrize(
    ("interval", "accepted"),
    [(300, True), (268, True), (267, False), (60, False)],
)
def test_market_preflight_refuses_what_the_service_refuses(interval: int, accepted: bool) -> None:
    calls = coingecko_monthly_calls({"interval_s": interval})
    assert (calls <= 10_000) is accepted  # the service's own verdict
    result = _preflight(
        "market_feeder",
        {"market_feeder_coingecko_interval_s": interval, "market_feeder_backfill_enabled": False},
    )
    assert (result.returncode == 0) is accepted, result.stdout[-2000:]
    if not accepted:
        assert f"CoinGecko: {calls} calls a month" in result.stdout
        assert "market_feeder_coingecko_interval_s to at" in result.stdout
        assert "least 268" in result.stdout


def test_market_preflight_skips_the_budget_in_demo_mode() -> None:
    result = _preflight(
        "market_feeder",
        {"market_feeder_coingecko_interval_s": 10, "market_feeder_demo_enabled": True},
    )
    assert result.returncode == 0, result.stdout[-2000:]


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        (
            {"news_feeder_newsapi_key": "k", "news_feeder_newsapi_interval_s": 600},
            "set news_feeder_newsapi_interval_s to 864 or more",
        ),
        (
            {"news_feeder_cryptopanic_token": "t", "news_feeder_cryptopanic_interval_s": 300},
            # A 31-day month: ceil(2,678,400 / 3,000) = 893 s (a 30-day month said 864).
            "set news_feeder_cryptopanic_interval_s to 893 or more",
        ),
        ({"news_feeder_rss_interval_s": 60}, "set it to 120 or more"),
    ],
)
def test_news_preflight_refuses_over_budget(variables: dict[str, Any], message: str) -> None:
    result = _preflight("news_feeder", variables)
    assert result.returncode != 0
    assert message in " ".join(result.stdout.split())
    # Secrets are never printed, even in a failure.
    for value in ("preflight-test-password",):
        assert value not in result.stdout


def test_news_preflight_accepts_the_defaults_with_keys() -> None:
    result = _preflight(
        "news_feeder", {"news_feeder_newsapi_key": "k", "news_feeder_cryptopanic_token": "t"}
    )
    assert result.returncode == 0, result.stdout[-2000:]


def test_defaults_fit_every_budget() -> None:
    market = yaml.safe_load((ROLES / "market_feeder" / "defaults" / "main.yml").read_text())
    news = yaml.safe_load((ROLES / "news_feeder" / "defaults" / "main.yml").read_text())
    calls = coingecko_monthly_calls(
        {
            "interval_s": market["market_feeder_coingecko_interval_s"],
            "per_page": market["market_feeder_coingecko_per_page"],
            "max_coins": market["market_feeder_coingecko_max_coins"],
        }
    )
    assert calls == 8928 <= market["market_feeder_coingecko_monthly_budget"] == 10_000
    newsapi = NewsApiSettings(
        interval_s=news["news_feeder_newsapi_interval_s"],
        categories=news["news_feeder_newsapi_categories"],
    )
    assert newsapi.requests_per_day() <= news["news_feeder_newsapi_daily_limit"] == 100
    cryptopanic = CryptoPanicSettings(interval_s=news["news_feeder_cryptopanic_interval_s"])
    assert cryptopanic.requests_per_month() <= news["news_feeder_cryptopanic_monthly_quota"]
