"""How often each symbol's quote is refreshed, for the number of symbols watched now.

Yahoo's batch quote takes `symbols_per_request` tickers and the feeder makes at
most `max_requests_per_hour` requests: past ~100 symbols a round needs more
requests than the budget allows every `interval_s`, and each quote comes less
often than configured. That is the budget working, not a fault, but a trader
watching 150 symbols should know their quotes are 30 s apart, not 15: the
gauge `bbdash_source_update_interval_seconds{source}` says it, the log says it
once per change, and the deployment's health report shows it.
"""

from __future__ import annotations

import logging
import math

from prometheus_client import Gauge

from bbdash.common.metrics import Metrics
from bbdash.market_feeder.config import MarketFeederSettings

log = logging.getLogger(__name__)

# Binance's <symbol>@ticker stream pushes once a second (web-socket-streams docs:
# "Individual Symbol Ticker Streams", update speed 1000ms).
BINANCE_TICKER_S = 1.0


def yahoo_interval(symbols: int, interval_s: float, per_request: int, per_hour: int) -> float:
    """Seconds between two quotes of one symbol: a round of ceil(symbols / per_request)
    requests, every `interval_s` unless the hourly budget stretches it."""
    requests = math.ceil(symbols / per_request)
    return max(interval_s, requests * 3600.0 / per_hour)


class Cadence:
    """Keeps the update-interval gauges in step with the routed symbols."""

    def __init__(self, settings: MarketFeederSettings, metrics: Metrics) -> None:
        self._settings = settings
        r = metrics.registry
        self._interval = Gauge(
            "bbdash_source_update_interval_seconds",
            "Seconds between two quotes of one symbol, for the symbols this source serves now.",
            ["source"],
            registry=r,
        )
        self._symbols = Gauge(
            "bbdash_source_symbols",
            "Symbols routed to this source now.",
            ["source"],
            registry=r,
        )
        self._slowed = False

    def update(self, *, binance: int, yahoo: int, coingecko: int) -> dict[str, float]:
        """Set the gauges for these symbol counts; returns {source: interval_s}."""
        s = self._settings
        intervals: dict[str, float] = {}
        if s.binance.enabled:
            intervals["binance"] = BINANCE_TICKER_S
        if s.yahoo.enabled:
            intervals["yahoo"] = yahoo_interval(
                yahoo,
                s.yahoo.interval_s,
                s.yahoo.symbols_per_request,
                s.yahoo.max_requests_per_hour,
            )
        if s.coingecko.enabled:
            intervals["coingecko"] = s.coingecko.interval_s
        counts = {"binance": binance, "yahoo": yahoo, "coingecko": coingecko}
        for source, interval in intervals.items():
            self._interval.labels(source).set(interval if counts[source] else 0)
            self._symbols.labels(source).set(counts[source])
        self._log_yahoo(yahoo, intervals.get("yahoo"))
        return intervals

    def _log_yahoo(self, symbols: int, interval: float | None) -> None:
        slowed = interval is not None and symbols > 0 and interval > self._settings.yahoo.interval_s
        if slowed == self._slowed:
            return
        self._slowed = slowed
        y = self._settings.yahoo
        if slowed:
            log.warning(
                "yahoo: %d symbols take %d requests a round; the budget of %d requests/h "
                "refreshes each quote every %.0f s instead of %.0f s",
                symbols,
                math.ceil(symbols / y.symbols_per_request),
                y.max_requests_per_hour,
                interval,
                y.interval_s,
                extra={"source": "yahoo", "symbols": symbols, "interval_s": interval},
            )
        else:
            log.info(
                "yahoo: each quote is refreshed every %.0f s again",
                y.interval_s,
                extra={"source": "yahoo", "symbols": symbols},
            )
