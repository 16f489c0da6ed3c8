"""The news feeder process: poll loops, watchlist updates, heartbeat, clean shutdown."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Sequence

import httpx

from bbdash.common.health import Heartbeat
from bbdash.common.metrics import Metrics
from bbdash.common.resilience import Backoff, CircuitBreaker, TokenBucket
from bbdash.common.runtime import FeederRuntime
from bbdash.common.watchlist import WatchlistSnapshot
from bbdash.news_feeder.assets import AssetMatcher, asset_key
from bbdash.news_feeder.config import MONTH_S, NewsSettings
from bbdash.news_feeder.dedupe import DedupeStore
from bbdash.news_feeder.demo import DEMO_ASSETS, DemoPoller
from bbdash.news_feeder.metrics import NewsMetrics
from bbdash.news_feeder.pipeline import NewsPipeline
from bbdash.news_feeder.pollers import CryptoPanicPoller, NewsApiPoller, Poller, RssPoller
from bbdash.news_feeder.upstream import Upstream
from bbdash.sentiment import default_scorer

log = logging.getLogger(__name__)

SUPERVISOR_LOOP = "news_supervisor"
SUPERVISOR_BEAT_S = 5.0


def _upstream(
    name: str,
    client: httpx.AsyncClient,
    settings: NewsSettings,
    metrics: Metrics,
    budget: TokenBucket,
) -> Upstream:
    http = settings.http
    return Upstream(
        name,
        client,
        metrics=metrics,
        budget=budget,
        breaker=CircuitBreaker(http.breaker_failures, http.breaker_reset_s),
        backoff=Backoff(base=http.retry_base_s, cap=http.retry_cap_s),
        attempts=http.attempts,
        timeout_s=http.timeout_s,
    )


def build_pollers(
    settings: NewsSettings,
    client: httpx.AsyncClient,
    metrics: Metrics,
    pipeline: NewsPipeline,
) -> list[Poller]:
    """The pollers this configuration asks for (demo mode: the sample feeds only)."""
    if settings.demo.enabled:
        return [DemoPoller(settings.demo.interval_s)]
    attempts = settings.http.attempts
    pollers: list[Poller] = []
    if settings.rss.enabled:
        interval = settings.rss.interval_s
        for feed in settings.rss.feeds:
            # Room for one poll and its retries per interval: enough, never a burst.
            budget = TokenBucket.per_period(attempts, interval, burst=attempts)
            upstream = _upstream(feed.name, client, settings, metrics, budget)
            pollers.append(RssPoller(feed, upstream, metrics, interval))
    cp = settings.cryptopanic
    token = cp.token_value()
    if token is not None:
        budget = TokenBucket.per_period(cp.monthly_quota, MONTH_S, burst=attempts)
        upstream = _upstream("cryptopanic", client, settings, metrics, budget)

        def watched_crypto() -> list[str]:
            return sorted(
                key
                for key, kind in pipeline.matcher_types().items()
                if kind == "crypto" and key.isalnum()
            )

        pollers.append(CryptoPanicPoller(cp, token, upstream, metrics, watched_crypto))
    na = settings.newsapi
    key = na.key_value()
    if key is not None:
        burst = min(na.daily_limit, attempts * len(na.categories))
        budget = TokenBucket.per_period(na.daily_limit, 86_400, burst=burst)
        upstream = _upstream("newsapi", client, settings, metrics, budget)
        pollers.append(NewsApiPoller(na, key, upstream, metrics))
    return pollers


async def poll_loop(poller: Poller, pipeline: NewsPipeline, heartbeat: Heartbeat) -> None:
    """Poll forever at the poller's cadence; nothing a poll does may end the loop."""
    loop_name = f"poll_{poller.name}"
    heartbeat.register(loop_name, 3 * poller.interval_s + 300)
    # Stagger the first polls so a restart does not fire every feed at once.
    await asyncio.sleep(random.uniform(0, min(poller.interval_s, 15.0)))  # noqa: S311 - jitter
    while True:
        try:
            articles = await poller.poll()
            pipeline.process(articles)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("poll iteration failed", extra={"source": poller.name})
        heartbeat.beat(loop_name)
        await asyncio.sleep(poller.interval_s * random.uniform(0.9, 1.1))  # noqa: S311 - jitter


async def supervise(tasks: Sequence[asyncio.Task[None]], heartbeat: Heartbeat) -> None:
    """Beat while every task runs; a task that ended means a bug: stop beating, log it."""
    heartbeat.register(SUPERVISOR_LOOP, 6 * SUPERVISOR_BEAT_S)
    while True:
        for task in tasks:
            if task.done():
                exc = None if task.cancelled() else task.exception()
                log.error(
                    "a feeder task ended; /healthz will turn unhealthy",
                    extra={"task": task.get_name(), "error": repr(exc)},
                )
                return
        heartbeat.beat(SUPERVISOR_LOOP)
        await asyncio.sleep(SUPERVISOR_BEAT_S)


class MatcherUpdater:
    """Rebuilds the pipeline's asset matcher from each watchlist snapshot."""

    def __init__(self, pipeline: NewsPipeline, *, demo: bool) -> None:
        self._pipeline = pipeline
        self._demo = demo

    def __call__(self, snapshot: WatchlistSnapshot) -> None:
        assets = set(snapshot.assets)
        if self._demo:
            assets.update(DEMO_ASSETS)
        self._pipeline.matcher = AssetMatcher(assets)
        log.info(
            "watched assets updated",
            extra={"assets": len(assets), "from_fallback": snapshot.from_fallback},
        )


async def run(settings: NewsSettings, runtime: FeederRuntime | None = None) -> None:
    """Run the feeder until cancelled; the sink is drained on the way out."""
    runtime = runtime if runtime is not None else FeederRuntime(settings)
    news_metrics = NewsMetrics(runtime.metrics)
    demo = settings.demo.enabled
    dedupe = (
        None
        if demo
        else DedupeStore(
            settings.dedupe.path,
            max_entries=settings.dedupe.max_entries,
            max_age_s=settings.dedupe.max_age_days * 86_400,
        )
    )
    pipeline = NewsPipeline(
        submit=runtime.sink.submit,
        dedupe=dedupe,
        scorer=default_scorer(),
        metrics=news_metrics,
        matcher=AssetMatcher(DEMO_ASSETS if demo else ()),
        demo=demo,
    )
    runtime.start()
    log.info(
        "news feeder starting",
        extra={"demo": demo, "bucket": settings.influx.bucket, "port": settings.metrics.port},
    )
    try:
        async with httpx.AsyncClient(
            headers={"User-Agent": settings.http.user_agent}, follow_redirects=True
        ) as client:
            pollers = build_pollers(settings, client, runtime.metrics, pipeline)
            if not pollers:
                log.warning("no news source configured: enable rss, or set a token or key")
            sync = runtime.watchlist_sync(MatcherUpdater(pipeline, demo=demo))
            tasks = [asyncio.create_task(sync.run(), name="watchlist_sync")]
            tasks += [
                asyncio.create_task(poll_loop(p, pipeline, runtime.heartbeat), name=p.name)
                for p in pollers
            ]
            try:
                await supervise(tasks, runtime.heartbeat)
                # A task died: keep serving /metrics (now unhealthy) until Docker restarts us.
                await asyncio.Event().wait()
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        runtime.stop()
        if dedupe is not None:
            dedupe.close()


__all__ = ["asset_key", "build_pollers", "poll_loop", "run", "supervise"]
