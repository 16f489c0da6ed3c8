"""Binance spot market streams: `<symbol>@ticker` over WebSocket connections we own.

Why not python-binance's socket manager: it gives up after 5 reconnect attempts
and its queue overflows at 100 messages. Here:

- one connection carries up to `max_streams_per_connection` (Binance: 1024)
  streams as a combined stream (`/stream?streams=a/b/c`, frames wrapped as
  `{"stream": ..., "data": ...}`); more symbols open more connections;
- symbols change live: SUBSCRIBE / UNSUBSCRIBE on the open connection, batched
  and sent through a sliding-window limiter (at most `max_outgoing_per_s` in any
  second; Binance disconnects above 5 incoming messages/s);
- connection attempts go through a shared limiter (Binance: 300 per 5 minutes
  per IP) and a jittered exponential backoff that resets only once data flows;
- a watchdog reconnects a connection whose event times (`E`) stop advancing,
  and any connection older than `max_connection_age_s` (Binance cuts at 24 h);
- a `serverShutdown` event triggers an immediate reconnect;
- a malformed frame is counted and skipped; it never ends the loop;
- a handshake refused with an HTTP status is classified like a REST answer
  (`bbdash.common.upstream_errors`): 451 is Binance's geo-block and names
  `binance.ws_url`, 429 and 418 hold reconnection until Retry-After.

Docs: developers.binance.com → Spot → WebSocket Streams.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection, connect

from bbdash.common.metrics import Metrics
from bbdash.common.resilience import Backoff, SlidingWindowLimiter
from bbdash.common.service import cancel_and_wait
from bbdash.common.upstream import MAX_HOLD_S
from bbdash.common.upstream_errors import (
    PayloadError,
    TransientError,
    UpstreamError,
    error_for_status,
)
from bbdash.common.upstream_log import UpstreamLog
from bbdash.market_feeder.config import BinanceSettings
from bbdash.market_feeder.coverage import SymbolCoverage
from bbdash.market_feeder.metrics import MarketMetrics
from bbdash.market_feeder.records import (
    InvalidValueError,
    MarketRecord,
    ms_to_ns,
    optional_number,
    parse_price,
)
from bbdash.market_feeder.routing import split_pair

log = logging.getLogger(__name__)

SOURCE = "binance"
STREAM_SUFFIX = "@ticker"
# Where Binance's main endpoint answers 451 (restricted locations).
GEO_HINT = (
    "market-data base URL (binance.ws_url: wss://data-stream.binance.vision serves "
    "market data where the main endpoint is blocked)"
)
Emit = Callable[[MarketRecord], None]


def stream_name(symbol: str) -> str | None:
    """'BTC/USDT' → 'btcusdt@ticker' (None when the symbol is not a pair)."""
    pair = split_pair(symbol)
    if pair is None:
        return None
    return f"{pair[0]}{pair[1]}".lower() + STREAM_SUFFIX


def parse_ticker(data: Mapping[str, Any], symbol: str) -> MarketRecord:
    """A 24hrTicker payload → record. Volume is the quote-asset volume (USDT for */USDT)."""
    if data.get("e") != "24hrTicker":
        raise InvalidValueError("unexpected_event", str(data.get("e"))[:40])
    return MarketRecord(
        exchange=SOURCE,
        symbol=symbol,
        asset_type="crypto",
        event_time_ns=ms_to_ns(data.get("E")),
        price=parse_price(data.get("c")),
        volume_24h=optional_number(data.get("q"), minimum=0.0),
        change_pct_24h=optional_number(data.get("P"), percent=True),
    )


def _is_shutdown(message: Mapping[str, Any]) -> bool:
    # The notice may come bare, wrapped as a WebSocket API event, or in a combined frame.
    for candidate in (message, message.get("event"), message.get("data")):
        if isinstance(candidate, Mapping) and candidate.get("e") == "serverShutdown":
            return True
    return False


class _Connection:
    """One WebSocket connection and the streams assigned to it."""

    def __init__(self, owner: BinanceStreams, cid: int) -> None:
        self.owner = owner
        self.cid = cid
        self.wanted: set[str] = set()
        self.subscribed: set[str] = set()
        self.changed = asyncio.Event()
        self.max_event_ms = 0
        self.last_progress = 0.0
        self._reason = ""
        self._next_id = 0
        self._pending: dict[int, tuple[str, list[str]]] = {}
        settings = owner.settings
        # Evenly spaced (1/limit s apart): Binance counts what it receives, and
        # a burst sent at the limit could arrive bunched with the next second's.
        self._outgoing = SlidingWindowLimiter(
            settings.max_outgoing_per_s, 1.0, min_gap_s=1.0 / settings.max_outgoing_per_s
        )
        self._backoff = Backoff(base=settings.reconnect_base_s, cap=settings.reconnect_cap_s)
        # Seconds Binance asked us to stay away (Retry-After of a 429 or 418).
        self._hold_s = 0.0

    async def run(self) -> None:
        settings = self.owner.settings
        while True:
            if not self.wanted:
                self.changed.clear()
                await self.changed.wait()
                continue
            await self.owner.connection_limiter.acquire()
            initial = sorted(self.wanted)[: settings.streams_per_url]
            url = f"{settings.ws_url.rstrip('/')}/stream?streams={'/'.join(initial)}"
            self._reason = ""
            planned = False
            connected = False
            try:
                async with connect(
                    url,
                    open_timeout=settings.open_timeout_s,
                    # Binance pings every 20 s and the library answers; our own
                    # pings would only spend the 5 messages/s budget.
                    ping_interval=None,
                    close_timeout=2,
                    max_queue=4096,
                    max_size=2**20,
                ) as ws:
                    connected = True
                    self.owner.market_metrics.binance_connections.inc()
                    self.subscribed = set(initial)
                    self._pending.clear()
                    self.last_progress = self.owner.clock()
                    log.info(
                        "binance connected",
                        extra={"connection": self.cid, "streams": len(self.wanted)},
                    )
                    await self._session(ws)
            except websockets.exceptions.InvalidStatus as exc:
                self._reason = self._reason or "error"
                self._refused(exc)
            except (OSError, TimeoutError, websockets.exceptions.WebSocketException) as exc:
                self._reason = self._reason or "error"
                self.owner.metrics.source_error(SOURCE, "connection")
                log.warning(
                    "binance connection failed",
                    extra={"connection": self.cid, "error": f"{type(exc).__name__}: {exc}"[:300]},
                )
            finally:
                if connected:
                    self.owner.market_metrics.binance_connections.dec()
            reason = self._reason or "closed"
            planned = reason in ("max_age", "server_shutdown", "idle")
            self.owner.market_metrics.binance_reconnects.labels(reason).inc()
            if planned:
                log.info("binance reconnecting", extra={"connection": self.cid, "reason": reason})
                continue
            delay = max(self._backoff.next_delay(), self._hold_s)
            self._hold_s = 0.0
            log.warning(
                "binance reconnecting after backoff",
                extra={"connection": self.cid, "reason": reason, "delay_s": round(delay, 2)},
            )
            await asyncio.sleep(delay)

    def _refused(self, exc: websockets.exceptions.InvalidStatus) -> None:
        """The handshake got an HTTP error: counted, logged and obeyed as over REST."""
        response = exc.response
        body = bytes(response.body).decode("utf-8", errors="replace")
        status = response.status_code
        error: UpstreamError = error_for_status(
            status, body, response.headers, base_url_hint=GEO_HINT
        ) or TransientError(f"HTTP {status} instead of a WebSocket upgrade", status=status)
        action = ""
        if error.holds and error.retry_after_s is not None:
            # Without a Retry-After, the backoff alone spaces the attempts.
            self._hold_s = min(error.retry_after_s, MAX_HOLD_S)
            action = f"reconnecting in {self._hold_s:.0f} s at the earliest"
        self.owner.metrics.source_error(SOURCE, error.kind)
        self.owner.errors.error(SOURCE, error, action=action)

    async def _session(self, ws: ClientConnection) -> None:
        connected_at = self.owner.clock()
        self.changed.set()  # subscribe whatever did not fit in the URL
        tasks = [
            asyncio.create_task(self._sync_subscriptions(ws)),
            asyncio.create_task(self._watchdog(ws, connected_at)),
        ]
        try:
            async for raw in ws:
                try:
                    self._handle(raw)
                except _Reconnect as planned:
                    self._reason = planned.reason
                    await ws.close()
                    break
                except Exception:
                    # A bug on one frame must not end the stream: count, log, go on.
                    self.owner.metrics.source_error(SOURCE, "handler")
                    log.exception("binance frame handling failed", extra={"connection": self.cid})
        finally:
            await cancel_and_wait(tasks)

    def _handle(self, raw: str | bytes) -> None:
        owner = self.owner
        owner.frames.inc()
        try:
            message = json.loads(raw)
        except ValueError:
            owner.invalid("malformed_json")
            return
        if not isinstance(message, dict):
            owner.invalid("malformed_frame")
            return
        if _is_shutdown(message):
            raise _Reconnect("server_shutdown")
        stream = message.get("stream")
        data = message.get("data")
        if isinstance(stream, str) and isinstance(data, dict):
            symbol = owner.symbol_by_stream.get(stream)
            if symbol is None:
                return  # a stream being unsubscribed; nothing to record
            try:
                record = parse_ticker(data, symbol)
            except InvalidValueError as exc:
                owner.invalid(exc.reason)
                return
            event_ms = record.event_time_ns // 1_000_000
            if event_ms > self.max_event_ms:
                self.max_event_ms = event_ms
                self.last_progress = owner.clock()
                self._backoff.reset()  # data flows: the connection is healthy
            owner.deliver(record)
            return
        if "id" in message and ("result" in message or "error" in message or "code" in message):
            self._acknowledge(message)
            return
        if "code" in message or "msg" in message or "error" in message:
            # An error frame answering no request of ours (e.g. {"code": 3, "msg": ...}
            # for a malformed stream name): Binance's own words go to the log.
            error = PayloadError(
                "error frame", kind="api_error", detail=json.dumps(message, ensure_ascii=False)
            )
            owner.metrics.source_error(SOURCE, error.kind)
            owner.errors.error(SOURCE, error, action=f"connection {self.cid} stays open")
            return
        owner.invalid("unexpected_message")

    def _acknowledge(self, message: Mapping[str, Any]) -> None:
        request = self._pending.pop(message.get("id"), None)  # type: ignore[arg-type]
        if "error" in message or "code" in message:
            self.owner.metrics.source_error(SOURCE, "request_refused")
            log.error(
                "binance refused a request",
                extra={
                    "connection": self.cid,
                    "request": request[0] if request else None,
                    "reply": json.dumps(message)[:300],
                },
            )

    async def _sync_subscriptions(self, ws: ClientConnection) -> None:
        per_message = self.owner.settings.streams_per_message
        while True:
            await self.changed.wait()
            self.changed.clear()
            while True:
                removed = sorted(self.subscribed - self.wanted)
                added = sorted(self.wanted - self.subscribed)
                if removed:
                    method, params = "UNSUBSCRIBE", removed[:per_message]
                elif added:
                    method, params = "SUBSCRIBE", added[:per_message]
                else:
                    break
                await self._outgoing.acquire()
                self._next_id += 1
                self._pending[self._next_id] = (method, params)
                await ws.send(json.dumps({"method": method, "params": params, "id": self._next_id}))
                self.owner.market_metrics.binance_outgoing.labels(method).inc()
                if method == "SUBSCRIBE":
                    self.subscribed.update(params)
                else:
                    self.subscribed.difference_update(params)
                log.info(
                    "binance subscription change",
                    extra={"connection": self.cid, "method": method, "streams": len(params)},
                )

    async def _watchdog(self, ws: ClientConnection, connected_at: float) -> None:
        settings = self.owner.settings
        interval = min(1.0, settings.stale_after_s / 4)
        while True:
            await asyncio.sleep(interval)
            now = self.owner.clock()
            if not self.wanted:
                reason = "idle"
            elif now - self.last_progress > settings.stale_after_s:
                reason = "stale"
            elif now - connected_at > settings.max_connection_age_s:
                reason = "max_age"
            else:
                continue
            self._reason = reason
            if reason == "stale":
                self.owner.metrics.source_error(SOURCE, "stale")
            log.warning(
                "binance watchdog closing connection",
                extra={"connection": self.cid, "reason": reason},
            )
            await ws.close()
            return


class _Reconnect(Exception):  # noqa: N818 - control flow, not an error
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class BinanceStreams:
    """All Binance connections; `set_symbols()` any time, `run()` as a task."""

    def __init__(
        self,
        settings: BinanceSettings,
        emit: Emit,
        metrics: Metrics,
        market_metrics: MarketMetrics,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self.market_metrics = market_metrics
        self.clock = clock
        self._emit = emit
        # Resolved once: label lookups on every frame cost more than the increment.
        self.frames = metrics.source_messages.labels(SOURCE)
        self.connection_limiter = SlidingWindowLimiter(settings.max_connections_per_5min, 300.0)
        self.symbol_by_stream: dict[str, str] = {}
        self.errors = UpstreamLog(log)
        self.coverage = SymbolCoverage(SOURCE, metrics)
        # Per pair: when it was wanted, and its last tick (clock seconds).
        self._wanted_since: dict[str, float] = {}
        self._last_tick: dict[str, float] = {}
        self._connections: list[_Connection] = []
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._running = False
        self._next_cid = 0
        self._last_ok = 0.0

    @property
    def connections(self) -> int:
        """Connections wanted (each with at least one stream)."""
        return len(self._connections)

    def deliver(self, record: MarketRecord) -> None:
        """Hand a record to the pipeline (called by connections)."""
        self._last_tick[record.symbol] = self.clock()
        now = record.received_at
        if now - self._last_ok >= 1.0:  # a gauge update per second is plenty
            self._last_ok = now
            self.metrics.source_ok(SOURCE)
        self._emit(record)

    def invalid(self, reason: str) -> None:
        """Count a frame or value refused by parsing."""
        self.metrics.records_invalid.labels(SOURCE, reason).inc()
        self.metrics.source_error(SOURCE, "malformed")

    def set_symbols(self, symbols: Iterable[str]) -> None:
        """Follow exactly these pairs from now on (SUBSCRIBE/UNSUBSCRIBE, no restart)."""
        wanted: dict[str, str] = {}
        for symbol in symbols:
            name = stream_name(symbol)
            if name is None:
                log.warning("not a Binance pair, skipped", extra={"symbol": symbol})
                continue
            wanted[name] = symbol
        # Keep the old names until the UNSUBSCRIBE is acknowledged by the stream
        # going quiet: frames of a removed stream are ignored by the lookup below.
        self.symbol_by_stream = dict(wanted)
        now = self.clock()
        pairs = set(wanted.values())
        self._wanted_since = {p: self._wanted_since.get(p, now) for p in pairs}
        self._last_tick = {p: t for p, t in self._last_tick.items() if p in pairs}
        self.coverage.retain(pairs)
        limit = self.settings.max_streams_per_connection
        assigned: set[str] = set()
        for conn in self._connections:
            before = set(conn.wanted)
            conn.wanted &= wanted.keys()
            assigned |= conn.wanted
            if conn.wanted != before:
                conn.changed.set()
        for name in sorted(wanted.keys() - assigned):
            target = next((c for c in self._connections if len(c.wanted) < limit), None)
            if target is None:
                target = _Connection(self, self._next_cid)
                self._next_cid += 1
                self._connections.append(target)
            target.wanted.add(name)
            target.changed.set()
        for conn in [c for c in self._connections if not c.wanted]:
            self._connections.remove(conn)
            task = self._tasks.pop(conn.cid, None)
            if task is not None:
                task.cancel()
        self.market_metrics.binance_streams.set(len(wanted))
        if self._running:
            self._start_missing()

    def check_silent(self) -> None:
        """Report pairs without a tick for `silent_after_s` (once, when they fall silent)."""
        now = self.clock()
        limit = self.settings.silent_after_s
        ticking = [
            pair
            for pair, since in self._wanted_since.items()
            if now - max(since, self._last_tick.get(pair, since)) < limit
        ]
        self.coverage.observe(
            self._wanted_since,
            ticking,
            then=f"no tick for {limit:.0f} s: is the pair listed on Binance?",
        )

    def _start_missing(self) -> None:
        for conn in self._connections:
            if conn.cid not in self._tasks:
                self._tasks[conn.cid] = asyncio.create_task(conn.run(), name=f"binance-{conn.cid}")

    async def run(self) -> None:
        """Run the connections until cancelled."""
        self._running = True
        self._start_missing()
        every = min(60.0, self.settings.silent_after_s / 4)
        try:
            while True:
                await asyncio.sleep(every)
                self.check_silent()
        finally:
            self._running = False
            tasks = list(self._tasks.values())
            self._tasks.clear()
            await cancel_and_wait(tasks)
