"""A request's head is bounded (issue 11's hostile-input review: five connections each
sending 20 MB of unfinished header took the API from 98 to 242 MB; its limit is 256 MB).

The real uvicorn server with the API's protocol class, over a real socket: an
unfinished head past MAX_HEAD_BYTES gets 431 and a closed connection; an ordinary
request, and the next one on the same keep-alive connection, are served.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn
from bbdash.watchlist_api.http_protocol import MAX_HEAD_BYTES, BoundedHttpToolsProtocol


async def _app(scope, receive, send) -> None:  # type: ignore[no-untyped-def]
    if scope["type"] != "http":
        return
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]}
    )
    await send({"type": "http.response.body", "body": b"ok"})


@pytest.fixture
def server_port() -> Iterator[int]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(
        _app, http=BoundedHttpToolsProtocol, loop="asyncio", log_config=None, lifespan="off"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started
    yield sock.getsockname()[1]
    server.should_exit = True
    thread.join(10)


def _read_until_closed(conn: socket.socket) -> bytes:
    chunks = []
    while chunk := conn.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def test_an_unfinished_head_past_the_bound_gets_431_and_is_closed(server_port: int) -> None:
    with socket.create_connection(("127.0.0.1", server_port), timeout=10) as conn:
        conn.sendall(b"GET /v1/watchlists HTTP/1.1\r\nHost: api\r\nX-Filler: ")
        sent = 0
        while sent <= MAX_HEAD_BYTES:  # never finished: no blank line
            conn.sendall(b"a" * 8192)
            sent += 8192
            time.sleep(0.001)
        answer = _read_until_closed(conn)  # and it does close
    assert answer.startswith(b"HTTP/1.1 431 ")
    assert b"connection: close" in answer


def test_ordinary_requests_and_keep_alive_are_served(server_port: int) -> None:
    request = (
        b"GET /v1/watchlists HTTP/1.1\r\nHost: api\r\nX-Big: "
        + b"b" * (MAX_HEAD_BYTES // 2)
        + b"\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", server_port), timeout=10) as conn:
        for _ in range(3):  # the count starts again for each request on the connection
            conn.sendall(request)
            answer = b""
            while not answer.endswith(b"ok"):
                chunk = conn.recv(65536)
                assert chunk, answer
                answer += chunk
            assert answer.startswith(b"HTTP/1.1 200 "), answer[:80]
