"""The news feeder process, top-down: `run` wires everything; the pieces it uses follow.

run: runtime (metrics, health, sink) -> pipeline (dedupe, assets, sentiment)
     -> one HTTP client -> pollers (`pollers.build_pollers`: budgets, breakers)
     -> one `PollLoop` per poller + the watchlist sync -> supervise until cancelled.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from bbdash.common.health import Heartbeat
from bbdash.common.polling import PollLoop
from bbdash.common.runtime import FeederRuntime
from bbdash.common.upstream import new_http_client
from bbdash.common.watchlist import WatchlistSnapshot
from bbdash.news_feeder.assets import AssetMatcher
from bbdash.news_feeder.config import NewsSettings
from bbdash.news_feeder.dedupe import DedupeStore
from bbdash.news_feeder.demo import DEMO_ASSETS
from bbdash.news_feeder.metrics import NewsMetrics
from bbdash.news_feeder.pipeline import NewsPipeline
from bbdash.news_feeder.pollers import Poller, build_pollers
from bbdash.sentiment import default_scorer

log = logging.getLogger(__name__)

SUPERVISOR_LOOP = "news_supervisor"
SUPERVISOR_BEAT_S = 5.0
# The first polls of a (re)start are spread over this many seconds at most.
FIRST_POLL_SPREAD_S = 15.0


async def run(settings: NewsSettings, runtime: FeederRuntime | None = None) -> None:
    """Run the feeder until cancelled; the sink is drained on the way out."""
    runtime = runtime if runtime is not None else FeederRuntime(settings)
    demo = settings.demo.enabled
    dedupe = None if demo else open_dedupe(settings)
    pipeline = NewsPipeline(
        submit=runtime.sink.submit,
        dedupe=dedupe,
        scorer=default_scorer(),
        metrics=NewsMetrics(runtime.metrics),
        matcher=AssetMatcher(DEMO_ASSETS if demo else ()),
        demo=demo,
    )
    runtime.start()
    log.info(
        "news feeder starting",
        extra={"demo": demo, "bucket": settings.influx.bucket, "port": settings.metrics.port},
    )
    try:
        async with new_http_client(settings.http.user_agent) as client:
            pollers = build_pollers(settings, client, runtime.metrics, pipeline)
            if not pollers:
                log.warning("no news source configured: enable rss, or set a token or key")
            sync = runtime.watchlist_sync(MatcherUpdater(pipeline, demo=demo))
            tasks = [asyncio.create_task(sync.run(), name="watchlist_sync")]
            for poller in pollers:
                loop = poll_loop(poller, pipeline)
                tasks.append(asyncio.create_task(loop.run(runtime.heartbeat), name=poller.name))
            try:
                await supervise(tasks, runtime.heartbeat)
                # A task died: keep serving /metrics (now unhealthy) until the host's healer
                # (roles/autoheal) restarts the container: Docker alone would not.
                await asyncio.Event().wait()
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        runtime.stop()
        if dedupe is not None:
            dedupe.close()


def open_dedupe(settings: NewsSettings) -> DedupeStore:
    """The on-disk store of articles already written."""
    return DedupeStore(
        settings.dedupe.path,
        max_entries=settings.dedupe.max_entries,
        max_age_s=settings.dedupe.max_age_days * 86_400,
    )


def poll_loop(poller: Poller, pipeline: NewsPipeline) -> PollLoop:
    """The shared poll loop, feeding the poller's articles to the pipeline."""

    async def poll_and_process() -> None:
        pipeline.process(await poller.poll())

    return PollLoop(
        f"poll_{poller.name}",
        poll_and_process,
        poller.interval_s,
        first_delay_s=min(poller.interval_s, FIRST_POLL_SPREAD_S),
    )


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


__all__ = ["MatcherUpdater", "open_dedupe", "poll_loop", "run", "supervise"]
