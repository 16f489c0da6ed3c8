"""The backfill inside the market feeder: built from its settings, run on a thread.

The watchlist sync hands every snapshot's assets to `add_assets` (new symbols
are planned, known ones skipped by the journal); the thread steps the
`Backfiller` and publishes its progress as gauges, and logs once when an
upstream's queue empties. Candles go straight to their buckets through
`BucketWriter`, not through the live sink: the late-data path must not
recompute the upstream's true candles from 1-minute closes.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict

from prometheus_client import Gauge

from bbdash.backfill.budget import BackfillBudget, Share
from bbdash.backfill.fetchers import (
    BinanceKlinesFetcher,
    CoinGeckoChartFetcher,
    Fetcher,
    YahooChartFetcher,
)
from bbdash.backfill.journal import ChunkJournal
from bbdash.backfill.plan import BINANCE, COINGECKO, YAHOO
from bbdash.backfill.runner import Backfiller
from bbdash.common.budgets import SECONDS_PER_MONTH
from bbdash.common.influx import InfluxWriter, WriteOutcome
from bbdash.common.metrics import Metrics
from bbdash.common.watchlist import Asset
from bbdash.market_feeder.config import MarketFeederSettings

log = logging.getLogger(__name__)
STATES = ("total", "done", "pending", "deferred", "failed")


class BucketWriter:
    """One InfluxDB writer per bucket, on the market feeder's token."""

    def __init__(self, url: str, org: str, token: str, *, timeout_s: float) -> None:
        self._args = (url, org)
        self._token = token
        self._timeout_s = timeout_s
        self._writers: dict[str, InfluxWriter] = {}

    def write(self, bucket: str, lines: Sequence[str]) -> bool:
        writer = self._writers.get(bucket)
        if writer is None:
            url, org = self._args
            writer = InfluxWriter(url, org, bucket, self._token, timeout_s=self._timeout_s)
            self._writers[bucket] = writer
        result = writer.write(list(lines))
        if result.outcome is not WriteOutcome.OK:
            log.warning(
                "backfill write to %s refused: %s %s",
                bucket,
                result.kind,
                result.detail[:300],
                extra={"bucket": bucket, "status": result.status},
            )
        return result.outcome is WriteOutcome.OK

    def close(self) -> None:
        for writer in self._writers.values():
            writer.close()


class BackfillMetrics:
    def __init__(self, metrics: Metrics) -> None:
        r = metrics.registry
        self.chunks = Gauge(
            "bbdash_backfill_chunks",
            "History chunks per upstream and state (total, done, pending, deferred, failed).",
            ["source", "state"],
            registry=r,
        )
        self.dropped = Gauge(
            "bbdash_backfill_dropped_bars",
            "History bars refused for a bad price since start, per upstream.",
            ["source"],
            registry=r,
        )


def _fetchers(settings: MarketFeederSettings) -> dict[str, Fetcher]:
    config = settings.backfill
    fetchers: dict[str, Fetcher] = {}
    if BINANCE in config.sources:
        fetchers[BINANCE] = BinanceKlinesFetcher(config.binance_url, timeout_s=config.timeout_s)
    if YAHOO in config.sources:
        fetchers[YAHOO] = YahooChartFetcher(config.yahoo_url, timeout_s=config.timeout_s)
    if COINGECKO in config.sources:
        cg = settings.coingecko
        fetchers[COINGECKO] = CoinGeckoChartFetcher(
            cg.base_url,
            api_key=cg.api_key_value(),
            ids=cg.ids,
            vs_currency=cg.vs_currency,
            timeout_s=config.timeout_s,
        )
    return fetchers


def _shares(settings: MarketFeederSettings) -> dict[str, Share]:
    config = settings.backfill
    return {
        # Bursts: a symbol's whole Binance plan (29 calls, 58 weight) at once;
        # a few Yahoo calls; CoinGecko's 4 calls of one coin.
        BINANCE: Share(
            config.binance_weight_per_minute, 60, min(200, config.binance_weight_per_minute)
        ),
        YAHOO: Share(config.yahoo_requests_per_hour, 3600, min(10, config.yahoo_requests_per_hour)),
        COINGECKO: Share(config.coingecko_monthly_calls, SECONDS_PER_MONTH, 20),
    }


class BackfillService:
    """`add_assets` from the watchlist sync; `start`/`stop` with the feeder."""

    def __init__(self, settings: MarketFeederSettings, metrics: Metrics) -> None:
        config = settings.backfill
        assert settings.spool.path is not None  # filled by ServiceSettings
        path = config.journal_path or settings.spool.path.with_name(
            f"{settings.SERVICE}-backfill.sqlite"
        )
        influx = settings.influx
        self.writer = BucketWriter(
            influx.url, influx.org, influx.token_value(), timeout_s=config.timeout_s
        )
        self.journal = ChunkJournal(path)
        self.backfiller = Backfiller(
            self.journal,
            _fetchers(settings),
            self.writer,
            BackfillBudget(_shares(settings)),
            chunks_per_step=config.chunks_per_step,
            retry_s=config.retry_s,
            hold_s=config.hold_s,
            demo=settings.demo.enabled,
        )
        self._metrics = BackfillMetrics(metrics)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="backfill", daemon=True)
        self._busy: set[str] = set()
        self._publishing = threading.Lock()  # the loop thread and add_assets' callers

    def add_assets(self, assets: Iterable[Asset]) -> int:
        """Plan the assets not planned yet (blocking: SQLite; call off the event loop)."""
        added = self.backfiller.add_assets(assets)
        self._publish()
        return added

    def start(self) -> None:
        # Chunks an upstream refused last time (an unknown symbol, a payload we
        # could not read) get one more try after a restart: a fixed setting or a
        # fixed parser picks them up without touching the journal by hand.
        retried = self.journal.retry_failed()
        if retried:
            log.info("backfill retries %d failed chunks", retried)
        self._publish()
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop after the current chunk; what is left waits in the journal."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=timeout_s)
        self.writer.close()
        self.journal.close()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                worked = self.backfiller.step()
            except Exception:
                log.exception("backfill step failed")
                worked = 0
            self._publish()
            if not worked:
                self._stop.wait(1.0)

    def _publish(self) -> None:
        """Gauges from the journal; one log line when an upstream's queue empties."""
        with self._publishing:
            self._publish_locked()

    def _publish_locked(self) -> None:
        for source, progress in self.backfiller.progress().items():
            counts = asdict(progress)
            for state in STATES:
                self._metrics.chunks.labels(source, state).set(counts[state])
            self._metrics.dropped.labels(source).set(progress.dropped_bars)
            waiting = progress.pending + progress.deferred
            if waiting:
                self._busy.add(source)
            elif source in self._busy:
                self._busy.discard(source)
                log.info(
                    "backfill of %s finished: %d chunks done, %d failed",
                    source,
                    progress.done,
                    progress.failed,
                    extra={"source": source, **counts, "at": time.time()},
                )
