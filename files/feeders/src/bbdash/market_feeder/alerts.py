"""Price alerts: rules from active_alert_rules, evaluated on every tick, sent to Alertmanager.

Evaluation (`AlertEvaluator.on_tick`) is synchronous and cheap (rules indexed
by symbol), so it runs inline on the tick path. Semantics, per rule:

- `above` / `below`: the last price is above / below `threshold`;
- `pct_move`: the price moved by at least `threshold` percent (either way)
  against the oldest price seen within the last `window_seconds`.

A rule fires when its condition becomes true, then stays quiet until the
condition has been false again (one alert per crossing, not one per tick) and
at least `cooldown_seconds` have passed since it last fired. Times are the
upstream event times, so replays and tests are deterministic.

Firing enqueues one Alertmanager alert per channel of the rule (labels per
docs/contracts.md). `AlertmanagerSender` posts them in batches to
`POST /api/v2/alerts` on its own task: an unreachable Alertmanager is retried
with backoff and counted; it never blocks the tick path (the queue is bounded,
the oldest alert is dropped and counted when full).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from bbdash.common.resilience import Backoff
from bbdash.common.watchlist import AlertRule
from bbdash.market_feeder.metrics import MarketMetrics
from bbdash.market_feeder.records import MarketRecord

log = logging.getLogger(__name__)

_NS = 1_000_000_000
# Keep at most this many price samples per symbol for pct_move windows.
_MAX_SAMPLES = 240


@dataclass(slots=True)
class _RuleState:
    armed: bool = True
    last_fired: float | None = None


@dataclass(slots=True)
class _History:
    window_s: float
    samples: deque[tuple[float, float]] = field(default_factory=deque)

    def add(self, t: float, price: float) -> None:
        # Thin the samples so memory is bounded whatever the tick rate.
        if not self.samples or t - self.samples[-1][0] >= self.window_s / _MAX_SAMPLES:
            self.samples.append((t, price))
        # Keep one sample at or before the window start: it is the reference.
        while len(self.samples) > 1 and t - self.samples[1][0] >= self.window_s:
            self.samples.popleft()

    def reference(self, t: float, window_s: float) -> float | None:
        """Price at the start of the window (the oldest seen, while the window is filling)."""
        reference = None
        for sample_t, price in self.samples:
            if reference is None or t - sample_t >= window_s:
                reference = price
            else:
                break
        return reference


@dataclass(frozen=True, slots=True)
class FiredAlert:
    """One rule firing on one tick, before it is split per channel."""

    rule: AlertRule
    price: float
    exchange: str
    event_time: float
    detail: str


class AlertEvaluator:
    """Holds the rules and their state; `on_tick(record)` returns and enqueues what fired."""

    def __init__(self, sender: AlertmanagerSender | None, metrics: MarketMetrics) -> None:
        self._sender = sender
        self._metrics = metrics
        self._by_symbol: dict[str, list[AlertRule]] = {}
        self._state: dict[int, _RuleState] = {}
        self._versions: dict[int, tuple[Any, ...]] = {}
        self._history: dict[str, _History] = {}

    def set_rules(self, rules: Iterable[AlertRule]) -> None:
        """Replace the rule set; a rule whose definition did not change keeps its state."""
        by_symbol: dict[str, list[AlertRule]] = {}
        versions: dict[int, tuple[Any, ...]] = {}
        for rule in rules:
            if rule.condition not in ("above", "below", "pct_move"):
                log.warning("unknown alert condition", extra={"rule_id": rule.id})
                continue
            if rule.condition == "pct_move" and not rule.window_seconds:
                log.warning("pct_move rule without window_seconds", extra={"rule_id": rule.id})
                continue
            by_symbol.setdefault(rule.symbol, []).append(rule)
            versions[rule.id] = (rule.symbol, rule.condition, rule.threshold, rule.window_seconds)
        self._state = {
            rid: state
            for rid, state in self._state.items()
            if rid in versions and self._versions.get(rid) == versions[rid]
        }
        self._versions = versions
        self._by_symbol = by_symbol
        windows: dict[str, float] = {}
        for symbol, symbol_rules in by_symbol.items():
            spans = [
                float(r.window_seconds or 0) for r in symbol_rules if r.condition == "pct_move"
            ]
            if spans:
                windows[symbol] = max(spans)
        self._history = {
            symbol: self._history.get(symbol) or _History(window)
            for symbol, window in windows.items()
        }
        for symbol, window in windows.items():
            self._history[symbol].window_s = window
        self._metrics.alert_rules.set(len(versions))

    def on_tick(self, record: MarketRecord) -> list[FiredAlert]:
        """Evaluate the rules of `record.symbol` against its price."""
        rules = self._by_symbol.get(record.symbol)
        if not rules or record.price is None:
            return []
        price = record.price
        t = record.event_time_ns / _NS
        history = self._history.get(record.symbol)
        if history is not None:
            history.add(t, price)
        fired: list[FiredAlert] = []
        for rule in rules:
            detail = self._check(rule, price, t, history)
            state = self._state.setdefault(rule.id, _RuleState())
            if detail is None:
                state.armed = True
                continue
            if not state.armed:
                continue
            if state.last_fired is not None and t - state.last_fired < rule.cooldown_seconds:
                continue
            state.armed = False
            state.last_fired = t
            alert = FiredAlert(rule, price, record.exchange, t, detail)
            fired.append(alert)
            self._metrics.alerts_fired.labels(rule.condition).inc()
            if self._sender is not None:
                self._sender.enqueue(alert)
        return fired

    @staticmethod
    def _check(rule: AlertRule, price: float, t: float, history: _History | None) -> str | None:
        if rule.condition == "above":
            return f"above {rule.threshold:g}" if price > rule.threshold else None
        if rule.condition == "below":
            return f"below {rule.threshold:g}" if price < rule.threshold else None
        if history is None or not rule.window_seconds:
            return None
        reference = history.reference(t, float(rule.window_seconds))
        if reference is None or reference <= 0:
            return None
        move = (price - reference) / reference * 100.0
        if abs(move) >= rule.threshold:
            return f"moved {move:+.2f}% in {rule.window_seconds}s"
        return None


def _iso(t: float) -> str:
    return (
        datetime.fromtimestamp(t, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    )


def alertmanager_payload(
    alert: FiredAlert, *, resolve_after_s: float, generator_url: str = ""
) -> list[dict[str, Any]]:
    """The API v2 alerts for one firing: one per channel (Alertmanager routes on `channel`)."""
    rule = alert.rule
    starts = alert.event_time
    summary = f"{rule.symbol} {alert.detail}"
    description = (
        f"{rule.symbol} traded at {alert.price:g} on {alert.exchange} "
        f"({alert.detail}); rule {rule.id} of user {rule.user_id}."
    )
    out = []
    for channel in rule.channels:
        item: dict[str, Any] = {
            "labels": {
                "alertname": "PriceAlert",
                "severity": "warning",
                "symbol": rule.symbol,
                "rule_id": str(rule.id),
                "channel": channel,
            },
            "annotations": {
                "summary": summary,
                "description": description,
                "user_id": str(rule.user_id),
                "price": f"{alert.price:g}",
            },
            "startsAt": _iso(starts),
            "endsAt": _iso(starts + resolve_after_s),
        }
        if generator_url:
            item["generatorURL"] = generator_url
        out.append(item)
    return out


class AlertmanagerSender:
    """Bounded queue of alerts posted to Alertmanager, retried with backoff."""

    def __init__(
        self,
        url: str,
        metrics: MarketMetrics,
        *,
        client: httpx.AsyncClient | None = None,
        timeout_s: float = 5.0,
        resolve_after_s: float = 300.0,
        queue_size: int = 1000,
        backoff: Backoff | None = None,
        max_delivery_age_s: float = 600.0,
        generator_url: str = "",
    ) -> None:
        self._url = url.rstrip("/") + "/api/v2/alerts"
        self._metrics = metrics
        self._client = client if client is not None else httpx.AsyncClient(timeout=timeout_s)
        self._resolve_after = resolve_after_s
        self._queue: deque[tuple[float, dict[str, Any]]] = deque()
        self._queue_size = queue_size
        self._backoff = backoff if backoff is not None else Backoff(base=0.5, cap=30.0)
        self._max_age = max_delivery_age_s
        self._generator_url = generator_url
        self._wake = asyncio.Event()

    def enqueue(self, alert: FiredAlert) -> None:
        """Queue one firing (one alert per channel); never blocks, drops oldest when full."""
        now = time.monotonic()
        for item in alertmanager_payload(
            alert, resolve_after_s=self._resolve_after, generator_url=self._generator_url
        ):
            if len(self._queue) >= self._queue_size:
                self._queue.popleft()
                self._metrics.alerts_dropped.labels("queue_full").inc()
                log.error("alert queue full, oldest alert dropped")
            self._queue.append((now, item))
        self._metrics.alerts_queued.set(len(self._queue))
        self._wake.set()

    @property
    def pending(self) -> int:
        """Alerts waiting to be delivered."""
        return len(self._queue)

    async def run(self) -> None:
        """Deliver queued alerts until cancelled."""
        while True:
            if not self._queue:
                self._wake.clear()
                await self._wake.wait()
            self._drop_stale()
            if not self._queue:
                continue
            batch = list(self._queue)[:100]
            kind = await self._post([item for _, item in batch])
            if kind is None:
                for _ in batch:
                    self._queue.popleft()
                self._metrics.alerts_sent.inc(len(batch))
                self._backoff.reset()
            elif kind == "rejected":
                # Alertmanager says the payload is invalid: retrying cannot help.
                for _ in batch:
                    self._queue.popleft()
                self._metrics.alerts_dropped.labels("rejected").inc(len(batch))
            else:
                self._metrics.alerts_send_errors.labels(kind).inc()
                delay = self._backoff.next_delay()
                log.warning(
                    "alertmanager unreachable, will retry",
                    extra={
                        "kind": kind,
                        "pending": len(self._queue),
                        "retry_in_s": round(delay, 2),
                    },
                )
                await asyncio.sleep(delay)
            self._metrics.alerts_queued.set(len(self._queue))

    def _drop_stale(self) -> None:
        now = time.monotonic()
        while self._queue and now - self._queue[0][0] > self._max_age:
            self._queue.popleft()
            self._metrics.alerts_dropped.labels("too_old").inc()

    async def _post(self, items: list[dict[str, Any]]) -> str | None:
        """None on success, else an error kind ('rejected' for a 400)."""
        try:
            response = await self._client.post(self._url, json=items)
        except httpx.TimeoutException:
            return "timeout"
        except httpx.HTTPError:
            return "connection"
        if response.status_code < 300:
            return None
        if response.status_code == 400:
            log.error("alertmanager rejected alerts", extra={"body": response.text[:300]})
            return "rejected"
        return "http_5xx" if response.status_code >= 500 else f"http_{response.status_code}"

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self._client.aclose()
