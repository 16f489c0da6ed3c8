"""Filters of the ufw role: whether `ufw status verbose` already lists a rule, and
which public ports it lists."""

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


def public_ports(status: str) -> list[int]:
    """The TCP ports the status lists as allowed from anywhere with the role's
    comment "public" (what the task "Allow the public TCP ports" added), sorted."""
    found = set()
    for to, action, source, comment in rules(status):
        port, _, proto = to.removesuffix(" (v6)").partition("/")
        public = action == "ALLOW IN" and source.startswith("Anywhere") and comment == "public"
        if public and proto == "tcp" and port.isdigit():
            found.add(int(port))
    return sorted(found)


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"ufw_rule_listed": rule_listed, "ufw_public_ports": public_ports}
