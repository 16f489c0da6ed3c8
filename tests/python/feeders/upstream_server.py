"""A scripted upstream on a loopback port: real HTTP, hand-written or recorded answers.

Each request takes the next answer of the script (the last one repeats) and is
recorded (path, query, headers), so tests count exactly what reached the
"upstream". Nothing leaves the machine.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Answer:
    """One scripted reply: status, body (bytes, str, or JSON-able), headers, a delay."""

    status: int = 200
    body: Any = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0

    def encoded(self) -> tuple[bytes, str]:
        if isinstance(self.body, bytes):
            return self.body, "application/octet-stream"
        if isinstance(self.body, str):
            return self.body.encode(), "text/plain; charset=utf-8"
        return json.dumps(self.body).encode(), "application/json"


@dataclass
class Seen:
    """A request as the server received it."""

    path: str
    query: dict[str, str]
    headers: dict[str, str]


class ScriptedServer:
    """`with ScriptedServer(Answer(429, ...), Answer(200, ...)) as server: server.url`."""

    def __init__(self, *answers: Answer) -> None:
        self.answers = list(answers) or [Answer()]
        self.requests: list[Seen] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                parsed = urllib.parse.urlsplit(self.path)
                with server._lock:
                    server.requests.append(
                        Seen(
                            parsed.path,
                            dict(urllib.parse.parse_qsl(parsed.query)),
                            {k.lower(): v for k, v in self.headers.items()},
                        )
                    )
                    answer = server.answers.pop(0) if len(server.answers) > 1 else server.answers[0]
                if answer.delay_s:
                    time.sleep(answer.delay_s)
                body, content_type = answer.encoded()
                self.send_response(answer.status)
                headers = {"Content-Type": content_type, **answer.headers}
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                try:
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    # A delayed answer the client stopped waiting for (a timeout test).
                    return

            def log_message(self, *args: object) -> None:
                return

        self._http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._http.daemon_threads = True
        self._thread = threading.Thread(target=self._http.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._http.server_address[1]}"

    def __enter__(self) -> ScriptedServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._http.shutdown()
        self._http.server_close()
