"""What each host exposes, and to whom, once the stack spans three hosts.

From this machine (outside every host, the gateway of bbdash-multihost): only
the presentation host answers on the web ports; every host answers on SSH;
the link port 7443 answers nowhere. From a container on bbdash-multihost that
is not a stack host: nothing of the data host answers (no link, no InfluxDB,
no PostgreSQL). From the collection host (a stack host): the data host's link
completes a TLS handshake only for a client certificate of the stack's CA, and
then carries the request to InfluxDB.
"""

from __future__ import annotations

import json
import subprocess
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from conftest import COLLECTION, DATA, HOSTS, NETWORK, PRESENTATION, on_host
from test_firewall import _open_tcp_ports

LINK_PORT = 7443
# The collection host's own key and certificate for the links, and the
# stack's CA (roles/link).
LINK_TLS = "/opt/bloomberg/link/tls"
LINK_CERT = f"{LINK_TLS}/host.crt"
LINK_KEY = f"{LINK_TLS}/host.key"
LINK_CA = f"{LINK_TLS}/ca.crt"
# The front picks the local container by SNI: <service>.<host>.bbdash.
INFLUXDB_SNI = f"influxdb.{DATA}.bbdash"

EXPECTED_OPEN = {
    PRESENTATION: {22, 80, 443},
    DATA: {22},
    COLLECTION: {22},
}


@pytest.fixture(scope="module")
def open_ports(addresses: dict[str, str]) -> dict[str, set[int]]:
    """Every open TCP port of each host, scanned from this machine (nmap -p-,
    the three hosts at once)."""
    with ThreadPoolExecutor(max_workers=len(HOSTS)) as pool:
        scans = {name: pool.submit(_open_tcp_ports, addresses[name]) for name in HOSTS}
        return {name: scan.result() for name, scan in scans.items()}


@pytest.mark.parametrize("name", HOSTS)
def test_only_the_presentation_host_serves_the_web_and_no_host_shows_its_link(
    open_ports: dict[str, set[int]], name: str
) -> None:
    """Proves the per-layer firewall from outside: 80 and 443 open on the
    presentation host only, SSH on all, and the link port closed to an address
    that is not a stack host's (this machine, which every host trusts for SSH)."""
    assert LINK_PORT not in open_ports[name]
    assert open_ports[name] == EXPECTED_OPEN[name], (name, open_ports[name])


STRANGER = r"""
import json, socket, sys
out = {}
for target in sys.argv[1:]:
    address, port = target.rsplit(":", 1)
    try:
        socket.create_connection((address, int(port)), timeout=5).close()
        out[target] = "open"
    except socket.timeout:
        out[target] = "timeout"
    except OSError as exc:
        out[target] = type(exc).__name__
print(json.dumps(out))
"""

DATA_PORTS = (LINK_PORT, 8086, 5432)


def test_a_machine_that_is_not_a_stack_host_reaches_nothing_of_the_data_host(
    addresses: dict[str, str],
) -> None:
    """Proves that the data host's link, InfluxDB and PostgreSQL are closed to
    a neighbour on the stack's own network that is not a stack host, while the
    same neighbour does reach the presentation host's HTTPS (so the failures
    are the data host's firewall, not a neighbour cut off)."""
    data, web = addresses[DATA], f"{addresses[PRESENTATION]}:443"
    targets = [f"{data}:{port}" for port in DATA_PORTS]
    result = subprocess.run(
        [
            "docker",
            "run",
            "--rm",
            "--network",
            NETWORK,
            "--pull=never",
            "bbdash-offline/debian:bookworm",
            "python3",
            "-c",
            STRANGER,
            *targets,
            web,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    outcomes = json.loads(result.stdout.strip().splitlines()[-1])
    assert outcomes[web] == "open", outcomes
    for target in targets:
        assert outcomes[target] != "open", outcomes


# From the collection host: TLS to the data host's front, with and without the
# host's client certificate, then an HTTP request to InfluxDB's /health through
# it; and plain TCP to the data host's InfluxDB and PostgreSQL ports.
def through_the_link(address: str) -> str:
    return f"""
import socket, ssl

def through_the_front(with_certificate):
    out = {{"connected": False, "handshake": False, "answer": "", "error": ""}}
    context = ssl.create_default_context(cafile={LINK_CA!r})
    if with_certificate:
        context.load_cert_chain({LINK_CERT!r}, {LINK_KEY!r})
    try:
        with socket.create_connection(({address!r}, {LINK_PORT}), timeout=10) as raw:
            out["connected"] = True
            with context.wrap_socket(raw, server_hostname={INFLUXDB_SNI!r}) as conn:
                out["handshake"] = True
                conn.sendall(b"GET /health HTTP/1.1\\r\\nHost: bloomberg-influxdb\\r\\n"
                             b"Connection: close\\r\\n\\r\\n")
                answer = b""
                while True:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    answer += chunk
                    out["answer"] = answer.decode(errors="replace")[:2000]
    except OSError as exc:  # ssl.SSLError included
        out["error"] = repr(exc)
    return out

def tcp(port):
    try:
        socket.create_connection(({address!r}, port), timeout=5).close()
        return "open"
    except OSError as exc:
        return type(exc).__name__

print(json.dumps({{
    "without": through_the_front(False),
    "with": through_the_front(True),
    "plain": {{str(port): tcp(port) for port in (8086, 5432)}},
}}))
"""


@pytest.fixture(scope="module")
def from_the_collection_host(collection: Any, addresses: dict[str, str]) -> dict[str, Any]:
    return on_host(collection, through_the_link(addresses[DATA]))


def test_the_data_hosts_link_refuses_a_stack_host_without_a_client_certificate(
    from_the_collection_host: dict[str, Any],
) -> None:
    """Proves mutual TLS: the collection host is admitted to 7443 by the
    firewall, yet without a client certificate the front carries nothing
    (the handshake fails, or the server closes before any answer)."""
    without = from_the_collection_host["without"]
    assert without["connected"], f"7443 not reachable from a stack host: {without}"
    assert without["answer"] == "", without


def test_the_data_hosts_link_carries_a_stack_host_with_its_certificate_to_influxdb(
    from_the_collection_host: dict[str, Any],
) -> None:
    """Proves the link end to end: the data host's front presents a
    certificate of the stack's CA valid for influxdb.<data host>.bbdash,
    accepts the collection host's certificate and forwards to InfluxDB (the
    test double's /health names it)."""
    answer = from_the_collection_host["with"]
    assert answer["handshake"], answer
    head, _, body = answer["answer"].partition("\r\n\r\n")
    assert head.startswith("HTTP/1.1 200"), answer
    assert '"influxdb"' in body.replace(" ", ""), answer


def test_a_stack_host_reaches_the_data_host_only_through_the_link(
    from_the_collection_host: dict[str, Any],
) -> None:
    """Proves that the databases publish no port: even a stack host gets no
    plain TCP connection to the data host's InfluxDB or PostgreSQL."""
    assert "open" not in from_the_collection_host["plain"].values(), from_the_collection_host
