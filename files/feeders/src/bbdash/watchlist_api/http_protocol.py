"""uvicorn's httptools protocol with a bound on a request's head (line and headers).

httptools keeps an unfinished header in memory as it arrives, and uvicorn sets
no limit on it: five connections each sending 20 MB of header that never ends
took the API from 98 to 242 MB (its limit is 256 MB), and any container on
bloomberg-net can reach it without nginx's limits in front. Here the bytes of a
request's head are counted as they arrive; past MAX_HEAD_BYTES the client gets
431 Request Header Fields Too Large (RFC 6585) and the connection is closed.
"""

from __future__ import annotations

import asyncio

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

# nginx's default large_client_header_buffers (4 x 8 KB) is the bound clients
# already live with behind the proxy; twice that leaves room.
MAX_HEAD_BYTES = 64 * 1024
_BODY = b"request head (line and headers) too large\n"
_RESPONSE = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
    b"content-type: text/plain; charset=utf-8\r\n"
    b"content-length: " + str(len(_BODY)).encode("ascii") + b"\r\n"
    b"connection: close\r\n\r\n" + _BODY
)


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """Refuses a request whose head grows past MAX_HEAD_BYTES before it is complete."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._in_head = True  # a new connection starts with a request head
        self._head_bytes = 0

    def data_received(self, data: bytes) -> None:
        if self._in_head:
            self._head_bytes += len(data)
            if self._head_bytes > MAX_HEAD_BYTES:
                self._in_head = False
                self.transport.write(_RESPONSE)
                self.transport.close()
                return
        super().data_received(data)

    def on_headers_complete(self) -> None:
        self._in_head = False
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._in_head = True  # the next bytes are the next request's head
        self._head_bytes = 0
