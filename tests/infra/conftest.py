"""Fixtures for molecule verify: the converged test host, seen from inside
(testinfra over the Ansible inventory) and from outside (its address on the
machine's Docker bridge, the project's own test host)."""

from __future__ import annotations

import http.client
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import testinfra.utils.ansible_runner
import yaml

REPO = Path(__file__).resolve().parents[2]
ADMIN_KEY = REPO / ".cache" / "local" / "id_ed25519"
CA_PATH = "/opt/bloomberg/secrets/certbot/ca.pem"

testinfra_hosts = testinfra.utils.ansible_runner.AnsibleRunner(
    os.environ["MOLECULE_INVENTORY_FILE"]
).get_hosts("bloomberg")


def pytest_configure(config: pytest.Config) -> None:
    # Registered here for pytest.ini's --strict-markers. molecule/default runs every
    # test; molecule/real-images (real upstream images, no offline kit) runs
    # -m "not doubles" (docs/testing.md, "Real images in CI").
    config.addinivalue_line(
        "markers",
        "doubles: holds only with the offline kit: reads a test double's inspection "
        "endpoint or TEST DOUBLE marker, relies on behaviour only a double has, or runs "
        "an image only the kit provides",
    )


@pytest.fixture(scope="session")
def host_name() -> str:
    return testinfra_hosts[0]


@pytest.fixture(scope="session")
def host_address(host_name: str) -> str:
    """The test host's address on this machine's Docker bridge ("outside")."""
    out = subprocess.run(
        [
            "docker",
            "inspect",
            "-f",
            "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}",
            host_name,
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    assert out, f"{host_name} has no address"
    return out[0]


@pytest.fixture(scope="session")
def admin_user() -> str:
    return "bbadmin"


def require_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed on the controller: `make deps` installs it")
    return path


def local_inventory(tmp: Path, host: str, *, with_vault: bool = True) -> Path:
    """A copy of the local inventory aimed at `host`, optionally without its vault."""
    shutil.copytree(REPO / "inventories" / "local", tmp / "inv")
    if not with_vault:
        (tmp / "inv" / "group_vars" / "all" / "vault.yml").unlink(missing_ok=True)
    connection = {
        "ansible_connection": "community.docker.docker",
        "ansible_python_interpreter": "/usr/bin/python3",
    }
    children = {"bloomberg": {"hosts": {host: connection}}, "offline_kit": {"hosts": {host: {}}}}
    hosts = {"all": {"children": children}}
    (tmp / "inv" / "hosts.yml").write_text(yaml.safe_dump(hosts))
    return tmp / "inv" / "hosts.yml"


# --------------------------------------------------------------------------- the site, from outside


@pytest.fixture(scope="module")
def site_name(host) -> str:
    return str(host.ansible.get_variables().get("bloomberg_domain", "localhost"))


@pytest.fixture(scope="module")
def ca_file(host) -> Iterator[str]:
    pem = host.file(CA_PATH).content_string
    assert "BEGIN CERTIFICATE" in pem
    with tempfile.NamedTemporaryFile("w", suffix=".pem", delete=False) as handle:
        handle.write(pem)
    yield handle.name
    Path(handle.name).unlink()


@pytest.fixture(scope="module")
def tls(ca_file: str) -> ssl.SSLContext:
    """Verifies the server like a browser that trusts the local CA."""
    return ssl.create_default_context(cafile=ca_file)


class Site:
    """HTTP(S) requests to the test host's address, with the site's name as
    SNI and Host header (the name does not resolve here)."""

    def __init__(self, address: str, name: str, context: ssl.SSLContext) -> None:
        self.address, self.name, self.context = address, name, context

    def connection(self, tls: bool = True, timeout: float = 10) -> http.client.HTTPConnection:
        port = 443 if tls else 80
        conn = http.client.HTTPConnection(self.address, port, timeout=timeout)
        raw = socket.create_connection((self.address, port), timeout=timeout)
        conn.sock = self.context.wrap_socket(raw, server_hostname=self.name) if tls else raw
        return conn

    def request(
        self,
        path: str,
        method: str = "GET",
        headers: dict[str, str] | None = None,
        tls: bool = True,
    ) -> tuple[int, dict[str, str], bytes]:
        conn = self.connection(tls)
        try:
            conn.request(method, path, headers={"Host": self.name, **(headers or {})})
            response = conn.getresponse()
            body = response.read()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, body
        finally:
            conn.close()


@pytest.fixture(scope="module")
def site(host_address: str, site_name: str, tls: ssl.SSLContext) -> Site:
    return Site(host_address, site_name, tls)
