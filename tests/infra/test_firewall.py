"""Firewall: ufw's policy and rules, the DOCKER-USER filter, and what answers
from outside the host, including a container port published by mistake."""

from __future__ import annotations

import re
import socket
import subprocess
import time

import pytest
from conftest import require_tool

PUBLIC_TCP_PORTS = {22, 80, 443}


def test_ufw_policy_and_rules(host):
    status = host.check_output("ufw status verbose")
    assert "Status: active" in status
    assert "Default: deny (incoming), allow (outgoing), deny (routed)" in status
    assert "Logging: on" in status
    assert re.search(r"^22/tcp\s+LIMIT IN\s+Anywhere\s", status, re.MULTILINE)
    for port in (80, 443):
        assert re.search(rf"^{port}/tcp\s+ALLOW IN\s+Anywhere\s", status, re.MULTILINE)


def test_docker_user_chain_drops_all_but_published_web_ports(host):
    rules = host.check_output("iptables -S DOCKER-USER")
    assert "--ctorigdstport 80" in rules
    assert "--ctorigdstport 443" in rules
    assert rules.strip().splitlines()[-1].endswith("-j DROP") or "-j DROP" in rules
    forward = host.check_output("iptables -S FORWARD")
    assert "-A FORWARD -j DOCKER-USER" in forward


def test_fail2ban_sshd_jail_is_up(host):
    out = host.check_output("fail2ban-client status sshd")
    assert "Currently banned" in out
    jail = host.file("/etc/fail2ban/jail.d/00-bloomberg-defaults.local").content_string
    assert "backend = systemd" in jail


def _open_tcp_ports(address: str) -> set[int]:
    out = subprocess.run(
        [
            require_tool("nmap"),
            "-Pn",
            "-n",
            "-p-",
            "--min-rate",
            "4000",
            "--max-retries",
            "1",
            "-T4",
            "-oG",
            "-",
            address,
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    ).stdout
    ports: set[int] = set()
    for line in out.splitlines():
        if "Ports:" in line:
            for entry in line.split("Ports:")[1].split(","):
                fields = entry.strip().split("/")
                if len(fields) > 1 and fields[1] == "open":
                    ports.add(int(fields[0]))
    return ports


def test_only_ssh_and_web_ports_answer_from_outside(host_address):
    open_ports = _open_tcp_ports(host_address)
    assert 22 in open_ports
    assert open_ports <= PUBLIC_TCP_PORTS, f"unexpected open ports: {open_ports - PUBLIC_TCP_PORTS}"


@pytest.fixture
def mistaken_container(host):
    """A container publishing 8088 on every interface, as a careless
    `docker run -p 8088:8000` would."""
    name = "bbdash-verify-mistake"
    host.run(f"docker rm -f {name}")
    host.check_output(
        f"docker run -d --name {name} -p 8088:8000 bbdash-offline/debian:bookworm "
        "python3 -m http.server 8000"
    )
    for _ in range(30):
        if (
            host.run(
                "python3 -c \"import urllib.request; urllib.request.urlopen('http://127.0.0.1:8088', timeout=2)\""
            ).rc
            == 0
        ):
            break
        time.sleep(1)
    else:
        pytest.fail("the test container never answered on the host itself")
    yield name
    host.run(f"docker rm -f {name}")


# Its container runs bbdash-offline/debian:bookworm in the test host's engine, which
# has it only from the kit's archive (docker_offline_images_archive).
@pytest.mark.doubles
def test_a_port_published_by_mistake_is_not_reachable_from_outside(
    mistaken_container, host_address
):
    with pytest.raises(OSError):
        socket.create_connection((host_address, 8088), timeout=5).close()


ATTACKER = r"""
import socket, sys, time
host = sys.argv[1]
results = []
for attempt in range(8):
    try:
        with socket.create_connection((host, 22), timeout=5) as conn:
            banner = conn.recv(64)
            # Not SSH: sshd logs an invalid protocol identifier, which the
            # aggressive sshd jail counts as a failure.
            conn.sendall(b"GET / HTTP/1.0\\r\\n\\r\\n")
            time.sleep(0.2)
            results.append("open" if banner.startswith(b"SSH-") else "odd")
    except OSError:
        results.append("refused")
print(",".join(results))
"""


def _unban_everyone(host) -> None:
    # fail2ban reads the journal asynchronously and can ban again right after
    # an unban while it catches up: unban until the list stays empty.
    for _ in range(10):
        host.run("fail2ban-client unban --all")
        time.sleep(1)
        if "Currently banned:\t0" in host.check_output("fail2ban-client status sshd"):
            return


@pytest.fixture
def attacker(host):
    """An untrusted address: a throwaway container on this machine's bridge."""
    name = "bbdash-verify-attacker"
    subprocess.run(["docker", "rm", "-f", name], capture_output=True, check=False)
    _unban_everyone(host)
    yield name
    subprocess.run(["docker", "rm", "-f", name], capture_output=True, check=False)
    _unban_everyone(host)


def test_ssh_is_rate_limited_and_abusers_are_banned(host, host_address, attacker):
    time.sleep(31)  # let ufw's 30 s window forget any earlier attempt from this address
    result = subprocess.run(
        [
            "docker",
            "run",
            "--name",
            attacker,
            "bbdash-offline/debian:bookworm",
            "python3",
            "-c",
            ATTACKER,
            host_address,
        ],
        capture_output=True,
        text=True,
        timeout=180,
        check=True,
    )
    outcomes = result.stdout.strip().split(",")
    # ufw's limit: at most 5 new connections per 30 s from one address.
    assert outcomes[:5] == ["open"] * 5, outcomes
    assert "refused" in outcomes[5:], outcomes
    address = subprocess.run(
        [
            "docker",
            "inspect",
            "-f",
            "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
            attacker,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    # fail2ban: five invalid handshakes within findtime ban the address.
    for _ in range(30):
        if address in host.check_output("fail2ban-client status sshd"):
            break
        time.sleep(1)
    else:
        pytest.fail(f"fail2ban did not ban {address}")
