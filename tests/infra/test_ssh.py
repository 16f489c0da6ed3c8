"""SSH: the effective server settings (sshd -T), and logins tried from outside."""

from __future__ import annotations

import json
import re
import subprocess

import pytest
from conftest import ADMIN_KEY, require_tool


@pytest.fixture(scope="module")
def sshd(host, admin_user):
    out = host.check_output(
        f"sshd -T -C user={admin_user} -C host=client.example -C addr=198.51.100.7 -C lport=22"
    )
    settings: dict[str, str] = {}
    for line in out.splitlines():
        key, _, value = line.partition(" ")
        settings[key] = value
    return settings


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("passwordauthentication", "no"),
        ("kbdinteractiveauthentication", "no"),
        ("permitrootlogin", "no"),
        ("pubkeyauthentication", "yes"),
        ("authenticationmethods", "publickey"),
        ("permitemptypasswords", "no"),
        ("x11forwarding", "no"),
        ("allowagentforwarding", "no"),
        ("allowtcpforwarding", "local"),
        ("permittunnel", "no"),
        ("maxauthtries", "3"),
        ("allowgroups", "ssh-users"),
        ("loglevel", "VERBOSE"),
    ],
)
def test_effective_setting(sshd, key, expected):
    assert sshd[key] == expected


def test_only_modern_algorithms(sshd):
    for key in ("kexalgorithms", "ciphers", "macs", "hostkeyalgorithms"):
        offered = sshd[key].split(",")
        weak = [
            a
            for a in offered
            if re.search(r"nistp|sha1|md5|cbc|3des|arcfour|-96|ssh-rsa$|ssh-dss", a)
        ]
        assert not weak, f"{key} offers {weak}"
    # Post-quantum hybrid key exchange only (see ssh_hardening_kex_algorithms).
    assert all("sntrup761" in kex or "mlkem" in kex for kex in sshd["kexalgorithms"].split(","))


def test_host_keys_are_ed25519_and_rsa_only(sshd):
    keys = sorted(line for k, line in sshd.items() if k == "hostkey")
    assert all("ecdsa" not in k and "dsa_key" not in k for k in keys)


def test_config_file_is_private_and_cloud_dropins_are_gone(host):
    config = host.file("/etc/ssh/sshd_config")
    assert config.mode == 0o600
    assert not host.file("/etc/ssh/sshd_config.d/50-cloud-init.conf").exists


def test_small_dh_moduli_removed(host):
    sizes = {
        int(line.split()[4])
        for line in host.file("/etc/ssh/moduli").content_string.splitlines()
        if line and not line.startswith("#")
    }
    assert sizes, "moduli file is empty"
    assert min(sizes) >= 3071


def _ssh(address: str, *options: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            require_tool("ssh"),
            "-o",
            "BatchMode=yes",
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "ConnectTimeout=10",
            *options,
            address,
            "true",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_admin_logs_in_with_its_key(host_address, admin_user):
    result = _ssh(f"{admin_user}@{host_address}", "-i", str(ADMIN_KEY), "-o", "IdentitiesOnly=yes")
    assert result.returncode == 0, result.stderr


def test_password_login_is_refused(host_address, admin_user):
    result = _ssh(
        f"{admin_user}@{host_address}",
        "-o",
        "PubkeyAuthentication=no",
        "-o",
        "PreferredAuthentications=password,keyboard-interactive",
    )
    assert result.returncode != 0
    assert "Permission denied (publickey)" in result.stderr


def test_root_login_is_refused_even_with_the_admin_key(host_address):
    result = _ssh(f"root@{host_address}", "-i", str(ADMIN_KEY), "-o", "IdentitiesOnly=yes")
    assert result.returncode != 0


def test_ssh_audit_finds_nothing_weak(host_address):
    """ssh-audit, the widely used external SSH scanner, from outside the host."""
    result = subprocess.run(
        [require_tool("ssh-audit"), "-j", host_address],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    # Exit status 0: nothing flagged as a failure or a warning.
    assert result.returncode == 0, result.stdout
    report = json.loads(result.stdout)
    assert report["banner"]["comments"] in (None, ""), (
        "the Debian/Ubuntu banner leaks the patch level"
    )
    flagged = [
        (section, entry["algorithm"], entry["notes"])
        for section in ("kex", "key", "enc", "mac")
        for entry in report[section]
        if entry.get("notes", {}).get("fail") or entry.get("notes", {}).get("warn")
    ]
    assert not flagged, flagged
    assert not [r for r in report.get("recommendations", {}) if r], report.get("recommendations")
    host_keys = {entry["algorithm"] for entry in report["key"]}
    assert not any("nistp" in key for key in host_keys), host_keys
