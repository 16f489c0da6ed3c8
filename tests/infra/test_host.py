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
    limits = host.file("/etc/security/limits.d/90-bloomberg-nocore.conf").content_string
    assert "* soft core 0" in limits and "* hard core 0" in limits
    assert "ulimit -c 0" in host.file("/etc/profile.d/90-bloomberg-nocore.sh").content_string
    coredump = host.file("/etc/systemd/coredump.conf.d/90-bloomberg.conf").content_string
    assert "Storage=none" in coredump and "ProcessSizeMax=0" in coredump
    login_defs = host.file("/etc/login.defs").content_string
    assert re.search(r"^UMASK\s+027$", login_defs, re.MULTILINE)


def test_password_ageing_spares_the_admin(host, admin_user):
    """New accounts age (login.defs); the admin's sudo password never expires."""
    login_defs = host.file("/etc/login.defs").content_string
    assert re.search(r"^PASS_MAX_DAYS\s+365$", login_defs, re.MULTILINE)
    assert re.search(r"^PASS_MIN_DAYS\s+1$", login_defs, re.MULTILINE)
    assert re.search(r"^PASS_WARN_AGE\s+14$", login_defs, re.MULTILINE)
    shadow = host.check_output(f"getent shadow {admin_user}").split(":")
    assert (shadow[3], shadow[4]) == ("0", "99999"), shadow[3:5]  # min, max days
    assert "never" in host.check_output(f"chage -l {admin_user}").splitlines()[1]


def test_idle_shells_are_closed(host):
    assert host.check_output("bash -lc 'echo $TMOUT'") == "900"
    assert host.run("bash -lc 'TMOUT=0'").rc != 0  # read-only


def test_audit_rules_written_and_auditd_enabled(host):
    """The test host is a container: auditd is enabled but not started (its rules
    would be the build machine's kernel's, which refuses them from a container).
    What a real host loads is here."""
    assert host.package("auditd").is_installed
    assert host.service("auditd").is_enabled
    rules = host.file("/etc/audit/rules.d/90-bloomberg.rules")
    assert rules.mode == 0o640
    for key in ("identity", "scope", "sshd", "time-change", "modules", "docker"):
        assert f"-k {key}" in rules.content_string, key
    assert "/var/lib/docker" not in rules.content_string.replace(
        "## Docker's data (/var/lib/docker)", ""
    )


def test_file_integrity_keeps_off_docker(host):
    assert host.package("aide").is_installed
    exclusions = host.file("/etc/aide/aide.conf.d/99_bloomberg_exclusions").content_string
    assert "!/var/lib/docker\n" in exclusions
    config = host.check_output("aide --config /etc/aide/aide.conf --config-check 2>&1; echo rc=$?")
    assert config.strip().endswith("rc=0"), config
    assert host.service("dailyaidecheck.timer").is_enabled


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
