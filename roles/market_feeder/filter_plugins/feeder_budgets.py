"""The feeders' own budget rule, run on the controller by both feeder roles' preflight.

The rule is `bbdash.common.budgets` (standard library only), loaded by path
from the feeders' source next to the roles (`files/feeders`, the tree the
image is built from), so the preflight and the service cannot disagree and
the controller needs neither the image nor the package's dependencies.
This file serves market_feeder and news_feeder (news_feeder's
filter_plugins/feeder_budgets.py is a link to it): one loader, one rule.
"""

from __future__ import annotations

import functools
import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

try:
    from ansible.errors import AnsibleFilterError
except ImportError:  # imported by the static tests without Ansible's loader
    AnsibleFilterError = ValueError  # type: ignore[misc,assignment]

RULES = Path(__file__).resolve().parents[3] / "files/feeders/src/bbdash/common/budgets.py"


@functools.cache
def _rules() -> ModuleType:
    spec = importlib.util.spec_from_file_location("_bbdash_budgets", RULES)
    if spec is None or spec.loader is None or not RULES.is_file():
        raise AnsibleFilterError(f"the feeders' budget rule is missing: {RULES}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _problems(role: str) -> Callable[[dict[str, Any]], list[str]]:
    """The filter of one feeder role: every budget its rendered settings break,
    naming the role variable to change (`coingecko.interval_s` is
    `market_feeder_coingecko_interval_s`)."""

    def problems(settings: dict[str, Any]) -> list[str]:
        try:
            return getattr(_rules(), f"{role}_problems")(
                settings, lambda key: f"{role}_" + key.replace(".", "_")
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise AnsibleFilterError(f"{role} budget check: bad settings ({exc!r})") from exc

    return problems


market_feeder_budget_problems = _problems("market_feeder")
news_feeder_budget_problems = _problems("news_feeder")


class FilterModule:
    """Both feeder roles' budget filters."""

    def filters(self) -> dict[str, Any]:
        return {
            "market_feeder_budget_problems": market_feeder_budget_problems,
            "news_feeder_budget_problems": news_feeder_budget_problems,
        }
