"""The certbot role without Let's Encrypt (which the build machines cannot reach).

- The Let's Encrypt mode is checked statically: the certonly command line the
  role builds, the renewal service and timer (the one renewal mechanism), and
  the deploy hook, rendered by Ansible and then *run* against a fake lineage
  with a fake ``docker`` on PATH (it must install the certificate where nginx
  reads it and reload nginx). The nginx side (webroot served over plain HTTP)
  is in test_nginx_config.py.
- obtain.yml's decision runs for real against certificates made here: a
  matching certificate is left alone (no request to Let's Encrypt on reruns).
- The preflight stops bad settings before any change.
- The selfsigned mode runs for real into a temporary folder (community.crypto
  on the controller): a local CA signs the server certificate; a second run
  changes nothing, and --check after it neither.
"""

from __future__ import annotations

import configparser
import datetime
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from role_runner import REPO, recap, run_playbook

ROLE = REPO / "roles" / "certbot"
SHARED_VARS = {
    "bloomberg_domain": "dashboard.example.org",
    "bloomberg_admin_email": "ops@example.org",
}


@pytest.fixture
def tmp() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="certbot-role-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def role_play(base: Path, tasks_from: str | None = None) -> dict[str, Any]:
    play: dict[str, Any] = {
        "hosts": "localhost",
        "gather_facts": False,
        "vars": {
            **SHARED_VARS,
            "bloomberg_base_dir": str(base / "opt"),
            "ansible_python_interpreter": sys.executable,
        },
    }
    if tasks_from:
        role = {"name": str(ROLE), "tasks_from": tasks_from}
        play["tasks"] = [{"name": "the role", "ansible.builtin.include_role": role}]
    else:  # static, so that --tags reach the role's tasks
        play["roles"] = [{"role": str(ROLE)}]
    return play


def render(tmp: Path, extra: dict[str, Any]) -> dict[str, Any]:
    """The role's templates and its certonly command line, as a converge sees them."""
    out = tmp / "rendered.json"
    templates = {
        "hook": "deploy-hook.sh.j2",
        "service": "bloomberg-certbot-renew.service.j2",
        "timer": "bloomberg-certbot-renew.timer.j2",
    }
    play = {
        "hosts": "localhost",
        "gather_facts": False,
        "vars_files": [str(ROLE / "defaults" / "main.yml"), str(ROLE / "vars" / "main.yml")],
        "vars": {
            **SHARED_VARS,
            "bloomberg_base_dir": str(tmp / "opt"),
            "ansible_python_interpreter": sys.executable,
            "templates": {k: str(ROLE / "templates" / v) for k, v in templates.items()},
        },
        "tasks": [
            {
                "name": "render",
                "ansible.builtin.set_fact": {
                    "rendered": "{{ rendered | default({}) | combine({item.key: "
                    "lookup('ansible.builtin.template', item.value)}) }}"
                },
                "loop": "{{ templates | dict2items }}",
            },
            {
                "name": "write",
                "ansible.builtin.copy": {
                    "content": "{{ rendered | combine({'argv': _certbot_certonly_argv, "
                    "'paths': {'tls': certbot_tls_dir, 'webroot': certbot_webroot, "
                    "'hook': _certbot_deploy_hook}}) | to_json }}",
                    "dest": str(out),
                    "mode": "0600",
                },
            },
        ],
    }
    # Extra vars: above the role's defaults and vars, like inventory settings.
    recap(run_playbook(tmp, [play], extra_vars=extra))
    return json.loads(out.read_text(encoding="utf-8"))


# --------------------------------------------------------------------------- Let's Encrypt, statically


def test_certonly_uses_the_webroot_and_the_deploy_hook(tmp: Path) -> None:
    done = render(tmp, {})
    argv = done["argv"]
    assert argv[:2] == ["certbot", "certonly"]
    for flag in ("--non-interactive", "--agree-tos", "--webroot"):
        assert flag in argv
    assert argv[argv.index("--webroot-path") + 1] == done["paths"]["webroot"]
    assert done["paths"]["webroot"] == str(tmp / "opt" / "certbot" / "webroot")
    assert argv[argv.index("--deploy-hook") + 1] == (
        "/etc/letsencrypt/renewal-hooks/deploy/50-bloomberg-nginx"
    )
    assert argv[argv.index("--email") + 1] == "ops@example.org"
    assert argv[argv.index("--cert-name") + 1] == "bloomberg"
    assert argv[argv.index("--key-type") + 1] == "ecdsa"
    assert argv[argv.index("--elliptic-curve") + 1] == "secp256r1"
    assert "--domains=dashboard.example.org" in argv
    assert "--staging" not in argv
    staging = render(
        tmp, {"certbot_staging": True, "certbot_domains": ["a.example.org", "b.example.org"]}
    )["argv"]
    assert "--staging" in staging
    assert [a for a in staging if a.startswith("--domains=")] == [
        "--domains=a.example.org",
        "--domains=b.example.org",
    ]


