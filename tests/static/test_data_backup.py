"""The backup program (roles/backup/files/bbdash-backup) without a host: rotation,
checksums, the metrics file (checked by the real promtool when installed), and
a whole backup -> restore against a stand-in `docker` command that records
every call, so the exact commands the job runs are pinned here. The real
round trip (real PostgreSQL) is tests/infra/test_backup.py."""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from backup_program import PROGRAM, ROOT, B

# A `docker` that keeps each container's files under $FAKE_ROOT/<container>/ and
# logs every call (argv, whether INFLUX_TOKEN was in its environment).
FAKE_DOCKER = r"""#!/usr/bin/env python3
import io, json, os, shutil, sys, tarfile
from pathlib import Path
root = Path(os.environ["FAKE_ROOT"])
args = sys.argv[1:]
with open(root / "calls.jsonl", "a") as log:
    log.write(json.dumps({"argv": args, "token": os.environ.get("INFLUX_TOKEN")}) + "\n")
def inside(container, path):
    return root / container / path.lstrip("/")
if args[0] == "cp":
    src, dst = args[1], args[2]
    if dst == "-":
        container, path = src.split(":", 1)
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            tar.add(inside(container, path), arcname=Path(path).name)
        sys.stdout.buffer.write(buf.getvalue())
    else:
        container, path = dst.split(":", 1)
        with tarfile.open(fileobj=io.BytesIO(sys.stdin.buffer.read()), mode="r") as tar:
            tar.extractall(inside(container, path), filter="data")
    sys.exit(0)
assert args[0] == "exec"
rest = args[1:]
while rest[0].startswith("-"):
    rest = rest[2:] if rest[0] in ("-e", "-u") else rest[1:]
container, cmd = rest[0], rest[1:]
if cmd[:2] == ["pg_dump", "--version"]:
    print("pg_dump (PostgreSQL) 16.10")
elif cmd[0] == "pg_dump":
    sys.stdout.buffer.write(b"PGDMP fake dump of " + cmd[cmd.index("-d") + 1].encode())
elif cmd[0] == "pg_dumpall":
    sys.stdout.write("-- roles\n")
elif cmd[:2] == ["influx", "backup"]:
    target = inside(container, cmd[2])
    target.mkdir(parents=True)
    (target / "20260101T000000Z.manifest").write_text("{}")
elif cmd[:2] == ["rm", "-rf"]:
    shutil.rmtree(inside(container, cmd[2]), ignore_errors=True)
elif cmd[0] == "pg_restore":
    (root / "restored.dump").write_bytes(sys.stdin.buffer.read())
elif cmd[:3] == ["influx", "restore", "--full"]:
    assert inside(container, cmd[3]).is_dir(), "nothing to restore"
elif cmd[0] != "psql":
    sys.exit(f"fake docker: unexpected {cmd}")
"""


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    docker = bin_dir / "docker"
    docker.write_text(FAKE_DOCKER.replace("/usr/bin/env python3", sys.executable))
    docker.chmod(0o755)
    fake_root = tmp_path / "containers"
    fake_root.mkdir()
    (tmp_path / "textfile").mkdir()
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_ROOT", str(fake_root))
    cfg = {
        "backup_dir": str(tmp_path / "backups"),
        "state_dir": str(tmp_path / "state"),
        "keep_daily": 2,
        "keep_weekly": 1,
        "components": ["postgres", "influxdb"],
        "textfile_dir": str(tmp_path / "textfile"),
        "postgres": {
            "container": "bloomberg-postgres",
            "database": "bbdash",
            "owner": "watchlist_api",
            "superuser": "postgres",
        },
        "influxdb": {
            "container": "bloomberg-influxdb",
            "token": "operator",
            "data_dir": "/var/lib/influxdb2",
            "url": "http://127.0.0.1:8086",
        },
        "offsite": {"method": "none"},
    }
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    monkeypatch.setattr(B, "CONFIG", tmp_path / "config.json")
    return {"cfg": cfg, "root": fake_root, "tmp": tmp_path}


def calls(env: dict[str, Any]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (env["root"] / "calls.jsonl").read_text().splitlines()]


