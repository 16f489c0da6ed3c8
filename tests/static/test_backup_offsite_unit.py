"""The backup program's off-site copy, fetch and Grafana database copy, without
a host (roles/backup/files/bbdash-backup). With rsync installed, the copy runs
the real rsync against a local folder standing for the peer (rsync ignores
`-e ssh` for a local destination), so copy, checksum check, rotation off-site
and fetch are exercised for real; the SSH leg is proven by molecule verify
(tests/infra/test_backup_offsite.py)."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest
from backup_program import B

needs_rsync = pytest.mark.skipif(shutil.which("rsync") is None, reason="rsync missing")


def make_set(cfg: dict[str, Any], set_id: str, payload: bytes = b"data") -> Path:
    folder = B.sets_dir(cfg) / set_id
    folder.mkdir(parents=True)
    (folder / "postgres.dump").write_bytes(payload + set_id.encode())
    (folder / "manifest.json").write_text(json.dumps({"id": set_id, "components": {}}))
    names = sorted(p.name for p in folder.iterdir())
    (folder / "SHA256SUMS").write_text("".join(f"{B.sha256(folder / n)}  {n}\n" for n in names))
    return folder


@pytest.fixture
def cfg(tmp_path: Path) -> dict[str, Any]:
    peer = tmp_path / "peer"
    peer.mkdir()
    return {
        "backup_dir": str(tmp_path / "backups"),
        "state_dir": str(tmp_path / "state"),
        "keep_daily": 2,
        "keep_weekly": 0,
        "offsite": {
            "method": "rsync",
            "target": str(peer),
            "ssh_key_file": "/nonexistent",
            "known_hosts_file": "/nonexistent",
            "ssh_port": 22,
            "retries": 2,
            "retry_delay": 0,
        },
    }


def test_rsync_listing_and_differences_are_parsed() -> None:
    listing = (
        "drwx------          4,096 2026/01/02 03:15:00 .\n"
        "drwx------          4,096 2026/01/02 03:15:00 20260102T031500Z\n"
        "drwx------          4,096 2026/01/01 03:15:00 20260101T031500Z\n"
        "-rw-------             12 2026/01/01 03:15:00 notes.txt\n"
        "drwx------          4,096 2026/01/01 03:15:00 .partial-x\n"
    )
    assert B.parse_rsync_listing(listing) == ["20260102T031500Z", "20260101T031500Z"]
    dry_run = (
        ".d..t...... ./\n"
        "<fc.t...... 20260102T031500Z/postgres.dump\n"
        "<f+++++++++ 20260102T031500Z/SHA256SUMS\n"
        "cd+++++++++ 20260103T031500Z/\n"
    )
    assert B.rsync_differences(dry_run) == [
        "20260102T031500Z/postgres.dump",
        "20260102T031500Z/SHA256SUMS",
    ]


def test_the_copy_never_deletes_and_is_retried(
    cfg: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[list[str]] = []

    def failing(argv: list[str], **_: Any) -> Any:
        seen.append(argv)
        raise B.BackupError("ssh: connect to host 127.0.0.1 port 2222: Connection refused")

    monkeypatch.setattr(B, "run", failing)
    slept: list[float] = []
    with pytest.raises(B.BackupError, match=r"failed after 2 attempts.*Connection refused"):
        B.offsite(cfg, sleep=slept.append)
    assert len(seen) == 2 and slept == [0.0]
    copy = seen[0]
    assert copy[:3] == ["rsync", "-a", "--delay-updates"] and "--delete" not in copy
    ssh = copy[copy.index("-e") + 1]
    assert "StrictHostKeyChecking=yes" in ssh and "BatchMode=yes" in ssh


def test_a_failed_copy_is_reported_and_the_local_set_kept(
    cfg: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg.update(components=[], textfile_dir=str(tmp_path / "textfile"))
    (tmp_path / "textfile").mkdir()

    def refused(_: dict[str, Any], sleep: Any = None) -> list[str]:
        raise B.BackupError("off-site copy failed after 3 attempts: refused")

    monkeypatch.setattr(B, "offsite", refused)
    assert B.cmd_run(cfg) == 1
    state = B.load_state(cfg)
    assert state["offsite_last_run_ok"] is False and state["last_run_ok"] is False
    assert state["last_success"] and len(B.list_sets(cfg)) == 1
    text = (tmp_path / "textfile" / "bbdash_backup.prom").read_text()
    assert "bbdash_backup_offsite_last_run_success 0\n" in text
    assert "bbdash_backup_last_run_success 0\n" in text
    assert "bbdash_backup_offsite_last_success_timestamp_seconds" not in text

    # (Set IDs have one-second resolution: move the first one out of the way.)
    first = B.list_sets(cfg)[0]
    (B.sets_dir(cfg) / first).rename(B.sets_dir(cfg) / "20250101T000000Z")
    monkeypatch.setattr(B, "offsite", lambda _cfg, sleep=None: [])
    assert B.cmd_run(cfg) == 0
    text = (tmp_path / "textfile" / "bbdash_backup.prom").read_text()
    assert "bbdash_backup_offsite_last_run_success 1\n" in text
    assert "bbdash_backup_offsite_last_success_timestamp_seconds " in text


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool missing")
def test_offsite_metrics_are_valid_exposition_format() -> None:
    text = B.render_metrics(
        {
            "last_success": 2.0,
            "last_run": 3.0,
            "last_run_ok": False,
            "offsite_last_success": 1.0,
            "offsite_last_run_ok": False,
        },
        1,
    )
    proc = subprocess.run(
        ["promtool", "check", "metrics"], input=text, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


@needs_rsync
def test_copy_check_prune_and_fetch_with_real_rsync(cfg: dict[str, Any]) -> None:
    peer = Path(cfg["offsite"]["target"])
    for set_id in ("20260101T031500Z", "20260102T031500Z"):
        make_set(cfg, set_id)
    assert B.offsite(cfg) == []
    assert B.remote_sets(cfg) == ["20260102T031500Z", "20260101T031500Z"]
    assert (peer / "20260101T031500Z" / "SHA256SUMS").read_text() == (
        B.sets_dir(cfg) / "20260101T031500Z" / "SHA256SUMS"
    ).read_text()

    # The host loses its sets: a new backup adds to the peer, deletes nothing
    # the rotation keeps, and drops off-site only what the rotation drops.
    shutil.rmtree(B.sets_dir(cfg))
    make_set(cfg, "20260103T031500Z")
    assert B.offsite(cfg) == ["20260101T031500Z"]
    assert B.remote_sets(cfg) == ["20260103T031500Z", "20260102T031500Z"]

    # Fetch: checked, then renamed into place; a second fetch finds it intact.
    assert B.fetch(cfg, "20260102T031500Z") == ("20260102T031500Z", True)
    assert B.verify(B.sets_dir(cfg) / "20260102T031500Z") == []
    assert B.fetch(cfg, "20260102T031500Z") == ("20260102T031500Z", False)
    shutil.rmtree(B.sets_dir(cfg))
    assert B.fetch(cfg, "latest") == ("20260103T031500Z", True)
    with pytest.raises(B.BackupError, match="not found off-site"):
        B.fetch(cfg, "19990101T000000Z")

    # A damaged set off-site is refused, and nothing half-fetched is left.
    (peer / "20260102T031500Z" / "postgres.dump").write_bytes(b"bit rot")
    with pytest.raises(B.BackupError, match="is damaged"):
        B.fetch(cfg, "20260102T031500Z")
    assert not (B.sets_dir(cfg) / "20260102T031500Z").exists()
    assert not list(Path(cfg["backup_dir"]).glob(".partial-*"))


@needs_rsync
def test_a_copy_that_differs_off_site_is_a_failure(
    cfg: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    make_set(cfg, "20260101T031500Z")
    real_run = B.run

    def copy_then_corrupt(argv: list[str], **kwargs: Any) -> Any:
        result = real_run(argv, **kwargs)
        if "--delay-updates" in argv:
            target = Path(cfg["offsite"]["target"]) / "20260101T031500Z" / "postgres.dump"
            target.write_bytes(b"same size!!!!!!!!!!!!!!!!!!"[: target.stat().st_size])
            # Same size and time: only the checksum tells them apart.
            src = B.sets_dir(cfg) / "20260101T031500Z" / "postgres.dump"
            st = src.stat()
            os.utime(target, (st.st_atime, st.st_mtime))
        return result

    monkeypatch.setattr(B, "run", copy_then_corrupt)
    cfg["offsite"]["retries"] = 1
    with pytest.raises(B.BackupError, match=r"differs from the local sets.*postgres\.dump"):
        B.offsite(cfg)


def test_grafana_database_is_copied_consistently_while_written(tmp_path: Path) -> None:
    live = tmp_path / "grafana.db"
    writer = sqlite3.connect(live, isolation_level=None, check_same_thread=False)
    writer.execute("PRAGMA journal_mode=WAL")
    writer.execute("CREATE TABLE user (id INTEGER PRIMARY KEY, login TEXT)")
    writer.execute("INSERT INTO user (login) VALUES ('admin')")
    stop = threading.Event()

    def keep_writing() -> None:
        n = 0
        while not stop.is_set():
            writer.execute("INSERT INTO user (login) VALUES (?)", (f"u{n}",))
            n += 1

    thread = threading.Thread(target=keep_writing)
    thread.start()
    try:
        copy = tmp_path / "copy.db"
        B.sqlite_copy(live, copy)
    finally:
        stop.set()
        thread.join()
        writer.close()
    db = sqlite3.connect(copy)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    assert db.execute("SELECT login FROM user WHERE id = 1").fetchone()[0] == "admin"
    assert not Path(str(copy) + "-wal").exists()
    with pytest.raises(B.BackupError, match="does not exist"):
        B.sqlite_copy(tmp_path / "missing.db", tmp_path / "x.db")


def test_grafana_database_is_found_on_the_volume(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[list[str]] = []

    class Done:
        stdout = b"/var/lib/docker/volumes/bloomberg-grafana-data/_data\n"

    def fake(argv: list[str], **_: Any) -> Any:
        seen.append(argv)
        return Done()

    monkeypatch.setattr(B, "run", fake)
    cfg = {
        "grafana": {
            "container": "bloomberg-grafana",
            "data_dir": "/var/lib/grafana",
            "database": "grafana.db",
        }
    }
    assert B.grafana_db_path(cfg) == Path(
        "/var/lib/docker/volumes/bloomberg-grafana-data/_data/grafana.db"
    )
    assert seen[0][:3] == ["docker", "inspect", "-f"] and '"/var/lib/grafana"' in seen[0][3]
