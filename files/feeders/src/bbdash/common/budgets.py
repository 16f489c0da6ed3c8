"""Upstream quotas: how many calls a configuration makes, and whether that fits the plan.

The rule lives here once, for two callers:

- the feeders' settings refuse a configuration over a quota when they load
  (`MarketFeederSettings`, `NewsSettings`: exit code 2 at start, and the
  roles' `validate:` step, which runs the same loader from the image);
- the Ansible roles refuse it in their preflight, before anything changes on
  the host: their filter plugins (`roles/market_feeder/filter_plugins`,
  `roles/news_feeder/filter_plugins`) load this file by path on the
  controller, where neither this package nor its dependencies are installed.
  Hence: standard library only, mappings shaped like the services' YAML in,
  messages out.

Messages name each setting through `name(key)`: the services pass their own
dotted key (`coingecko.interval_s`), the roles the variable that sets it
(`market_feeder_coingecko_interval_s`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

# One month length for every monthly quota: 31 days. Plans count calls per
# calendar month; pacing for the longest month means no month is ever
# overspent (a 30-day pace spends 1/30 too much in every 31-day month).
SECONDS_PER_MONTH = 31 * 86_400
SECONDS_PER_DAY = 86_400
# The seed polls news every 2-5 minutes; faster is impolite to feed publishers.
MIN_RSS_INTERVAL_S = 120

Namer = Callable[[str], str]


def dotted(key: str) -> str:
    """The services' own names: the YAML key as it is (`coingecko.interval_s`)."""
    return key


def calls_per_period(period_s: float, interval_s: float, calls_per_poll: int) -> int:
    """Calls made in `period_s` by polling every `interval_s` (the first poll counts)."""
    return math.ceil(period_s / float(interval_s)) * int(calls_per_poll)


def min_interval_s(period_s: float, limit: int, calls_per_poll: int) -> int:
    """The smallest whole interval whose calls fit `limit`; 0 when one poll alone is over it.

    At most floor(limit / calls_per_poll) polls fit in the period, so the
    interval is ceil(period / that). The shortcut ceil(period * calls_per_poll
    / limit) can fall short: 99 calls a poll and a limit of 10,000 give
    26,517 s, which makes 10,098 calls.
    """
    polls = int(limit) // int(calls_per_poll)
    if polls < 1:
        return 0
    return math.ceil(period_s / polls)


# --- CoinGecko (market feeder) -------------------------------------------------------------


def coingecko_calls_per_poll(max_coins: int, per_page: int) -> int:
    """One /coins/markets request per page of at most `per_page` coins."""
    return math.ceil(int(max_coins) / int(per_page))


def coingecko_monthly_calls(interval_s: float, per_page: int, max_coins: int) -> int:
    """ceil(SECONDS_PER_MONTH / interval_s) x ceil(max_coins / per_page)."""
    return calls_per_period(
        SECONDS_PER_MONTH, interval_s, coingecko_calls_per_poll(max_coins, per_page)
    )


def coingecko_problem(cg: Mapping[str, Any], name: Namer = dotted) -> str | None:
    """Why an enabled CoinGecko section is over `monthly_budget`, or None when it fits."""
    interval, per_page, max_coins = float(cg["interval_s"]), cg["per_page"], cg["max_coins"]
    budget = int(cg["monthly_budget"])
    calls = coingecko_monthly_calls(interval, per_page, max_coins)
    if calls <= budget:
        return None
    minimum = min_interval_s(
        SECONDS_PER_MONTH, budget, coingecko_calls_per_poll(max_coins, per_page)
    )
    interval_name, coins_name = name("coingecko.interval_s"), name("coingecko.max_coins")
    advice = (
        f"raise {interval_name} to at least {minimum}, or lower {coins_name}."
        if minimum
        else f"a single poll is over budget: lower {coins_name}."
    )
    return (
        f"CoinGecko: {calls} calls a month (31 days: ceil({SECONDS_PER_MONTH:,} / "
        f"{interval_name}={interval:g}) x ceil({coins_name}={max_coins} / "
        f"{name('coingecko.per_page')}={per_page})) exceed "
        f"{name('coingecko.monthly_budget')}={budget}; {advice}"
    )