def test_backup_then_restore(env: dict[str, Any]) -> None:
    assert B.main(["run"]) == 0
    sets = B.list_sets(env["cfg"])
    assert len(sets) == 1
    folder = B.sets_dir(env["cfg"]) / sets[0]
    assert sorted(p.name for p in folder.iterdir()) == [
        "SHA256SUMS",
        "influxdb.tar",
        "manifest.json",
        "postgres-globals.sql",
        "postgres.dump",
    ]
    # sha256sum's own format.
    assert (
        subprocess.run(
            ["sha256sum", "-c", "--quiet", "SHA256SUMS"], cwd=folder, check=False
        ).returncode
        == 0
    )
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["components"]["influxdb"]["inner_dir"] == f"bbdash-backup-{sets[0]}"
    # The staging folder inside the InfluxDB container is gone; the token never was an argument.
    assert not (
        env["root"] / "bloomberg-influxdb" / "var/lib/influxdb2" / f"bbdash-backup-{sets[0]}"
    ).exists()
    influx_calls = [c for c in calls(env) if "influx" in c["argv"]]
    assert influx_calls and all(
        c["token"] == "operator" and "operator" not in c["argv"] for c in influx_calls
    )
    metrics = (env["tmp"] / "textfile" / "bbdash_backup.prom").read_text()
    assert "bbdash_backup_last_success_timestamp_seconds " in metrics
    assert 'bbdash_backup_size_bytes{kind="postgres"}' in metrics
    assert not [p for p in (env["tmp"] / "textfile").iterdir() if p.name != "bbdash_backup.prom"]

    (env["root"] / "calls.jsonl").unlink()
    assert B.main(["restore", "latest", "--yes"]) == 0
    argvs = [c["argv"] for c in calls(env)]
    assert any('DROP DATABASE IF EXISTS "bbdash" WITH (FORCE)' in a for a in argvs)
    assert any(
        'CREATE DATABASE "bbdash" OWNER "watchlist_api" ENCODING UTF8 TEMPLATE template0' in a
        for a in argvs
    )
    assert (env["root"] / "restored.dump").read_bytes() == (folder / "postgres.dump").read_bytes()
    restore = next(
        a
        for a in argvs
        if a[-5:-2] == ["restore", "--full", f"/var/lib/influxdb2/bbdash-backup-{sets[0]}"]
    )
    assert "pg_restore" in " ".join(str(a) for a in argvs) and restore


def test_restore_needs_yes_and_an_intact_set(
    env: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    assert B.main(["run"]) == 0
    assert B.main(["restore"]) == 2
    set_id = B.list_sets(env["cfg"])[0]
    (B.sets_dir(env["cfg"]) / set_id / "postgres.dump").write_bytes(b"tampered")
    assert B.main(["verify", set_id]) == 1
    assert B.main(["restore", set_id, "--yes"]) == 1
    assert "is damaged (postgres.dump)" in capsys.readouterr().err
    assert B.main(["restore", "19990101T000000Z", "--yes"]) == 1


def test_a_failed_run_keeps_the_last_success(env: dict[str, Any]) -> None:
    assert B.main(["run"]) == 0
    first = B.load_state(env["cfg"])["last_success"]
    env["cfg"]["components"] = ["postgres", "mysql"]
    B.CONFIG.write_text(json.dumps(env["cfg"]))
    assert B.main(["run"]) == 1
    state = B.load_state(env["cfg"])
    assert state["last_success"] == first and state["last_run_ok"] is False
    metrics = (env["tmp"] / "textfile" / "bbdash_backup.prom").read_text()
    assert f"bbdash_backup_last_success_timestamp_seconds {first:.17g}" in metrics
    assert "bbdash_backup_last_run_success 0" in metrics
    assert len(B.list_sets(env["cfg"])) == 1  # no half set left behind
    assert not list(Path(env["cfg"]["backup_dir"]).glob(".partial-*"))


@pytest.mark.parametrize(
    ("daily", "weekly", "kept"),
    [
        # Newest first: two days of week 2, then weeks 1 and 52 (previous year).
        (2, 0, ["20260113T031500Z", "20260112T031500Z"]),
        (1, 2, ["20260113T031500Z", "20260104T031500Z"]),
        (1, 3, ["20260113T031500Z", "20260104T031500Z", "20251228T031500Z"]),
        (
            7,
            4,
            [
                "20260113T031500Z",
                "20260112T031500Z",
                "20260104T031500Z",
                "20260103T031500Z",
                "20251228T031500Z",
            ],
        ),
    ],
)
def test_rotation(daily: int, weekly: int, kept: list[str]) -> None:
    sets = [
        "20260113T031500Z",
        "20260112T031500Z",
        "20260104T031500Z",
        "20260103T031500Z",
        "20251228T031500Z",
    ]
    assert sorted(B.keep_set(sets, daily, weekly), reverse=True) == kept


@pytest.mark.skipif(
    shutil.which("promtool") is None, reason="promtool missing: apt-get install -y prometheus"
)
def test_metrics_file_is_valid_exposition_format() -> None:
    state = {
        "last_success": 1767237300.5,
        "sizes": {"postgres": 1234, "influxdb": 5678},
        "last_run": 1767237301.0,
        "last_run_ok": True,
        "offsite_last_success": 1767237302.0,
    }
    text = B.render_metrics(state, 3)
    result = subprocess.run(
        ["promtool", "check", "metrics"], input=text, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_alert_reads_the_metric_the_job_writes() -> None:
    rules = (ROOT / "roles" / "prometheus" / "files" / "rules" / "backups.yml").read_text()
    assert "bbdash_backup_last_success_timestamp_seconds" in rules
    assert "bbdash_backup_last_success_timestamp_seconds" in B.render_metrics(
        {"last_success": 1.0}, 0
    )


def test_runs_on_ubuntu_2204_python() -> None:
    """Ubuntu 22.04's python3 is 3.10: no datetime.UTC, no 3.11-only syntax."""
    text = PROGRAM.read_text()
    assert re.search(r"\bdt\.UTC\b|datetime\.UTC\b(?! yet)", text) is None
    ast.parse(text, str(PROGRAM), feature_version=(3, 10))
