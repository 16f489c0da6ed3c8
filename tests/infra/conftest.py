"""Fixtures for molecule verify: the converged test host, seen from inside
(testinfra over the Ansible inventory) and from outside (its address on the
machine's Docker bridge, the project's own test host)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import testinfra.utils.ansible_runner
import yaml

REPO = Path(__file__).resolve().parents[2]
ADMIN_KEY = REPO / ".cache" / "local" / "id_ed25519"

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