def backfill_coingecko_problem(
    cg: Mapping[str, Any], backfill: Mapping[str, Any], name: Namer = dotted, *, live: bool = True
) -> str | None:
    """Why the history backfill's CoinGecko share does not fit beside the live poll in
    `monthly_budget`, or None. Both spend the same plan: live quotes must never starve.
    `live` is False in demo mode, where no live poll runs."""
    if not (backfill.get("enabled") and "coingecko" in backfill.get("sources", [])):
        return None
    share = int(backfill["coingecko_monthly_calls"])
    live_calls = (
        coingecko_monthly_calls(float(cg["interval_s"]), cg["per_page"], cg["max_coins"])
        if live and cg["enabled"]
        else 0
    )
    budget = int(cg["monthly_budget"])
    if live_calls + share <= budget:
        return None
    share_name = name("backfill.coingecko_monthly_calls")
    return (
        f"CoinGecko: the history backfill's {share_name}={share} calls a month and the live "
        f"poll's {live_calls} exceed {name('coingecko.monthly_budget')}={budget}; lower "
        f"{share_name} to {max(budget - live_calls, 0)} or poll less often "
        f"({name('coingecko.interval_s')})."
    )


def market_feeder_problems(settings: Mapping[str, Any], name: Namer = dotted) -> list[str]:
    """Every budget the market feeder's settings break (demo mode calls no live upstream)."""
    problems: list[str | None] = []
    cg = settings["coingecko"]
    live = not settings["demo"]["enabled"]
    if live:
        problems.append(coingecko_problem(cg, name) if cg["enabled"] else None)
    if "backfill" in settings:
        problems.append(backfill_coingecko_problem(cg, settings["backfill"], name, live=live))
    return [p for p in problems if p]


# --- News feeder ---------------------------------------------------------------------------


def cryptopanic_monthly_requests(interval_s: float) -> int:
    """One posts request per poll."""
    return calls_per_period(SECONDS_PER_MONTH, interval_s, 1)


def newsapi_daily_requests(interval_s: float, categories: int) -> int:
    """One top-headlines request per category per poll."""
    return calls_per_period(SECONDS_PER_DAY, interval_s, categories)


def rss_problem(rss: Mapping[str, Any], name: Namer = dotted) -> str | None:
    """Why the RSS interval is impolite to publishers, or None."""
    interval = float(rss["interval_s"])
    if interval >= MIN_RSS_INTERVAL_S:
        return None
    return (
        f"RSS: {name('rss.interval_s')}={interval:g} polls each feed more often than every "
        f"{MIN_RSS_INTERVAL_S} s; set it to {MIN_RSS_INTERVAL_S} or more."
    )


def cryptopanic_problem(cp: Mapping[str, Any], name: Namer = dotted) -> str | None:
    """Why CryptoPanic polling is over `monthly_quota`, or None."""
    interval, quota = float(cp["interval_s"]), int(cp["monthly_quota"])
    requests = cryptopanic_monthly_requests(interval)
    if requests <= quota:
        return None
    interval_name = name("cryptopanic.interval_s")
    return (
        f"CryptoPanic: {interval_name}={interval:g} makes {requests} requests a month "
        f"(31 days), over {name('cryptopanic.monthly_quota')}={quota}; set {interval_name} "
        f"to {min_interval_s(SECONDS_PER_MONTH, quota, 1)} or more."
    )


def newsapi_problem(na: Mapping[str, Any], name: Namer = dotted) -> str | None:
    """Why NewsAPI polling is over `daily_limit`, or None."""
    interval, limit = float(na["interval_s"]), int(na["daily_limit"])
    categories = len(na["categories"])
    requests = newsapi_daily_requests(interval, categories)
    if requests <= limit:
        return None
    interval_name, categories_name = name("newsapi.interval_s"), name("newsapi.categories")
    minimum = min_interval_s(SECONDS_PER_DAY, limit, categories)
    advice = (
        f"set {interval_name} to {minimum} or more, or use fewer {categories_name}."
        if minimum
        else f"use fewer {categories_name}: one poll alone is over the limit."
    )
    return (
        f"NewsAPI: {interval_name}={interval:g} with {categories} categories makes "
        f"{requests} requests a day, over {name('newsapi.daily_limit')}={limit}; {advice}"
    )


def _configured(section: Mapping[str, Any], secret: str) -> bool:
    """A keyed source runs only with its secret, inline or as a file."""
    return bool(section.get(secret)) or bool(section.get(f"{secret}_file"))


def news_feeder_problems(settings: Mapping[str, Any], name: Namer = dotted) -> list[str]:
    """Every budget the news feeder's settings break (keyed sources only when configured)."""
    problems = [
        rss_problem(settings["rss"], name) if settings["rss"]["enabled"] else None,
        cryptopanic_problem(settings["cryptopanic"], name)
        if _configured(settings["cryptopanic"], "token")
        else None,
        newsapi_problem(settings["newsapi"], name)
        if _configured(settings["newsapi"], "key")
        else None,
    ]
    return [p for p in problems if p]
