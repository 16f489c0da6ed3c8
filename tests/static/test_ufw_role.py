"""The ufw role's rule check (roles/ufw/filter_plugins/ufw.py): a rule that
`ufw status verbose` lists is not sent to community.general.ufw again.

The status below was recorded on the molecule test host (Debian 12, ufw
0.36.2-1, IPV6=yes) after a converge; ufw 0.36.1 on Ubuntu 22.04 prints the
same columns.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import yaml

ROLE = Path(__file__).resolve().parents[2] / "roles" / "ufw"
_spec = importlib.util.spec_from_file_location("ufw_filters", ROLE / "filter_plugins" / "ufw.py")
assert _spec and _spec.loader
F = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(F)

RECORDED = """Status: active
Logging: on (low)
Default: deny (incoming), allow (outgoing), deny (routed)
New profiles: skip

To                         Action      From
--                         ------      ----
22/tcp                     ALLOW IN    172.17.0.1                 # ssh trusted
22/tcp                     LIMIT IN    Anywhere                   # ssh
80/tcp                     ALLOW IN    Anywhere                   # public
443/tcp                    ALLOW IN    Anywhere                   # public
22/tcp (v6)                LIMIT IN    Anywhere (v6)              # ssh
80/tcp (v6)                ALLOW IN    Anywhere (v6)              # public
443/tcp (v6)               ALLOW IN    Anywhere (v6)              # public
"""


@pytest.mark.parametrize(
    ("args", "listed"),
    [
        (("limit", 22, "tcp", "", "ssh"), True),
        (("allow", 443, "tcp", "", "public"), True),
        (("allow", "22", "tcp", "172.17.0.1", "ssh trusted"), True),
        # Another action, port, comment or source: not the same rule.
        (("allow", 22, "tcp", "", "ssh"), False),
        (("allow", 8443, "tcp", "", "public"), False),
        (("allow", 80, "tcp", "", "web"), False),
        (("allow", 22, "tcp", "10.0.0.0/8", "ssh trusted"), False),
        (("allow", 80, "udp", "", "public"), False),
    ],
)
def test_a_listed_rule_is_found(args: tuple[object, ...], listed: bool) -> None:
    assert F.rule_listed(RECORDED, *args) is listed


def test_a_rule_missing_its_ipv6_twin_is_sent_again() -> None:
    drifted = RECORDED.replace(
        "80/tcp (v6)                ALLOW IN    Anywhere (v6)              # public\n", ""
    )
    assert F.rule_listed(drifted, "allow", 80, "tcp", comment="public") is False
    # With IPv6 off ufw lists no twin, and none is expected.
    assert F.rule_listed(drifted, "allow", 80, "tcp", comment="public", ipv6=False) is True


def test_nothing_is_listed_by_an_inactive_or_unreadable_firewall() -> None:
    assert F.rule_listed("Status: inactive\n", "limit", 22, "tcp", comment="ssh") is False
    assert F.rule_listed("", "limit", 22, "tcp", comment="ssh") is False


def test_every_rule_task_is_skipped_only_when_listed() -> None:
    tasks = yaml.safe_load((ROLE / "tasks" / "configure.yml").read_text(encoding="utf-8"))
    names = [t["name"] for t in tasks]
    # The status is read before the first rule it is compared with.
    assert names.index("Read the firewall state") < names.index("Allow SSH, rate limited")
    for task in tasks:
        ufw = task.get("community.general.ufw")
        ufw = ufw if isinstance(ufw, dict) else {}
        if ufw.get("delete"):
            # A removal loops over what the status lists (ufw_public_ports).
            assert "ufw_public_ports" in task["loop"], task["name"]
            continue
        if "rule" in ufw:
            conditions = task["when"] if isinstance(task["when"], list) else [task["when"]]
            assert any("ufw_rule_listed(" in c for c in conditions), task["name"]


def test_the_public_ports_listed_are_found_once_each() -> None:
    """80 and 443 from anywhere with the comment "public" (and their IPv6 twins)
    are the public ports; SSH's rules are not."""
    assert F.public_ports(RECORDED) == [80, 443]
    assert F.public_ports("Status: inactive\n") == []


def test_a_port_no_longer_public_is_closed() -> None:
    """A host that holds no presentation layer (ufw_allowed_tcp_ports []) removes
    the public rules a one-VPS stack gave it: the removal loops over the listed
    public ports minus the wanted ones, with the comment the rules were added with."""
    tasks = yaml.safe_load((ROLE / "tasks" / "configure.yml").read_text(encoding="utf-8"))
    (close,) = [
        t
        for t in tasks
        if isinstance(t.get("community.general.ufw"), dict)
        and t["community.general.ufw"].get("delete")
    ]
    assert close["community.general.ufw"]["comment"] == "public"
    assert close["community.general.ufw"]["rule"] == "allow"
    assert "ufw_public_ports | difference(ufw_allowed_tcp_ports" in close["loop"]
