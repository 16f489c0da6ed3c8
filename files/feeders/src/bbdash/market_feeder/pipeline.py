"""The tick path shared by every source: record → alerts → sink.

Sources call `emit(record)` synchronously for each quote; nothing on this path
does I/O (the sink only queues, the alert evaluator only enqueues), so a slow
InfluxDB or Alertmanager never delays the next tick.
"""

from __future__ import annotations

import logging

from bbdash.common.lineprotocol import PointError
from bbdash.common.metrics import Metrics
from bbdash.common.sink import InfluxSink
from bbdash.market_feeder.alerts import AlertEvaluator
from bbdash.market_feeder.market_state import MarketState
from bbdash.market_feeder.records import MarketRecord

log = logging.getLogger(__name__)


class Pipeline:
    """Hands each record to the alert evaluator and the sink."""

    def __init__(self, sink: InfluxSink, metrics: Metrics, alerts: AlertEvaluator | None) -> None:
        self._sink = sink
        self._metrics = metrics
        self._alerts = alerts
        self.emitted = 0  # records handed to the sink
        self.states_emitted = 0  # market states handed to the sink

    def _encode(self, item: MarketRecord | MarketState) -> str | None:
        """The item's line protocol; None (counted and logged) when it cannot be encoded."""
        try:
            return item.to_line()
        except PointError as exc:
            self._metrics.records_invalid.labels(item.exchange, "unencodable").inc()
            log.warning("point not encodable", extra={"symbol": item.symbol, "error": str(exc)})
            return None

    def emit(self, record: MarketRecord) -> None:
        """Process one normalised record (never raises: a bad record is counted and skipped)."""
        line = self._encode(record)
        if line is None:
            return
        self._sink.submit(line, submitted_at=record.received_at)
        self.emitted += 1
        if self._alerts is not None:
            try:
                self._alerts.on_tick(record)
            except Exception:
                # An alert bug must not stop data collection.
                log.exception("alert evaluation failed", extra={"symbol": record.symbol})

    def emit_state(self, state: MarketState) -> None:
        """Write one market state (no alert reads it)."""
        line = self._encode(state)
        if line is not None and self._sink.submit(line):
            self.states_emitted += 1
