"""A local, in-process stand-in for Binance's combined-stream WebSocket (loopback only).

Speaks the documented protocol: `/stream?streams=a/b` at connect, SUBSCRIBE /
UNSUBSCRIBE / LIST_SUBSCRIPTIONS answered with `{"result": ..., "id": n}`,
frames wrapped as `{"stream": ..., "data": ...}`. It records every message the
client sends, with its arrival time, so tests can check the outgoing rate.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from feeder_testkit import payload
from websockets.asyncio.server import Server, ServerConnection, serve


@dataclass
class FakeConnection:
    ws: ServerConnection
    streams: set[str]
    received: list[tuple[float, dict[str, Any]]] = field(default_factory=list)


class FakeBinance:
    def __init__(self) -> None:
        self.connections: list[FakeConnection] = []
        self.closed: list[FakeConnection] = []
        self._server: Server | None = None
        self.url = ""
        self.connect_count = 0

    async def start(self) -> FakeBinance:
        self._server = await serve(self._handler, "127.0.0.1", 0)
        port = next(iter(self._server.sockets)).getsockname()[1]
        self.url = f"ws://127.0.0.1:{port}"
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()

    async def _handler(self, ws: ServerConnection) -> None:
        assert ws.request is not None
        url = urlsplit(ws.request.path)
        assert url.path == "/stream"
        streams = set(parse_qs(url.query).get("streams", [""])[0].split("/")) - {""}
        conn = FakeConnection(ws, streams)
        self.connect_count += 1
        self.connections.append(conn)
        try:
            async for raw in ws:
                message = json.loads(raw)
                conn.received.append((time.monotonic(), message))
                method = message.get("method")
                if method == "SUBSCRIBE":
                    conn.streams.update(message["params"])
                    await ws.send(json.dumps({"result": None, "id": message["id"]}))
                elif method == "UNSUBSCRIBE":
                    conn.streams.difference_update(message["params"])
                    await ws.send(json.dumps({"result": None, "id": message["id"]}))
                elif method == "LIST_SUBSCRIPTIONS":
                    await ws.send(json.dumps({"result": sorted(conn.streams), "id": message["id"]}))
        except Exception:
            pass
        finally:
            self.connections.remove(conn)
            self.closed.append(conn)

    def live_streams(self) -> set[str]:
        return set().union(*(c.streams for c in self.connections)) if self.connections else set()

    def sent_messages(self) -> list[tuple[float, dict[str, Any]]]:
        return sorted(
            (m for c in [*self.closed, *self.connections] for m in c.received),
            key=lambda m: m[0],
        )

    async def push_ticker(self, stream: str, price: str, event_ms: int) -> int:
        """Send a 24hrTicker frame for `stream` to every connection subscribed to it."""
        frame = copy.deepcopy(payload("binance/ticker_btcusdt.json"))
        frame["stream"] = stream
        frame["data"]["s"] = stream.split("@")[0].upper()
        frame["data"]["c"] = price
        frame["data"]["E"] = event_ms
        sent = 0
        for conn in list(self.connections):
            if stream in conn.streams:
                with contextlib.suppress(Exception):
                    await conn.ws.send(json.dumps(frame))
                    sent += 1
        return sent

    async def send_raw(self, raw: str) -> None:
        for conn in list(self.connections):
            with contextlib.suppress(Exception):
                await conn.ws.send(raw)

    async def drop_all(self) -> None:
        """Abort every connection without a close handshake (network failure)."""
        for conn in list(self.connections):
            conn.ws.transport.abort()


async def wait_until(predicate: Any, timeout: float = 5.0) -> bool:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        if predicate():
            return True
        await asyncio.sleep(0.01)
    return bool(predicate())
