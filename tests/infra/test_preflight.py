"""Bad input stops the play before any change, with a message that says
what to do: a missing vault secret, a missing admin SSH key, an
unsupported operating system."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import REPO, local_inventory


def _site(inventory: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, ANSIBLE_FORCE_COLOR="0", ANSIBLE_NOCOLOR="1")
    return subprocess.run(
        ["ansible-playbook", "-i", str(inventory), str(REPO / "playbooks" / "site.yml"), *extra],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=REPO,
        env=env,
        check=False,
    )


def _assert_stopped_unchanged(result: subprocess.CompletedProcess[str], message: str) -> None:
    out = result.stdout + result.stderr
    assert result.returncode != 0, out[-2000:]
    assert message in " ".join(out.split()), out[-3000:]
    recap = re.findall(r"changed=(\d+)", out)
    assert recap and all(n == "0" for n in recap), out[-2000:]
    # Stopped in the preflight play: no role of the harden layer ran.
    assert "TASK [common : Install the base packages]" not in out


def test_missing_vault_secret(tmp_path: Path, host_name: str) -> None:
    result = _site(local_inventory(tmp_path, host_name, with_vault=False))
    _assert_stopped_unchanged(result, "vault_common_admin_password is missing")


def test_missing_admin_ssh_key(tmp_path: Path, host_name: str) -> None:
    result = _site(
        local_inventory(tmp_path, host_name, with_vault=True),
        "-e",
        '{"common_admin_ssh_public_keys": []}',
    )
    _assert_stopped_unchanged(result, "common_admin_ssh_public_keys is empty")


@pytest.fixture
def focal_host() -> Iterator[str]:
    """A throwaway machine that says it is Ubuntu 20.04 (not supported)."""
    name = "bbdash-verify-focal"
    subprocess.run(["docker", "rm", "-f", name], capture_output=True, check=False)
    subprocess.run(
        ["docker", "run", "-d", "--name", name, "bbdash-offline/debian:bookworm", "sleep", "600"],
        check=True,
        capture_output=True,
    )
    release = (
        'NAME="Ubuntu"\nVERSION="20.04.6 LTS (Focal Fossa)"\nID=ubuntu\nID_LIKE=debian\n'
        'VERSION_ID="20.04"\nVERSION_CODENAME=focal\n'
    )
    lsb = "DISTRIB_ID=Ubuntu\nDISTRIB_RELEASE=20.04\nDISTRIB_CODENAME=focal\n"
    script = f"printf '%s' '{release}' > /etc/os-release; printf '%s' '{lsb}' > /etc/lsb-release"
    subprocess.run(["docker", "exec", name, "sh", "-c", script], check=True)
    yield name
    subprocess.run(["docker", "rm", "-f", name], capture_output=True, check=False)


def test_unsupported_os(tmp_path: Path, focal_host: str) -> None:
    result = _site(local_inventory(tmp_path, focal_host, with_vault=True))
    _assert_stopped_unchanged(result, "Ubuntu 20.04 is not supported")
