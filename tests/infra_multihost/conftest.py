"""Fixtures for the multihost scenario's verify: the three converged hosts, one
layer each (molecule/multihost), seen from inside (testinfra over molecule's
Ansible inventory, one fixture per host) and from outside (their addresses on
the bbdash-multihost network, whose gateway is this machine).

The one-host suite's helpers (tests/infra/test_data.py: psql, inspect,
wait_healthy, vault, playbook...) take a testinfra host and are reused here
with the host that holds what they touch. They import `REPO` and
`local_inventory` from a module named `conftest`, which in this directory is
this one: both are re-exported from tests/infra/conftest.py, loaded under
another name (its fixtures are not registered here)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import testinfra

INFRA = Path(__file__).resolve().parents[1] / "infra"


def _load(name: str, path: Path) -> Any:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_infra_conftest = _load("bbdash_infra_conftest", INFRA / "conftest.py")
REPO: Path = _infra_conftest.REPO
local_inventory = _infra_conftest.local_inventory
require_tool = _infra_conftest.require_tool
# After this module's names exist: tests/infra/test_data.py imports them from here.
sys.path.insert(1, str(INFRA))

NETWORK = "bbdash-multihost"
DATA, COLLECTION, PRESENTATION = "bbdash-data", "bbdash-collection", "bbdash-presentation"
HOSTS = (DATA, COLLECTION, PRESENTATION)
PRELUDE = (Path(__file__).parent / "on_host_prelude.py").read_text()


def pytest_configure(config: pytest.Config) -> None:
    # The one-host suite's marker (tests/infra/conftest.py), for --strict-markers:
    # tests/infra/test_data.py, imported for its helpers, applies it.
    config.addinivalue_line(
        "markers",
        "doubles: holds only with the offline kit: reads a test double's inspection "
        "endpoint or TEST DOUBLE marker, or runs an image only the kit provides",
    )


def stack_host(name: str) -> Any:
    """A converged host as testinfra reaches it: through molecule's inventory
    (community.docker.docker, which testinfra runs as `docker exec`)."""
    return testinfra.get_host(
        f"ansible://{name}", ansible_inventory=os.environ["MOLECULE_INVENTORY_FILE"]
    )


@pytest.fixture(scope="session")
def data() -> Any:
    return stack_host(DATA)


@pytest.fixture(scope="session")
def collection() -> Any:
    return stack_host(COLLECTION)


@pytest.fixture(scope="session")
def presentation() -> Any:
    return stack_host(PRESENTATION)


@pytest.fixture(scope="session")
def hosts(data: Any, collection: Any, presentation: Any) -> dict[str, Any]:
    return {DATA: data, COLLECTION: collection, PRESENTATION: presentation}


def network_address(name: str) -> str:
    """A host's address on bbdash-multihost: its stack address, and where this
    machine (outside every host) reaches it."""
    out = subprocess.run(
        [
            "docker",
            "inspect",
            "-f",
            f'{{{{(index .NetworkSettings.Networks "{NETWORK}").IPAddress}}}}',
            name,
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    assert out, f"{name} has no address on {NETWORK}"
    return out


@pytest.fixture(scope="session")
def addresses() -> dict[str, str]:
    return {name: network_address(name) for name in HOSTS}


def on_host(host: Any, script: str, timeout: int = 60) -> Any:
    """Run a Python snippet on one host (as root), after on_host_prelude.py's
    helpers; it prints one JSON value, returned decoded."""
    code = PRELUDE + textwrap.dedent(script)
    result = host.run(f"timeout {timeout} python3 - <<'PYEOF'\n{code}\nPYEOF")
    assert result.rc == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])