def test_one_renewal_mechanism_a_systemd_timer(tmp: Path) -> None:
    done = render(tmp, {})
    service = configparser.ConfigParser(interpolation=None, strict=False)
    service.read_string(done["service"])
    assert service["Service"]["Type"] == "oneshot"
    exec_start = service["Service"]["ExecStart"]
    assert exec_start.startswith("/usr/bin/certbot renew ")
    assert "--cert-name bloomberg" in exec_start and "--force" not in exec_start
    timer = configparser.ConfigParser(interpolation=None, strict=False)
    timer.read_string(done["timer"])
    assert timer["Timer"]["OnCalendar"] == "*-*-* 03,15:17:00"
    assert timer["Timer"]["RandomizedDelaySec"] == "1h"
    assert timer["Timer"]["Persistent"] == "true"
    assert timer["Install"]["WantedBy"] == "timers.target"
    # The package's own timer and cron job are switched off by the role.
    tasks = (ROLE / "tasks" / "letsencrypt.yml").read_text(encoding="utf-8")
    assert "masked: true" in tasks and "_certbot_package_cron" in tasks
    variables = yaml.safe_load((ROLE / "vars" / "main.yml").read_text(encoding="utf-8"))
    assert variables["_certbot_package_timer"] == "certbot.timer"
    assert variables["_certbot_package_cron"] == "/etc/cron.d/certbot"


def fake_lineage(tmp: Path, name: str) -> Path:
    """live/<name>/*.pem as symlinks into archive/, like certbot lays them out."""
    archive, live = tmp / "le" / "archive" / name, tmp / "le" / "live" / name
    archive.mkdir(parents=True)
    live.mkdir(parents=True)
    for pem, text in (("fullchain", "CERT-AND-CHAIN\n"), ("privkey", "PRIVATE-KEY\n")):
        (archive / f"{pem}1.pem").write_text(text, encoding="utf-8")
        (live / f"{pem}.pem").symlink_to(archive / f"{pem}1.pem")
    return live


def fake_docker(tmp: Path, running: str) -> Path:
    bin_dir = tmp / "bin"
    bin_dir.mkdir(exist_ok=True)
    script = bin_dir / "docker"
    script.write_text(
        "#!/bin/sh\n"
        f'echo "$*" >> {tmp}/docker.calls\n'
        f'[ "$1" = inspect ] && echo {running}\n'
        "exit 0\n",
        encoding="utf-8",
    )
    script.chmod(0o755)
    return bin_dir


def run_hook(
    tmp: Path, hook: str, lineage: Path, bin_dir: Path
) -> subprocess.CompletedProcess[str]:
    path = tmp / "hook.sh"
    path.write_text(hook, encoding="utf-8")
    path.chmod(0o755)
    return subprocess.run(
        ["/bin/sh", str(path)],
        env={
            **os.environ,
            "RENEWED_LINEAGE": str(lineage),
            "PATH": f"{bin_dir}:{os.environ['PATH']}",
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_deploy_hook_installs_the_certificate_and_reloads_nginx(tmp: Path) -> None:
    done = render(tmp, {})
    assert done["hook"].startswith("#!/bin/sh\n")
    lineage = fake_lineage(tmp, "bloomberg")
    proc = run_hook(tmp, done["hook"], lineage, fake_docker(tmp, "true"))
    assert proc.returncode == 0, proc.stderr
    tls = Path(done["paths"]["tls"])
    assert (tls / "fullchain.pem").read_text() == "CERT-AND-CHAIN\n"
    assert (tls / "privkey.pem").read_text() == "PRIVATE-KEY\n"
    assert not (tls / "fullchain.pem").is_symlink()  # a copy, not a link into /etc/letsencrypt
    assert oct((tls / "privkey.pem").stat().st_mode)[-3:] == "600"
    assert oct((tls / "fullchain.pem").stat().st_mode)[-3:] == "644"
    assert not list(tls.glob(".*.new"))
    calls = (tmp / "docker.calls").read_text().splitlines()
    assert calls[-1] == "kill --signal=HUP bloomberg-nginx"


def test_deploy_hook_without_nginx_or_for_another_certificate(tmp: Path) -> None:
    done = render(tmp, {})
    tls = Path(done["paths"]["tls"])
    # Another lineage on the same host: not ours, nothing happens.
    other = fake_lineage(tmp, "someone-else")
    proc = run_hook(tmp, done["hook"], other, fake_docker(tmp, "true"))
    assert proc.returncode == 0 and not (tls / "fullchain.pem").exists()
    assert not (tmp / "docker.calls").exists()
    # nginx not running: installed, nobody signalled.
    lineage = fake_lineage(tmp, "bloomberg")
    proc = run_hook(tmp, done["hook"], lineage, fake_docker(tmp, "false"))
    assert proc.returncode == 0, proc.stderr
    assert (tls / "fullchain.pem").exists()
    assert not any("kill" in c for c in (tmp / "docker.calls").read_text().splitlines())


def make_cert(path: Path, names: list[str], issuer: str) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import Encoding
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .issuer_name(
            x509.Name(
                [
                    x509.NameAttribute(NameOID.COMMON_NAME, issuer),
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Let's Encrypt"),
                ]
            )
        )
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=60))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), False)
        .sign(key, hashes.SHA256())
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(cert.public_bytes(Encoding.PEM))


