"""Filters of the ufw role: whether `ufw status verbose` already lists a rule."""

from __future__ import annotations

import re
from typing import Any

# A rule line of `ufw status verbose` (ufw 0.36, Ubuntu 22.04 and Debian 12):
# "22/tcp (v6)                LIMIT IN    Anywhere (v6)              # ssh".
_RULE = re.compile(
    r"^(?P<to>\S+(?: \(v6\))?)\s{2,}(?P<action>[A-Z]+ IN)\s{2,}"
    r"(?P<source>\S+(?: \(v6\))?)(?:\s+# (?P<comment>.*?))?\s*$"
)


def rules(status: str) -> set[tuple[str, str, str, str]]:
    """(to, action, from, comment) of every rule line."""
    found = set()
    for line in (status or "").splitlines():
        match = _RULE.match(line)
        if match:
            found.add((match["to"], match["action"], match["source"], match["comment"] or ""))
    return found


def rule_listed(
    status: str,
    rule: str,
    port: Any,
    proto: str,
    source: str = "",
    comment: str = "",
    ipv6: bool = True,
) -> bool:
    """True when the status lists the incoming rule `rule port/proto [from source]`
    with its comment: for a rule from anywhere, also its IPv6 twin when ufw filters
    IPv6 (IPV6=yes), as `ufw allow` adds both. False sends the rule to
    community.general.ufw, which adds what is missing (or nothing)."""
    to = f"{port}/{proto}"
    action = f"{rule.upper()} IN"
    listed = rules(status)
    if source:
        v6 = ":" in source
        return (f"{to} (v6)" if v6 else to, action, source, comment) in listed
    wanted = {(to, action, "Anywhere", comment)}
    if ipv6:
        wanted.add((f"{to} (v6)", action, "Anywhere (v6)", comment))
    return wanted <= listed


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"ufw_rule_listed": rule_listed}
