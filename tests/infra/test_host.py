"""The host layer: packages, time, upgrades, journald, kernel settings,
admin user, Docker daemon settings and the bloomberg network."""

from __future__ import annotations

import json
import re


def test_unattended_security_upgrades_are_on(host):
    assert host.package("unattended-upgrades").is_installed
    dump = host.check_output("apt-config dump APT::Periodic")
    assert 'APT::Periodic::Unattended-Upgrade "1";' in dump
    assert 'APT::Periodic::Update-Package-Lists "1";' in dump


def test_time_sync_and_timezone(host):
    assert host.service("systemd-timesyncd").is_enabled
    assert host.file("/etc/timezone").content_string.strip() in {"Etc/UTC", "UTC"}


def test_journal_is_bounded(host):
    conf = host.file("/etc/systemd/journald.conf.d/bloomberg.conf").content_string
    assert "SystemMaxUse=500M" in conf


def test_kernel_hardening_keeps_docker_forwarding(host):
    conf = host.file("/etc/sysctl.d/90-bloomberg-hardening.conf").content_string
    assert "net.ipv4.ip_forward = 1" in conf
    assert "kernel.kptr_restrict = 2" in conf
    assert "net.ipv4.conf.all.accept_redirects = 0" in conf
    assert host.file("/proc/sys/net/ipv4/ip_forward").content_string.strip() == "1"


def test_admin_user_has_key_and_sudo(host, admin_user):
    user = host.user(admin_user)
    assert user.exists
    assert "ssh-users" in user.groups
    keys = host.file(f"{user.home}/.ssh/authorized_keys")
    assert keys.mode == 0o600
    assert keys.content_string.startswith("ssh-ed25519 ")
    sudoers = host.file(f"/etc/sudoers.d/90-bloomberg-{admin_user}")
    assert sudoers.mode == 0o440
    assert f"{admin_user} ALL=(ALL:ALL) ALL" in sudoers.content_string
    assert host.run("visudo -c").rc == 0


def test_core_dumps_off_and_umask(host):
    assert (
        "* hard core 0"
        in host.file("/etc/security/limits.d/90-bloomberg-nocore.conf").content_string
    )
    login_defs = host.file("/etc/login.defs").content_string
    assert re.search(r"^UMASK\s+027$", login_defs, re.MULTILINE)


def test_docker_daemon_settings(host):
    assert host.service("docker").is_running
    assert host.service("docker").is_enabled
    daemon = json.loads(host.file("/etc/docker/daemon.json").content_string)
    assert daemon["live-restore"] is True
    assert daemon["userland-proxy"] is False
    assert daemon["log-driver"] == "json-file"
    assert daemon["log-opts"] == {"max-size": "10m", "max-file": "3"}
    assert daemon["default-address-pools"][0]["base"] == "172.31.0.0/16"
    info = json.loads(host.check_output("docker info --format '{{json .}}'"))
    assert info["LoggingDriver"] == "json-file"
    assert info["LiveRestoreEnabled"] is True


def test_bloomberg_network(host):
    network = json.loads(host.check_output("docker network inspect bloomberg-net"))[0]
    assert network["Driver"] == "bridge"
    assert network["IPAM"]["Config"][0]["Subnet"] == "172.30.0.0/24"
    assert network["Options"]["com.docker.network.bridge.name"] == "br-bloomberg"


def test_python_docker_sdk_for_community_docker(host):
    assert host.package("python3-docker").is_installed
