"""Price alert evaluation and delivery to an Alertmanager stand-in."""

from __future__ import annotations

import asyncio
import contextlib

from bbdash.common.metrics import Metrics
from bbdash.common.resilience import Backoff
from bbdash.common.watchlist import AlertRule
from bbdash.market_feeder.alerts import (
    AlertEvaluator,
    AlertmanagerSender,
    alertmanager_payload,
)
from bbdash.market_feeder.metrics import MarketMetrics
from bbdash.market_feeder.records import MarketRecord
from fake_alertmanager import FakeAlertmanager

S = 1_000_000_000


def rule(rid: int, condition: str, threshold: float, **kw) -> AlertRule:
    return AlertRule(
        id=rid,
        user_id=kw.get("user_id", 7),
        symbol=kw.get("symbol", "BTC/USDT"),
        condition=condition,
        threshold=threshold,
        window_seconds=kw.get("window"),
        channels=kw.get("channels", ("telegram",)),
        cooldown_seconds=kw.get("cooldown", 0),
    )


def tick(price: float, t: float, symbol: str = "BTC/USDT") -> MarketRecord:
    return MarketRecord("binance", symbol, "crypto", int(t * S), price=price)


def evaluator() -> AlertEvaluator:
    return AlertEvaluator(None, MarketMetrics(Metrics()))


def test_above_fires_once_per_crossing():
    ev = evaluator()
    ev.set_rules([rule(1, "above", 100.0)])
    fired = [len(ev.on_tick(tick(p, t))) for t, p in enumerate([99, 101, 102, 103, 99, 104])]
    assert fired == [0, 1, 0, 0, 0, 1]


def test_cooldown_holds_back_a_new_crossing():
    ev = evaluator()
    ev.set_rules([rule(1, "below", 50.0, cooldown=60)])
    assert ev.on_tick(tick(49, 0))
    assert not ev.on_tick(tick(51, 10))
    assert not ev.on_tick(tick(49, 20))  # crossed again, but within the cooldown
    assert not ev.on_tick(tick(51, 30))
    assert ev.on_tick(tick(49, 70))


def test_pct_move_uses_the_window():
    ev = evaluator()
    ev.set_rules([rule(3, "pct_move", 5.0, window=60)])
    assert not ev.on_tick(tick(100, 0))
    assert not ev.on_tick(tick(103, 30))
    fired = ev.on_tick(tick(105.5, 50))
    assert len(fired) == 1 and "+5.50%" in fired[0].detail
    # 100 s later the reference is the price 60 s ago (105.5 → 104): no move.
    assert not ev.on_tick(tick(104, 110))
    assert ev.on_tick(tick(98, 120))  # -6% against 104.x within 60 s, re-armed


def test_rules_for_other_symbols_and_missing_prices_are_ignored():
    ev = evaluator()
    ev.set_rules([rule(1, "above", 1.0, symbol="ETH/USDT")])
    assert not ev.on_tick(tick(500, 0))
    assert not ev.on_tick(MarketRecord("coingecko", "ETH/USDT", "crypto", 1, market_cap=5.0))


def test_unchanged_rules_keep_their_state_on_reload():
    ev = evaluator()
    ev.set_rules([rule(1, "above", 100.0)])
    assert ev.on_tick(tick(101, 0))
    ev.set_rules([rule(1, "above", 100.0), rule(2, "above", 200.0)])
    assert not ev.on_tick(tick(102, 1))  # rule 1 still disarmed: no duplicate alert
    ev.set_rules([rule(1, "above", 101.5)])  # changed threshold: fresh state
    assert ev.on_tick(tick(102, 2))


def test_payload_has_contract_labels_one_alert_per_channel():
    ev = evaluator()
    ev.set_rules([rule(12, "above", 70000.0, channels=("telegram", "email"), user_id=3)])
    fired = ev.on_tick(tick(70123.5, 1707753600))
    items = alertmanager_payload(fired[0], resolve_after_s=300)
    assert [i["labels"] for i in items] == [
        {
            "alertname": "PriceAlert",
            "severity": "warning",
            "symbol": "BTC/USDT",
            "rule_id": "12",
            "channel": channel,
        }
        for channel in ("telegram", "email")
    ]
    assert items[0]["annotations"]["summary"] == "BTC/USDT above 70000"
    assert "70123.5" in items[0]["annotations"]["description"]
    assert items[0]["startsAt"] == "2024-02-12T16:00:00.000Z"
    assert items[0]["endsAt"] == "2024-02-12T16:05:00.000Z"


def test_sender_delivers_and_retries_when_alertmanager_is_down():
    am = FakeAlertmanager().start()
    metrics = MarketMetrics(Metrics())
    sender = AlertmanagerSender(am.url, metrics, backoff=Backoff(base=0.05, cap=0.1))
    ev = AlertEvaluator(sender, metrics)
    ev.set_rules([rule(1, "above", 10.0, channels=("webhook",))])

    async def scenario() -> None:
        task = asyncio.create_task(sender.run())
        try:
            am.failing = True
            ev.on_tick(tick(11, 0))  # returns at once, whatever Alertmanager does
            for _ in range(200):
                if metrics.alerts_send_errors.labels("http_5xx")._value.get() >= 2:
                    break
                await asyncio.sleep(0.01)
            assert sender.pending == 1
            am.failing = False
            # Alertmanager has the alert a moment before the sender has its answer.
            for _ in range(200):
                if am.alerts and sender.pending == 0:
                    break
                await asyncio.sleep(0.01)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await sender.aclose()
            am.stop()

    asyncio.run(scenario())
    assert len(am.alerts) == 1
    assert am.alerts[0]["labels"]["channel"] == "webhook"
    assert sender.pending == 0
    assert metrics.alerts_sent._value.get() == 1
    assert metrics.alerts_send_errors.labels("http_5xx")._value.get() >= 2


def test_sender_queue_is_bounded():
    metrics = MarketMetrics(Metrics())
    sender = AlertmanagerSender("http://127.0.0.1:9", metrics, queue_size=10)
    ev = AlertEvaluator(sender, metrics)
    ev.set_rules([rule(i, "above", 1.0, symbol=f"S{i}") for i in range(15)])
    for i in range(15):
        ev.on_tick(tick(2.0, 0, symbol=f"S{i}"))
    assert sender.pending == 10
    assert metrics.alerts_dropped.labels("queue_full")._value.get() == 5
    asyncio.run(sender.aclose())
