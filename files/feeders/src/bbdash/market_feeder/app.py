"""Wires the market feeder: watchlist → routing → sources → pipeline → sink, plus alerts.

Everything runs on one asyncio loop except the sink's writer thread and the
`/metrics` + `/healthz` server thread (both in bbdash.common). The `main`
heartbeat beats every second from the loop itself, so a blocked loop turns
`/healthz` red.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from functools import partial

import httpx

from bbdash.backfill.service import BackfillService
from bbdash.common.metrics import Metrics
from bbdash.common.polling import PollLoop
from bbdash.common.resilience import Backoff
from bbdash.common.runtime import FeederRuntime
from bbdash.common.service import cancel_and_wait
from bbdash.common.sink import AckCallback
from bbdash.common.upstream import new_http_client
from bbdash.common.watchlist import Asset, WatchlistSnapshot
from bbdash.downsample.journal import RangeJournal
from bbdash.downsample.redownsampler import InfluxQuery, Redownsampler
from bbdash.downsample.windows import Downsampling
from bbdash.market_feeder.alerts import AlertEvaluator, AlertmanagerSender
from bbdash.market_feeder.cadence import Cadence
from bbdash.market_feeder.config import MarketFeederSettings
from bbdash.market_feeder.coverage import SymbolCoverage
from bbdash.market_feeder.metrics import MarketMetrics
from bbdash.market_feeder.pipeline import Pipeline
from bbdash.market_feeder.routing import route
from bbdash.market_feeder.sources._base import USER_AGENT
from bbdash.market_feeder.sources.alphavantage import AlphaVantageSource
from bbdash.market_feeder.sources.binance import BinanceStreams
from bbdash.market_feeder.sources.coingecko import CoinGeckoSource
from bbdash.market_feeder.sources.demo import DemoSource
from bbdash.market_feeder.sources.exchangerate import ExchangeRateSource
from bbdash.market_feeder.sources.yahoo import QuoteClient, YahooSource

log = logging.getLogger(__name__)


class MarketFeeder:
    """The service; `await run()` until cancelled."""

    def __init__(
        self,
        settings: MarketFeederSettings,
        *,
        metrics: Metrics | None = None,
        yahoo_client: QuoteClient | None = None,
        http_client: httpx.AsyncClient | None = None,
        alert_client: httpx.AsyncClient | None = None,
        serve_http: bool = True,
        on_ack: AckCallback | None = None,
    ) -> None:
        self.settings = settings
        metrics = metrics if metrics is not None else Metrics()
        self.redownsampler = _redownsampler(settings, metrics)
        self.runtime = FeederRuntime(
            settings,
            metrics=metrics,
            on_ack=on_ack,
            on_delivered=(
                partial(self.redownsampler.record, settings.influx.bucket)
                if self.redownsampler is not None
                else None
            ),
            serve_http=serve_http,
        )
        self.metrics = self.runtime.metrics
        self.market_metrics = MarketMetrics(self.metrics)
        self.http = http_client or new_http_client(USER_AGENT)
        alerts = settings.alerts
        self.sender: AlertmanagerSender | None = None
        self.alerts: AlertEvaluator | None = None
        if alerts.enabled:
            self.sender = AlertmanagerSender(
                alerts.alertmanager_url,
                self.market_metrics,
                client=alert_client,
                timeout_s=alerts.timeout_s,
                resolve_after_s=alerts.resolve_after_s,
                queue_size=alerts.queue_size,
                backoff=Backoff(base=alerts.retry_base_s, cap=alerts.retry_cap_s),
                max_delivery_age_s=alerts.max_delivery_age_s,
                generator_url=alerts.generator_url,
            )
            self.alerts = AlertEvaluator(self.sender, self.market_metrics)
        self.pipeline = Pipeline(self.runtime.sink, self.metrics, self.alerts)
        emit = self.pipeline.emit
        self.demo: DemoSource | None = None
        self.binance: BinanceStreams | None = None
        self.yahoo: YahooSource | None = None
        self.coingecko: CoinGeckoSource | None = None
        self.alphavantage: AlphaVantageSource | None = None
        self.exchangerate: ExchangeRateSource | None = None
        if settings.demo.enabled:
            defaults = [Asset(a.symbol, a.asset_type, a.source) for a in settings.demo.assets]
            self.demo = DemoSource(
                defaults,
                emit,
                seed=settings.demo.seed,
                interval_s=settings.demo.interval_s,
                emit_state=self.pipeline.emit_state,
            )
        else:
            if settings.binance.enabled:
                self.binance = BinanceStreams(
                    settings.binance, emit, self.metrics, self.market_metrics
                )
            if settings.yahoo.enabled:
                self.yahoo = YahooSource(
                    settings.yahoo,
                    emit,
                    self.metrics,
                    client=yahoo_client,
                    on_failure=self._primary_failed,
                    emit_state=self.pipeline.emit_state,
                )
            if settings.coingecko.enabled:
                self.coingecko = CoinGeckoSource(
                    settings.coingecko, emit, self.metrics, client=self.http
                )
            if settings.alphavantage.enabled:
                self.alphavantage = AlphaVantageSource(
                    settings.alphavantage,
                    emit,
                    self.metrics,
                    self.market_metrics,
                    client=self.http,
                )
            if settings.exchangerate.enabled:
                self.exchangerate = ExchangeRateSource(
                    settings.exchangerate,
                    emit,
                    self.metrics,
                    self.market_metrics,
                    client=self.http,
                )
        self._fallback_assets: frozenset[Asset] = frozenset()
        # Stocks, indices and forex that neither Yahoo nor a fallback served.
        self.unserved = SymbolCoverage("fallbacks", self.metrics)
        self.cadence = Cadence(settings, self.metrics)
        self.sync = self.runtime.watchlist_sync(self.on_watchlist, with_rules=alerts.enabled)
        self.backfill = (
            BackfillService(settings, self.metrics) if settings.backfill.enabled else None
        )

    async def on_watchlist(self, snapshot: WatchlistSnapshot) -> None:
        """Apply a new asset set / rule set to every source (no restart)."""
        if self.alerts is not None:
            self.alerts.set_rules(snapshot.alert_rules)
        if self.backfill is not None:
            # New symbols get their history; known ones are skipped by the journal.
            await asyncio.to_thread(self.backfill.add_assets, snapshot.assets)
        if self.demo is not None:
            self.demo.set_assets(snapshot.assets)
            return
        routes = route(snapshot.assets)
        self.cadence.update(
            binance=len(routes.binance), yahoo=len(routes.yahoo), coingecko=len(routes.coingecko)
        )
        if self.binance is not None:
            self.binance.set_symbols(a.symbol for a in routes.binance)
        if self.coingecko is not None:
            self.coingecko.set_assets(routes.coingecko)
        if self.yahoo is not None:
            self.yahoo.set_assets(routes.yahoo)
        self._fallback_assets = routes.yahoo
        symbols = [a.symbol for a in snapshot.assets]
        for fallback in (self.exchangerate, self.alphavantage):
            if fallback is not None:
                fallback.coverage.retain(symbols)
        self.unserved.retain(symbols)

    async def _primary_failed(self, assets: list[Asset]) -> None:
        """Yahoo failed for `assets`: forex → ExchangeRate then Alpha Vantage; stocks → AV."""
        forex = [a for a in assets if a.asset_type == "forex"]
        left = [a for a in assets if a.asset_type != "forex"]
        if self.exchangerate is not None:
            forex = await self.exchangerate.fetch(forex)
        left += forex
        if self.alphavantage is not None:
            left = await self.alphavantage.fetch(left)
        # Indices have no free fallback; the others wait for budget or a working upstream.
        self.unserved.observe(
            (a.symbol for a in assets),
            (a.symbol for a in assets if a not in left),
            then="no source serves them now; their panels keep the last value",
        )

    async def _fallbacks_only(self) -> None:
        # Yahoo disabled: the fallbacks are the only sources for stocks and forex.
        await self._primary_failed(sorted(self._fallback_assets, key=lambda a: a.symbol))

    async def _heartbeat_loop(self) -> None:
        while True:
            self.runtime.heartbeat.beat("main")
            await asyncio.sleep(1.0)

    def _tasks(self) -> list[Awaitable[None]]:
        jobs: list[Awaitable[None]] = [self._heartbeat_loop(), self.sync.run()]
        if self.sender is not None:
            jobs.append(self.sender.run())
        heartbeat = self.runtime.heartbeat
        for streaming in (self.demo, self.binance):
            if streaming is not None:
                jobs.append(streaming.run())
        for polled in (self.yahoo, self.coingecko):
            if polled is not None:
                jobs.append(polled.run(heartbeat))
        if self.demo is None and self.yahoo is None:
            fallbacks = PollLoop(
                "poll_fallbacks", self._fallbacks_only, self.settings.yahoo.interval_s
            )
            jobs.append(fallbacks.run(heartbeat))
        return jobs

    async def run(self) -> None:
        """Start everything; on cancellation stop sources, then drain the sink."""
        self.runtime.heartbeat.register("main", self.settings.metrics.heartbeat_max_age_s)
        self.runtime.start()
        if self.redownsampler is not None:
            self.redownsampler.start()
        if self.backfill is not None:
            self.backfill.start()
        log.info(
            "market feeder started",
            extra={"demo": self.demo is not None, "bucket": self.settings.influx.bucket},
        )
        tasks = [asyncio.ensure_future(job) for job in self._tasks()]
        try:
            await asyncio.gather(*tasks)
        finally:
            await cancel_and_wait(tasks)
            if self.sender is not None:
                await self.sender.aclose()
            await self.http.aclose()
            # Blocking drain (InfluxDB or spool): off the loop, it may take seconds.
            await asyncio.to_thread(self.runtime.stop)
            if self.redownsampler is not None:
                # After the drain: its last deliveries are journaled; what is left
                # to recompute waits in the journal for the next start.
                await asyncio.to_thread(self.redownsampler.stop)
            if self.backfill is not None:
                await asyncio.to_thread(self.backfill.stop)
            log.info("market feeder stopped")


def _redownsampler(settings: MarketFeederSettings, metrics: Metrics) -> Redownsampler | None:
    """The late-data path of the downsampling tasks, when enabled."""
    config = settings.redownsample
    if not config.tasks:
        return None
    assert settings.spool.path is not None  # filled by ServiceSettings
    path = config.journal_path or settings.spool.path.with_name(
        f"{settings.SERVICE}-redownsample.sqlite"
    )
    influx = settings.influx
    return Redownsampler(
        [Downsampling.from_spec(t.model_dump(), t.source_retention) for t in config.tasks],
        RangeJournal(path),
        InfluxQuery(influx.url, influx.org, influx.token_value(), timeout_s=config.timeout_s),
        metrics,
        org=influx.org,
        interval_s=config.interval_s,
        grace_s=config.grace_s,
        max_windows_per_query=config.max_windows_per_query,
    )
