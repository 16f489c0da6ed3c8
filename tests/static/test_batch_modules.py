"""The bbdash.stack.http_batch, file_read and command_batch modules (collections/), run by
ansible-playbook on localhost.

What is checked: http_batch sends every request in one call, each with its own
method, headers, JSON body and basic auth, returns status, JSON and the item
in order, marks statuses outside status_code as failed (after sending the
rest) and fails the call unless fail is false; a server that does not answer
is one failed request, not a crash; in check mode it sends reads only.
file_read returns base64 content and the item of each file, and reports a
missing file instead of failing. command_batch runs every command from its
argv (no shell), reports each rc and output, and neither fails nor changes
when one fails or is missing, in check mode too.
"""

from __future__ import annotations

import base64
import json
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
from role_runner import JSON_CALLBACK, localhost_play, run_playbook, task_results

BASIC = "Basic " + base64.b64encode(b"admin:pw").decode()


class Recorder(BaseHTTPRequestHandler):
    """A small API: /items/<n> is 200 JSON for n < 10 else 404; /private needs admin:pw;
    POST /items echoes its JSON body with 201. Every request is recorded."""

    seen: ClassVar[list[dict[str, Any]]] = []

    def _send(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self.seen.append({"method": "GET", "path": self.path})
        if self.path == "/private":
            ok = self.headers.get("Authorization") == BASIC
            self._send(200 if ok else 401, {"private": ok})
            return
        number = int(self.path.rsplit("/", 1)[-1])
        self._send(200 if number < 10 else 404, {"id": number})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        body = json.loads(self.rfile.read(length))
        self.seen.append(
            {"method": "POST", "path": self.path, "type": self.headers.get("Content-Type")}
        )
        self._send(201, {"created": body})

    def log_message(self, *args: Any) -> None:
        return


@pytest.fixture
def api() -> Iterator[str]:
    Recorder.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def run(tmp_path: Path, task: dict[str, Any], *args: str) -> tuple[int, dict[str, Any]]:
    play = localhost_play(
        "modules",
        vars={"ansible_python_interpreter": sys.executable},
        tasks=[{"name": "Under test", **task}],
    )
    proc = run_playbook(tmp_path / "run", [play], *args, callback=JSON_CALLBACK)
    return proc.returncode, task_results(json.loads(proc.stdout))["Under test"]


def test_sends_every_request_in_one_call(tmp_path: Path, api: str) -> None:
    requests = [
        {"url": f"{api}/items/1", "item": {"name": "one"}},
        {"url": f"{api}/items/42", "status_code": [200, 404], "item": "missing"},
        {
            "url": f"{api}/private",
            "url_username": "admin",
            "url_password": "pw",
            "force_basic_auth": True,
        },
        {
            "url": f"{api}/items",
            "method": "POST",
            "body_format": "json",
            "body": {"name": "new"},
            "status_code": 201,
        },
    ]
    rc, result = run(tmp_path, {"bbdash.stack.http_batch": {"requests": requests}})
    assert rc == 0, result
    got = [(r["status"], r.get("json"), r.get("item"), r["failed"]) for r in result["results"]]
    assert got == [
        (200, {"id": 1}, {"name": "one"}, False),
        (404, {"id": 42}, "missing", False),
        (200, {"private": True}, None, False),
        (201, {"created": {"name": "new"}}, None, False),
    ]
    assert Recorder.seen[-1] == {"method": "POST", "path": "/items", "type": "application/json"}
    # A POST went through: the call changed something.
    assert result["changed"] is True


def test_a_refused_request_fails_the_call_after_the_others(tmp_path: Path, api: str) -> None:
    requests = [
        {"url": f"{api}/private"},  # no credentials: 401, not in [200]
        {"url": f"{api}/items/2"},
        {"url": "http://127.0.0.1:9/nothing", "timeout": 2},  # nothing listens on port 9
    ]
    rc, result = run(tmp_path, {"bbdash.stack.http_batch": {"requests": requests}})
    assert rc != 0 and result["failed"]
    assert [r["status"] for r in result["results"]] == [401, 200, -1]
    assert [r["failed"] for r in result["results"]] == [True, False, True]
    assert "/private: HTTP Error 401" in result["msg"] and "127.0.0.1:9/nothing" in result["msg"]

    rc, result = run(tmp_path, {"bbdash.stack.http_batch": {"requests": requests, "fail": False}})
    assert rc == 0 and result["changed"] is False
    assert [r["failed"] for r in result["results"]] == [True, False, True]


def test_check_mode_sends_reads_only(tmp_path: Path, api: str) -> None:
    requests = [
        {"url": f"{api}/items/3"},
        {
            "url": f"{api}/items",
            "method": "POST",
            "body_format": "json",
            "body": {"a": 1},
            "status_code": 201,
        },
    ]
    rc, result = run(tmp_path, {"bbdash.stack.http_batch": {"requests": requests}}, "--check")
    assert rc == 0, result
    assert result["results"][0]["status"] == 200
    assert result["results"][1]["skipped"] is True
    assert Recorder.seen == [{"method": "GET", "path": "/items/3"}]


def test_file_read_reports_content_and_missing_files(tmp_path: Path) -> None:
    (tmp_path / "a.token").write_bytes(b"secret\n")
    files = [
        {"path": str(tmp_path / "a.token"), "item": {"name": "a"}},
        str(tmp_path / "b.token"),
    ]
    rc, result = run(tmp_path, {"bbdash.stack.file_read": {"files": files}}, "--check")
    assert rc == 0, result
    first, second = result["results"]
    assert base64.b64decode(first["content"]) == b"secret\n" and first["item"] == {"name": "a"}
    assert first["exists"] is True
    assert second == {"path": str(tmp_path / "b.token"), "exists": False}
    assert result["changed"] is False

    (tmp_path / "folder.token").mkdir()
    rc, result = run(
        tmp_path, {"bbdash.stack.file_read": {"files": [str(tmp_path / "folder.token")]}}
    )
    assert rc != 0 and "is not a file" in result["msg"]


def test_command_batch_runs_every_command_and_reports_each(tmp_path: Path) -> None:
    commands = [
        [sys.executable, "-c", "print('one'); print('two')"],
        {"argv": [sys.executable, "-c", "import sys; sys.exit(3)"], "item": "fails"},
        ["bbdash-no-such-program", "--version"],
        [sys.executable, "-c", "print('$HOME; echo shell')"],
    ]
    rc, result = run(tmp_path, {"bbdash.stack.command_batch": {"commands": commands}}, "--check")
    assert rc == 0, result
    assert result["changed"] is False
    first, second, third, fourth = result["results"]
    assert (first["rc"], first["stdout_lines"]) == (0, ["one", "two"])
    assert (second["rc"], second["item"]) == (3, "fails")
    assert third["rc"] == 127 and "not found" in third["stderr"]
    # No shell: the argument reaches the program as written.
    assert fourth["stdout"] == "$HOME; echo shell"