def decide(tmp: Path, extra: dict[str, Any]) -> bool:
    """obtain.yml's decision for the certificate in tmp/live (tasks up to the decision)."""
    out = tmp / "decision.json"
    play = role_play(tmp, "obtain.yml")
    play["tasks"].append(
        {
            "name": "write the decision",
            "ansible.builtin.copy": {
                "content": "{{ _certbot_obtain | bool | to_json }}",
                "dest": str(out),
                "mode": "0600",
            },
            "check_mode": False,
        }
    )
    # --check: the decision is all that runs for real (reads only).
    recap(
        run_playbook(
            tmp, [play], "--check", extra_vars={"_certbot_live_dir": str(tmp / "live"), **extra}
        )
    )
    return json.loads(out.read_text())


def test_a_rerun_never_asks_lets_encrypt_again(tmp: Path) -> None:
    assert decide(tmp, {}) is True  # no certificate yet
    make_cert(tmp / "live" / "cert.pem", ["dashboard.example.org"], "R11")
    assert decide(tmp, {}) is False  # same names, production CA: left alone
    assert decide(tmp, {"certbot_domains": ["dashboard.example.org", "www.example.org"]}) is True
    assert decide(tmp, {"certbot_staging": True}) is True  # production -> staging
    make_cert(
        tmp / "live" / "cert.pem", ["dashboard.example.org"], "(STAGING) Counterfeit Cashew R10"
    )
    assert decide(tmp, {"certbot_staging": True}) is False
    assert decide(tmp, {}) is True  # staging -> production


# --------------------------------------------------------------------------- preflight


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"bloomberg_domain": "localhost"}, "use certbot_tls_mode: selfsigned"),
        ({"certbot_domains": ["*.example.org"]}, "without wildcards"),
        ({"bloomberg_admin_email": "root"}, "must be a real address"),
        ({"certbot_tls_mode": "selfsigned", "certbot_selfsigned_days": 800}, "at most 366"),
        ({"certbot_tls_mode": "provided"}, "certbot_provided_certificate must hold"),
    ],
)
def test_preflight_stops_bad_settings(tmp: Path, extra: dict[str, Any], message: str) -> None:
    proc = run_playbook(tmp, [role_play(tmp, "preflight.yml")], extra_vars=extra)
    assert proc.returncode != 0
    assert message in " ".join(proc.stdout.split()), proc.stdout[-3000:]


# --------------------------------------------------------------------------- selfsigned, for real


SYSTEM_PYTHON = "/usr/bin/python3"


def system_cryptography() -> bool:
    probe = subprocess.run(
        [SYSTEM_PYTHON, "-c", "import cryptography"], capture_output=True, check=False
    )
    return probe.returncode == 0


@pytest.mark.slow
@pytest.mark.skipif(os.geteuid() != 0, reason="the role writes root-owned files: run as root")
@pytest.mark.skipif(
    not system_cryptography(), reason="apt-get install -y python3-cryptography (the host's library)"
)
def test_selfsigned_issues_a_local_ca_and_is_idempotent(tmp: Path) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID

    extra = {
        "certbot_tls_mode": "selfsigned",
        "certbot_selfsigned_extra_names": ["IP:192.0.2.10"],
        # The modules run with the distribution's Python and python3-cryptography,
        # as on a host (the virtualenv's newer cryptography does not suit them).
        "ansible_python_interpreter": SYSTEM_PYTHON,
    }
    play = role_play(tmp)
    tags = ("--tags", "certbot_preflight,certbot_configure")
    dry = recap(run_playbook(tmp, [play], *tags, "--check", "--diff", extra_vars=extra))
    assert dry["failed"] == 0
    first = recap(run_playbook(tmp, [play], *tags, extra_vars=extra))
    assert first["changed"] > 0
    second = recap(run_playbook(tmp, [play], *tags, extra_vars=extra))
    assert second["changed"] == 0, "selfsigned is not idempotent"
    assert recap(run_playbook(tmp, [play], *tags, "--check", extra_vars=extra))["changed"] == 0

    opt = tmp / "opt"
    ca = x509.load_pem_x509_certificate((opt / "secrets" / "certbot" / "ca.pem").read_bytes())
    leaf = x509.load_pem_x509_certificate(
        (opt / "secrets" / "nginx" / "fullchain.pem").read_bytes()
    )
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
    leaf.verify_directly_issued_by(ca)
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["dashboard.example.org"]
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["192.0.2.10"]
    eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH]
    assert leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    assert isinstance(leaf.public_key(), ec.EllipticCurvePublicKey)
    lifetime = leaf.not_valid_after_utc - leaf.not_valid_before_utc
    assert lifetime.days <= 366  # Mozilla's guidelines
    for key, mode in (
        (opt / "secrets" / "nginx" / "privkey.pem", "600"),
        (opt / "secrets" / "certbot" / "ca.key", "600"),
        (opt / "secrets" / "nginx", "700"),
    ):
        assert oct(key.stat().st_mode)[-3:] == mode, key
    assert (opt / "certbot" / "webroot" / ".well-known" / "acme-challenge").is_dir()
